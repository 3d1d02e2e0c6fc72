"""Feature extraction (``zoo-extract``): features of any layers of a model for whole datasets, over sliding
windows or the evaluator's test views, written per video with their window times; resumable and sharded.

Python API::

    from zoo.extract import extract_features
    feats = extract_features(model, "video.mp4", layers="pool5,logits", window=16, stride=8)
    feats["pool5"], feats.start, feats.end          # (W, D) arrays and the windows' times in seconds
"""
from zoo._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(("Features", "extract_features"), "zoo.extract.api"),
    "VideoJob": "zoo.extract.windows_dataset",
    **dict.fromkeys(("ExtractStats", "VideoFeatures", "extract_windows"), "zoo.extract.engine"),
    **dict.fromkeys(("REDUCTIONS", "WindowRequest"), "zoo.extract.options"),
    **dict.fromkeys(("LayerTap", "resolve_layer", "split_outputs"), "zoo.extract.taps"),
    **dict.fromkeys(("WindowPlan", "WindowSpec", "plan_windows"), "zoo.extract.windows")})

__all__ = ["extract_features", "Features", "extract_windows", "VideoJob", "VideoFeatures", "ExtractStats",
           "REDUCTIONS", "WindowRequest", "LayerTap", "resolve_layer", "split_outputs", "WindowSpec", "WindowPlan",
           "plan_windows"]
