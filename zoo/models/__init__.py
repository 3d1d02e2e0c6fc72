"""zoo/models."""
