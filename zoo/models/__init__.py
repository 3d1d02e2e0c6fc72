"""Model builders for every VMZ family and depth (see :func:`zoo.models.registry.list_models`)."""
from zoo.models.meta import build_meta_model
from zoo.models.registry import build_model, list_models, model_family, model_options, resolve_name

__all__ = ["build_meta_model", "build_model", "list_models", "model_family", "model_options", "resolve_name"]
