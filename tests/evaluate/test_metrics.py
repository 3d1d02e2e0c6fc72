"""Metric and aggregation arithmetic on hand-made scores."""
import numpy as np
import pytest
import torch

from zoo.aggregation import aggregate_views, combine_aggregates
from zoo.evaluate.metrics import compute_metrics, confusion_matrix, topk_hits


def test_topk_hits_and_cap():
    scores = np.array([[0.1, 0.5, 0.3, 0.1], [0.7, 0.1, 0.15, 0.05], [0.2, 0.2, 0.5, 0.1]])
    labels = np.array([2, 0, 3])
    assert topk_hits(scores, labels, 1).tolist() == [False, True, False]
    assert topk_hits(scores, labels, 2).tolist() == [True, True, False]
    assert topk_hits(scores, labels, 5).tolist() == [True, True, True]  # k capped at 4 classes


def test_confusion_and_metrics():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    labels = np.array([0, 1, 1, 1])
    assert confusion_matrix(labels, scores.argmax(1), 3).tolist() == [[1, 0, 0], [1, 1, 1], [0, 0, 0]]
    m = compute_metrics(scores, labels, clip_top1_hits=5, clip_top5_hits=9, num_clips=10, classes=["a", "b", "c"])
    assert m["video_top1"] == pytest.approx(0.5)
    assert m["clip_top1"] == pytest.approx(0.5) and m["clip_top5"] == pytest.approx(0.9)
    assert m["per_class_accuracy"] == {"a": 1.0, "b": pytest.approx(1 / 3), "c": None}
    assert m["mean_class_accuracy"] == pytest.approx((1 + 1 / 3) / 2)


def test_videos_scored_wrong_count_in_every_denominator():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]])
    m = compute_metrics(scores, np.array([0, 1]), clip_top1_hits=2, clip_top5_hits=2, num_clips=2,
                        classes=["a", "b", "c"], wrong_labels=np.array([1, 2]))
    assert m["num_videos"] == 4 and m["video_top1"] == pytest.approx(0.5) and m["video_top5"] == pytest.approx(0.5)
    assert m["per_class_accuracy"] == {"a": 1.0, "b": pytest.approx(0.5), "c": 0.0}
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]  # no prediction to show for them
    assert m["clip_top1"] == 1.0  # no view either


def test_aggregations():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    probs = torch.softmax(logits, 1)
    assert torch.allclose(aggregate_views(logits, "mean_softmax"), probs.mean(0))
    assert torch.allclose(aggregate_views(logits, "sum_softmax"), probs.sum(0))
    assert torch.allclose(aggregate_views(logits, "max_softmax"), probs.max(0).values)
    assert torch.allclose(aggregate_views(logits, "mean_logits"), torch.tensor([1.0, 2 / 3]))
    for old, new in {"softmax_mean": "mean_softmax", "sum": "sum_softmax", "max": "max_softmax",
                     "logit_mean": "mean_logits"}.items():   # the earlier spellings still work
        assert torch.equal(aggregate_views(logits, old), aggregate_views(logits, new))
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate_views(logits, "median")


@pytest.mark.parametrize("method", ["mean_softmax", "sum_softmax", "max_softmax", "mean_logits"])
def test_combine_aggregates_equals_aggregate_of_union(method):
    logits = torch.randn(7, 5, generator=torch.Generator().manual_seed(1))
    parts = [logits[:3], logits[3:4], logits[4:]]
    combined = combine_aggregates([aggregate_views(p, method).tolist() for p in parts], [len(p) for p in parts],
                                  method)
    np.testing.assert_allclose(combined, aggregate_views(logits, method).numpy(), rtol=1e-6, atol=1e-7)


def test_settings_resolution_order():
    from zoo.protocol import resolve_settings

    meta = {"clip_len": 8, "resize": [128, 171], "crop_size": 112, "classes": ["a", "b"]}
    entry = {"arch": "ir_csn_152", "num_classes": 2, "clip_len": 32, "sampling_rate": 2, "resize": 256,
             "crop_size": 224, "metrics": [{"protocol": "vmz_c2_10clip_3crop256_conv"}]}
    p = resolve_settings(meta, entry, {"num_clips": 4, "sampling_rate": None})
    s = p.spec
    assert (s.clip_len, s.sampling_rate, s.resize, s.crop_size, s.num_clips, s.num_crops) == (32, 2, 256, 256, 4, 3)
    assert p.classes == ["a", "b"] and p.sources["num_clips"] == "command line"
    assert p.protocol.convolutional is True and p.aggregation == "mean_softmax"
    centre = resolve_settings(meta, {"arch": "r2plus1d_18", "num_classes": 2,
                                     "metrics": [{"protocol": "vmz_c2_10clip_center112"}]}).spec
    assert (centre.num_clips, centre.num_crops, centre.crop_size, centre.resize) == (10, 1, 112, (128, 171))
    with pytest.raises(ValueError, match="unknown evaluation settings"):
        resolve_settings(meta, None, {"clips": 4})
