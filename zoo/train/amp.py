"""Mixed-precision training guards.

torch 2.13's oneDNN (mkldnn) kernel for the *weight gradient* of a bfloat16 ``Conv3d`` on CPU returns garbage
(uninitialised memory: values up to 1e38, inf or NaN, different on every call) when the temporal padding
reaches past a short time axis, e.g. a (3, 1, 1) kernel with padding 1 over 2 frames, or (5, 1, 1) with
padding 2 over 2 or 4 frames. R(2+1)D/R3D/CSN hit exactly these shapes in their deeper layers with short
clips. The forward pass and the input gradient are correct, and float32 and CUDA are not affected.
``zoo-train --amp bf16`` on CPU therefore runs its steps with oneDNN switched off, on PyTorch's own kernels.
"""
from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def _onednn_disabled():
    # only the switch itself: torch.backends.mkldnn.flags() also resets TF32 and warns about Intel GPUs
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


def bf16_cpu_guard(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Context for one forward+backward step: oneDNN off for bfloat16 on CPU, nothing otherwise."""
    if device.type == "cpu" and dtype == torch.bfloat16:
        return _onednn_disabled()
    return contextlib.nullcontext()
