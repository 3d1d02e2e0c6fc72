"""Run a function over tasks in worker processes (or inline for one worker), results as they finish."""
from __future__ import annotations

import multiprocessing
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def imap_unordered(func: Callable[[T], R], tasks: list[T], workers: int, chunksize: int = 1) -> Iterator[R]:
    """Yield ``func(task)`` for every task, from ``workers`` processes when ``workers > 1``.

    Uses ``fork`` where available (workers start instantly, nothing is re-imported), else ``spawn``;
    ``func`` must be a module-level function.
    """
    if workers <= 1 or len(tasks) <= 1:
        yield from map(func, tasks)
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(min(workers, len(tasks))) as pool:
        yield from pool.imap_unordered(func, tasks, chunksize=chunksize)
