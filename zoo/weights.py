"""Registry of released weight files: ``weights.json`` (shipped as package data) and its JSON Schema.

``list_weights`` / ``get_weights`` read the registry; ``validate_registry`` checks it against
``weights.schema.json`` (with jsonschema when installed) and against the rules the schema cannot
express: the naming scheme, cross-references and unique file names.

The typed records every other module reads instead of picking keys out of dicts:

* :class:`Preprocessing` -- how a clip is made for a model (clip length, sampling rate, frame rate, resize,
  crop, mean/std, class names/label set). A ``weights.json`` entry and a checkpoint's metadata store the same
  fields under the same keys; :meth:`Preprocessing.from_dict` reads either, :meth:`Preprocessing.to_dict`
  writes them.
* :class:`TestProtocol` -- how published numbers were measured (clips, crops, test resize/crop, aggregation,
  convolutional testing); :func:`resolve_protocol` gives the one behind a weights entry.
* :class:`WeightsEntry` -- one entry of ``weights.json`` with its preprocessing.

The aggregation names are those of :mod:`zoo.aggregation`; the records' value checks are :mod:`zoo.fields`.
Resolving a protocol into the settings of a run is :mod:`zoo.protocol`'s job.
"""
from __future__ import annotations

import copy
import functools
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from typing import Any, Mapping

from zoo.aggregation import canonical_aggregation
from zoo import limits
from zoo.fields import (channel_values, check_class_names, choice_value, did_you_mean, json_value, positive_value,
                        resize_value)

REGISTRY_FILE = "weights.json"
SCHEMA_FILE = "weights.schema.json"
NAME_TAGS = ("tv", "flow", "zoo2018")
_NAME = re.compile(r"^(?P<arch>[a-z0-9_]+)\.(?P<pretrain>[a-z0-9]+)(?:_ft_(?P<finetune>[a-z0-9]+))?"
                   r"(?:_(?P<frames>[0-9]+)f)?(?:_(?P<tag>" + "|".join(NAME_TAGS) + r"))?$")


class RegistryError(ValueError):
    """weights.json (or a registry passed in) breaks the schema or the registry's rules."""


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


# ------------------------------------------------------------------------------------------- records
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


@dataclass(frozen=True)
class TestProtocol:
    """How a model is tested: a ``protocols`` entry of ``weights.json``; ``None`` = not stated upstream.

    ``num_clips`` uniformly spaced clips x ``num_crops`` crops (1 = centre, 3 = along the longer side) of
    ``crop_size`` from frames resized to ``resize``, at ``sampling_rate`` (and ``frame_rate``); video score by
    ``aggregation`` (:data:`AGGREGATIONS`); ``convolutional`` = Caffe2 convolutional prediction.
    ``resize_filter``, ``rounding`` and ``crop_rule`` name how frames are resized and cropped
    (:mod:`zoo.data.transforms`, checked by :class:`zoo.data.views.ViewSpec`) and ``colour_rule`` how YUV
    becomes RGB (:mod:`zoo.data.colour`); ``upright`` whether the display rotation is applied (Caffe2 and
    torchvision's reader did not rotate; ``None``: upright, as ffmpeg shows); ``clip_starts`` how clips are
    spread (:data:`zoo.data.sampling.CLIP_START_RULES`); ``short_videos`` what is done with videos shorter than
    one clip (:data:`SHORT_VIDEO_RULES`; ``None``: zoo-test pads them).
    New fields are added with a ``None`` default and read from the registry by name.
    """

    __test__ = False  # not a pytest test class

    name: str | None = None
    num_clips: int | None = None
    num_crops: int | None = None
    resize: int | tuple[int, int] | None = None
    crop_size: int | None = None
    sampling_rate: int | None = None
    frame_rate: float | None = None
    aggregation: str | None = None
    convolutional: bool | None = None
    resize_filter: str | None = None
    rounding: str | None = None
    crop_rule: str | None = None
    short_videos: str | None = None
    clip_starts: str | None = None
    colour_rule: str | None = None
    upright: bool | None = None
    description: str = ""
    reference: str = ""

    @classmethod
    def from_dict(cls, name: str | None, data: Mapping[str, Any]) -> "TestProtocol":
        """The record of protocol ``name`` from its registry fields; ValueError on malformed values."""
        what = f"protocol {name}"
        aggregation = data.get("aggregation")
        convolutional = data.get("convolutional")
        for key in ("convolutional", "upright"):
            if data.get(key) is not None and not isinstance(data[key], bool):
                raise ValueError(f"{what}: {key} must be true, false or null")
        known = {f.name for f in fields(cls)}
        extra = {k: v for k, v in data.items() if k in known and k not in _PROTOCOL_CHECKED}
        return cls(**{**extra, "name": name,
                      "num_clips": positive_value(data.get("num_clips"), f"{what}: num_clips", int, limits.MAX_CLIPS),
                      "num_crops": positive_value(data.get("num_crops"), f"{what}: num_crops", int, limits.MAX_CLIPS),
                      "resize": resize_value(data.get("resize"), what),
                      "crop_size": positive_value(data.get("crop_size"), f"{what}: crop_size", int, limits.MAX_SIDE),
                      "sampling_rate": positive_value(data.get("sampling_rate"), f"{what}: sampling_rate", int,
                                                      limits.MAX_SAMPLING_RATE),
                      "frame_rate": positive_value(data.get("frame_rate"), f"{what}: frame_rate", float,
                                                   limits.MAX_FRAME_RATE),
                      "aggregation": None if aggregation is None else canonical_aggregation(aggregation),
                      "convolutional": convolutional,
                      "description": data.get("description") or "", "reference": data.get("reference") or ""})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``None`` kept: it means "not stated")."""
        return {f.name: json_value(getattr(self, f.name)) for f in fields(self)}

    def updated(self, values: Mapping[str, Any]) -> "TestProtocol":
        """This protocol with the fields in ``values`` that are not ``None`` replaced."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


