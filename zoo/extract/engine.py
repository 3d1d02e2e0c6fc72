"""The extraction loop: chunks of windows from the decoding workers are batched across videos, run through
the model (the evaluator's chunked runner: one pass halved on OOM, or memory-budgeted chunks), cut back
into per-video, per-layer arrays and handed to a sink as each video completes.

Nothing accumulates beyond the videos in flight, so memory is flat in the number of videos. ``stats``
report throughput and the fraction of time spent waiting for decoded data.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from zoo.input_warnings import report_warnings
from zoo.progress import progress_bar
from zoo.evaluate.memory import ViewsOutOfMemory
from zoo.evaluate.runner import BudgetRunner
from zoo.extract.windows_dataset import VideoJob, WindowChunk, WindowsDataset, windows_loader
from zoo.extract.taps import split_outputs
from zoo.extract.options import REDUCTIONS
from zoo.extract.windows import WindowSpec
from zoo.options import RunOptions



@dataclass
class VideoFeatures:
    """The features of one video: ``features[layer]`` is ``(W, ...)`` (``(W, crops, ...)`` with several
    crops) for ``reduce="none"``, else the mean or max over windows (and crops); ``start``/``end`` are the
    windows' times in seconds. A video that failed has ``error`` set and no features."""

    job: VideoJob
    features: dict[str, np.ndarray] = field(default_factory=dict)
    start: np.ndarray = field(default_factory=lambda: np.zeros(0))
    end: np.ndarray = field(default_factory=lambda: np.zeros(0))
    error: str | None = None

    @property
    def num_windows(self) -> int:
        return int(self.start.shape[0])


@dataclass
class ExtractStats:
    """Counts and times of one run (seconds)."""

    videos: int = 0
    failed: int = 0
    windows: int = 0
    total_s: float = 0.0
    data_wait_s: float = 0.0
    compute_s: float = 0.0

    @property
    def data_wait_fraction(self) -> float:
        return self.data_wait_s / self.total_s if self.total_s else 0.0

    def as_dict(self) -> dict:
        return {"videos": self.videos, "failed": self.failed, "windows": self.windows, "total_s": self.total_s,
                "data_wait_s": self.data_wait_s, "compute_s": self.compute_s,
                "data_wait_fraction": self.data_wait_fraction,
                "videos_per_s": self.videos / self.total_s if self.total_s else 0.0,
                "windows_per_s": self.windows / self.total_s if self.total_s else 0.0}


def reduce_windows(array: np.ndarray, how: str, crops: int) -> np.ndarray:
    """Reduce ``(W, [crops,] ...)`` over windows (and crops): ``none`` keeps it, ``mean`` or ``max``."""
    if how not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {how!r}")
    if how == "none":
        return array
    axes = (0, 1) if crops > 1 else (0,)
    return array.mean(axis=axes) if how == "mean" else array.max(axis=axes)


class _Video:
    """Outputs of one video gathered chunk by chunk."""

    def __init__(self, job: VideoJob):
        self.job = job
        self.outputs: list[torch.Tensor] = []
        self.start: list[float] = []
        self.end: list[float] = []
        self.error: str | None = None


