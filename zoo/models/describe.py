"""Parameter and multiply-add counts, with VMZ's counting rule.

VMZ (``GetFlopsAndParams``) counts multiply-accumulates as conv weights x output positions plus FC weights,
and "params" as conv + FC weights; BatchNorm, biases, pooling and activations are not counted.
Shapes are traced on the ``meta`` device, so even 152-layer models at 32x256x256 take a moment.
"""
from __future__ import annotations

import copy
import math

from typing import TYPE_CHECKING

if TYPE_CHECKING:   # torch is imported when a model is described (`import zoo` stays light)
    from torch import nn


def _shape_only(model: nn.Module) -> nn.Module:
    """``model`` itself when it already lives on ``meta`` (tracing leaves it as it was), else a twin on ``meta``."""
    if all(p.is_meta for p in model.parameters()):
        return model
    config = getattr(model, "zoo_config", None)
    if config is not None:
        from zoo.models.meta import build_meta_model
        return build_meta_model(config["arch"], config["num_classes"], **config["options"]).eval()
    return copy.deepcopy(model).to("meta").eval()


def describe(model: nn.Module, input_shape: tuple[int, ...] = (1, 3, 8, 112, 112)) -> dict:
    """``params`` (all trainable), ``weights`` (conv + FC weights, VMZ "params"), ``macs`` per clip at
    ``input_shape`` (N, 3, T, H, W), and the output shape."""
    import torch
    from torch import nn

    params = sum(p.numel() for p in model.parameters())
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv3d, nn.Linear)))
    traced = _shape_only(model)
    total = [0]

    def hook(module: nn.Module, inputs, output) -> None:
        positions = math.prod(output.shape[2:]) if isinstance(module, nn.Conv3d) else math.prod(output.shape[1:-1])
        total[0] += module.weight.numel() * positions

    handles = [m.register_forward_hook(hook) for m in traced.modules() if isinstance(m, (nn.Conv3d, nn.Linear))]
    try:
        with torch.no_grad():
            out = traced(torch.empty(input_shape, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return {"params": params, "weights": weights, "macs": total[0] // input_shape[0],
            "input_shape": tuple(input_shape), "output_shape": tuple(out.shape)}
