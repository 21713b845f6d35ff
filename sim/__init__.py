"""dynamarks.sim"""
