"""The argument types of the command-line convention: bounded numbers in ASCII digits (bounds from
:mod:`zoo.limits`, so a flag cannot ask for 10^9 frames or 99999 workers) and ``KEY=VALUE`` pairs. Each raises
``argparse.ArgumentTypeError``, which argparse turns into exit 2. Torch-free, and imported by the tools and by
the protocol's shared options (:mod:`zoo.protocol.options`) alike; :mod:`zoo.cli` builds the parsers."""
from __future__ import annotations

import argparse
import contextlib
import json
from typing import Any, Callable

from zoo import limits


def _number(kind: type, minimum: float | None, strict: bool, text: str, maximum: float | None = None,
            why: str = ""):
    if not str(text).isascii():   # int('٣') == 3: digits of other scripts are not read as numbers
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'} in ASCII "
                                         f"digits, got {text!r}")
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None
    if kind is float and value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {minimum:g}, got {text}")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"must be at most {maximum:g}{f' ({why})' if why else ''}, got {text}")
    return value


def int_range(minimum: int, maximum: int, why: str = "") -> Callable[[str], int]:
    """argparse type: an integer in ``[minimum, maximum]`` (ASCII digits); ``why`` explains the maximum."""
    def parse(text: str) -> int:
        return _number(int, minimum, False, text, maximum, why)
    parse.__name__ = f"int_{minimum}_{maximum}"
    return parse


def float_range(minimum: float, maximum: float, why: str = "", strict: bool = False) -> Callable[[str], float]:
    """argparse type: a finite number in ``[minimum, maximum]`` (``(minimum, maximum]`` when ``strict``)."""
    def parse(text: str) -> float:
        return _number(float, minimum, strict, text, maximum, why)
    parse.__name__ = f"float_{minimum:g}_{maximum:g}"
    return parse


def positive_int(text: str) -> int:
    """argparse type: an integer in 1..:data:`zoo.limits.MAX_COUNT`."""
    return _number(int, 0, True, text, limits.MAX_COUNT)


def non_negative_int(text: str) -> int:
    """argparse type: an integer in 0..:data:`zoo.limits.MAX_COUNT`."""
    return _number(int, 0, False, text, limits.MAX_COUNT)


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 and at most :data:`zoo.limits.MAX_REAL`."""
    return _number(float, 0, True, text, limits.MAX_REAL)


def non_negative_float(text: str) -> float:
    """argparse type: a finite number in [0, :data:`zoo.limits.MAX_REAL`]."""
    return _number(float, 0, False, text, limits.MAX_REAL)


def finite_float(text: str) -> float:
    """argparse type: a finite number of magnitude at most :data:`zoo.limits.MAX_REAL`."""
    return _number(float, -limits.MAX_REAL, False, text, limits.MAX_REAL)


# the bounded quantities of video work (bounds: zoo.limits)
clip_len = int_range(1, limits.MAX_CLIP_LEN, "frames per clip; no model takes longer clips")
sampling_rate = int_range(1, limits.MAX_SAMPLING_RATE, "a frame stride")
frame_rate = float_range(0, limits.MAX_FRAME_RATE, "frames per second", strict=True)
frame_rate_or_zero = float_range(0, limits.MAX_FRAME_RATE, "frames per second")
side = int_range(1, limits.MAX_SIDE, "pixels; 8K video is 7680 wide")
clip_count = int_range(1, limits.MAX_CLIPS, "clips per video")
frame_count = int_range(1, limits.MAX_FRAMES, "frames")
seconds = float_range(0, limits.MAX_SECONDS, "seconds")
positive_seconds = float_range(0, limits.MAX_SECONDS, "seconds", strict=True)
workers = int_range(0, limits.MAX_WORKERS, "processes")
positive_workers = int_range(1, limits.MAX_WORKERS, "processes")
threads = int_range(0, limits.MAX_WORKERS, "threads")
batch_size = int_range(1, limits.MAX_BATCH, "items per batch")
class_count = int_range(1, limits.MAX_CLASSES, "classes")
epochs = int_range(1, limits.MAX_EPOCHS, "epochs")
epoch = float_range(0, limits.MAX_EPOCHS, "epochs")
seed = int_range(0, limits.MAX_SEED, "numpy's seed range")


def key_value(text: str) -> tuple[str, Any]:
    """argparse type ``KEY=VALUE``; VALUE is parsed as JSON when it is JSON (``0.25``, ``true``, ``"vmz"``)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    if isinstance(parsed, str):
        with contextlib.suppress(ValueError):   # '٣', 'Infinity' with a typo...: a number in disguise
            float(parsed)
            _number(float, None, False, parsed.strip())
    elif isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
        _number(float, -limits.MAX_REAL, False, value.strip(), limits.MAX_REAL)   # NaN, Infinity, 1e999
    return key, parsed
