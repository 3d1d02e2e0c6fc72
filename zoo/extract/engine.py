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
        self.complete = False


def extract_windows(predictor: Callable[[torch.Tensor], torch.Tensor], layout: Callable[[], list],
                    jobs: Sequence[VideoJob], spec: WindowSpec, sink: Callable[[VideoFeatures], None], *,
                    reduce: str = "none", batch_windows: int = 32, windows_per_chunk: int | None = None,
                    workers: int = 0, device: str | torch.device = "cpu", max_memory: int | None = None,
                    large: bool | None = None, progress: bool = True, log: Callable[[str], None] = print
                    ) -> ExtractStats:
    """Run every window of ``jobs`` through ``predictor`` and call ``sink`` once per video, in completion order.

    ``predictor`` maps uint8 windows ``(N, T, H, W, 3)`` to ``(N, D)`` float outputs (a
    :class:`~zoo.evaluate.predictors.TorchPredictor` or ``OnnxPredictor`` over a
    :class:`~zoo.extract.taps.LayerTap`); ``layout()`` returns the tap's layout once it has run.
    Up to ``batch_windows`` windows (of one or several videos) go through the model per call; with
    ``max_memory`` (or ``large=True``) each call is further cut into chunks that fit that budget.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    if batch_windows < 1:
        raise ValueError(f"batch_windows must be >= 1, got {batch_windows}")
    crops = spec.crops
    per_chunk = windows_per_chunk or max(1, batch_windows // max(1, min(workers, 4) or 1))
    dataset = WindowsDataset(jobs, spec, per_chunk, threads=1 if workers else 0)
    loader = windows_loader(dataset, workers, pin_memory=torch.device(device).type == "cuda")
    runner = BudgetRunner(predictor, torch.device(device), max_memory is not None if large is None else large,
                          max_memory, log)
    videos = {job.index: _Video(job) for job in jobs}
    stats = ExtractStats()
    pending: list[WindowChunk] = []
    bar = progress_bar(total=len(jobs), unit="video", enabled=progress)
    start = time.perf_counter()

    def finish(video: _Video) -> None:
        del videos[video.job.index]
        if video.error is not None:
            stats.failed += 1
            sink(VideoFeatures(video.job, error=video.error))
        else:
            flat = torch.cat(video.outputs).numpy() if len(video.outputs) > 1 else video.outputs[0].numpy()
            arrays = split_outputs(flat, layout())
            count = len(video.start)
            if crops > 1:
                arrays = {k: v.reshape(count, crops, *v.shape[1:]) for k, v in arrays.items()}
            arrays = {k: np.ascontiguousarray(reduce_windows(v, reduce, crops)) for k, v in arrays.items()}
            stats.windows += count
            sink(VideoFeatures(video.job, arrays, np.asarray(video.start, np.float64),
                               np.asarray(video.end, np.float64)))
        stats.videos += 1
        elapsed = max(time.perf_counter() - start, 1e-9)
        bar.set_postfix_str(f"{stats.videos / elapsed:.2f} videos/s, {stats.windows / elapsed:.1f} windows/s",
                            refresh=False)
        bar.update(1)

    def flush() -> None:
        batch = [c for c in pending if c.windows is not None and videos[c.job].error is None]
        if batch:
            views = torch.cat([c.windows for c in batch]) if len(batch) > 1 else batch[0].windows
            tick = time.perf_counter()
            try:
                outputs = runner(views)
            except ViewsOutOfMemory as exc:
                for c in batch:
                    videos[c.job].error = f"out_of_memory: {exc}"
            else:
                offset = 0
                for c in batch:
                    count = c.windows.shape[0]
                    videos[c.job].outputs.append(outputs[offset:offset + count])
                    offset += count
            stats.compute_s += time.perf_counter() - tick
            del views
        for c in pending:
            if c.last:
                finish(videos[c.job])
        pending.clear()

    try:
        iterator = iter(loader)
        while True:
            tick = time.perf_counter()
            chunk = next(iterator, None)
            stats.data_wait_s += time.perf_counter() - tick
            if chunk is None:
                break
            video = videos[chunk.job]
            report_warnings(video.job.path, chunk.warnings)
            if chunk.error is not None:
                video.error = chunk.error
                log(f"skipped {video.job.path}: {chunk.error}")
            elif chunk.windows is not None:
                video.start += chunk.start
                video.end += chunk.end
            pending.append(chunk)
            if chunk.error is not None or sum(c.windows.shape[0] for c in pending if c.windows is not None) \
                    >= batch_windows:
                flush()
        flush()
    finally:
        bar.close()
    stats.total_s = time.perf_counter() - start
    return stats
