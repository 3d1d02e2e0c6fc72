"""Memory-aware multi-clip, multi-crop evaluation (``zoo-test``) and prediction (``zoo-predict``).

Python API::

    from zoo.evaluate import evaluate, TorchPredictor
    metrics = evaluate(TorchPredictor(model, mean, std), samples, classes, ViewSpec(...), large=True)
"""
from zoo.evaluate.aggregate import AGGREGATIONS, aggregate_views
from zoo.evaluate.memory import ChunkRunner, MemoryMeter, ViewsOutOfMemory, default_budget, is_oom, parse_size
from zoo.evaluate.metrics import compute_metrics, confusion_matrix, topk_hits
from zoo.evaluate.predictors import OnnxPredictor, TorchPredictor
from zoo.evaluate.runner import evaluate

__all__ = ["evaluate", "TorchPredictor", "OnnxPredictor", "aggregate_views", "AGGREGATIONS", "compute_metrics",
           "confusion_matrix", "topk_hits", "ChunkRunner", "MemoryMeter", "ViewsOutOfMemory", "default_budget",
           "is_oom", "parse_size"]
