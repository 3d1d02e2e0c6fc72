"""Feature extraction (``zoo-extract``): features of any layers of a model for whole datasets, over sliding
windows or the evaluator's test views, written per video with their window times; resumable and sharded.

Python API::

    from zoo.extract import extract_features
    feats = extract_features(model, "video.mp4", layers="pool5,logits", window=16, stride=8)
    feats["pool5"], feats.start, feats.end          # (W, D) arrays and the windows' times in seconds
"""
from zoo.extract.api import Features, extract_features
from zoo.extract.dataset import VideoJob
from zoo.extract.engine import REDUCTIONS, ExtractStats, VideoFeatures, extract_windows
from zoo.extract.layers import LayerTap, resolve_layer, split_outputs
from zoo.extract.windows import WindowPlan, WindowSpec, plan_windows

__all__ = ["extract_features", "Features", "extract_windows", "VideoJob", "VideoFeatures", "ExtractStats",
           "REDUCTIONS", "LayerTap", "resolve_layer", "split_outputs", "WindowSpec", "WindowPlan", "plan_windows"]
