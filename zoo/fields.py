"""The value checks of the typed records (:class:`zoo.weights.Preprocessing`, :class:`zoo.weights.TestProtocol`):
each takes a value read from ``weights.json`` or checkpoint metadata and the text naming where it came from,
and returns the value in the record's form or raises a ValueError naming it.
"""
from __future__ import annotations

import difflib
from typing import Any


def resize_value(value: Any, what: str) -> int | tuple[int, int] | None:
    """A resize field: int = short side (aspect kept); [h, w] = exact frame size (``None`` stays ``None``);
    ValueError naming ``what`` otherwise."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        return (int(value[0]), int(value[1]))
    raise ValueError(f"{what}: resize must be a positive int (short side) or [height, width], not {value!r}")


def positive_value(value: Any, what: str, kind=int):
    """``value`` as a positive ``kind`` (``None`` stays ``None``); ValueError naming ``what`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf") or (
            kind is int and int(value) != value):   # NaN fails 0 < value too
        raise ValueError(f"{what}: expected a positive {kind.__name__}, not {value!r}")
    return kind(value)


def channel_values(value: Any, what: str) -> tuple[float, ...] | None:
    """Three per-channel numbers (mean or std) as floats (``None`` stays ``None``); ValueError otherwise."""
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        out = ()
    if len(out) != 3:
        raise ValueError(f"{what}: expected 3 per-channel values, not {value!r}")
    return out


def choice_value(value: Any, choices: tuple[str, ...], what: str) -> str | None:
    """``value`` when it is one of ``choices`` (``None`` stays ``None``); ValueError naming ``what`` otherwise."""
    if value is not None and value not in choices:
        raise ValueError(f"{what}: expected one of {', '.join(choices)}, not {value!r}")
    return value


def json_value(value: Any) -> Any:
    """The JSON form of a field value (tuples become lists)."""
    return list(value) if isinstance(value, tuple) else value


def did_you_mean(name: str, choices, what: str) -> str:
    """The end of an "unknown name" message: the close matches among ``choices``, else where to look (``what``)."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(map(repr, close))}?" if close else f"; see {what}"
