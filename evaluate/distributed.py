"""Sharding videos across ``torchrun`` ranks and collecting their results on rank 0."""
from __future__ import annotations

import os
from typing import Any, Sequence

import torch
import torch.distributed as dist


def init_from_env(device: str | torch.device | None = None) -> tuple[int, int]:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1); return ``(rank, world_size)``.

    Uses NCCL when the device is CUDA, gloo otherwise. Without torchrun this is ``(0, 1)``.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available():
        return 0, 1
    cuda = device is not None and torch.device(device).type == "cuda"
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return dist.get_rank(), dist.get_world_size()


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of the current process group, ``(0, 1)`` when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def local_device(device: str) -> str:
    """``cuda`` becomes ``cuda:<LOCAL_RANK>`` under torchrun; other devices are returned unchanged."""
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return device


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