class _Batcher:
    """Chunks of windows gathered until a batch is full, run through the model together and cut back into
    videos; a video goes to the sink with its last chunk."""

    def __init__(self, jobs: Sequence[VideoJob], runner: BudgetRunner, layout: Callable[[], list], crops: int,
                 reduce: str, sink: Callable[[VideoFeatures], None], bar, log: Callable[[str], None]):
        self.videos = {job.index: _Video(job) for job in jobs}
        self.runner, self.layout, self.crops, self.reduce, self.sink, self.bar, self.log = \
            runner, layout, crops, reduce, sink, bar, log
        self.pending: list[WindowChunk] = []
        self.stats = ExtractStats()
        self.start = time.perf_counter()

    def add(self, chunk: WindowChunk, batch_windows: int) -> bool:
        """Keep ``chunk`` for the next batch; whether the batch is due (``batch_windows`` windows waiting, or a
        failed chunk, which is reported at once)."""
        video = self.videos[chunk.job]
        report_warnings(video.job.path, chunk.warnings)
        if chunk.error is not None:
            video.error = chunk.error
            self.log(f"skipped {video.job.path}: {chunk.error}")
        elif chunk.windows is not None:
            video.start += chunk.start
            video.end += chunk.end
        self.pending.append(chunk)
        return chunk.error is not None or \
            sum(c.windows.shape[0] for c in self.pending if c.windows is not None) >= batch_windows

    def flush(self) -> None:
        """Run the waiting windows through the model and hand every video whose last chunk came to the sink."""
        batch = [c for c in self.pending if c.windows is not None and self.videos[c.job].error is None]
        if batch:
            views = torch.cat([c.windows for c in batch]) if len(batch) > 1 else batch[0].windows
            tick = time.perf_counter()
            try:
                outputs = self.runner(views)
            except ViewsOutOfMemory as exc:
                for c in batch:
                    self.videos[c.job].error = f"out_of_memory: {exc}"
            else:
                offset = 0
                for c in batch:
                    count = c.windows.shape[0]
                    self.videos[c.job].outputs.append(outputs[offset:offset + count])
                    offset += count
            self.stats.compute_s += time.perf_counter() - tick
            del views
        for c in self.pending:
            if c.last:
                self._finish(self.videos.pop(c.job))
        self.pending.clear()

    def _finish(self, video: _Video) -> None:
        stats = self.stats
        if video.error is not None:
            stats.failed += 1
            self.sink(VideoFeatures(video.job, error=video.error))
        else:
            flat = torch.cat(video.outputs).numpy() if len(video.outputs) > 1 else video.outputs[0].numpy()
            arrays = split_outputs(flat, self.layout())
            count = len(video.start)
            if self.crops > 1:
                arrays = {k: v.reshape(count, self.crops, *v.shape[1:]) for k, v in arrays.items()}
            arrays = {k: np.ascontiguousarray(reduce_windows(v, self.reduce, self.crops)) for k, v in arrays.items()}
            stats.windows += count
            self.sink(VideoFeatures(video.job, arrays, np.asarray(video.start, np.float64),
                                    np.asarray(video.end, np.float64)))
        stats.videos += 1
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        self.bar.set_postfix_str(f"{stats.videos / elapsed:.2f} videos/s, {stats.windows / elapsed:.1f} windows/s",
                                 refresh=False)
        self.bar.update(1)


def extract_windows(predictor: Callable[[torch.Tensor], torch.Tensor], layout: Callable[[], list],
                    jobs: Sequence[VideoJob], spec: WindowSpec, sink: Callable[[VideoFeatures], None], *,
                    reduce: str = "none", batch_windows: int = 32, windows_per_chunk: int | None = None,
                    run: RunOptions = RunOptions()) -> ExtractStats:
    """Run every window of ``jobs`` through ``predictor`` and call ``sink`` once per video, in completion order.

    ``predictor`` maps uint8 windows ``(N, T, H, W, 3)`` to ``(N, D)`` float outputs (a
    :class:`~zoo.evaluate.predictors.TorchPredictor` or ``OnnxPredictor`` over a
    :class:`~zoo.extract.taps.LayerTap`); ``layout()`` returns the tap's layout once it has run.
    Up to ``batch_windows`` windows (of one or several videos) go through the model per call, decoded
    ``windows_per_chunk`` at a time. ``run`` (:class:`~zoo.options.RunOptions`): the device the windows go to
    (default: the CPU), decoding workers, progress and log; with ``max_memory`` each call is further cut into
    chunks that fit that budget.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    if batch_windows < 1:
        raise ValueError(f"batch_windows must be >= 1, got {batch_windows}")
    device = torch.device(run.device if run.device is not None else "cpu")
    workers = run.workers
    per_chunk = windows_per_chunk or max(1, batch_windows // max(1, min(workers, 4) or 1))
    dataset = WindowsDataset(jobs, spec, per_chunk, threads=1 if workers else 0)
    loader = windows_loader(dataset, workers, pin_memory=device.type == "cuda")
    runner = BudgetRunner(predictor, device, run.max_memory is not None, run.max_memory, run.log)
    bar = progress_bar(total=len(jobs), unit="video", enabled=run.progress)
    batcher = _Batcher(jobs, runner, layout, spec.crops, reduce, sink, bar, run.log)
    stats = batcher.stats
    try:
        iterator = iter(loader)
        while True:
            tick = time.perf_counter()
            chunk = next(iterator, None)
            stats.data_wait_s += time.perf_counter() - tick
            if chunk is None:
                break
            if batcher.add(chunk, batch_windows):
                batcher.flush()
        batcher.flush()
    finally:
        bar.close()
    stats.total_s = time.perf_counter() - batcher.start
    return stats
