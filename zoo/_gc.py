"""Pausing Python's cyclic garbage collector around allocation-heavy work.

Building a model creates thousands of small objects (modules, parameters, dicts); with torch imported the
collector's full passes walk ~200k tracked objects each time, which costs more than the build itself
(ir-CSN-152 on the meta device: 0.17 s with the collector, 0.07 s without). None of that work creates
reference cycles, so pausing loses nothing; reference counting still frees everything as usual.
"""
from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector for the block; restores the previous state (nesting is safe)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
