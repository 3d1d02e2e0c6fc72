"""Spatial transforms on uint8 clips ``(..., T, H, W, 3)`` and normalisation to model input.

Resizing is normally done by the decoder (libswscale, see :func:`zoo.data.decode.decode_frames` with
``size=``); :func:`resize` is the tensor equivalent for frames that are already decoded. Random choices
take an ``rng`` (``random.Random``, ``numpy.random.Generator`` or ``torch.Generator``) so that runs are
reproducible.

Size conventions (``size`` arguments): an ``int`` S resizes the short side to S keeping the aspect ratio
(long side rounded to the nearest pixel, so 320x240 -> 171x128 as in VMZ's 128x171); a pair ``(h, w)``
resizes to exactly h x w; ``None`` keeps the size.

Test protocols name three rules (see docs/protocols.md):

* the **resize filter** (:data:`RESIZE_FILTERS`): libswscale's ``FAST_BILINEAR`` (Caffe2's video decoder),
  libswscale's ``BILINEAR``, or torch's bilinear interpolation without antialiasing on the decoded uint8
  frame (torchvision's video weights);
* the **rounding** of the long side of a short-side resize (:data:`ROUNDINGS`): Caffe2 computes it in
  single precision and rounds half away from zero (C ``round``: 341x256 -> 171x128), Python rounds half to
  even (-> 170x128);
* the **crop rule** (:data:`CROP_RULES`): Caffe2 centres at ``(side - crop) // 2`` and spreads several crops
  along the width only when ``height < width`` (along the height otherwise, square frames included);
  torchvision centres at ``int((side - crop + 1) * 0.5)``.
"""
from __future__ import annotations

import functools
import random
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from zoo.records import CROP_RULES, RESIZE_FILTER_NAMES  # the rule names (placement of test crops, filters)

Size = int | Sequence[int] | None

#: resize filter name (:data:`zoo.records.RESIZE_FILTER_NAMES`) -> libswscale interpolation (``None``: torch
#: bilinear, no antialias, on uint8 frames)
RESIZE_FILTERS = dict(zip(RESIZE_FILTER_NAMES, ("FAST_BILINEAR", "BILINEAR", None)))
#: rounding of the long side of a short-side resize
ROUNDINGS = ("half_away_from_zero", "half_to_even")


def check_choice(value: str, choices, what: str) -> str:
    """``value`` if it is one of ``choices``, else a ValueError naming ``what`` and the choices."""
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")
    return value


def randint(rng, low: int, high: int) -> int:
    """A random integer in ``[low, high]`` (inclusive) from any supported ``rng`` (``None``: module random)."""
    if high <= low:
        return int(low)
    if rng is None:
        return random.randint(low, high)
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(low, high + 1))
    if isinstance(rng, torch.Generator):
        return int(torch.randint(low, high + 1, (), generator=rng))
    return int(rng.randint(low, high))


def uniform(rng) -> float:
    """A random float in ``[0, 1)`` from any supported ``rng``."""
    if rng is None:
        return random.random()
    if isinstance(rng, np.random.Generator):
        return float(rng.random())
    if isinstance(rng, torch.Generator):
        return float(torch.rand((), generator=rng))
    return float(rng.random())


def _scaled_side(side: int, short: int, target: int, rounding: str) -> int:
    """``side * target / short`` rounded per ``rounding`` (Caffe2: single precision, half away from zero)."""
    if rounding == "half_away_from_zero":
        exact = float(np.float32(np.float32(target) / np.float32(short)) * np.float32(side))
        return max(1, int(np.floor(exact + 0.5)))
    return max(1, int(round(side * target / short)))


def resized_shape(height: int, width: int, size: Size, rounding: str = "half_to_even") -> tuple[int, int]:
    """Output ``(h, w)`` for a ``height x width`` frame resized according to ``size`` (see module doc);
    ``rounding`` (:data:`ROUNDINGS`) rounds the long side of a short-side resize."""
    if size is None:
        return int(height), int(width)
    if isinstance(size, (int, np.integer)):
        s = int(size)
        check_choice(rounding, ROUNDINGS, "rounding")
        if width < height:  # Caffe2's test: the width is the short side only when strictly smaller
            return _scaled_side(height, width, s, rounding), s
        return s, _scaled_side(width, height, s, rounding)
    h, w = (int(v) for v in size)
    return h, w


def sample_short_side(rng, scale_range: Sequence[int]) -> int:
    """Short-side jitter: a random size in ``[lo, hi]`` inclusive (VMZ trains with 128-160)."""
    lo, hi = int(scale_range[0]), int(scale_range[-1])
    return randint(rng, lo, hi)


