"""Test views: shapes, clip-major order, frames at the sampled positions, crops at the right places."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from zoo.data.errors import VideoError
from zoo.data.probe import probe_video
from zoo.data.views import (TrainClipSpec, ViewSpec, decode_train_clip, decode_views, is_padded,
                            view_clip_indices)

from data_videos import full_decode, read_index


def test_views_are_crops_of_the_full_decode_at_the_sampled_frames(videos):
    # 80x60 video, short side 48 -> 64x48, three 48x48 crops at x = 0, 8, 16; Caffe2's FAST_BILINEAR by default
    path = videos["mpeg4_25fps"]
    spec = ViewSpec(clip_len=4, sampling_rate=2, num_clips=5, num_crops=3, resize=48, crop_size=48)
    views = decode_views(path, spec)
    assert views.dtype == torch.uint8 and views.shape == (15, 4, 48, 48, 3)
    reference = full_decode(path, size=(48, 64), interpolation="FAST_BILINEAR")
    starts = [0, 10, 21, 32, 43]  # k * (50 - 7) // 4
    for k, start in enumerate(starts):
        for j, x in enumerate([0, 8, 16]):
            view = views[k * 3 + j].numpy()
            for t in range(4):
                np.testing.assert_array_equal(view[t], reference[start + 2 * t][:, x:x + 48])


def test_portrait_crops_run_along_the_height(videos):
    # 48x64 (w x h) portrait, resize to exactly 64x48 (h, w), crops of 40 at y = 0, 12, 24, x = 4
    path = videos["h264_portrait_15fps"]
    spec = ViewSpec(clip_len=2, sampling_rate=1, num_clips=2, num_crops=3, resize=(64, 48), crop_size=40)
    views = decode_views(path, spec).numpy()
    reference = full_decode(path, size=(64, 48), interpolation="FAST_BILINEAR")
    for j, y in enumerate([0, 12, 24]):
        np.testing.assert_array_equal(views[j][0], reference[0][y:y + 40, 4:44])  # clip 0
        np.testing.assert_array_equal(views[3 + j][1], reference[39][y:y + 40, 4:44])  # clip 1 ends last


def test_centre_crop_and_frame_rate_resampling(videos):
    # 30 fps video of 75 frames played at 15 fps: frames 0, 2, ..., 74 (38 frames)
    path = videos["h264_30fps"]
    spec = ViewSpec(clip_len=8, sampling_rate=1, num_clips=3, num_crops=1, resize=None, crop_size=32,
                    frame_rate=15)
    info = probe_video(path)
    clips = view_clip_indices(info, spec)
    assert clips[0] == [0, 2, 4, 6, 8, 10, 12, 14] and clips[-1][-1] == 74
    views = decode_views(path, spec, info).numpy()
    reference = full_decode(path)
    for k, clip in enumerate(clips):
        for t, i in enumerate(clip):
            np.testing.assert_array_equal(views[k, t], reference[i][8:40, 16:48])


def test_short_video_views_are_padded(videos):
    path = videos["mpeg4_12fps_mp4"]  # 30 frames
    spec = ViewSpec(clip_len=16, sampling_rate=4, num_clips=2, resize=None, crop_size=None)
    views = decode_views(path, spec).numpy()
    assert views.shape == (2, 16, 48, 96, 3)
    expected = [min(4 * t, 29) for t in range(16)]
    assert [read_index(f) for f in views[0]] == expected == [read_index(f) for f in views[1]]


def test_short_videos_can_be_skipped_instead(videos):
    path = videos["mpeg4_12fps_mp4"]  # 30 frames; a 16x2 clip spans 31
    info = probe_video(path)
    padded = ViewSpec(clip_len=16, sampling_rate=2, num_clips=2, resize=None, crop_size=None)
    assert is_padded(info, padded) and not is_padded(info, ViewSpec(clip_len=15, sampling_rate=2))
    assert is_padded(info, ViewSpec(clip_len=4, sampling_rate=1), start_frame=27)
    with pytest.raises(VideoError) as err:
        decode_views(path, ViewSpec(clip_len=16, sampling_rate=2, num_clips=2, resize=None, crop_size=None,
                                    short_videos="skip"), info)
    assert err.value.reason == "too_short"
    assert decode_views(path, ViewSpec(clip_len=15, sampling_rate=2, num_clips=1, resize=None, crop_size=None,
                                       short_videos="skip"), info).shape == (1, 15, 48, 96, 3)


def test_vfr_views_pick_frames_by_timestamp(videos):
    spec = ViewSpec(clip_len=4, sampling_rate=3, num_clips=4, resize=None, crop_size=None)
    views = decode_views(videos["vfr"], spec).numpy()
    info = probe_video(videos["vfr"])
    assert [[read_index(f) for f in clip] for clip in views] == view_clip_indices(info, spec)


def _locate(clip: np.ndarray, reference: np.ndarray) -> set[tuple[int, int, int]]:
    """(first frame, y, x) placements of ``clip[0]`` in the reference frames."""
    size = clip.shape[1]
    hits = set()
    for y in range(reference.shape[1] - size + 1):
        for x in range(reference.shape[2] - size + 1):
            same = (reference[:, y:y + size, x:x + size] == clip[0]).all(axis=(1, 2, 3))
            hits |= {(int(i), y, x) for i in np.flatnonzero(same)}
    return hits


def test_train_clip_is_a_random_crop_of_consecutive_sampled_frames(videos):
    path = videos["h264_30fps"]  # 75 frames of 64x48
    reference = np.stack(full_decode(path, size=(48, 64)))
    spec = TrainClipSpec(clip_len=4, sampling_rate=3, scale_range=(48, 48), crop_size=40, flip=False)
    placements = set()
    for seed in range(6):
        clip = decode_train_clip(path, spec, random.Random(seed)).numpy()
        assert clip.shape == (4, 40, 40, 3)
        # frames start, start + 3, ... all cut at the same place (a crop may miss some index bars, so
        # several placements can fit)
        fits = {(start, y, x) for start, y, x in _locate(clip, reference) if start + 9 < 75 and all(
            np.array_equal(clip[t], reference[start + 3 * t, y:y + 40, x:x + 40]) for t in range(4))}
        assert fits
        placements.add(frozenset(fits))
    assert len(placements) >= 4  # random start and crop


def test_train_clip_flip_and_scale_jitter(videos):
    spec = TrainClipSpec(clip_len=2, sampling_rate=1, scale_range=(40, 56), crop_size=40, flip=True)
    flipped = 0
    for seed in range(16):
        clip = decode_train_clip(videos["h264_30fps"], spec, np.random.default_rng(seed)).numpy()
        assert clip.shape == (2, 40, 40, 3)
        row = clip[0, -1, :, 0].astype(int)  # red ramps left-to-right in the source
        flipped += row[0] > row[-1]
    assert 0 < flipped < 16


def test_train_clip_fixed_resize(videos):
    spec = TrainClipSpec(clip_len=3, sampling_rate=1, scale_range=None, resize=(40, 56), crop_size=40,
                         flip=False)
    clip = decode_train_clip(videos["mpeg4_25fps"], spec, np.random.default_rng(0))
    assert clip.shape == (3, 40, 40, 3)


def test_crop_larger_than_frame_is_a_clear_error(videos):
    with pytest.raises(ValueError, match="does not fit"):
        decode_views(videos["h264_30fps"], ViewSpec(clip_len=2, num_clips=1, resize=32, crop_size=40))


def test_dense_list_row_is_one_clip_at_its_start_frame(videos):
    # VMZ dense prediction: a list row with start_frm is one clip starting at that frame (with its crops)
    path = videos["h264_30fps"]
    spec = ViewSpec(clip_len=4, sampling_rate=2, num_clips=10, num_crops=3, resize=None, crop_size=32)
    assert decode_views(path, spec, start_frame=20).shape[0] == 3      # one clip x 3 crops
    whole = ViewSpec(clip_len=4, sampling_rate=2, num_clips=10, resize=None, crop_size=None)
    views = decode_views(path, whole, start_frame=20).numpy()
    assert views.shape[0] == 1 and [read_index(f) for f in views[0]] == [20, 22, 24, 26]
    assert view_clip_indices(probe_video(path), spec, start_frame=0) == [[0, 2, 4, 6]]
    with pytest.raises(VideoError, match="start frame 500"):
        decode_views(path, spec, start_frame=500)
