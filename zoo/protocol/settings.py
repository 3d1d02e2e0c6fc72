"""Resolving the test protocol into the settings of a run (:class:`EvalSettings`): model and test settings from a
checkpoint's metadata or a weights entry, with command-line overrides. The evaluator, the extractor and their
tools import it; it is cheap to import (no torch: fast ``--help``).

Each setting is looked up in this order: the command line, the test protocol of the weights entry
(:func:`zoo.protocol.records.resolve_protocol`), the entry's preprocessing, the checkpoint metadata, then
:data:`~zoo.protocol.records.DEFAULT_PROTOCOL` / :data:`zoo.records.DEFAULT_PREPROCESSING` (VMZ ``test_net.py``: 10
clips x 1 centre crop, 16 frames, 128x171 resize, 112 crop, mean of the softmaxes, Caffe2's resize filter,
rounding and crop placement). A field a protocol leaves unknown stays unknown and takes the default.
The convolutional head is on when the protocol says so (the CSN 10x3 protocol) or ``convolutional`` is given;
videos shorter than a clip follow the protocol's ``short_videos`` rule (``wrong`` under the VMZ and torchvision
protocols), else they are padded. ``sources`` names where every setting came from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zoo.errors import UsageError
from zoo.fields import resize_value
from zoo.protocol.records import DEFAULT_PROTOCOL, TestProtocol, resolve_protocol
from zoo.records import DEFAULT_PREPROCESSING, Preprocessing, WeightsEntry

if TYPE_CHECKING:   # torch: imported when settings are resolved, not while a tool parses --help
    from zoo.data.views import ViewSpec


#: keys of the ``overrides`` mapping: the preprocessing and protocol fields the command line can set
OVERRIDE_KEYS = ("clip_len", "sampling_rate", "frame_rate", "resize", "crop_size", "num_clips", "num_crops",
                 "aggregation", "classes", "convolutional", "short_videos", "clip_starts", "resize_filter",
                 "crop_rule", "colour_rule", "upright")
#: the protocol fields that are not preprocessing: read from the command line, the protocol, or the default
_VIEW_FIELDS = ("num_clips", "num_crops", "aggregation", "convolutional", "rounding", "short_videos", "clip_starts",
                "upright")
#: a protocol's test-time preprocessing (also known to weights entries and checkpoint metadata)
_TEST_FIELDS = ("resize", "crop_size", "sampling_rate", "frame_rate", "resize_filter", "crop_rule", "colour_rule")


@dataclass
class EvalSettings:
    """Everything needed to turn a video into model input and score it, plus the class names."""

    spec: ViewSpec
    mean: list[float]
    std: list[float]
    classes: list[str] | None = None
    protocol: TestProtocol = field(default_factory=TestProtocol)
    sources: dict = field(default_factory=dict)
    train_crop_size: int | None = None

    @property
    def aggregation(self) -> str:
        """How view scores become a video score (one of :data:`zoo.aggregation.AGGREGATIONS`)."""
        return self.protocol.aggregation

    @property
    def convolutional(self) -> bool:
        """Whether views are scored by Caffe2's convolutional head (:mod:`zoo.models.conv_head`)."""
        return bool(self.protocol.convolutional)

    @property
    def head_crop_size(self) -> int | None:
        """The ``train_crop_size`` argument of :class:`~zoo.evaluate.predictors.TorchPredictor`: the training
        crop with the convolutional head, ``None`` (global pooling) otherwise."""
        return self.train_crop_size if self.convolutional else None

    def settings(self) -> dict:
        """JSON-ready description (stored in ``run.json`` / ``metrics.json``)."""
        s = self.spec
        return {"clip_len": s.clip_len, "sampling_rate": s.sampling_rate, "frame_rate": s.frame_rate,
                "resize": list(s.resize) if isinstance(s.resize, (list, tuple)) else s.resize,
                "crop_size": s.crop_size, "clips": s.num_clips, "crops": s.num_crops,
                "mean": list(self.mean), "std": list(self.std), "protocol": self.protocol.name,
                "convolutional": self.convolutional, "train_crop_size": self.head_crop_size,
                "resize_filter": s.resize_filter, "rounding": s.rounding, "crop_rule": s.crop_rule,
                "short_videos": s.short_videos, "clip_starts": s.clip_starts, "colour_rule": s.colour_rule,
                "upright": s.upright}


def parse_resize(text: str) -> int | list[int]:
    """``"256"`` -> 256 (short side), ``"128x171"`` -> [128, 171] (exact height x width); the sizes are checked
    as a record's resize field (:func:`zoo.fields.resize_value`). ValueError naming ``--resize`` otherwise."""
    what = f"--resize {text!r}"
    try:
        values = [int(p) for p in re.split(r"[x,×]", str(text).strip())]
    except ValueError:
        raise ValueError(f"{what}: expected SHORT_SIDE or HEIGHTxWIDTH, e.g. 256 or 128x171") from None
    value = resize_value(values[0] if len(values) == 1 else values, what)
    return value if isinstance(value, int) else list(value)


