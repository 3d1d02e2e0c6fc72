"""Temporal sampling: which frames make up each clip.

A clip of ``clip_len`` frames at ``sampling_rate`` spans ``(clip_len - 1) * sampling_rate + 1`` frames.

* Test clips (:func:`uniform_clip_starts`) are spread uniformly by one of two rules (:data:`CLIP_START_RULES`).
  ``uniform``: clip ``k`` of ``K`` starts at ``k * (N - span) // (K - 1)``, so the first clip starts at frame 0
  and the last ends on the last frame; a single clip is centred (SlowFast / pytorchvideo convention).
  ``caffe2`` (the VMZ protocols): Caffe2's ``DecodeMultipleClipsFromVideo`` decodes at most
  :data:`MAX_DECODING_FRAMES` frames and starts clip ``k`` at ``floor(k * step)`` with
  ``step = float(N - span) / (K - 1)`` in single precision (so for some lengths the last clip ends one frame
  before the last frame); a single clip starts at frame 0.
* Videos shorter than one span are **padded by repeating their last frame** (every clip then starts at 0):
  :func:`clip_frame_indices` clamps indices past the end to the last frame. Such videos are never dropped.
* Training clips start at a uniformly random frame (:func:`random_clip_start`).
* :func:`resample_frame_indices` converts a video to a target frame rate by picking source frames, as
  torchvision's ``VideoClips`` does; sampling then indexes the resampled sequence.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from zoo.data.transforms import check_choice, randint
from zoo.records import CLIP_START_RULES  # how test clips are spread over a video (see the module doc)

#: Caffe2's video decoder stops after this many frames (``MAX_DECODING_FRAMES`` in ``video_decoder.h``, the
#: ``maximumOutputFrames_`` of every ``VideoInputOp`` decode)
MAX_DECODING_FRAMES = 10000


def clip_span(clip_len: int, sampling_rate: int) -> int:
    """Number of source frames one clip covers."""
    if clip_len < 1 or sampling_rate < 1:
        raise ValueError(f"clip_len and sampling_rate must be >= 1, got {clip_len}, {sampling_rate}")
    return (clip_len - 1) * sampling_rate + 1


def uniform_clip_starts(num_frames: int, clip_len: int, sampling_rate: int, num_clips: int,
                        rule: str = "uniform") -> list[int]:
    """Start frames of ``num_clips`` clips spread uniformly over the video by ``rule`` (:data:`CLIP_START_RULES`);
    every clip starts at 0 in a video shorter than one clip span."""
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    check_choice(rule, CLIP_START_RULES, "clip-start rule")
    if rule == "caffe2":
        num_frames = min(num_frames, MAX_DECODING_FRAMES)
    room = num_frames - clip_span(clip_len, sampling_rate)
    if room <= 0:
        return [0] * num_clips
    if num_clips == 1:
        return [0 if rule == "caffe2" else room // 2]
    if rule == "caffe2":  # float sample_stepsz = float(N - R) / (K - 1); clip_start = floor(i * sample_stepsz)
        step = np.float32(room) / np.float32(num_clips - 1)
        return [int(np.floor(np.float32(k) * step)) for k in range(num_clips)]
    return [k * room // (num_clips - 1) for k in range(num_clips)]


def random_clip_start(num_frames: int, clip_len: int, sampling_rate: int, rng=None) -> int:
    """A uniformly random start frame such that the clip fits (0 for videos shorter than a clip)."""
    room = num_frames - clip_span(clip_len, sampling_rate)
    return randint(rng, 0, max(0, room))


def clip_frame_indices(start: int, clip_len: int, sampling_rate: int, num_frames: int) -> list[int]:
    """Frame indices of the clip starting at ``start``; indices past the end repeat the last frame."""
    if num_frames < 1:
        raise ValueError("a clip needs a video with at least one frame")
    clip_span(clip_len, sampling_rate)  # validates the arguments
    if not 0 <= start < num_frames:
        raise ValueError(f"clip start {start} outside a {num_frames}-frame video")
    last = num_frames - 1
    return [min(start + i * sampling_rate, last) for i in range(clip_len)]


def resample_frame_indices(num_frames: int, src_fps: float, dst_fps: float | None) -> list[int]:
    """Source frame indices that play the video at ``dst_fps`` (torchvision ``VideoClips`` rule).

    An integral ratio ``src/dst`` keeps every ``ratio``-th frame; otherwise frame ``floor(i * src/dst)`` for
    ``i < floor(num_frames * dst/src)``. ``dst_fps`` ``None`` (or equal to ``src_fps``) keeps all frames.
    Up-sampling repeats frames. At least one frame is always returned for a non-empty video.
    """
    if num_frames <= 0:
        return []
    if dst_fps is None or not src_fps or math.isclose(src_fps, dst_fps, rel_tol=1e-6):
        return list(range(num_frames))
    step = Fraction(src_fps).limit_denominator(1001) / Fraction(dst_fps).limit_denominator(1001)
    if step.denominator == 1:
        return list(range(0, num_frames, int(step)))
    total = math.floor(num_frames / step)
    indices = [min(math.floor(i * step), num_frames - 1) for i in range(total)]
    return indices or [0]
