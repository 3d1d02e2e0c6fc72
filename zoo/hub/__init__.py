"""zoo/hub."""
