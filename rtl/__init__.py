"""dynamarks.rtl"""
