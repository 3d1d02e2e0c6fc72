"""Process-group set-up shared by ``zoo-train`` and ``zoo-test``: torchrun (single or multi-node), SLURM ``srun``,
or one process; sharding work across ranks and collecting the results on rank 0.

torchrun (``--nproc_per_node``, ``--nnodes`` with the c10d rendezvous, ``--max-restarts``) exports ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; ``srun`` without torchrun exports
``SLURM_PROCID``/``SLURM_NTASKS``/``SLURM_LOCALID`` (``MASTER_ADDR``/``MASTER_PORT`` must then be exported by
the batch script). Without either the trainer runs as a single process. The backend is NCCL on CUDA and
gloo on CPU. Under torchrun each restart attempt gets its own store namespace (see :func:`attempt_store`), so
``--max-restarts`` can bring crashed workers back (the trainer resumes from its last checkpoint, the evaluator
from its per-video records).
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

import torch
import torch.distributed as dist

from zoo.errors import UsageError

T = TypeVar("T")


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launcher_env(environ: dict | None = None) -> tuple[int, int, int] | None:
    """``(rank, world_size, local_rank)`` from torchrun's or SLURM's environment, or None for a plain process."""
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0))
    if "SLURM_PROCID" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
        if "MASTER_ADDR" not in env or "MASTER_PORT" not in env:
            raise RuntimeError("running under srun with several tasks: export MASTER_ADDR and MASTER_PORT in the "
                               "batch script, or launch with torchrun (see the SLURM example in the README)")
        return int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]), int(env.get("SLURM_LOCALID", 0))
    return None


def pick_device(requested: str, local_rank: int) -> torch.device:
    """``auto`` -> ``cuda:<local_rank>`` when CUDA is available, else CPU; ``cuda`` gets the local rank appended.

    A local rank without a GPU of its own (more processes per node than visible GPUs) is a
    :class:`~zoo.errors.UsageError`: two ranks sharing a GPU fail later inside NCCL."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda was requested but CUDA is not available")
        if device.index is None:
            visible = torch.cuda.device_count()
            if local_rank >= visible:
                raise UsageError(
                    f"local rank {local_rank} has no GPU of its own: {visible} visible "
                    f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); start at most "
                    f"{visible} process(es) per node (torchrun --nproc_per_node)")
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


def init_distributed(requested_device: str = "auto", timeout_s: float = 1800.0) -> DistEnv:
    """Initialise the default process group when launched by torchrun/srun; return this process's :class:`DistEnv`."""
    launched = launcher_env()
    if launched is None:
        return DistEnv(device=pick_device(requested_device, 0))
    rank, world_size, local_rank = launched
    device = pick_device(requested_device, local_rank)
    if "RANK" not in os.environ:  # srun: env:// reads these
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(local_rank))
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        timeout = datetime.timedelta(seconds=timeout_s)
        store = attempt_store(rank, world_size, timeout)
        if store is None:
            dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world_size,
                                    timeout=timeout)
        else:
            dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world_size, timeout=timeout)
    return DistEnv(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def attempt_store(rank: int, world_size: int, timeout: datetime.timedelta):
    """Under torchrun, a store whose keys are private to this restart attempt (None otherwise).

    torchrun's agent store outlives the workers: after ``--max-restarts`` restarts them, ``env://`` would read
    the dead workers' gloo addresses and fail with "connectFullMesh ... Connection refused" (seen with torch
    2.13). Prefixing the keys with ``TORCHELASTIC_RESTART_COUNT`` gives each attempt a clean namespace.
    """
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT")
    if attempt is None:
        return None
    agent_hosts = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world_size,
                          is_master=not agent_hosts and rank == 0, timeout=timeout, multi_tenant=not agent_hosts)
    return dist.PrefixStore(f"zoo/attempt_{attempt}/", store)


def shutdown() -> None:
    """Destroy the default process group if one was created."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def rank0_first(work: Callable[[], T], timeout_s: float) -> T:
    """Rank 0 runs ``work`` (filling a cache, say) while the other ranks wait up to ``timeout_s`` seconds, then
    they run it too (reading what rank 0 left); every rank returns its own result.

    The wait is not bounded by the process group's timeout (``--dist-timeout``, meant for single collectives):
    it happens in a gloo group of its own made with ``timeout_s``. An exception of rank 0 stops the other ranks
    at once with its message instead of leaving them waiting."""
    rank, world = rank_and_world()
    if world == 1:
        return work()
    group = dist.new_group(backend="gloo", timeout=datetime.timedelta(seconds=timeout_s))
    try:
        failure, result = None, None
        if rank == 0:
            try:
                result = work()
            except Exception as exc:
                failure = exc
        box = [None if failure is None else f"{type(failure).__name__}: {failure}"]
        dist.broadcast_object_list(box, src=0, group=group)
        if failure is not None:
            raise failure
        if box[0] is not None:
            raise RuntimeError(f"rank 0 failed: {box[0]}")
        return result if rank == 0 else work()
    finally:
        dist.destroy_process_group(group)


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over all processes (no-op for a single process); returns the reduced tensor."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


# ------------------------------------------------------------------------- sharding and collecting results
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
