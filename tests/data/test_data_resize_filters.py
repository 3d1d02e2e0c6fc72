"""Resize filters of the test protocols, pixel for pixel against PyAV/libswscale and torch references."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zoo.data.encode import encode_video
import zoo.data.views as views_module
from zoo.data.views import ViewSpec, decode_views

from data_videos import full_decode, index_frames


@pytest.fixture(scope="module")
def wide_video(tmp_path_factory):
    """86x64 frames (Kinetics' 4:3-ish shape, small): short side 48 -> 64.5 wide, the rounding case."""
    path = tmp_path_factory.mktemp("filters") / "wide.mp4"
    return encode_video(path, index_frames(12, 64, 86), fps=12, codec="h264", gop=6)


@pytest.fixture(scope="module")
def square_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("filters") / "square.mkv"
    return encode_video(path, index_frames(8, 64, 64), fps=8, codec="h264", gop=4)


def test_vmz_protocol_uses_fast_bilinear_and_c_rounding(wide_video):
    # Caffe2: short side 48 of 86x64 -> 64.5 -> 65 (C round); three 48 crops across: x = 0, 8, 17
    spec = ViewSpec(clip_len=4, sampling_rate=2, num_clips=2, num_crops=3, resize=48, crop_size=48)
    views = decode_views(wide_video, spec).numpy()
    reference = full_decode(wide_video, size=(48, 65), interpolation="FAST_BILINEAR")
    bilinear = full_decode(wide_video, size=(48, 65), interpolation="BILINEAR")
    assert any(not np.array_equal(a, b) for a, b in zip(reference, bilinear))  # the filters do differ here
    for k, start in enumerate([0, 5]):  # 12 frames, span 7
        for j, x in enumerate([0, 8, 17]):
            for t in range(4):
                np.testing.assert_array_equal(views[k * 3 + j, t], reference[start + 2 * t][:, x:x + 48])


def test_swscale_bilinear_filter_is_still_available(wide_video):
    spec = ViewSpec(clip_len=2, num_clips=1, resize=(48, 64), crop_size=None, resize_filter="swscale_bilinear")
    views = decode_views(wide_video, spec).numpy()
    reference = full_decode(wide_video, size=(48, 64), interpolation="BILINEAR")
    np.testing.assert_array_equal(views[0, 0], reference[5])  # one centred clip of 2 frames starts at 5


def test_square_frames_get_their_three_crops_stacked_vertically(square_video):
    spec = ViewSpec(clip_len=2, num_clips=1, num_crops=3, resize=48, crop_size=40)
    views = decode_views(square_video, spec).numpy()
    reference = full_decode(square_video, size=(48, 48), interpolation="FAST_BILINEAR")
    for j, y in enumerate([0, 4, 8]):
        np.testing.assert_array_equal(views[j, 0], reference[3][y:y + 40, 4:44])


def test_torchvision_protocol_resizes_with_torch_bilinear_without_antialias(wide_video, monkeypatch):
    # torchvision's video weights: decoded uint8 frame -> bilinear (align_corners=False, antialias=False)
    # to exactly 32x43 -> round to uint8 -> centre crop 28 at int((side - 28 + 1) * 0.5): y = 2, x = 8
    monkeypatch.setattr(views_module, "RESIZE_BATCH", 4)  # the 6 needed frames are resized in two batches
    spec = ViewSpec(clip_len=3, num_clips=2, resize=(32, 43), crop_size=28, resize_filter="torch_bilinear",
                    crop_rule="torchvision")
    views = decode_views(wide_video, spec).numpy()
    native = full_decode(wide_video)
    for k, start in enumerate([0, 9]):
        for t in range(3):
            x = torch.from_numpy(native[start + t]).permute(2, 0, 1)[None].float()
            resized = F.interpolate(x, size=(32, 43), mode="bilinear", align_corners=False, antialias=False)
            expected = resized.round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
            np.testing.assert_array_equal(views[k, t], expected[2:30, 8:36])
    swscale = full_decode(wide_video, size=(32, 43), interpolation="BILINEAR")[0][2:30, 8:36]
    assert not np.array_equal(views[0, 0], swscale)


def test_unknown_rules_are_rejected():
    with pytest.raises(ValueError, match="resize filter"):
        ViewSpec(resize_filter="lanczos")
    with pytest.raises(ValueError, match="short-video rule"):
        ViewSpec(short_videos="loop")
