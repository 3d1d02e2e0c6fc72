"""Small helpers shared by the benchmarks: timing and peak memory in the same process."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import torch

from zoo.evaluate.memory import MemoryMeter


@contextmanager
def peak_memory(device: torch.device) -> Iterator[dict]:
    """Peak memory above the starting point inside the block (the evaluator's meter: CUDA allocator or RSS)."""
    meter = MemoryMeter(device)
    out: dict = {}
    yield out
    out["peak"] = meter.peak() or 0


def time_call(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> float:
    """Median seconds per call of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def ensure_ffmpeg() -> str:
    """Path of the ffmpeg binary, installing Debian's package when missing."""
    path = shutil.which("ffmpeg")
    if path is None:
        print("ffmpeg not found: apt-get update && apt-get install -y ffmpeg", file=sys.stderr)
        subprocess.run("apt-get update && apt-get install -y ffmpeg", shell=True, check=True,
                       stdout=subprocess.DEVNULL)
        path = shutil.which("ffmpeg")
    if path is None:
        raise SystemExit("ffmpeg is not available and could not be installed")
    return path
