"""Sharding videos across ranks and collecting their results on rank 0 (process groups: :mod:`zoo.distributed`)."""
from __future__ import annotations

from typing import Any, Sequence

import torch.distributed as dist


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of the current process group, ``(0, 1)`` when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(items: Sequence, rank: int, world_size: int) -> list:
    """This rank's share: every ``world_size``-th item from ``rank`` (disjoint, nothing padded or repeated)."""
    return list(items[rank::world_size])


def broadcast_from_rank0(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (identity when not distributed)."""
    _, world = rank_and_world()
    if world == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_to_rank0(items: list) -> list | None:
    """Concatenation of every rank's ``items`` on rank 0 (``None`` elsewhere)."""
    rank, world = rank_and_world()
    if world == 1:
        return list(items)
    boxes = [None] * world if rank == 0 else None
    dist.gather_object(list(items), boxes, dst=0)
    return [item for box in boxes for item in box] if rank == 0 else None
