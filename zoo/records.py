"""The typed records of a model's weights every module reads instead of picking keys out of dicts.

* :class:`Preprocessing` -- how a clip is made for a model (clip length, sampling rate, frame rate, resize,
  crop, mean/std, class names/label set). A ``weights.json`` entry and a checkpoint's metadata store the same
  fields under the same keys.
* :class:`WeightsEntry` -- one weights entry (of ``weights.json``, registered at run time or an ``hf-hub:``
  repo's config) with its preprocessing. It reads like the entry's dict too (a read-only ``Mapping``).

Each record, and the test protocol's (:class:`zoo.protocol.records.TestProtocol`), is read with
``from_dict(data, name)`` (``data`` first, then what it is called; a checked value that is wrong is a ValueError
naming it) and written with ``to_dict()``; ``from_dict(r.to_dict())`` gives ``r`` back. The value checks are
:mod:`zoo.fields`. The pixel rule names a checkpoint or a protocol gives (:data:`RESIZE_FILTER_NAMES`,
:data:`CROP_RULES`, :data:`COLOUR_RULES`, :data:`CLIP_START_RULES`, :data:`SHORT_VIDEO_RULES`) live here, below
:mod:`zoo.data` that implements them and :mod:`zoo.checkpoint` that checks them, and cost no torch import for
a command line that offers them. Nothing here reads a file: the registry is :mod:`zoo.weights`.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Iterator

from zoo import limits
from zoo.fields import channel_values, check_class_names, choice_value, json_value, positive_value, resize_value


class RegistryError(ValueError):
    """A weights entry (of weights.json, or one registered or given) breaks the schema or the registry's rules."""


#: what a test protocol does with a video shorter than one clip span (``--short-videos``): repeat its last frame
#: (``pad``), refuse it and leave it out of the accuracies (``skip``), or refuse it and count it as a wrong
#: prediction (``wrong``: Caffe2 produced no clip for it, yet it stayed in the denominator);
#: :class:`zoo.data.views.ViewSpec` applies it
SHORT_VIDEO_RULES = ("pad", "skip", "wrong")
#: The pixel rules a protocol or a checkpoint names (implemented by :mod:`zoo.data.transforms`,
#: :mod:`zoo.data.colour` and :mod:`zoo.data.sampling`; kept here so that command lines can offer them without
#: importing torch): how frames are resized, how crops are placed, how YUV becomes RGB, where clips start.
RESIZE_FILTER_NAMES = ("swscale_fast_bilinear", "swscale_bilinear", "torch_bilinear")
CROP_RULES = ("caffe2", "torchvision")
COLOUR_RULES = ("bt601", "frame_tag")
CLIP_START_RULES = ("uniform", "caffe2")

#: torchvision / VMZ-PyTorch normalisation (Caffe2's 0-255 constants / 255, RGB)
DEFAULT_MEAN = (0.43216, 0.394666, 0.37645)
DEFAULT_STD = (0.22803, 0.22145, 0.216989)


