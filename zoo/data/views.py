"""Test views (clips x crops) and training clips of one video, decoded in a single pass.

``decode_views`` is the evaluator's input: ``num_clips`` uniformly placed clips (:mod:`zoo.data.sampling`)
times ``num_crops`` spatial crops (:func:`zoo.data.transforms.crop_positions`), all from one open + one
forward decode of the video, resized by libswscale (or, for torchvision's rule, by torch after decoding) with
the spec's resize filter, rounding and crop rule. ``decode_train_clip`` is the trainer's: one random clip,
short-side jitter (or fixed) resize, random crop, random horizontal flip.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from zoo.data.colour import COLOUR_RULES
from zoo.data.decode import DecodeReport, decode_frames, frame_size, iter_frames, shown_frames
from zoo.data.errors import VideoError
from zoo.records import SHORT_VIDEO_RULES
from zoo.data.probe import VideoInfo, probe_video
from zoo.data.sampling import (CLIP_START_RULES, clip_frame_indices, clip_span, random_clip_start,
                               resample_frame_indices, uniform_clip_starts)
from zoo.data.transforms import (CROP_RULES, RESIZE_FILTERS, ROUNDINGS, Size, check_choice, crop_positions,
                                 random_crop, random_horizontal_flip, resize, resized_shape, sample_short_side)


@dataclass
class ViewSpec:
    """Test-time sampling: ``num_clips`` clips of ``clip_len`` frames every ``sampling_rate`` frames (at
    ``frame_rate`` fps if given, else the native rate), frames resized (``resize``: int short side or
    ``(h, w)``) and cut into ``num_crops`` crops of ``crop_size`` (``None``: the whole resized frame).

    ``resize_filter``, ``rounding`` and ``crop_rule`` name the rules of :mod:`zoo.data.transforms`
    (defaults: Caffe2's, as VMZ's ``test_net.py``); ``colour_rule`` the YUV -> RGB conversion
    (:mod:`zoo.data.colour`; default the frame's own tag); ``upright`` whether the display rotation is
    applied (Caffe2 and torchvision's reader did not); ``clip_starts`` the rule of
    :func:`zoo.data.sampling.uniform_clip_starts`; ``short_videos`` is ``"pad"`` (repeat the last frame),
    ``"skip"`` or ``"wrong"`` (such a video raises :class:`VideoError` ``too_short``; the evaluator drops it
    under ``skip`` and counts it as a wrong prediction under ``wrong``)."""

    clip_len: int = 8
    sampling_rate: int = 1
    num_clips: int = 10
    num_crops: int = 1
    resize: Size = 128
    crop_size: int | None = 112
    frame_rate: float | None = None
    resize_filter: str = "swscale_fast_bilinear"
    rounding: str = "half_away_from_zero"
    crop_rule: str = "caffe2"
    short_videos: str = "pad"
    clip_starts: str = "uniform"
    colour_rule: str = "frame_tag"
    upright: bool = True

    def __post_init__(self):
        for value, choices, what in ((self.resize_filter, RESIZE_FILTERS, "resize filter"),
                                     (self.rounding, ROUNDINGS, "rounding"), (self.crop_rule, CROP_RULES, "crop rule"),
                                     (self.short_videos, SHORT_VIDEO_RULES, "short-video rule"),
                                     (self.clip_starts, CLIP_START_RULES, "clip-start rule"),
                                     (self.colour_rule, COLOUR_RULES, "colour rule")):
            check_choice(value, choices, what)
        found = spec_problems(vars(self))
        if found:
            raise ValueError("; ".join(f"{name}={value!r}: {why}" for name, value, why in found))

    @property
    def num_views(self) -> int:
        return self.num_clips * self.num_crops


def spec_problems(fields: dict) -> list[tuple[str, object, str]]:
    """``(field, value, what is wrong)`` for every unusable :class:`ViewSpec` field in ``fields`` (empty when
    the protocol can run): counts and sizes are integers >= 1, the frame rate a positive finite number,
    the crop fits the resize. The one validation of a test protocol (zoo-test, zoo-predict, zoo-train)."""
    found = []

    def positive_int(name, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            found.append((name, value, "must be an integer >= 1"))
            return False
        return True

    for name in ("clip_len", "sampling_rate", "num_clips", "num_crops"):
        positive_int(name, fields.get(name, 1))
    resize, crop, rate = fields.get("resize", 128), fields.get("crop_size"), fields.get("frame_rate")
    sizes = [] if resize is None else list(resize) if isinstance(resize, (list, tuple)) else [resize]
    if resize is not None and len(sizes) not in (1, 2):
        found.append(("resize", resize, "must be a short side or (height, width)"))
        sizes = []
    resize_ok = all([positive_int("resize", v) for v in sizes])
    if crop is not None and positive_int("crop_size", crop) and sizes and resize_ok and crop > min(sizes):
        found.append(("crop_size", crop, f"does not fit in the resized frame ({resize})"))
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))
                             or not 0 < rate < float("inf")):
        found.append(("frame_rate", rate, "must be a positive number of frames per second"))
    return found


def clip_indices(info: VideoInfo, clip_len: int, sampling_rate: int, starts: Sequence[int],
                 frame_rate: float | None = None) -> list[list[int]]:
    """Source frame indices of the clips starting at ``starts`` (in the ``frame_rate``-resampled timeline)."""
    timeline = resample_frame_indices(info.num_frames, info.fps, frame_rate)
    return [[timeline[i] for i in clip_frame_indices(s, clip_len, sampling_rate, len(timeline))]
            for s in starts]


def view_clip_indices(info: VideoInfo, spec: ViewSpec, start_frame: int | None = None) -> list[list[int]]:
    """Source frame indices of each test clip of ``spec`` (clip-major, ``num_clips`` lists).

    With ``start_frame`` (a VMZ dense list row's ``start_frm``) there is one clip, starting at that frame.
    """
    n = len(resample_frame_indices(info.num_frames, info.fps, spec.frame_rate))
    if start_frame is not None:
        if not 0 <= start_frame < n:
            raise VideoError(info.path, "too_short", f"start frame {start_frame} is outside its {n} frames")
        starts = [start_frame]
    else:
        starts = uniform_clip_starts(n, spec.clip_len, spec.sampling_rate, spec.num_clips, spec.clip_starts)
    return clip_indices(info, spec.clip_len, spec.sampling_rate, starts, spec.frame_rate)


def is_padded(info: VideoInfo, spec: ViewSpec, start_frame: int | None = None) -> bool:
    """Whether a test clip of ``spec`` reaches past the last frame (and so repeats it)."""
    n = len(resample_frame_indices(info.num_frames, info.fps, spec.frame_rate))
    return (start_frame or 0) + clip_span(spec.clip_len, spec.sampling_rate) > n


def resized_frames(path, indices, info: VideoInfo, spec: ViewSpec, size: tuple[int, int], threads: int,
                   report: DecodeReport):
    """``(index, frame)`` for each of ``indices`` (ascending) at ``size`` through the spec's resize filter and
    colour rule."""
    interpolation = RESIZE_FILTERS[spec.resize_filter]
    if interpolation is not None:
        yield from iter_frames(path, indices, info, size=size, threads=threads, interpolation=interpolation,
                               report=report, colour_rule=spec.colour_rule, upright=spec.upright)
        return
    # torch, on the native frames, a batch at a time: frame by frame, torch's thread pool and FFmpeg's decoding
    # threads take turns so often that both crawl on a small machine; all at once, a long video's native frames
    # would all be held in float32
    batch: list[tuple[int, np.ndarray]] = []
    for item in iter_frames(path, indices, info, size=None, threads=threads, report=report,
                            colour_rule=spec.colour_rule, upright=spec.upright):
        batch.append(item)
        if len(batch) == RESIZE_BATCH:
            yield from _torch_resized(batch, size)
            batch = []
    yield from _torch_resized(batch, size)


#: frames resized together by the ``torch_bilinear`` filter
RESIZE_BATCH = 32


def _torch_resized(batch: list[tuple[int, np.ndarray]], size: tuple[int, int]):
    if batch:
        resized = resize(torch.from_numpy(np.stack([frame for _, frame in batch])), size, antialias=False).numpy()
        yield from zip((idx for idx, _ in batch), resized)


def decode_views(path: str | os.PathLike, spec: ViewSpec, info: VideoInfo | None = None,
                 threads: int = 0, start_frame: int | None = None) -> torch.Tensor:
    """All test views of one video: uint8 ``(V, T, H, W, 3)``, V = clips x crops, clip-major
    (clip0crop0, clip0crop1, ...); with ``start_frame`` only the clip starting there (V = crops).
    Raises :class:`zoo.data.errors.VideoError` for unusable videos (``too_short`` for a video shorter than
    a clip span unless ``spec.short_videos == "pad"``; ``undecodable`` when damaged packets leave a clip
    without any decodable frame of its own)."""
    if info is None:
        info = probe_video(path)
    if spec.crop_size is None and spec.num_crops != 1:
        raise ValueError("num_crops > 1 needs a crop_size")
    if spec.short_videos != "pad" and is_padded(info, spec, start_frame):
        raise VideoError(info.path, "too_short", f"{info.num_frames} frames, shorter than one "
                         f"{spec.clip_len}x{spec.sampling_rate} clip (--short-videos {spec.short_videos})")
    clips = view_clip_indices(info, spec, start_frame)
    h, w = resized_shape(*frame_size(info, spec.upright), spec.resize, spec.rounding)
    if spec.crop_size is None:
        positions, ch, cw = [(0, 0)], h, w
    else:
        positions = crop_positions(h, w, spec.crop_size, spec.num_crops, spec.crop_rule)
        ch = cw = spec.crop_size
    uses: dict[int, list[tuple[int, int]]] = {}
    for k, clip in enumerate(clips):
        for t, idx in enumerate(clip):
            uses.setdefault(idx, []).append((k, t))
    out = np.empty((len(clips), len(positions), spec.clip_len, ch, cw, 3), np.uint8)
    report = DecodeReport()
    # each decoded frame goes straight into every crop of every clip that uses it: no intermediate copies
    for idx, frame in resized_frames(path, uses, info, spec, (h, w), threads, report):
        for k, t in uses[idx]:
            for j, (y, x) in enumerate(positions):
                out[k, j, t] = frame[y:y + ch, x:x + cw]
    require_own_frames(info, clips, report)
    return torch.from_numpy(out.reshape(-1, spec.clip_len, ch, cw, 3))


def require_own_frames(info: VideoInfo, clips: Sequence[Sequence[int]], report: DecodeReport) -> None:
    """Refuse a video when damaged packets left a clip with no decodable frame of its own (every frame of it
    would only repeat a neighbour outside the clip)."""
    if not report.filled:
        return
    shown = shown_frames({i for clip in clips for i in clip}, info)
    for k, clip in enumerate(clips):
        if all(shown[i] in report.filled for i in clip):
            raise VideoError(info.path, "undecodable",
                             f"clip {k} (frames {clip[0]}-{clip[-1]}) has no decodable frame: "
                             f"{report.error_count} packet(s) did not decode"
                             + (f" ({report.errors[0]})" if report.errors else ""))


@dataclass
class TrainClipSpec:
    """Training sampling: one clip at a random start; short side resized to a random size in
    ``scale_range`` (VMZ: 128-160) or, with ``scale_range=None``, to ``resize`` (e.g. ``(128, 171)``);
    random ``crop_size`` crop; horizontal flip with probability 0.5 when ``flip``; RGB by ``colour_rule``
    (:mod:`zoo.data.colour`)."""

    clip_len: int = 8
    sampling_rate: int = 1
    frame_rate: float | None = None
    scale_range: tuple[int, int] | None = (128, 160)
    resize: Size = None
    crop_size: int = 112
    flip: bool = True
    colour_rule: str = "frame_tag"


def decode_train_clip(path: str | os.PathLike, spec: TrainClipSpec, rng=None, info: VideoInfo | None = None,
                      threads: int = 0) -> torch.Tensor:
    """One augmented training clip, uint8 ``(T, crop, crop, 3)``. ``rng``: ``random.Random``,
    ``numpy.random.Generator`` or ``torch.Generator`` (``None``: the ``random`` module)."""
    if info is None:
        info = probe_video(path)
    n = len(resample_frame_indices(info.num_frames, info.fps, spec.frame_rate))
    start = random_clip_start(n, spec.clip_len, spec.sampling_rate, rng)
    indices, = clip_indices(info, spec.clip_len, spec.sampling_rate, [start], spec.frame_rate)
    size = sample_short_side(rng, spec.scale_range) if spec.scale_range else spec.resize
    report = DecodeReport()
    frames = decode_frames(path, indices, info, size=size, threads=threads, report=report,
                           colour_rule=spec.colour_rule)
    require_own_frames(info, [indices], report)
    clip = random_crop(frames, spec.crop_size, rng)
    if spec.flip:
        clip = random_horizontal_flip(clip, rng)
    return torch.from_numpy(np.ascontiguousarray(clip))


__all__ = ["ViewSpec", "TrainClipSpec", "decode_views", "decode_train_clip", "view_clip_indices",
           "clip_indices", "is_padded", "SHORT_VIDEO_RULES"]
