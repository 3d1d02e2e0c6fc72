"""Decoding for extraction: videos streamed as chunks of uint8 windows, in DataLoader workers.

Each worker takes every ``num_workers``-th video and decodes it in one forward pass; a window is handed on
as soon as its last frame is decoded, in chunks of at most ``windows_per_chunk`` windows, and decoded frames
are dropped once no later window needs them. Memory therefore stays flat in the length of a video and in the
number of videos. Test views (``WindowSpec.clips``) come from the evaluator's :func:`~zoo.data.views.
decode_views`. A video that fails yields one chunk with ``error`` set (after any chunks already sent).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from zoo.data.errors import collect_video_warnings
from zoo.data.probe import probe_video
from zoo.data.transforms import crop_positions, resized_shape
from zoo.data.decode import DecodeReport, frame_size
from zoo.data.views import decode_views, require_own_frames, resized_frames
from zoo.evaluate.views_dataset import failure_reason
from zoo.extract.windows import WindowPlan, WindowSpec, plan_windows


@dataclass(frozen=True)
class VideoJob:
    """One video to extract: ``starts`` are given window start frames (the rows of a dense VMZ list)."""

    index: int
    path: str
    video_id: str
    label: int = -1
    starts: tuple[int, ...] | None = None


@dataclass
class WindowChunk:
    """Consecutive windows of one video: ``windows`` uint8 ``(K * crops, T, H, W, 3)`` (window-major) with
    each window's ``[start, end)`` in seconds; ``last`` marks the video's final chunk."""

    job: int
    windows: torch.Tensor | None
    start: list[float]
    end: list[float]
    last: bool
    error: str | None = None
    warnings: list[str] = field(default_factory=list)  # the video's ("kind: detail"), on its last chunk

    @property
    def num_windows(self) -> int:
        return len(self.start)

    def pin_memory(self) -> "WindowChunk":
        """A copy whose windows are in page-locked memory (the DataLoader's ``pin_memory`` calls this)."""
        return self if self.windows is None else dataclasses.replace(self, windows=self.windows.pin_memory())


class WindowsDataset(IterableDataset):
    """The chunks of ``jobs`` (each worker decodes a disjoint share of the videos)."""

    def __init__(self, jobs: Sequence[VideoJob], spec: WindowSpec, windows_per_chunk: int = 16, threads: int = 0):
        if windows_per_chunk < 1:
            raise ValueError(f"windows_per_chunk must be >= 1, got {windows_per_chunk}")
        self.jobs, self.spec = list(jobs), spec
        self.windows_per_chunk, self.threads = windows_per_chunk, threads

    def __iter__(self) -> Iterator[WindowChunk]:
        worker = get_worker_info()
        jobs = self.jobs if worker is None else self.jobs[worker.id::worker.num_workers]
        for job in jobs:
            try:
                last = None
                with collect_video_warnings() as warned:  # shown by the main process, in the tool's form
                    info = probe_video(job.path)
                    for chunk in self._chunks(job, info):
                        if chunk.last:
                            last = chunk  # sent once the video's warnings are all known
                        else:
                            yield chunk
                last.warnings = info.warnings + warned
                yield last
            except Exception as exc:  # noqa: BLE001 - a bad video is reported, never fatal
                yield WindowChunk(job.index, None, [], [], True, failure_reason(exc))

    def _chunks(self, job: VideoJob, info) -> Iterator[WindowChunk]:
        plan = plan_windows(info, self.spec, job.starts)
        if self.spec.views:
            yield from self._view_chunks(job, info, plan)
            return
        view = self.spec.view
        h, w = resized_shape(*frame_size(info, view.upright), view.resize, view.rounding)
        if view.crop_size is None:
            y, x, ch, cw = 0, 0, h, w
        else:
            (y, x), = crop_positions(h, w, view.crop_size, 1, view.crop_rule)
            ch = cw = view.crop_size
        uses: dict[int, list[tuple[int, int]]] = {}
        for k, frames in enumerate(plan.frames):
            for t, idx in enumerate(frames):
                uses.setdefault(idx, []).append((k, t))
        remaining = [len(set(frames)) for frames in plan.frames]
        open_windows: dict[int, np.ndarray] = {}
        ready: list[int] = []
        report = DecodeReport()
        for idx, frame in resized_frames(job.path, uses, info, view, (h, w), self.threads, report):
            cut = frame[y:y + ch, x:x + cw]
            seen: set[int] = set()
            for k, t in uses[idx]:
                if k not in open_windows:
                    open_windows[k] = np.empty((view.clip_len, ch, cw, 3), np.uint8)
                open_windows[k][t] = cut
                if k not in seen:
                    seen.add(k)
                    remaining[k] -= 1
                    if remaining[k] == 0:
                        ready.append(k)
            if len(ready) >= self.windows_per_chunk:
                yield self._pack(job, plan, ready[:self.windows_per_chunk], open_windows, last=False)
                ready = ready[self.windows_per_chunk:]
        require_own_frames(info, plan.frames, report)     # damaged packets: refused as the evaluator refuses
        yield self._pack(job, plan, ready, open_windows, last=True)

    def _pack(self, job: VideoJob, plan: WindowPlan, ks: list[int], open_windows: dict, last: bool) -> WindowChunk:
        windows = torch.from_numpy(np.stack([open_windows.pop(k) for k in ks])) if ks else None
        return WindowChunk(job.index, windows, [plan.start[k] for k in ks], [plan.end[k] for k in ks], last)

    def _view_chunks(self, job: VideoJob, info, plan: WindowPlan) -> Iterator[WindowChunk]:
        spec = self.spec.view
        if job.starts is None:
            views = decode_views(job.path, spec, info, threads=self.threads)
            yield WindowChunk(job.index, views, plan.start, plan.end, True)
            return
        for k, start in enumerate(job.starts):    # dense rows: the crops of one window per row
            views = decode_views(job.path, spec, info, threads=self.threads, start_frame=start)
            yield WindowChunk(job.index, views, [plan.start[k]], [plan.end[k]], k == len(job.starts) - 1)


def _one(item):
    return item


def windows_loader(dataset: WindowsDataset, workers: int, pin_memory: bool = False) -> DataLoader:
    """DataLoader yielding :class:`WindowChunk` objects decoded in ``workers`` processes (0: in-process);
    ``pin_memory`` (for a CUDA model) makes the windows' copies to the GPU asynchronous."""
    return DataLoader(dataset, batch_size=None, num_workers=workers, collate_fn=_one,
                      prefetch_factor=4 if workers else None, persistent_workers=False, pin_memory=pin_memory)
