"""Normalisation and spatial transforms."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from zoo.data.transforms import (center_crop, crop_positions, horizontal_flip, normalize, random_crop, resize,
                                 resized_shape)

MEAN, STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)


def test_normalize_layout_and_values():
    x = torch.randint(0, 256, (2, 4, 5, 6, 3), dtype=torch.uint8)  # (N, T, H, W, C)
    y = normalize(x, MEAN, STD)
    assert y.shape == (2, 3, 4, 5, 6) and y.dtype == torch.float32 and y.is_contiguous()
    for c in range(3):
        expected = (x[..., c].float() / 255 - MEAN[c]) / STD[c]
        torch.testing.assert_close(y[:, c], expected, rtol=1e-5, atol=1e-5)
    assert normalize(x.numpy()[0], MEAN, STD).shape == (3, 4, 5, 6)


@pytest.mark.parametrize("h, w, size, expected", [(240, 320, 128, (128, 171)), (256, 340, 256, (256, 340)),
                                                  (320, 240, 128, (171, 128)), (240, 320, (128, 171),
                                                                                 (128, 171)),
                                                  (50, 60, None, (50, 60))])
def test_resized_shape(h, w, size, expected):
    assert resized_shape(h, w, size) == expected


def test_crop_positions_follow_vmz():
    assert crop_positions(256, 342, 256, 3) == [(0, 0), (0, 43), (0, 86)]
    assert crop_positions(128, 171, 112, 1) == [(8, 29)]
    assert crop_positions(342, 256, 256, 3) == [(0, 0), (43, 0), (86, 0)]
    with pytest.raises(ValueError):
        crop_positions(100, 120, 112, 1)


# (width, height, short side) -> (h, w) per rounding: Caffe2's C round in single precision vs Python's round
@pytest.mark.parametrize("w, h, short, caffe2, python", [
    (341, 256, 128, (128, 171), (128, 170)),   # 170.5: half away from zero vs half to even
    (455, 256, 128, (128, 228), (128, 228)),   # 227.5: both round up (228 is even)
    (455, 256, 256, (256, 455), (256, 455)),
    (256, 256, 128, (128, 128), (128, 128)),   # square
    (256, 341, 128, (171, 128), (170, 128)),   # portrait: the width is the short side
    (198, 192, 112, (112, 115), (112, 116)),   # 112/192 in float32 times 198 = 115.49999: Caffe2 gives 115
])
def test_short_side_rounding_rules(w, h, short, caffe2, python):
    assert resized_shape(h, w, short, "half_away_from_zero") == caffe2
    assert resized_shape(h, w, short, "half_to_even") == python
    with pytest.raises(ValueError, match="rounding"):
        resized_shape(h, w, short, "nearest")


@pytest.mark.parametrize("h, w, crop, n, rule, expected", [
    # 341x256 at short side 256 (Caffe2 rounding): three 256 crops across the width
    (256, 341, 256, 3, "caffe2", [(0, 0), (0, 42), (0, 85)]),
    (256, 341, 256, 1, "caffe2", [(0, 42)]),
    (256, 341, 256, 1, "torchvision", [(0, 43)]),
    (256, 455, 256, 3, "caffe2", [(0, 0), (0, 99), (0, 199)]),
    (256, 455, 256, 1, "torchvision", [(0, 100)]),
    # square frame, crop smaller than the side: Caffe2 spreads the crops vertically (height >= width)
    (128, 128, 112, 3, "caffe2", [(0, 8), (8, 8), (16, 8)]),
    (256, 256, 256, 3, "caffe2", [(0, 0), (0, 0), (0, 0)]),
    # portrait 256x341 at short side 128 -> 171x128: crops down the height
    (171, 128, 128, 3, "caffe2", [(0, 0), (21, 0), (43, 0)]),
    (171, 128, 112, 1, "torchvision", [(30, 8)]),
    # torchvision's 128x171 -> centre 112: x = int((171 - 112 + 1) * 0.5) = 30, Caffe2 (171 - 112) // 2 = 29
    (128, 171, 112, 1, "torchvision", [(8, 30)]),
    (128, 171, 112, 1, "caffe2", [(8, 29)]),
])
def test_crop_rules(h, w, crop, n, rule, expected):
    assert crop_positions(h, w, crop, n, rule) == expected


def test_unknown_crop_rule_is_an_error():
    with pytest.raises(ValueError, match="crop rule"):
        crop_positions(128, 171, 112, 1, "mmaction")


def test_crops_and_flip():
    x = torch.arange(2 * 6 * 8 * 3, dtype=torch.int32).reshape(2, 6, 8, 3).to(torch.uint8)
    assert torch.equal(center_crop(x, 4), x[:, 1:5, 2:6])
    assert torch.equal(horizontal_flip(x)[:, :, 0], x[:, :, -1])
    assert np.array_equal(horizontal_flip(x.numpy())[:, :, 0], x.numpy()[:, :, -1])
    seen = {tuple(random_crop(x, 5, random.Random(s))[0, 0, 0].tolist()) for s in range(50)}
    assert len(seen) == 2 * 4  # every (y, x) offset of a 5x5 crop in 6x8 reachable


def test_tensor_resize_keeps_aspect_and_dtype():
    x = torch.full((3, 60, 80, 3), 100, dtype=torch.uint8)
    y = resize(x, 30)
    assert y.shape == (3, 30, 40, 3) and y.dtype == torch.uint8 and int(y.float().mean()) == 100


def test_normalize_makes_mean_and_std_once_per_device():
    # each new mean/std tensor on a GPU is a blocking host-to-device copy: one per device, not one per call
    from zoo.data.transforms import _pixel_scale

    _pixel_scale.cache_clear()
    x = torch.randint(0, 256, (2, 4, 5, 6, 3), dtype=torch.uint8)
    with torch.inference_mode():
        first = normalize(x, MEAN, STD)
    second = normalize(x, list(MEAN), list(STD))
    assert torch.equal(first, second)
    normalize(x.to("meta"), MEAN, STD)
    info = _pixel_scale.cache_info()
    assert (info.misses, info.hits) == (2, 1)          # cpu once (reused), meta once
    m, _ = _pixel_scale(tuple(MEAN), tuple(STD), torch.float32, torch.device("cpu"))
    assert not m.is_inference()                          # made under inference_mode, still fine for training
