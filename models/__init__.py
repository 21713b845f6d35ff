"""dynamarks.models"""
