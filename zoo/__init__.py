"""Video model zoo: VMZ R(2+1)D, R3D, CSN, C3D and MCx models for PyTorch with exact Caffe2 numerics.

Public API::

    zoo.list_models()                      # builder names
    zoo.create_model(name, num_classes=..., weights=None, **options)
    zoo.save_checkpoint(model, path, **meta) / zoo.load_checkpoint(path or weights name)
    zoo.describe(model, input_shape)       # params, weights, multiply-adds
    zoo.list_weights() / zoo.get_weights(name)   # weights names / the record of one (reads like its dict)
    zoo.extract_features(model, video, layers="pool5", window=16, stride=8)   # arrays + window times
"""
from __future__ import annotations

__version__ = "0.1.0"

from zoo._lazy import lazy_exports

# imported on first use: `import zoo` (and every tool's --help) stays free of torch
__getattr__, __dir__ = lazy_exports(__name__, {
    "WeightMismatchError": "zoo.checkpoint", "load_checkpoint": "zoo.factory",
    "read_checkpoint_meta": "zoo.checkpoint", "save_checkpoint": "zoo.checkpoint",
    "list_models": "zoo.models.registry", "create_model": "zoo.factory", "describe": "zoo.models.describe",
    "list_weights": "zoo.weights", "get_weights": "zoo.hub.lookup"})


def extract_features(model, video, layers="pool5", **options):
    """Features of ``layers`` for every window of ``video`` (see :func:`zoo.extract.extract_features`)."""
    from zoo.extract import extract_features as _extract
    return _extract(model, video, layers, **options)


__all__ = ["create_model", "extract_features", "list_models", "save_checkpoint", "load_checkpoint", "read_checkpoint_meta",
           "describe", "list_weights", "get_weights", "WeightMismatchError", "__version__"]