@dataclass(frozen=True)
class Preprocessing:
    """How input clips are made for a model; ``None`` = not known.

    The same fields (same keys) live in a ``weights.json`` entry and in a checkpoint's metadata. ``resize`` is
    an int (short side, aspect kept) or ``(height, width)`` (exact size); ``crop_size`` is the training crop;
    ``mean``/``std`` are RGB in 0-1 pixel scale; ``frame_rate`` ``None`` = the video's own frames.
    ``resize_filter``, ``crop_rule`` and ``colour_rule`` (:data:`RESIZE_FILTER_NAMES`, :data:`CROP_RULES`,
    :data:`COLOUR_RULES`) are the pixel rules the model's frames were made with (torchvision's weights: torch
    bilinear, torchvision's centre crop, BT.601).
    """

    clip_len: int | None = None
    sampling_rate: int | None = None
    frame_rate: float | None = None
    resize: int | tuple[int, int] | None = None
    crop_size: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    classes: tuple[str, ...] | None = None
    label_set: str | None = None
    resize_filter: str | None = None
    crop_rule: str | None = None
    colour_rule: str | None = None

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The metadata keys of the record."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "metadata") -> "Preprocessing":
        """The record held by a weights entry or checkpoint metadata (other keys ignored); ValueError naming
        ``source`` on a malformed value."""
        get = data.get
        classes = check_class_names(get("classes"), source)
        label_set = get("label_set")
        if label_set is not None and not isinstance(label_set, str):
            raise ValueError(f"{source}: label_set must be a string, not {label_set!r}")
        return cls(clip_len=positive_value(get("clip_len"), f"{source}: clip_len", int, limits.MAX_CLIP_LEN),
                   sampling_rate=positive_value(get("sampling_rate"), f"{source}: sampling_rate", int,
                                                limits.MAX_SAMPLING_RATE),
                   frame_rate=positive_value(get("frame_rate"), f"{source}: frame_rate", float,
                                             limits.MAX_FRAME_RATE),
                   resize=resize_value(get("resize"), source),
                   crop_size=positive_value(get("crop_size"), f"{source}: crop_size", int, limits.MAX_SIDE),
                   mean=channel_values(get("mean"), f"{source}: mean"), std=channel_values(get("std"), f"{source}: std"),
                   classes=classes, label_set=label_set,
                   resize_filter=choice_value(get("resize_filter"), RESIZE_FILTER_NAMES, f"{source}: resize_filter"),
                   crop_rule=choice_value(get("crop_rule"), CROP_RULES, f"{source}: crop_rule"),
                   colour_rule=choice_value(get("colour_rule"), COLOUR_RULES, f"{source}: colour_rule"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata with the known fields (unknown ones left out)."""
        return {f.name: json_value(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None}

    def updated(self, other: "Preprocessing") -> "Preprocessing":
        """This record with every field ``other`` knows taken from ``other``."""
        return replace(self, **{k: v for k, v in vars(other).items() if v is not None})


DEFAULT_PREPROCESSING = Preprocessing(clip_len=16, sampling_rate=1, resize=(128, 171), crop_size=112,
                                      mean=DEFAULT_MEAN, std=DEFAULT_STD, resize_filter="swscale_fast_bilinear",
                                      crop_rule="caffe2", colour_rule="bt601")


#: the fields of a :class:`WeightsEntry` written as they are, when present (the rest are the preprocessing's)
_ENTRY_FIELDS = ("arch", "num_classes", "options", "modality", "pretrain", "finetune", "release", "sources",
                 "exports", "metrics", "gflops", "gflops_input", "params_m", "paper", "notes", "protocol")


@dataclass(frozen=True, eq=False)
class WeightsEntry(Mapping):
    """One weights entry (the counterpart of timm's ``PretrainedCfg``): of ``weights.json``, registered at run
    time (:func:`zoo.weights.register_weights`) or built from an ``hf-hub:`` repo's config.json.

    It also reads like the entry's dict, ``"name"`` included: ``entry["arch"]``, ``entry.get("finetune")``,
    ``"classes" in entry`` and ``dict(entry)`` give the keys and values the entry was read from (``data``; each
    value a copy), so ``json.dumps(dict(entry))`` is the registry's text. It is read-only: the typed fields are
    what the code reads. Two records are equal when their typed fields are; a record equals a plain mapping
    with the same keys and values.
    """

    name: str
    arch: str
    num_classes: int
    options: Mapping[str, Any] = field(default_factory=dict)
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    modality: str = "rgb"
    pretrain: str | None = None
    finetune: str | None = None
    release: str | None = None
    sources: tuple[Mapping[str, Any], ...] = ()
    exports: tuple[Mapping[str, Any], ...] = ()
    metrics: tuple[Mapping[str, Any], ...] = ()
    gflops: float | None = None
    gflops_input: str | None = None
    params_m: float | None = None
    paper: str | None = None
    notes: str | None = None
    protocol: Mapping[str, Any] | None = None   # a test protocol record travelling with the weights (hf-hub config)
    #: the entry as it was read (without ``"name"``); made from the typed fields when the record is built directly
    data: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if not self.data:
            object.__setattr__(self, "data", self._typed_data())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str | None = None) -> "WeightsEntry":
        """The record of weights ``name`` (default ``data["name"]``) from its entry (the schema of ``weights.json``
        entries, or :meth:`to_dict`'s); RegistryError without ``arch`` or ``num_classes``, ValueError naming the
        weights on a malformed preprocessing value."""
        name = data.get("name", "<entry>") if name is None else name
        data = copy.deepcopy({k: v for k, v in data.items() if k != "name"})
        for key in ("arch", "num_classes"):
            if data.get(key) is None:
                raise RegistryError(f"weights {name}: entry lacks {key!r}")
        return cls(name=name, arch=data["arch"], num_classes=int(data["num_classes"]),
                   options=dict(data.get("options") or {}),
                   preprocessing=Preprocessing.from_dict(data, f"weights {name}"),
                   modality=data.get("modality", "rgb"), pretrain=data.get("pretrain"), finetune=data.get("finetune"),
                   release=data.get("release"), sources=tuple(data.get("sources") or ()),
                   exports=tuple(data.get("exports") or ()), metrics=tuple(data.get("metrics") or ()),
                   gflops=data.get("gflops"), gflops_input=data.get("gflops_input"), params_m=data.get("params_m"),
                   paper=data.get("paper"), notes=data.get("notes"),
                   protocol=dict(data["protocol"]) if data.get("protocol") else None, data=data)

    def to_dict(self) -> dict[str, Any]:
        """The entry as a JSON-ready dict, ``"name"`` included (``dict(entry)``)."""
        return dict(self)

    # ---- the read-only mapping of the entry's dict
    def __getitem__(self, key: str) -> Any:
        return self.name if key == "name" else copy.deepcopy(self.data[key])

    def __iter__(self) -> Iterator[str]:
        yield "name"
        yield from self.data

    def __len__(self) -> int:
        return 1 + len(self.data)

    def __contains__(self, key: object) -> bool:
        return key == "name" or key in self.data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, WeightsEntry):
            return self._typed() == other._typed()
        return dict(self) == dict(other) if isinstance(other, Mapping) else NotImplemented

    __hash__ = None   # options and sources are dicts

    def _typed(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self) if f.name != "data")

    def _typed_data(self) -> dict[str, Any]:
        """The entry's dict (without ``"name"``) made from the typed fields: those that are set."""
        values = {key: json_value(getattr(self, key)) for key in _ENTRY_FIELDS}
        values.update(self.preprocessing.to_dict())
        return copy.deepcopy({key: value for key, value in values.items() if value not in (None, [], {})})

    @property
    def head_dataset(self) -> str | None:
        """The dataset the head classifies: its fine-tuning data, else its pretraining data."""
        return self.finetune or self.pretrain

    @property
    def protocol_name(self) -> str | None:
        """The protocol of the entry's first published metric (the upstream release's own), or ``None``."""
        return next((m["protocol"] for m in self.metrics if m.get("protocol")), None)

    def checkpoint_meta(self) -> dict[str, Any]:
        """Metadata a checkpoint of these weights carries: the preprocessing and the registry name."""
        return {**self.preprocessing.to_dict(), "provenance": {"weights": self.name}}
