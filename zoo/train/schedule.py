"""Per-iteration learning-rate schedules: warm-up (linear or constant) then multi-step or cosine decay.

The factor is a closed-form function of the optimizer step, so a resumed run gets exactly the same values
(the scheduler's state is only its step counter). With ``warmup_decay = d`` and ``W`` warm-up iterations:

* linear warm-up: ``d + (1 - d) * t / W`` for ``t < W`` (torch ``LinearLR(start_factor=d, total_iters=W)``);
* constant warm-up: ``d`` for ``t < W`` (torch ``ConstantLR(factor=d, total_iters=W)``);
* multistep: ``gamma ** #{m : t >= m * iters_per_epoch}`` with milestones in absolute epochs, which is what the
  torchvision reference's ``SequentialLR(warmup, MultiStepLR(milestones - warmup_epochs))`` amounts to;
* cosine: ``0.5 * (1 + cos(pi * (t - W) / (T - W)))`` after the warm-up, reaching 0 at the last step ``T``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

if TYPE_CHECKING:   # torch is imported when a scheduler is built (zoo-train --help stays fast)
    import torch

#: learning rate per process of the torchvision recipe when --lr is not given (0.64 over 64 GPUs)
LR_PER_PROCESS = 0.01

WARMUP_METHODS = ("linear", "constant")
SCHEDULERS = ("multistep", "cosine")


@dataclass(frozen=True)
class LRSchedule:
    """Learning-rate factor as a function of the optimizer step (an iteration counted from 0)."""

    iters_per_epoch: int
    epochs: int
    warmup_epochs: float = 0.0
    warmup_method: str = "linear"
    warmup_decay: float = 0.001
    scheduler: str = "multistep"
    milestones: tuple[float, ...] = field(default_factory=tuple)
    gamma: float = 0.1

    def __post_init__(self):
        if self.warmup_method not in WARMUP_METHODS:
            raise ValueError(f"--lr-warmup-method must be one of {WARMUP_METHODS}, got {self.warmup_method!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"--lr-scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        if self.iters_per_epoch < 1:
            raise ValueError("the schedule needs at least one optimizer step per epoch")

    @property
    def warmup_iters(self) -> int:
        return int(round(self.warmup_epochs * self.iters_per_epoch))

    @property
    def total_iters(self) -> int:
        return self.epochs * self.iters_per_epoch

    def __call__(self, step: int) -> float:
        warmup = self.warmup_iters
        if step < warmup:
            if self.warmup_method == "constant":
                return self.warmup_decay
            return self.warmup_decay + (1.0 - self.warmup_decay) * step / warmup
        if self.scheduler == "cosine":
            span = max(1, self.total_iters - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup, span) / span))
        passed = sum(step >= round(m * self.iters_per_epoch) for m in self.milestones)
        return self.gamma ** passed


def build_scheduler(optimizer: torch.optim.Optimizer, schedule: LRSchedule) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` applying ``schedule`` to every parameter group (per-group base lrs are kept)."""
    import torch

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=schedule)
