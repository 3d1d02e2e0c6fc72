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
