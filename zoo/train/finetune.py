"""Fine-tuning controls: per-prefix learning-rate multipliers and frozen BatchNorm."""
from __future__ import annotations

import torch.nn as nn


class TrainConfigError(ValueError):
    """A command line or dataset that cannot be trained on (reported before training starts)."""


def set_train_mode(model: nn.Module, freeze_bn: bool) -> None:
    """``model.train()``, keeping BatchNorm layers in eval mode when their statistics are frozen."""
    model.train()
    if freeze_bn:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def freeze_batchnorm(model: nn.Module) -> None:
    """Stop training BatchNorm affine parameters (statistics are frozen by :func:`set_train_mode`)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            for p in module.parameters():
                p.requires_grad_(False)


def param_groups(model: nn.Module, lr: float, lr_mults: list[tuple[str, float]]) -> list[dict]:
    """SGD parameter groups: ``lr`` times the factor of the longest matching ``--lr-mult`` prefix.

    Parameters with factor 0 are frozen (``requires_grad=False``) rather than given a zero lr.
    """
    by_factor: dict[float, list[nn.Parameter]] = {}
    prefixes = sorted(lr_mults, key=lambda kv: len(kv[0]), reverse=True)
    used = set()
    for name, param in model.named_parameters():
        factor = 1.0
        for prefix, value in prefixes:
            if name == prefix or name.startswith(prefix.rstrip(".") + "."):
                factor = value
                used.add(prefix)
                break
        if factor == 0:
            param.requires_grad_(False)
        if param.requires_grad:
            by_factor.setdefault(factor, []).append(param)
    unknown = [p for p, _ in lr_mults if p not in used]
    if unknown:
        raise TrainConfigError(f"--lr-mult: no parameter name starts with {', '.join(unknown)} "
                               f"(top-level modules: {', '.join(n for n, _ in model.named_children())})")
    if not by_factor:
        raise TrainConfigError("every parameter is frozen: nothing to train")
    return [{"params": params, "lr": lr * factor, "lr_mult": factor} for factor, params in sorted(by_factor.items())]