_FLAGS = {"clip_len": "--clip-len", "sampling_rate": "--sampling-rate", "num_clips": "--clips", "num_crops": "--crops",
          "resize": "--resize", "crop_size": "--crop-size", "frame_rate": "--frame-rate"}


def _shown(value) -> str:
    return "x".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def resolve_settings(meta: dict, entry: "dict | WeightsEntry | None" = None,
                     overrides: dict | None = None) -> EvalSettings:
    """Merge command line ``overrides`` > weights ``entry`` (its test protocol, then its preprocessing) >
    checkpoint ``meta`` > defaults; ``overrides`` uses the keys in :data:`OVERRIDE_KEYS`.

    When nothing sets the crop count: 3 crops if the crop is as large as a short-side resize (the CSN 10x3
    protocol), else 1 centre crop. Values that do not make a protocol together (see
    :func:`zoo.data.views.spec_problems`) are a :class:`~zoo.errors.UsageError` naming the flag and the source.
    """
    from zoo.data.views import ViewSpec, spec_problems

    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = set(overrides) - set(OVERRIDE_KEYS)
    if unknown:
        raise ValueError(f"unknown evaluation settings {sorted(unknown)}; expected some of {OVERRIDE_KEYS}")
    if entry is not None and not isinstance(entry, WeightsEntry):
        entry = WeightsEntry.from_dict(entry)
    protocol = resolve_protocol(entry) if entry is not None else TestProtocol()
    layers = [("default", DEFAULT_PREPROCESSING),
              ("checkpoint", Preprocessing.from_dict(meta or {}, "checkpoint metadata")),
              ("weights", entry.preprocessing if entry is not None else Preprocessing()),
              (f"protocol {protocol.name}", Preprocessing(**{k: getattr(protocol, k) for k in _TEST_FIELDS})),
              ("command line", Preprocessing.from_dict(overrides, "command line"))]
    prep, sources = Preprocessing(), {}
    for name, layer in layers:
        if name.startswith("protocol"):  # the crop the model was trained on (the convolutional head's kernel)
            train_crop_size = prep.crop_size
        prep = prep.updated(layer)
        sources.update({key: name for key, value in vars(layer).items() if value is not None})
    view_fields = {k: overrides.get(k) for k in _VIEW_FIELDS}
    merged = DEFAULT_PROTOCOL.updated(protocol.to_dict()).updated(view_fields)
    merged = merged.updated({k: getattr(prep, k) for k in _TEST_FIELDS})
    for key in _VIEW_FIELDS:
        sources[key] = ("command line" if view_fields.get(key) is not None else
                        f"protocol {protocol.name}" if getattr(protocol, key) is not None else "default")
    if merged.num_crops is None:
        merged = merged.updated({"num_crops": 3 if isinstance(prep.resize, int) and prep.crop_size == prep.resize
                                 else 1})
    rules = {k: getattr(merged, k) for k in ("rounding", "short_videos", "clip_starts", "upright")}
    rules.update({k: getattr(prep, k) for k in ("resize_filter", "crop_rule", "colour_rule")})
    fields = dict(clip_len=prep.clip_len, sampling_rate=prep.sampling_rate, num_clips=merged.num_clips,
                  num_crops=merged.num_crops, resize=prep.resize, crop_size=prep.crop_size, frame_rate=prep.frame_rate)
    problems = spec_problems(fields)
    if problems:   # each value is valid alone (checked by the records) but they do not make a protocol
        raise UsageError("; ".join(f"{_FLAGS[name]} {_shown(value)} {why} (from the {sources.get(name, 'default')})"
                                   for name, value, why in problems))
    spec = ViewSpec(**fields, **rules)
    if merged.convolutional and spec.crop_size is not None and spec.crop_size < train_crop_size:
        raise UsageError(f"convolutional testing needs a test crop at least as large as the training crop "
                         f"({train_crop_size}), got {spec.crop_size}; give --crop-size or --no-convolutional")
    return EvalSettings(spec, list(prep.mean), list(prep.std), list(prep.classes) if prep.classes else None,
                        merged, sources, train_crop_size)


def check_head(settings: EvalSettings, meta: dict, backend: str = "torch") -> None:
    """The convolutional head needs a residual-family model (:mod:`zoo.models.conv_head`) and the torch backend."""
    if not settings.convolutional:
        return
    from zoo.models.conv_head import has_convolutional_head

    if backend != "torch":
        raise UsageError(f"the {backend} backend has no convolutional head: use --backend torch or --no-convolutional")
    arch = str(meta.get("arch", ""))
    if arch and not has_convolutional_head(arch):
        raise UsageError(f"{arch} has no convolutional test head (residual families only): give --no-convolutional")


def check_classes(settings: EvalSettings, num_classes: int, source: str) -> None:
    """The class list must have one name per model output."""
    if settings.classes is not None and len(settings.classes) != num_classes:
        raise ValueError(f"{source}: the model has {num_classes} outputs but {len(settings.classes)} class names")
