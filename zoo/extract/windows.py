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
import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

from zoo.data.decode import frame_times_of
from zoo.data.errors import VideoError
from zoo.data.probe import VideoInfo
from zoo.data.sampling import clip_span, resample_frame_indices, uniform_clip_starts
from zoo.data.views import ViewSpec, clip_indices


@dataclass
class WindowSpec:
    """Temporal and spatial sampling of an extraction.

    ``view`` is the evaluator's :class:`~zoo.data.views.ViewSpec`: window length (``clip_len``), sampling
    rate, frame rate, resize, crop and the protocol's resize/rounding/crop rules. With ``views=True`` the
    windows are its test views (``num_clips`` uniformly placed clips x ``num_crops`` crops), exactly what
    ``zoo-test`` evaluates. Otherwise they slide: a new window every ``stride`` frames (default:
    ``clip_len * sampling_rate``, back to back) or every ``stride_sec`` seconds, each one centre crop
    (``crop_size=None``: the whole resized frame).
    """

    view: ViewSpec = field(default_factory=lambda: ViewSpec(clip_len=16, num_clips=1))
    views: bool = False
    stride: int | None = None
    stride_sec: float | None = None
    pad_last: bool = True

    def __post_init__(self):
        clip_span(self.view.clip_len, self.view.sampling_rate)          # validates both
        if self.stride is not None and self.stride_sec is not None:
            raise ValueError("give either a stride in frames or in seconds, not both")
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"stride must be >= 1 frame, got {self.stride}")
        if self.stride_sec is not None and not self.stride_sec > 0:
            raise ValueError(f"stride in seconds must be > 0, got {self.stride_sec}")
        if self.views and self.view.num_crops > 1 and self.view.crop_size is None:
            raise ValueError("several crops need a crop size")
        if not self.views and self.view.num_crops != 1:
            raise ValueError("several crops need test views (clips); sliding windows use one centre crop")

    @property
    def window(self) -> int:
        return self.view.clip_len

    @property
    def sampling_rate(self) -> int:
        return self.view.sampling_rate

    @property
    def crops(self) -> int:
        """Crops per window (1 for sliding windows)."""
        return self.view.num_crops if self.views else 1

    def settings(self) -> dict:
        """JSON-ready description (stored with every feature file and in ``run.json``)."""
        view = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self.view).items()}
        if self.views:
            return dict(view, mode="views")
        del view["num_clips"], view["num_crops"]
        return dict(view, mode="sliding", stride=self.stride, stride_sec=self.stride_sec, pad_last=self.pad_last)


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
    view = spec.view
    timeline = resample_frame_indices(info.num_frames, info.fps, view.frame_rate)
    n = len(timeline)
    src_times = frame_times_of(info)
    t0 = src_times[0]
    times = [src_times[i] - t0 for i in timeline]
    rate = view.frame_rate or info.fps
    video_end = times[-1] + (1.0 / rate if rate else 0.0)
    span = clip_span(view.clip_len, view.sampling_rate)
    if view.short_videos != "pad" and span > n:   # no features for it (skip and wrong alike)
        raise VideoError(info.path, "too_short", f"{n} frames, shorter than one {view.clip_len}x"
                         f"{view.sampling_rate} window (short_videos={view.short_videos!r})")
    if starts is not None:
        bad = [s for s in starts if not 0 <= s < n]
        if bad:
            raise VideoError(info.path, "too_short", f"start frame {bad[0]} is outside its {n} frames")
        starts = list(starts)
    elif spec.views:
        starts = uniform_clip_starts(n, view.clip_len, view.sampling_rate, view.num_clips, view.clip_starts)
    else:
        starts = sliding_starts(times, span, spec.stride, spec.stride_sec, spec.pad_last)
    frames = clip_indices(info, view.clip_len, view.sampling_rate, starts, view.frame_rate)
    start_t, end_t = [], []
    for s in starts:
        last = min(s + span - 1, n - 1)
        start_t.append(times[s])
        end_t.append(times[last + 1] if last + 1 < n else video_end)
    return WindowPlan(frames, start_t, end_t)

