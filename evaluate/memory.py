"""Memory budget for ``zoo-test --large``: measure, probe, and run views in chunks that halve on OOM.

The budget covers the *working* memory of the evaluation on top of the loaded model: the decoded uint8
views of the current video, the normalised float chunk and the activations of one forward pass. It is
measured on CUDA with the caching allocator's peak statistics (exact), for a runtime with its own GPU memory
(onnxruntime's arena) with the device's free-memory deltas, and on CPU (Linux) with the process's peak
resident set size (``VmHWM``, reset through ``/proc/self/clear_refs``).
"""
from __future__ import annotations

import ctypes
import gc
import os
import re
from typing import Callable

import torch

#: fraction of the free GPU memory / available RAM used when no --max-memory is given
DEFAULT_BUDGET_FRACTION = {"cuda": 0.8, "cpu": 0.5}
_SIZE_RE = re.compile(r"^\s*([0-9.]+)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
#: whose memory a :class:`MemoryMeter` measures on CUDA
MEMORY_SOURCES = ("allocator", "device")
_OOM_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory", "failed to allocate",
                 "bad_alloc")


class ViewsOutOfMemory(RuntimeError):
    """Even a single view does not fit: the video cannot be evaluated on this device."""


def parse_size(text: str | int | float) -> int:
    """Bytes from ``"8GiB"``, ``"8G"``, ``"512M"``, ``"1.5gb"`` or a plain number of bytes.

    Suffixes are binary (K = 1024).
    """
    if isinstance(text, (int, float)):
        return int(text)
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueError(f"cannot read memory size {text!r} (examples: 8GiB, 512M, 2000000000)")
    value, unit = float(match.group(1)), match.group(2).lower()
    return int(value * 1024 ** " kmgt".index(unit or " "))


def format_size(num_bytes: int | float) -> str:
    """Human-readable binary size, e.g. ``1.50 GiB``."""
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.2f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value:.2f} TiB"  # pragma: no cover