def resize(clip: torch.Tensor, size: Size, antialias: bool = True, rounding: str = "half_to_even") -> torch.Tensor:
    """Bilinearly resize a uint8 ``(..., H, W, 3)`` tensor (for frames decoded at native size).

    The frames are interpolated in float32 (``align_corners=False``) and rounded half to even back to uint8;
    ``antialias=False`` is torchvision's video-weights transform (``resize_filter="torch_bilinear"``).
    """
    h, w = resized_shape(clip.shape[-3], clip.shape[-2], size, rounding)
    if (h, w) == tuple(clip.shape[-3:-1]):
        return clip
    lead = clip.shape[:-3]
    x = clip.reshape(-1, *clip.shape[-3:]).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=antialias)
    x = x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    return x.reshape(*lead, h, w, 3)


def crop_positions(height: int, width: int, crop_size: int, num_crops: int = 1,
                   rule: str = "caffe2") -> list[tuple[int, int]]:
    """Top-left corners ``(y, x)`` of the test crops of a ``height x width`` frame.

    One crop: the centre, at ``(side - crop) // 2`` (``rule="caffe2"``) or ``int((side - crop + 1) * 0.5)``
    (``rule="torchvision"``, torchvision's ``center_crop``). ``n > 1`` crops (either rule): offsets
    ``j * (side - crop) // (n - 1)`` along the width when ``height < width``, else along the height (square
    frames too), centred on the other side (Caffe2's ``VideoInputOp``).
    """
    check_choice(rule, CROP_RULES, "crop rule")
    if crop_size > height or crop_size > width:
        raise ValueError(f"crop {crop_size} does not fit in a {height}x{width} frame; resize to at least "
                         f"{crop_size} first")
    if rule == "torchvision":
        cy, cx = int((height - crop_size + 1) * 0.5), int((width - crop_size + 1) * 0.5)
    else:
        cy, cx = (height - crop_size) // 2, (width - crop_size) // 2
    if num_crops == 1:
        return [(cy, cx)]
    if num_crops < 1:
        raise ValueError(f"num_crops must be >= 1, got {num_crops}")
    if height < width:
        return [(cy, j * (width - crop_size) // (num_crops - 1)) for j in range(num_crops)]
    return [(j * (height - crop_size) // (num_crops - 1), cx) for j in range(num_crops)]


def crop(clip, y: int, x: int, size: int | Sequence[int]):
    """The ``size`` crop at ``(y, x)`` of a ``(..., H, W, 3)`` array or tensor (a view, no copy)."""
    h, w = (size, size) if isinstance(size, (int, np.integer)) else size
    if y < 0 or x < 0 or y + h > clip.shape[-3] or x + w > clip.shape[-2]:
        raise ValueError(f"crop {h}x{w} at ({y}, {x}) outside a {clip.shape[-3]}x{clip.shape[-2]} frame")
    return clip[..., y:y + h, x:x + w, :]


def center_crop(clip, size: int):
    """Centre crop of a ``(..., H, W, 3)`` clip."""
    (y, x), = crop_positions(clip.shape[-3], clip.shape[-2], size, 1)
    return crop(clip, y, x, size)


def random_crop(clip, size: int, rng=None):
    """A random ``size x size`` crop, the same for every frame of the clip."""
    h, w = clip.shape[-3], clip.shape[-2]
    if size > h or size > w:
        raise ValueError(f"crop {size} does not fit in a {h}x{w} frame")
    return crop(clip, randint(rng, 0, h - size), randint(rng, 0, w - size), size)


def horizontal_flip(clip):
    """Mirror a ``(..., H, W, 3)`` clip left-right."""
    if isinstance(clip, torch.Tensor):
        return clip.flip(-2)
    return clip[..., ::-1, :]


def random_horizontal_flip(clip, rng=None, p: float = 0.5):
    """Mirror the whole clip with probability ``p``."""
    return horizontal_flip(clip) if uniform(rng) < p else clip


def normalize(clip, mean: Sequence[float], std: Sequence[float], dtype: torch.dtype = torch.float32):
    """uint8 ``(..., T, H, W, 3)`` -> float ``(..., 3, T, H, W)``: ``(x / 255 - mean) / std``.

    ``mean``/``std`` are RGB in 0-1 pixel scale (checkpoint metadata convention). Runs on the tensor's
    device, so a uint8 batch can be moved to the GPU first and normalised there.
    """
    x = clip if isinstance(clip, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(clip))
    if x.shape[-1] != 3:
        raise ValueError(f"expected (..., T, H, W, 3) frames, got shape {tuple(x.shape)}")
    m, s = _pixel_scale(tuple(map(float, mean)), tuple(map(float, std)), dtype, x.device)
    y = (x.to(dtype) - m) / s
    return y.movedim(-1, -4).contiguous()


@functools.lru_cache(maxsize=64)
def _pixel_scale(mean: tuple[float, ...], std: tuple[float, ...], dtype: torch.dtype,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean * 255`` and ``std * 255`` on ``device``, made once per device: a copy to a GPU blocks the host."""
    with torch.inference_mode(False):      # ordinary tensors, usable by training after an evaluation
        return (torch.tensor(mean, dtype=dtype, device=device) * 255.0,
                torch.tensor(std, dtype=dtype, device=device) * 255.0)
