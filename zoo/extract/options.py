"""The choices of ``zoo-extract``'s options and the request of windows an extraction reads, in a module
without torch so that ``--help`` stays fast."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

#: ``--reduce``: what is done over the windows of one video
REDUCTIONS = ("none", "mean", "max")
#: ``--pool-spatial``: how spatial maps are pooled over H and W
POOL_SPATIAL = ("mean", "max")
#: ``--format``: file suffixes of the per-video outputs
FORMATS = (".safetensors", ".npy")
#: ``--backend``
BACKENDS = ("torch", "onnx")


@dataclass(frozen=True)
class WindowRequest:
    """What an extraction reads: the windows and their pixels, as :func:`zoo.extract_features` and
    ``zoo-extract`` take them; every ``None`` is the protocol's (weights entry, then checkpoint metadata, then
    VMZ's test protocol: :func:`zoo.protocol.settings.resolve_settings`).

    Sliding windows of ``window`` frames at ``sampling_rate`` every ``stride`` frames (default: back to back)
    or ``stride_sec`` seconds, the last one padded unless ``pad_last=False``; or, with ``clips``, the
    evaluator's ``clips`` x ``crops`` test views (``convolutional``: Caffe2's convolutional head for them).
    ``full_frame``: the whole resized frame instead of a crop. ``mean``/``std`` replace the normalisation.
    """

    window: int | None = None
    sampling_rate: int | None = None
    stride: int | None = None
    stride_sec: float | None = None
    frame_rate: float | None = None
    pad_last: bool = True
    clips: int | None = None
    crops: int | None = None
    convolutional: bool | None = None
    short_videos: str | None = None
    resize: int | Sequence[int] | None = None
    crop_size: int | None = None
    full_frame: bool = False
    resize_filter: str | None = None
    crop_rule: str | None = None
    colour_rule: str | None = None
    upright: bool | None = None
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None

    def __post_init__(self):
        if self.clips is None and self.crops not in (None, 1):
            raise ValueError("several crops need test views: give clips as well (sliding windows use one crop)")

    @property
    def views(self) -> bool:
        """Whether the windows are the evaluator's test views (``clips`` given) rather than sliding windows."""
        return self.clips is not None

    def protocol_overrides(self) -> dict:
        """The protocol values this request sets (``None``: not set), keyed as
        :func:`zoo.protocol.settings.resolve_settings` takes them: a window is the protocol's clip."""
        return {"clip_len": self.window, "sampling_rate": self.sampling_rate, "frame_rate": self.frame_rate,
                "resize": self.resize, "crop_size": self.crop_size, "num_clips": self.clips,
                "num_crops": self.crops, "convolutional": self.convolutional, "short_videos": self.short_videos,
                "resize_filter": self.resize_filter, "crop_rule": self.crop_rule, "colour_rule": self.colour_rule,
                "upright": self.upright}
