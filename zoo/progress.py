"""Progress bars for long work (tqdm): live on a terminal, one line every few seconds otherwise (logs have no
carriage returns). ``-q/--quiet`` of every tool passes ``enabled=False``: a silent bar with the same API. A bar's
description (often a file name) has its control characters escaped, as every console line does
(:mod:`zoo.console`).
"""
from __future__ import annotations

import sys

from zoo.errors import printable

#: seconds between two progress lines when stderr is not a terminal
LOG_PROGRESS_INTERVAL = 10.0


class _LineWriter:
    """A stream for tqdm when stderr is not a terminal: each refresh becomes one line (no carriage returns)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").rstrip()
        if text:
            self.stream.write(printable(text) + "\n")

    def flush(self) -> None:
        self.stream.flush()


def is_terminal(stream=None) -> bool:
    """True when ``stream`` (default stderr) is an interactive terminal."""
    stream = stream or sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def progress_bar(iterable=None, *, enabled: bool = True, interval: float | None = None, **kwargs):
    """A tqdm bar: live on a terminal; otherwise one line every ``interval`` seconds (default
    :data:`LOG_PROGRESS_INTERVAL`) so logs stay readable. ``enabled=False`` gives a silent bar with the same API."""
    from tqdm import tqdm

    stream = kwargs.pop("file", None) or sys.stderr
    if kwargs.get("desc") is not None:
        kwargs["desc"] = printable(kwargs["desc"])
    if not enabled:
        return tqdm(iterable, disable=True, **kwargs)
    if is_terminal(stream):
        kwargs.setdefault("dynamic_ncols", True)
        return tqdm(iterable, file=stream, **kwargs)
    kwargs.pop("dynamic_ncols", None)
    wait = max(LOG_PROGRESS_INTERVAL if interval is None else interval, kwargs.get("mininterval", 0))
    kwargs.update(mininterval=wait, maxinterval=max(wait, 10.0), miniters=1, ncols=100)
    return tqdm(iterable, file=_LineWriter(stream), **kwargs)

