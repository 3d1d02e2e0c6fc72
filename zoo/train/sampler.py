"""Distributed, resumable sampler of training clips (random temporal jittering).

Every epoch each video contributes ``clips_per_video`` items; the items are shuffled with a generator seeded by
``(seed, epoch)`` (identical on every rank), padded to a multiple of the world size and dealt round-robin to the
ranks. Each yielded item is a :class:`ClipKey` ``(video_index, item_seed)``: the dataset derives the clip's random
start, scale, crop and flip from ``item_seed`` alone, so the data a step sees does not depend on the number of
workers, on the worker that loads it, or on whether the run was interrupted. ``set_epoch(epoch, start)`` skips
the first ``start`` items of this rank's share: this is how a run resumed mid-epoch continues exactly where the
checkpoint was taken.
"""
from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np
import torch.utils.data


class ClipKey(NamedTuple):
    """One training item: which video, and the seed of its random clip/augmentation choices."""

    video_index: int
    seed: int


class ClipSampler(torch.utils.data.Sampler):
    """Yields this rank's :class:`ClipKey` items for the current epoch, from position ``start``."""

    def __init__(self, num_videos: int, clips_per_video: int = 1, seed: int = 0, rank: int = 0,
                 world_size: int = 1, shuffle: bool = True):
        if num_videos < 1:
            raise ValueError("the training set is empty")
        if clips_per_video < 1:
            raise ValueError("--clips-per-video must be >= 1")
        self.num_videos, self.clips_per_video = num_videos, clips_per_video
        self.seed, self.rank, self.world_size, self.shuffle = seed, rank, world_size, shuffle
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch (new random order and clip starts) and the first item of this rank's share to yield."""
        if not 0 <= start <= self.items_per_rank:
            raise ValueError(f"sampler position {start} outside [0, {self.items_per_rank}]")
        self.epoch, self.start = epoch, start

    @property
    def items_per_rank(self) -> int:
        """Items of one rank in a whole epoch (the shares are padded to equal length)."""
        return -(-(self.num_videos * self.clips_per_video) // self.world_size)

    def __len__(self) -> int:
        """Items still to come in this epoch (after ``start``)."""
        return self.items_per_rank - self.start

    def epoch_keys(self, epoch: int) -> list[ClipKey]:
        """All ranks' items of ``epoch`` in global order (before dealing)."""
        rng = np.random.default_rng([self.seed, epoch])
        videos = np.repeat(np.arange(self.num_videos), self.clips_per_video)
        if self.shuffle:
            videos = rng.permutation(videos)
        seeds = rng.integers(0, 2**63 - 1, size=len(videos), dtype=np.int64)
        padded = np.resize(np.arange(len(videos)), self.items_per_rank * self.world_size)  # repeats the first items
        videos, seeds = videos[padded], seeds[padded]
        return [ClipKey(int(v), int(s)) for v, s in zip(videos, seeds)]

    def __iter__(self) -> Iterator[ClipKey]:
        mine = self.epoch_keys(self.epoch)[self.rank::self.world_size]
        return iter(mine[self.start:])

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "start": self.start, "seed": self.seed, "world_size": self.world_size}
