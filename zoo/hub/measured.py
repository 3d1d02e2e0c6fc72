"""A finished ``zoo-test`` run as results that travel with a model: ``zoo-hub export/push --metrics RUN/metrics.json``.

A run's ``metrics.json`` holds the accuracies and the settings the run used (the test protocol, the split, the
checkpoint's sha256). :func:`read_run` checks that the run measured the checkpoint being
exported and gives a :class:`MeasuredRun`: the test protocol as a record (``config.json``'s ``protocol``, which
``zoo-test --weights hf-hub:...`` replays), the metrics in ``weights.json``'s shape, and the card's
``model-index`` results as huggingface_hub ``EvalResult`` objects, with the protocol in words.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: the run settings keys whose TestProtocol field has another name; every other field is read under its own name
_RUN_KEYS = {"num_clips": "clips", "num_crops": "crops", "aggregation": "aggregate"}
#: (metrics.json key, model-index metric name, weights.json metric key, level)
_ACCURACIES = (("video_top1", "Top-1 accuracy", "top1", "video"), ("video_top5", "Top-5 accuracy", "top5", "video"),
               ("clip_top1", "Clip top-1 accuracy", "top1", "clip"), ("clip_top5", "Clip top-5 accuracy", "top5", "clip"),
               ("mean_class_accuracy", "Mean class accuracy", None, "video"))
_AGGREGATION_WORDS = {"mean_softmax": "mean of the view softmaxes", "sum_softmax": "sum of the view softmaxes",
                      "max_softmax": "element-wise max of the view softmaxes", "mean_logits": "mean of the view logits"}


@dataclass
class MeasuredRun:
    """What a zoo-test run measured, and how."""

    protocol: dict                       # a TestProtocol record (``config.json``'s ``protocol``)
    clip_len: int | None
    dataset: str
    split: str | None
    accuracies: dict[str, float] = field(default_factory=dict)   # metrics.json key -> fraction
    num_videos: int = 0

    @property
    def words(self) -> str:
        """The protocol in words (the card's Metrics section and the model-index)."""
        return protocol_in_words(self.protocol, self.clip_len)

    def registry_metrics(self) -> list[dict]:
        """The accuracies as ``weights.json`` metric entries (percent), one per level."""
        out = []
        for level in ("video", "clip"):
            top = {key: round(100 * self.accuracies[src], 2) for src, _, key, lv in _ACCURACIES
                   if lv == level and key and self.accuracies.get(src) is not None}
            if top:
                out.append({"dataset": self.dataset, "split": self.split, "top1": top.get("top1"),
                            "top5": top.get("top5"), "protocol": self.protocol["name"], "level": level,
                            "source": f"zoo-test, {self.num_videos} videos"})
        return out

    def eval_results(self) -> list:
        """huggingface_hub ``EvalResult`` objects (percent values) for the card's ``model-index``."""
        from huggingface_hub import EvalResult

        return [EvalResult(task_type="video-classification", task_name="Video Classification",
                           dataset_type=self.dataset, dataset_name=self.dataset, dataset_split=self.split,
                           metric_type="accuracy", metric_name=f"{name} (%)",
                           metric_value=round(100 * self.accuracies[key], 2), metric_config=self.protocol["name"],
                           metric_args={"protocol": self.words, "videos": self.num_videos})
                for key, name, _, _ in _ACCURACIES if self.accuracies.get(key) is not None]


def read_run(metrics_path: str | os.PathLike, checkpoint: str | os.PathLike | None = None,
             dataset: str | None = None, default_dataset: str | None = None) -> MeasuredRun:
    """The run whose ``metrics.json`` is ``metrics_path`` (accuracies, and the run's ``settings``); ValueError
    naming the file when it is not a zoo-test result or measured another checkpoint than ``checkpoint``."""
    from zoo._io import read_json_object, sha256_of
    from zoo.protocol.records import TestProtocol

    metrics_path = Path(metrics_path)
    metrics = read_json_object(metrics_path, "metrics.json of a zoo-test --output folder")
    run = metrics.get("settings")
    if not isinstance(run, dict) or not isinstance(metrics.get("num_videos"), int) or \
            metrics.get("video_top1") is None:
        raise ValueError(f"{metrics_path}: not the metrics.json of a zoo-test run that scored labelled videos "
                         "(settings, num_videos and video_top1 are needed)")
    sha = run.get("checkpoint_sha256")
    if checkpoint is not None and sha and sha != sha256_of(Path(checkpoint)):
        raise ValueError(f"{metrics_path}: measured another checkpoint (sha256 {sha[:12]}...) than {checkpoint}")
    names = {f for f in TestProtocol.__dataclass_fields__ if f not in ("description", "reference")}
    record = {f: run.get(_RUN_KEYS.get(f, f)) for f in names}
    record["name"] = run.get("protocol") or "zoo-test"
    try:
        protocol = TestProtocol.from_dict(record, record["name"]).to_dict()
    except ValueError as err:
        raise ValueError(f"{metrics_path}: settings: {err}") from None
    dataset = dataset or default_dataset or Path(str(run.get("data_path") or "dataset")).name
    measured = MeasuredRun(protocol, run.get("clip_len"), dataset, run.get("split"),
                           {key: metrics[key] for key, *_ in _ACCURACIES if isinstance(metrics.get(key), (int, float))},
                           metrics["num_videos"])
    protocol["description"] = measured.words
    protocol["reference"] = (f"zoo-test run {metrics_path.parent.name}: {measured.num_videos} videos of {dataset}"
                             + (f" ({measured.split})" if measured.split else ""))
    return measured


def protocol_in_words(protocol: dict, clip_len: int | None = None) -> str:
    """``10 clips x 3 crops of 112 px ...`` from a TestProtocol record (unknown fields left out)."""
    p = protocol
    crops = p.get("num_crops")
    parts = [f"{p.get('num_clips') or '?'} uniformly spaced clips"
             + (f" of {clip_len} frames" if clip_len else "")
             + (f" at sampling rate {p['sampling_rate']}" if p.get("sampling_rate") else "")
             + (f" ({p['frame_rate']:g} fps)" if p.get("frame_rate") else "")]
    if crops:
        where = "centre crop" if crops == 1 else f"{crops} crops along the longer side"
        parts.append(f"x {where}" + (f" of {p['crop_size']} px" if p.get("crop_size") else ""))
    resize = p.get("resize")
    if resize:
        parts.append("from frames resized to " + (f"{resize[0]}x{resize[1]}" if isinstance(resize, (list, tuple))
                                                  else f"short side {resize}"))
    words = " ".join(parts)
    if p.get("aggregation"):
        words += f"; video score = {_AGGREGATION_WORDS.get(p['aggregation'], p['aggregation'])}"
    if p.get("convolutional"):
        words += "; convolutional head (classifier at every position)"
    return words