_PROTOCOL_CHECKED = {"name", "num_clips", "num_crops", "resize", "crop_size", "sampling_rate", "frame_rate",
                     "aggregation", "convolutional", "description", "reference"}

#: What the evaluator uses for a field no protocol, entry, checkpoint or command line states: VMZ Caffe2
#: ``test_net.py``'s defaults (10 uniform clips of 16 frames at rate 1, frames resized to 128x171, 112 centre
#: crop, mean of the clip softmaxes, Caffe2's resize filter, rounding, crop placement and BT.601 colours). When the crop count is
#: unknown too, it is 3 if the crop is as large as a short-side resize (the CSN 10x3 protocol) and 1 centre crop
#: otherwise.
DEFAULT_PROTOCOL = TestProtocol(name="default", num_clips=10, num_crops=None, resize=(128, 171), crop_size=112,
                                sampling_rate=1, frame_rate=None, aggregation="mean_softmax", convolutional=False,
                                resize_filter="swscale_fast_bilinear", rounding="half_away_from_zero",
                                crop_rule="caffe2", short_videos="pad", clip_starts="uniform", colour_rule="bt601",
                                upright=True, description="VMZ Caffe2 test_net.py defaults")
DEFAULT_PREPROCESSING = Preprocessing(clip_len=16, sampling_rate=1, resize=(128, 171), crop_size=112,
                                      mean=DEFAULT_MEAN, std=DEFAULT_STD, resize_filter="swscale_fast_bilinear",
                                      crop_rule="caffe2", colour_rule="bt601")


@dataclass(frozen=True)
class WeightsEntry:
    """One entry of ``weights.json`` (the counterpart of timm's ``PretrainedCfg``)."""

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
    protocol: Mapping[str, Any] | None = None   # a TestProtocol record travelling with the weights (hf-hub config)

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> "WeightsEntry":
        """The record of a registry entry (or a registered one, see ``zoo.hub.register_weights``)."""
        for key in ("arch", "num_classes"):
            if data.get(key) is None:
                raise RegistryError(f"weights {name}: entry lacks {key!r}")
        return cls(name=name, arch=data["arch"], num_classes=int(data["num_classes"]),
                   options=copy.deepcopy(dict(data.get("options") or {})),
                   preprocessing=Preprocessing.from_dict(data, f"weights {name}"),
                   modality=data.get("modality", "rgb"), pretrain=data.get("pretrain"), finetune=data.get("finetune"),
                   release=data.get("release"), sources=tuple(data.get("sources") or ()),
                   exports=tuple(data.get("exports") or ()), metrics=tuple(data.get("metrics") or ()),
                   gflops=data.get("gflops"), gflops_input=data.get("gflops_input"), params_m=data.get("params_m"),
                   paper=data.get("paper"), notes=data.get("notes"),
                   protocol=copy.deepcopy(dict(data["protocol"])) if data.get("protocol") else None)

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


