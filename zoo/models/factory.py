"""Old import path of :func:`zoo.factory.create_model` (kept for existing code; use ``zoo.create_model``)."""
from zoo.factory import create_model

__all__ = ["create_model"]
