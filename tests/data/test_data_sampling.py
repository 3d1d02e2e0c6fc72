"""Clip sampling rules (VMZ uniform test clips, padding, random starts, frame-rate resampling)."""
from __future__ import annotations

import random
import struct

import numpy as np
import pytest

from zoo.data.sampling import (MAX_DECODING_FRAMES, clip_frame_indices, clip_span, random_clip_start,
                               resample_frame_indices, uniform_clip_starts)


def test_vmz_example_from_protocols():
    # 300 frames, 32 frames at rate 2 (span 63), 10 clips: step 237/9
    assert uniform_clip_starts(300, 32, 2, 10) == [0, 26, 52, 79, 105, 131, 158, 184, 210, 237]


@pytest.mark.parametrize("n, length, rate, clips", [(300, 32, 2, 10), (75, 8, 1, 10), (64, 8, 4, 3),
                                                    (1000, 16, 1, 7), (30, 8, 1, 30)])
def test_first_clip_at_zero_last_clip_ends_on_last_frame(n, length, rate, clips):
    starts = uniform_clip_starts(n, length, rate, clips)
    assert len(starts) == clips and starts[0] == 0 and starts == sorted(starts)
    assert clip_frame_indices(starts[-1], length, rate, n)[-1] == n - 1
    gaps = np.diff(starts)
    assert gaps.max() - gaps.min() <= 1  # evenly spread


def test_single_clip_is_centred():
    assert uniform_clip_starts(100, 8, 2, 1) == [(100 - 15) // 2]


def _single(x: float) -> float:
    """``x`` rounded to IEEE single precision (a C ``float``)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def _caffe2_starts(n: int, span: int, clips: int) -> list[int]:
    """Caffe2's DecodeMultipleClipsFromVideo, written independently of the module: ``float sample_stepsz =
    float(N - R) / (K - 1)`` and ``int clip_start = floor(i * sample_stepsz)`` in single precision."""
    n = min(n, 10000)
    step = _single(_single(n - span) / (clips - 1))
    return [int(_single(i * step) // 1) for i in range(clips)]


@pytest.mark.parametrize("clips", [10, 20, 30])
def test_caffe2_clip_starts_are_computed_in_single_precision(clips):
    lengths = range(17, 3000)
    for n in lengths:
        assert uniform_clip_starts(n, 16, 1, clips, rule="caffe2") == _caffe2_starts(n, 16, clips)
    # at 20 and 30 clips the last clip lands one frame before the end for some lengths (at 10, never below
    # 10000 frames), where the exact rule always ends on the last frame
    early = [n for n in lengths if uniform_clip_starts(n, 16, 1, clips, rule="caffe2")[-1] == n - 16 - 1]
    assert bool(early) == (clips != 10)
    assert all(uniform_clip_starts(n, 16, 1, clips)[-1] == n - 16 for n in early)


def test_caffe2_single_clip_starts_at_frame_zero():
    assert uniform_clip_starts(100, 8, 2, 1, rule="caffe2") == [0]
    assert uniform_clip_starts(100, 8, 2, 1) == [(100 - 15) // 2]


def test_caffe2_uses_at_most_its_first_10000_frames():
    assert MAX_DECODING_FRAMES == 10000
    starts = uniform_clip_starts(25000, 16, 1, 10, rule="caffe2")
    assert starts[0] == 0 and starts[-1] == 10000 - 16
    assert uniform_clip_starts(25000, 16, 1, 10)[-1] == 25000 - 16
    with pytest.raises(ValueError, match="clip-start rule"):
        uniform_clip_starts(100, 8, 1, 3, rule="centre")


def test_short_video_is_padded_by_repeating_the_last_frame():
    assert uniform_clip_starts(5, 8, 1, 3) == [0, 0, 0]
    assert clip_frame_indices(0, 8, 1, 5) == [0, 1, 2, 3, 4, 4, 4, 4]
    assert clip_frame_indices(0, 4, 2, 5) == [0, 2, 4, 4]
    assert clip_frame_indices(0, 3, 1, 1) == [0, 0, 0]
    assert random_clip_start(5, 8, 1, random.Random(0)) == 0


def test_clip_indices_follow_the_sampling_rate():
    assert clip_frame_indices(10, 4, 3, 100) == [10, 13, 16, 19]
    assert clip_span(4, 3) == 10
    with pytest.raises(ValueError):
        clip_frame_indices(100, 4, 1, 100)


@pytest.mark.parametrize("rng", [random.Random(3), np.random.default_rng(3)])
def test_random_starts_cover_the_valid_range(rng):
    starts = {random_clip_start(20, 8, 2, rng) for _ in range(400)}
    assert starts == set(range(0, 20 - 15 + 1))


def test_resample_integral_ratio_keeps_every_nth_frame():
    assert resample_frame_indices(10, 30, 15) == [0, 2, 4, 6, 8]
    assert resample_frame_indices(11, 30, 15) == [0, 2, 4, 6, 8, 10]
    assert resample_frame_indices(6, 30, None) == list(range(6))
    assert resample_frame_indices(6, 25, 25.0) == list(range(6))


def test_resample_fractional_ratio_and_upsampling():
    # 25 -> 15 fps: step 5/3, floor(10 * 15/25) = 6 frames
    assert resample_frame_indices(10, 25, 15) == [0, 1, 3, 5, 6, 8]
    # 15 -> 30 fps repeats frames
    assert resample_frame_indices(3, 15, 30) == [0, 0, 1, 1, 2, 2]
    assert resample_frame_indices(1, 30, 7) == [0]
