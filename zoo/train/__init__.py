"""zoo/train."""
