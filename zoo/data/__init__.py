"""zoo/data."""