@functools.lru_cache(maxsize=None)
def _read_json(filename: str) -> dict:
    path = resources.files("zoo").joinpath(filename)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RegistryError(f"{path}: not valid JSON ({err})") from err


def load_registry() -> dict:
    """The parsed ``weights.json`` (cached; treat as read-only)."""
    return _read_json(REGISTRY_FILE)


def load_schema() -> dict:
    """The parsed ``weights.schema.json``."""
    return _read_json(SCHEMA_FILE)


def arch_family(arch: str) -> str:
    """``r2plus1d_34`` -> ``r2plus1d``, ``mc3_18`` -> ``mc3``, ``c3d`` -> ``c3d`` (:func:`zoo.models.model_family`)."""
    from zoo.models.registry import model_family   # the builders import torch: not while a tool parses --help

    return model_family(arch)


def head_dataset(entry: dict) -> str:
    """The dataset the entry's head classifies: its fine-tuning data, else its pretraining data."""
    return entry["finetune"] or entry["pretrain"]


def get_entry(name: str) -> WeightsEntry:
    """The typed record of registry entry ``name`` (KeyError with suggestions if unknown)."""
    data = get_weights(name)
    return WeightsEntry.from_dict(data.pop("name"), data)


def get_protocol(name: str, protocols: Mapping[str, Any] | None = None) -> TestProtocol:
    """The record of protocol ``name`` (from ``protocols``, default the registry's); KeyError if unknown."""
    table = load_registry()["protocols"] if protocols is None else protocols
    if name not in table:
        raise KeyError(f"unknown test protocol {name!r}" + did_you_mean(name, table, "weights.json protocols"))
    return TestProtocol.from_dict(name, table[name])


def resolve_protocol(weights: "str | WeightsEntry | Mapping[str, Any]") -> TestProtocol:
    """The test protocol behind the published numbers of ``weights`` (a name, record or entry dict).

    It is the entry's own protocol record when it carries one (an ``hf-hub:`` model's config.json), else the
    protocol of the entry's first metric, read from the registry's ``protocols`` table. Weights without
    published metrics get an empty protocol (every field ``None``): the caller falls back to
    :data:`DEFAULT_PROTOCOL`, never to numbers parsed from names.
    """
    if isinstance(weights, str):
        weights = get_entry(weights)
    elif not isinstance(weights, WeightsEntry):
        weights = WeightsEntry.from_dict(weights.get("name", "<entry>"), weights)
    if weights.protocol:
        return TestProtocol.from_dict(weights.protocol.get("name") or weights.name, weights.protocol)
    name = weights.protocol_name
    return TestProtocol() if name is None else get_protocol(name)


def list_weights(family: str | None = None, dataset: str | None = None) -> list[str]:
    """Sorted names of the loadable weights, optionally filtered.

    ``family`` matches the model family (``r2plus1d``, ``ir_csn``, ``mc3``, ``c3d``; hyphens allowed) or an
    exact architecture (``r2plus1d_34``). ``dataset`` matches the dataset the head classifies
    (``kinetics400``, ``hmdb51``, or a pretraining set such as ``ig65m`` / ``sports1m`` for checkpoints
    without fine-tuning). An unknown family or dataset is a ValueError with suggestions.
    """
    weights = load_registry()["weights"]
    names = sorted(weights)
    if family is not None:
        wanted = family.strip().lower().replace("-", "_")
        known = {e["arch"] for e in weights.values()} | {arch_family(e["arch"]) for e in weights.values()}
        if wanted not in known:
            raise ValueError(f"no weights for family {family!r}" + did_you_mean(wanted, sorted(known), "`zoo-hub list`"))
        names = [n for n in names if wanted in (weights[n]["arch"], arch_family(weights[n]["arch"]))]
    if dataset is not None:
        wanted = dataset.strip().lower().replace("-", "")
        known = {head_dataset(e) for e in weights.values()}
        if wanted not in known:
            raise ValueError(f"no weights for dataset {dataset!r}" + did_you_mean(wanted, sorted(known), "`zoo-hub list`"))
        names = [n for n in names if head_dataset(weights[n]) == wanted]
    return names


