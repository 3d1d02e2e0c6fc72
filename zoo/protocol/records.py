"""The test protocol record: how a model is tested (:class:`TestProtocol`), the defaults the evaluator uses
(:data:`DEFAULT_PROTOCOL`), a protocol of the registry by name (:func:`get_protocol`) and the one behind a weights
entry's published numbers (:func:`resolve_protocol`). Torch-free, so the hub and every command line read it."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

from zoo import limits
from zoo.aggregation import canonical_aggregation
from zoo.fields import did_you_mean, json_value, positive_value, resize_value
from zoo.records import WeightsEntry
from zoo.weights import load_registry


@dataclass(frozen=True)
class TestProtocol:
    """How a model is tested: a ``protocols`` entry of ``weights.json``; ``None`` = not stated upstream.

    ``num_clips`` uniformly spaced clips x ``num_crops`` crops (1 = centre, 3 = along the longer side) of
    ``crop_size`` from frames resized to ``resize``, at ``sampling_rate`` (and ``frame_rate``); video score by
    ``aggregation`` (:data:`zoo.aggregation.AGGREGATIONS`); ``convolutional`` = Caffe2 convolutional prediction.
    ``resize_filter``, ``rounding`` and ``crop_rule`` name how frames are resized and cropped
    (:mod:`zoo.data.transforms`, checked by :class:`zoo.data.views.ViewSpec`) and ``colour_rule`` how YUV
    becomes RGB (:mod:`zoo.data.colour`); ``upright`` whether the display rotation is applied (Caffe2 and
    torchvision's reader did not rotate; ``None``: upright, as ffmpeg shows); ``clip_starts`` how clips are
    spread (:data:`zoo.data.sampling.CLIP_START_RULES`); ``short_videos`` what is done with videos shorter than
    one clip (:data:`zoo.records.SHORT_VIDEO_RULES`; ``None``: zoo-test pads them).
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
    def from_dict(cls, data: Mapping[str, Any], name: str | None = None) -> "TestProtocol":
        """The record of protocol ``name`` (default ``data["name"]``) from its fields (a ``protocols`` entry of
        ``weights.json``, or :meth:`to_dict`'s); ValueError on malformed values."""
        name = data.get("name") if name is None else name
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


def get_protocol(name: str, protocols: Mapping[str, Any] | None = None) -> TestProtocol:
    """The record of protocol ``name`` (from ``protocols``, default the registry's); KeyError if unknown."""
    table = load_registry()["protocols"] if protocols is None else protocols
    if name not in table:
        raise KeyError(f"unknown test protocol {name!r}" + did_you_mean(name, table, "weights.json protocols"))
    return TestProtocol.from_dict(table[name], name)


def resolve_protocol(entry: Mapping[str, Any]) -> TestProtocol:
    """The test protocol behind the published numbers of weights ``entry`` (a :class:`~zoo.records.WeightsEntry`,
    as ``zoo.get_weights(name)`` gives it, or an entry dict).

    It is the entry's own protocol record when it carries one (an ``hf-hub:`` model's config.json), else the
    protocol of the entry's first metric, read from the registry's ``protocols`` table. Weights without
    published metrics get an empty protocol (every field ``None``): the caller falls back to
    :data:`DEFAULT_PROTOCOL`, never to numbers parsed from names.
    """
    if isinstance(entry, str):
        raise TypeError(f"resolve_protocol takes a weights entry, not the name {entry!r}: "
                        "give it zoo.get_weights(name)")
    if not isinstance(entry, WeightsEntry):
        entry = WeightsEntry.from_dict(entry)
    if entry.protocol:
        return TestProtocol.from_dict(entry.protocol, entry.protocol.get("name") or entry.name)
    name = entry.protocol_name
    return TestProtocol() if name is None else get_protocol(name)
