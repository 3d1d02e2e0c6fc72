"""Torch Dataset yielding every test view of one video (uint8) for the DataLoader workers.

Decoding happens in the workers, so it overlaps with the model running in the main process. A video that
cannot be decoded does not stop the run: its item carries ``views=None`` and the reason instead (a video
shorter than one clip span too, under ``short_videos="skip"``); a padded one is flagged ``padded``. A video
used despite something worth reporting (rotation applied, repeated frames, damaged packets...) carries the
``"kind: detail"`` texts of its warnings (:class:`zoo.data.errors.VideoWarning`) in ``warnings``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from zoo.data.errors import VideoError, collect_video_warnings
from zoo.data.probe import probe_video
from zoo.data.views import ViewSpec, decode_views, is_padded


@dataclass
class VideoViews:
    """The decoded views of one video: ``views`` uint8 ``(V, T, H, W, 3)`` or ``None`` with ``error`` set;
    ``padded``: its clips repeat the last frame (the video is shorter than one clip span)."""

    index: int
    path: str
    video_id: str
    label: int
    views: torch.Tensor | None
    error: str | None = None
    padded: bool = False
    warnings: list[str] = field(default_factory=list)

    def pin_memory(self) -> "VideoViews":
        """A copy whose views are in page-locked memory (the DataLoader's ``pin_memory`` calls this)."""
        return self if self.views is None else dataclasses.replace(self, views=self.views.pin_memory())


class VideoViewsDataset(Dataset):
    """``samples[indices[i]]`` -> :class:`VideoViews` with all views of ``spec`` (clip-major order)."""

    def __init__(self, samples: Sequence, spec: ViewSpec, indices: Sequence[int] | None = None):
        self.samples = samples
        self.spec = spec
        self.indices = list(range(len(samples))) if indices is None else list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> VideoViews:
        index = self.indices[i]
        sample = self.samples[index]
        label = int(sample.label) if sample.label is not None else -1
        video_id = str(getattr(sample, "video_id", None) or sample.path)
        start_frame = getattr(sample, "start_frame", None)
        try:
            with collect_video_warnings() as warned:
                info = probe_video(sample.path)
                views = decode_views(sample.path, self.spec, info, start_frame=start_frame)
        except Exception as exc:  # noqa: BLE001 - any decoder failure makes this one video bad, not the run
            return VideoViews(index, str(sample.path), video_id, label, None, failure_reason(exc))
        return VideoViews(index, str(sample.path), video_id, label, views,
                          padded=is_padded(info, self.spec, start_frame), warnings=info.warnings + warned)


def failure_reason(exc: Exception) -> str:
    """Why a video could not be decoded, for records and reports: ``reason[: detail]``."""
    if isinstance(exc, VideoError):
        return exc.reason + (f": {exc.detail}" if exc.detail else "")
    return f"undecodable: {type(exc).__name__}: {exc}"


def _keep_list(items: list) -> list:
    return items


def views_loader(dataset: VideoViewsDataset, videos_per_batch: int, workers: int,
                 pin_memory: bool = False) -> DataLoader:
    """DataLoader over whole videos; each batch is a list of :class:`VideoViews` (decoded in ``workers``).
    ``pin_memory`` (for a CUDA model) makes the views' copies to the GPU asynchronous."""
    return DataLoader(dataset, batch_size=videos_per_batch, shuffle=False, num_workers=workers,
                      collate_fn=_keep_list, prefetch_factor=2 if workers else None,
                      persistent_workers=False, pin_memory=pin_memory)