def get_weights(name: str) -> dict:
    """A copy of the registry entry ``name`` with ``"name"`` added; KeyError with suggestions if unknown."""
    registry = load_registry()
    entry = registry["weights"].get(name)
    if entry is not None:
        return {"name": name, **copy.deepcopy(entry)}
    unsupported = registry["unsupported"].get(name)
    if unsupported is not None:
        raise KeyError(f"weights {name!r} are a released file the zoo cannot load: {unsupported['reason']}")
    raise KeyError(f"unknown weights {name!r}" + did_you_mean(name, registry["weights"], "`zoo-hub list`"))


def _schema_errors(registry: dict) -> list[str]:
    try:
        import jsonschema
    except ImportError:  # optional dependency: fall back to the required top-level keys and entry fields
        schema = load_schema()
        errors = [f"missing top-level key {k!r}" for k in schema["required"] if k not in registry]
        required = schema["$defs"]["entry"]["required"]
        for name, entry in registry.get("weights", {}).items():
            errors += [f"weights.{name}: missing field {k!r}" for k in required if k not in entry]
        return errors
    validator = jsonschema.Draft202012Validator(load_schema())
    return [f"{'.'.join(map(str, err.absolute_path)) or '<top>'}: {err.message}"
            for err in sorted(validator.iter_errors(registry), key=lambda e: list(map(str, e.absolute_path)))]


def _name_errors(weights: dict) -> list[str]:
    """The naming scheme documented in weights.schema.json's description."""
    errors = []
    clip_lens = defaultdict(set)
    for entry in weights.values():
        clip_lens[entry["arch"]].add(entry["clip_len"])
    for name, entry in weights.items():
        match = _NAME.match(name)
        if not match:
            errors.append(f"{name}: does not follow ARCH.PRETRAIN[_ft_FINETUNE][_NNf][_TAG]")
            continue
        if match["arch"] != entry["arch"]:
            errors.append(f"{name}: name says arch {match['arch']!r}, entry says {entry['arch']!r}")
        if (match["pretrain"], match["finetune"]) != (entry["pretrain"], entry["finetune"]):
            errors.append(f"{name}: name says data {match['pretrain']}/{match['finetune']}, "
                          f"entry says {entry['pretrain']}/{entry['finetune']}")
        several = len(clip_lens[entry["arch"]]) > 1
        if several and match["frames"] != str(entry["clip_len"]):
            errors.append(f"{name}: {entry['arch']} has weights at clip lengths {sorted(clip_lens[entry['arch']])}, "
                          f"so the name must end in _{entry['clip_len']}f (before any tag)")
        if not several and match["frames"] is not None:
            errors.append(f"{name}: {entry['arch']} has one clip length; drop the _NNf suffix")
    return errors


def _reference_errors(registry: dict) -> list[str]:
    """label_set / protocol references, head sizes and file names appearing once."""
    errors = []
    owners = defaultdict(list)
    for section in ("weights", "unsupported"):
        for name, entry in registry[section].items():
            for src in entry["sources"] + entry.get("exports", []):
                owners[src["filename"]].append(name)
            for m in entry.get("metrics", []):
                if m["protocol"] not in registry["protocols"]:
                    errors.append(f"{name}: metric protocol {m['protocol']!r} is not in protocols")
    errors += [f"file {f} is listed by several entries: {', '.join(n)}" for f, n in owners.items() if len(n) > 1]
    for name, entry in registry["weights"].items():
        label_set = registry["label_sets"].get(entry["label_set"])
        if label_set is None:
            errors.append(f"{name}: label_set {entry['label_set']!r} is not in label_sets")
        elif label_set["num_classes"] != entry["num_classes"]:
            errors.append(f"{name}: num_classes {entry['num_classes']} but label_set {entry['label_set']} has "
                          f"{label_set['num_classes']}")
        if entry["modality"] == "rgb" and (entry["mean"] is None or entry["std"] is None):
            errors.append(f"{name}: RGB weights need mean and std")
        for src in entry["sources"]:
            if src["format"] == "onnx":
                errors.append(f"{name}: ONNX file {src['filename']} belongs under exports, not sources")
    return errors


def validate_registry(registry: dict | None = None) -> None:
    """Check ``registry`` (default: the packaged weights.json); raise RegistryError listing every problem."""
    registry = load_registry() if registry is None else registry
    errors = _schema_errors(registry)
    if not errors:  # the rule checks assume a schema-valid document
        errors = _name_errors(registry["weights"]) + _reference_errors(registry)
    if errors:
        raise RegistryError(f"{REGISTRY_FILE}: {len(errors)} problem(s):\n  " + "\n  ".join(errors))
