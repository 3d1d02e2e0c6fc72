"""The value checks of the typed records (:class:`zoo.records.Preprocessing`, :class:`zoo.protocol.records.TestProtocol`):
each takes a value read from ``weights.json`` or checkpoint metadata and the text naming where it came from,
and returns the value in the record's form or raises a ValueError naming it.
"""
from __future__ import annotations

import difflib
from typing import Any

from zoo import limits


def short_repr(value: Any, length: int = 60) -> str:
    """``repr(value)`` cut to ``length`` characters (a forged value may be megabytes long)."""
    text = repr(value)
    return text if len(text) <= length else text[:length] + "..."


def _side(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= limits.MAX_SIDE


def resize_value(value: Any, what: str) -> int | tuple[int, int] | None:
    """A resize field: int = short side (aspect kept); [h, w] = exact frame size (``None`` stays ``None``);
    ValueError naming ``what`` otherwise."""
    if value is None:
        return None
    if _side(value):
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_side(v) for v in value):
        return (int(value[0]), int(value[1]))
    raise ValueError(f"{what}: resize must be a short side or [height, width] of 1-{limits.MAX_SIDE} pixels, "
                     f"not {short_repr(value)}")


def positive_value(value: Any, what: str, kind=int, maximum: float = limits.MAX_COUNT):
    """``value`` as a positive ``kind`` of at most ``maximum`` (``None`` stays ``None``); ValueError naming
    ``what`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= maximum or (
            kind is int and int(value) != value):   # NaN and infinity fail the range too
        raise ValueError(f"{what}: expected a positive {kind.__name__} of at most {maximum:g}, not "
                         f"{short_repr(value)}")
    return kind(value)


def check_class_names(value: Any, source: str) -> tuple[str, ...] | None:
    """``value`` as a tuple of class names (None stays None); ``ValueError`` naming ``source`` unless it is a list
    of at most :data:`~zoo.limits.MAX_CLASSES` strings of at most :data:`~zoo.limits.MAX_CLASS_NAME` characters."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not all(
            isinstance(c, str) for c in value):
        raise ValueError(f"{source}: classes must be a list of names")
    if len(value) > limits.MAX_CLASSES:
        raise ValueError(f"{source}: {len(value)} class names; at most {limits.MAX_CLASSES} are supported")
    long = next((c for c in value if len(c) > limits.MAX_CLASS_NAME), None)
    if long is not None:
        raise ValueError(f"{source}: class name {short_repr(long)} is {len(long)} characters long; at most "
                         f"{limits.MAX_CLASS_NAME} are supported")
    return tuple(value)


def channel_values(value: Any, what: str) -> tuple[float, ...] | None:
    """Three per-channel numbers (mean or std) as floats (``None`` stays ``None``); ValueError otherwise."""
    if value is None:
        return None
    out = ()
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        out = tuple(float(v) for v in value)
    if len(out) != 3 or not all(abs(v) <= limits.MAX_REAL for v in out):    # NaN fails too
        raise ValueError(f"{what}: expected 3 finite per-channel values, not {short_repr(value)}")
    return out


def choice_value(value: Any, choices: tuple[str, ...], what: str) -> str | None:
    """``value`` when it is one of ``choices`` (``None`` stays ``None``); ValueError naming ``what`` otherwise."""
    if value is not None and value not in choices:
        raise ValueError(f"{what}: expected one of {', '.join(choices)}, not {short_repr(value)}")
    return value


def json_value(value: Any) -> Any:
    """The JSON form of a field value (tuples become lists)."""
    return list(value) if isinstance(value, tuple) else value


def did_you_mean(name: str, choices, what: str) -> str:
    """The end of an "unknown name" message: the close matches among ``choices``, else where to look (``what``)."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(map(repr, close))}?" if close else f"; see {what}"
