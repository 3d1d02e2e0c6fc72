"""Training clips: one random, augmented clip per :class:`~zoo.train.sampler.ClipKey` (decoded in workers).

The clip (start frame, short-side jitter or fixed resize, random crop, flip) comes from
:func:`zoo.data.views.decode_train_clip` with a generator seeded by the key, so it is reproducible. Items are
uint8 ``(T, H, W, 3)``; normalisation happens on the training device (4x less data through the loader). A video
that cannot be decoded is replaced by another one drawn from the same generator; the failure travels with
the batch so the main process can count and report it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from zoo.data.errors import VideoError, collect_video_warnings
from zoo.data.probe import VideoInfo, probe_video
from zoo.data.views import TrainClipSpec, decode_train_clip
from zoo.train.sampler import ClipKey


@dataclass
class TrainBatch:
    """A collated batch: uint8 clips ``(N, T, H, W, 3)``, labels ``(N,)`` and the failures met on the way."""

    clips: torch.Tensor
    labels: torch.Tensor
    failures: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (path, "kind: detail") of videos used

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def pin_memory(self) -> "TrainBatch":
        """Page-locked copy (DataLoader ``pin_memory=True`` calls this)."""
        return TrainBatch(self.clips.pin_memory(), self.labels.pin_memory(), self.failures, self.warnings)


class TrainClipDataset(Dataset):
    """``dataset[ClipKey(video, seed)]`` -> ``(clip uint8 (T, H, W, 3), label, failures, warnings)``, the
    warnings as ``(path, "kind: detail")`` of the video used (see :class:`zoo.data.errors.VideoWarning`).

    ``infos`` (from the metadata index, optional) maps a sample's path to its :class:`VideoInfo`; without it
    each worker probes a video the first time it needs it. At most ``max_retries`` replacement videos are
    tried before giving up with an error naming the files.
    """

    def __init__(self, samples: Sequence, spec: TrainClipSpec, infos: dict[str, VideoInfo] | None = None,
                 max_retries: int = 20, decode_threads: int = 1):
        if not samples:
            raise ValueError("the training set is empty")
        self.samples, self.spec = list(samples), spec
        self.infos = dict(infos or {})
        self.max_retries, self.decode_threads = max_retries, decode_threads

    def __len__(self) -> int:
        return len(self.samples)

    def _info(self, path: str) -> VideoInfo:
        info = self.infos.get(path)
        if info is None:
            info = self.infos[path] = probe_video(path)
        return info

    def __getitem__(self, key: ClipKey):
        video_index, seed = key
        rng = np.random.default_rng(seed)
        failures: list[tuple[str, str]] = []
        for _ in range(self.max_retries + 1):
            sample = self.samples[video_index]
            path = str(sample.path)
            try:
                with collect_video_warnings() as warned:  # shown by the main process, in the tool's form
                    info = self._info(path)
                    clip = decode_train_clip(path, self.spec, rng, info=info, threads=self.decode_threads)
                return clip, int(sample.label), failures, [(path, text) for text in info.warnings + warned]
            except VideoError as exc:
                failures.append((path, exc.reason + (f": {exc.detail}" if exc.detail else "")))
            except Exception as exc:  # noqa: BLE001 - any decoder failure spoils this video only
                failures.append((path, f"undecodable: {type(exc).__name__}: {exc}"))
            video_index = int(rng.integers(len(self.samples)))
        listed = "; ".join(f"{p} ({why})" for p, why in failures[:5])
        raise RuntimeError(f"{len(failures)} videos in a row could not be decoded: {listed}")


def collate_clips(items: list) -> TrainBatch:
    """Stack dataset items into a :class:`TrainBatch`."""
    clips, labels, failures, warned = zip(*items)
    return TrainBatch(torch.stack(clips), torch.tensor(labels, dtype=torch.int64),
                      [f for per_item in failures for f in per_item], [w for per_item in warned for w in per_item])
