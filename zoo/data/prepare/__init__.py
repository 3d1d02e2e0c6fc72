"""``zoo-prepare``: Kinetics preparation as in VMZ's tutorial (trim, lists, legacy LMDBs, metadata index)."""