def is_oom(exc: BaseException) -> bool:
    """True for CUDA and CPU out-of-memory errors (torch, numpy, onnxruntime)."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    if not isinstance(exc, Exception):
        return False
    message = str(exc).lower()
    return any(m in message for m in _OOM_MESSAGES)


def release_memory(device: torch.device, collect: bool = True) -> None:
    """Return freed memory (garbage when ``collect``, CUDA cache, glibc heap) so a retry can succeed."""
    if collect:
        gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    else:
        _malloc_trim()


def _malloc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass



def _read_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _available_ram() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def default_budget(device: torch.device, fraction: float | None = None) -> int:
    """A safe fraction of the free GPU memory (CUDA) or of the available RAM (CPU), in bytes."""
    device = torch.device(device)
    fraction = DEFAULT_BUDGET_FRACTION["cuda" if device.type == "cuda" else "cpu"] if fraction is None \
        else fraction
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * fraction)
    return int(_available_ram() * fraction)


class MemoryMeter:
    """Peak memory above a fixed baseline: CUDA allocator peak, CUDA device usage, or CPU peak RSS on Linux.

    The baseline is the usage when the meter is created (after the model is loaded), so everything the
    evaluation keeps resident (decoded views, library caches, the probe's warm-up) counts. ``reset()``
    restarts peak tracking; ``peak()`` is the highest usage since then minus the baseline (``None`` where
    the platform cannot measure it).

    On CUDA ``source`` says whose memory: ``"allocator"`` (torch's caching allocator, exact peaks) or
    ``"device"`` (a runtime with its own arena, such as onnxruntime: used memory from ``mem_get_info``; the
    arena keeps what it grew to, so the usage after a run is its peak). ``exact`` is true only for the first.
    """

    def __init__(self, device: torch.device, source: str = "allocator"):
        if source not in MEMORY_SOURCES:
            raise ValueError(f"memory source must be one of {MEMORY_SOURCES}, got {source!r}")
        self.device = torch.device(device)
        self.source = source
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        else:
            _malloc_trim()
        self.baseline = self.current() or 0
        self.reset()

    @property
    def available(self) -> bool:
        return self.device.type == "cuda" or _read_status_kib("VmHWM") is not None

    @property
    def exact(self) -> bool:
        """Whether peaks are the allocator's own figures (CUDA, torch), not resident or device-wide usage."""
        return self.device.type == "cuda" and self.source == "allocator"

    def current(self) -> int | None:
        if self.device.type == "cuda":
            if self.source == "device":
                free, total = torch.cuda.mem_get_info(self.device)
                return total - free
            return torch.cuda.memory_allocated(self.device)
        rss = _read_status_kib("VmRSS")
        return None if rss is None else rss * 1024

    def reset(self) -> None:
        if self.device.type == "cuda" and self.source == "device":
            return                      # no peak statistics to reset: peak() reads the usage now
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        _malloc_trim()
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # resets VmHWM to the current RSS
        except OSError:
            pass

    def peak(self) -> int | None:
        if self.device.type == "cuda" and self.source == "device":
            return max(0, self.current() - self.baseline)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return max(0, torch.cuda.max_memory_allocated(self.device) - self.baseline)
        hwm = _read_status_kib("VmHWM")
        return None if hwm is None else max(0, hwm * 1024 - self.baseline)


def probe_view_cost(run: Callable[[torch.Tensor], torch.Tensor], sample_views: torch.Tensor,
                    meter: MemoryMeter) -> tuple[int, int]:
    """Measure ``(fixed_bytes, bytes_per_view)`` of ``run`` from forward passes on 1 and 2 views.

    Where the meter's figures are not exact (resident set size, device-wide usage), the estimate is
    conservative: ``bytes_per_view`` is never below half the 2-view peak. Exact CUDA allocator figures are
    taken as measured.

    ``sample_views`` is a uint8 ``(V, T, H, W, 3)`` tensor with at least one view (the first is repeated
    when V == 1). Peaks are taken above ``meter``'s baseline, so ``fixed`` includes what stays resident
    (the decoded views, caches left by the warm-up call).
    """
    one = sample_views[:1]
    two = sample_views[:2] if sample_views.shape[0] >= 2 else one.expand(2, *one.shape[1:]).contiguous()
    run(one)  # warm-up (lazy initialisation, cuDNN/oneDNN algorithm selection)
    peaks = []
    for views in (one, two):
        release_memory(meter.device, collect=False)
        meter.reset()
        run(views)
        peaks.append(meter.peak() or 0)
    # Peak RSS in a process with history can reuse resident free pages (an arena its free blocks), making the
    # 1-view/2-view difference too small (even negative). Err on the safe side there: a view costs at least
    # half the 2-view peak. The CUDA allocator's peaks are exact: a floor would halve the chunk for nothing.
    floor = 0 if meter.exact else peaks[1] // 2
    # Whatever the meter saw, a view costs at least its float32 copy (the normalised input the model receives):
    # a process whose peak RSS does not move at all (reused free pages) would otherwise report 1 byte a view.
    input_bytes = one[0].numel() * 4
    per_view = max(peaks[1] - peaks[0], floor, input_bytes)
    fixed = max(peaks[0] - per_view, 0)
    return fixed, per_view


class ChunkRunner:
    """Runs views through ``run`` in chunks of at most ``chunk_size``; halves the chunk on OOM and retries.

    The chunk size persists across calls, so an OOM on one video makes the following videos start from
    the smaller size. With a ``budget`` and a ``meter`` the measured peak of every chunk is also checked,
    and a chunk that exceeded the budget halves the size for the next ones.
    """

    def __init__(self, run: Callable[[torch.Tensor], torch.Tensor], chunk_size: int, device: torch.device,
                 budget: int | None = None, meter: MemoryMeter | None = None,
                 log: Callable[[str], None] | None = None):
        """``run`` may have a ``release_memory()`` method, called after an out-of-memory error (a runtime
        with its own arena, such as :class:`~zoo.evaluate.predictors.OnnxPredictor`)."""
        if chunk_size < 1:
            raise ValueError(f"chunk size must be at least 1, got {chunk_size}")
        self.run, self.chunk_size, self.device = run, int(chunk_size), torch.device(device)
        self.budget, self.meter = budget, meter
        self.log = log or (lambda message: None)
        self.oom_count = 0
        self.max_peak = 0

    def _halve(self, why: str) -> None:
        new = max(1, self.chunk_size // 2)
        self.log(f"{why}: chunk size {self.chunk_size} -> {new} views")
        self.chunk_size = new

    def __call__(self, views: torch.Tensor) -> torch.Tensor:
        """Outputs of ``run`` for all views, concatenated along dim 0."""
        outputs, start = [], 0
        while start < views.shape[0]:
            size = min(self.chunk_size, views.shape[0] - start)
            if self.meter is not None:
                self.meter.reset()
            try:
                out = self.run(views[start:start + size])
            except Exception as exc:  # noqa: BLE001 - only OOM is handled, everything else re-raised
                if not is_oom(exc):
                    raise
                failed = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            else:
                failed = None
            if failed is not None:  # outside the except block: the traceback no longer pins the tensors
                self.oom_count += 1
                release_memory(self.device)
                if hasattr(self.run, "release_memory"):
                    self.run.release_memory()
                if size == 1:
                    raise ViewsOutOfMemory(f"one view does not fit in memory on {self.device}: {failed}")
                self.chunk_size = size
                self._halve("out of memory")
                continue
            outputs.append(out)
            start += size
            if self.meter is not None:
                peak = self.meter.peak() or 0
                self.max_peak = max(self.max_peak, peak)
                if self.budget is not None and peak > self.budget and self.chunk_size > 1:
                    self._halve(f"peak {format_size(peak)} over the budget {format_size(self.budget)}")
        return torch.cat(outputs, dim=0)


def arena_limit(device: torch.device, max_memory: int | None, model_bytes: int) -> int | None:
    """The cap of onnxruntime's CUDA arena (``gpu_mem_limit``): the working-memory budget (``max_memory``,
    else :func:`default_budget`) plus the model's weights, which live in the arena too; ``None`` on the CPU."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return int(max_memory if max_memory is not None else default_budget(device)) + int(model_bytes)


def chunk_size_for_budget(budget: int, fixed: int, per_view: int, safety: float = 0.85) -> int:
    """Largest view count ``n`` with ``fixed + n * per_view <= safety * budget`` (at least 1)."""
    room = safety * budget - fixed
    return max(1, int(room // max(per_view, 1)))
