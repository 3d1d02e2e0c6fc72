"""Memory-aware multi-clip, multi-crop evaluation (``zoo-test``) and prediction (``zoo-predict``).

Python API::

    from zoo.evaluate import evaluate, TorchPredictor
    metrics = evaluate(TorchPredictor(model, mean, std), samples, classes, ViewSpec(...), large=True)
    metrics = evaluate(predictor, samples, classes, spec, run=RunOptions(device="cuda", workers=8),
                       output=RunOutput("results/", resume=True))      # zoo.options, zoo.evaluate.records
"""
from zoo._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(("AGGREGATIONS", "aggregate_views"), "zoo.aggregation"),
    **dict.fromkeys(("ChunkRunner", "MemoryMeter", "ViewsOutOfMemory", "default_budget", "is_oom", "parse_size"),
                    "zoo.evaluate.memory"),
    **dict.fromkeys(("compute_metrics", "confusion_matrix", "topk_hits"), "zoo.evaluate.metrics"),
    **dict.fromkeys(("OnnxPredictor", "TorchPredictor"), "zoo.evaluate.predictors"),
    "RunOutput": "zoo.evaluate.records",
    "evaluate": "zoo.evaluate.runner"})

__all__ = ["evaluate", "RunOutput", "TorchPredictor", "OnnxPredictor", "aggregate_views", "AGGREGATIONS", "compute_metrics",
           "confusion_matrix", "topk_hits", "ChunkRunner", "MemoryMeter", "ViewsOutOfMemory", "default_budget",
           "is_oom", "parse_size"]
