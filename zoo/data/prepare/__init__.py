"""zoo/data/prepare."""
