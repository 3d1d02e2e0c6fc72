"""Where the windows of one video lie in time: sliding windows or the evaluator's test views.

A window is ``window`` frames taken every ``sampling_rate`` frames of the video's timeline (resampled to
``frame_rate`` fps when given, :func:`zoo.data.sampling.resample_frame_indices`). Sliding windows start every
``stride`` frames, or at the first frame at or after every multiple of ``stride_sec`` seconds (exact for
variable-frame-rate videos). The last window that would run past the end is padded by repeating the last
frame, as the evaluator pads short videos (:func:`zoo.data.sampling.clip_frame_indices`); ``pad_last=False``
drops it instead (a video shorter than one window still gets one padded window).

Every window carries its start and end time in seconds from the video's first frame: it covers
``[start, end)``, from its first frame to the start of the frame after its last one (the video's end for
the last frame).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Sequence

from zoo.data.decode import frame_times_of
from zoo.data.errors import VideoError
from zoo.data.probe import VideoInfo
from zoo.data.sampling import clip_span, resample_frame_indices, uniform_clip_starts
from zoo.data.transforms import Size
from zoo.data.views import ViewSpec, clip_indices


@dataclass
class WindowSpec:
    """Temporal and spatial sampling of an extraction.

    Sliding windows (``clips=None``): ``window`` frames at ``sampling_rate``, a new window every ``stride``
    frames (default: ``window * sampling_rate``, back to back) or every ``stride_sec`` seconds. Test views
    (``clips`` set): ``clips`` uniformly placed windows x ``crops`` crops, exactly the evaluator's views.
    Frames are resized (``resize``: short side or ``(h, w)``) and centre-cropped to ``crop_size``
    (``None``: the whole resized frame).
    """

    window: int = 16
    sampling_rate: int = 1
    stride: int | None = None
    stride_sec: float | None = None
    frame_rate: float | None = None
    clips: int | None = None
    crops: int = 1
    resize: Size = 128
    crop_size: int | None = 112
    pad_last: bool = True

    def __post_init__(self):
        clip_span(self.window, self.sampling_rate)          # validates both
        if self.stride is not None and self.stride_sec is not None:
            raise ValueError("give either a stride in frames or in seconds, not both")
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"stride must be >= 1 frame, got {self.stride}")
        if self.stride_sec is not None and not self.stride_sec > 0:
            raise ValueError(f"stride in seconds must be > 0, got {self.stride_sec}")
        if self.clips is not None and self.clips < 1:
            raise ValueError(f"clips must be >= 1, got {self.clips}")
        if self.crops not in (1, 3):
            raise ValueError(f"crops must be 1 or 3, got {self.crops}")
        if self.clips is None and self.crops != 1:
            raise ValueError("several crops need test views (clips); sliding windows use one centre crop")
        if self.crops > 1 and self.crop_size is None:
            raise ValueError("several crops need a crop size")

    @property
    def views(self) -> bool:
        """True for the evaluator's test views, False for sliding windows."""
        return self.clips is not None

    def view_spec(self) -> ViewSpec:
        """The evaluator's :class:`~zoo.data.views.ViewSpec` with the same sampling."""
        return ViewSpec(clip_len=self.window, sampling_rate=self.sampling_rate, num_clips=self.clips or 1,
                        num_crops=self.crops, resize=self.resize, crop_size=self.crop_size,
                        frame_rate=self.frame_rate)

    def settings(self) -> dict:
        """JSON-ready description (stored with every feature file and in ``run.json``)."""
        resize = list(self.resize) if isinstance(self.resize, (list, tuple)) else self.resize
        out = {"window": self.window, "sampling_rate": self.sampling_rate, "frame_rate": self.frame_rate,
               "resize": resize, "crop_size": self.crop_size}
        if self.views:
            out.update(mode="views", clips=self.clips, crops=self.crops)
        else:
            out.update(mode="sliding", stride=self.stride, stride_sec=self.stride_sec, pad_last=self.pad_last)
        return out


@dataclass
class WindowPlan:
    """The windows of one video: source frame indices per window and their ``[start, end)`` times."""

    frames: list[list[int]]
    start: list[float] = field(default_factory=list)
    end: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frames)


def sliding_starts(times: Sequence[float], span: int, stride: int | None, stride_sec: float | None,
                   pad_last: bool = True) -> list[int]:
    """Start positions of the sliding windows in a timeline whose frames are shown at ``times`` (seconds)."""
    n = len(times)
    if n < 1:
        raise ValueError("a video with no frames has no windows")
    if stride_sec is None:
        candidates = list(range(0, n, stride or span))
    else:   # the first frame at or after every multiple of stride_sec: right for variable frame rates too
        steps = int((times[-1] - times[0]) / stride_sec + 1e-9) + 1
        candidates = sorted({bisect.bisect_left(times, times[0] + k * stride_sec - 1e-6) for k in range(steps)}
                            - {n})
    full = [s for s in candidates if s + span <= n]
    if not full:
        return [0]                                         # shorter than one window: one padded window
    later = [s for s in candidates if s > full[-1]]
    if pad_last and later and full[-1] + span < n:         # frames after the last full window
        full.append(later[0])
    return full


def plan_windows(info: VideoInfo, spec: WindowSpec, starts: Sequence[int] | None = None) -> WindowPlan:
    """The windows of a video (``starts``: given start frames, e.g. the rows of a dense VMZ list)."""
    timeline = resample_frame_indices(info.num_frames, info.fps, spec.frame_rate)
    n = len(timeline)
    src_times = frame_times_of(info)
    t0 = src_times[0]
    times = [src_times[i] - t0 for i in timeline]
    rate = spec.frame_rate or info.fps
    video_end = times[-1] + (1.0 / rate if rate else 0.0)
    span = clip_span(spec.window, spec.sampling_rate)
    if starts is not None:
        bad = [s for s in starts if not 0 <= s < n]
        if bad:
            raise VideoError(info.path, "too_short", f"start frame {bad[0]} is outside its {n} frames")
        starts = list(starts)
    elif spec.views:
        starts = uniform_clip_starts(n, spec.window, spec.sampling_rate, spec.clips)
    else:
        starts = sliding_starts(times, span, spec.stride, spec.stride_sec, spec.pad_last)
    frames = clip_indices(info, spec.window, spec.sampling_rate, starts, spec.frame_rate)
    start_t, end_t = [], []
    for s in starts:
        last = min(s + span - 1, n - 1)
        start_t.append(times[s])
        end_t.append(times[last + 1] if last + 1 < n else video_end)
    return WindowPlan(frames, start_t, end_t)

