"""The model side of an extraction: a :class:`~zoo.extract.taps.LayerTap` run by the evaluator's predictors
(PyTorch with optional autocast, or onnxruntime on an export of the tap)."""
from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from zoo.evaluate.predictors import OnnxPredictor, TorchPredictor
from zoo.extract.taps import LayerTap
from zoo.extract.options import BACKENDS
from zoo.options import RunOptions



def layer_predictor(model: nn.Module, layers: Sequence[str], mean: Sequence[float], std: Sequence[float], *,
                    pool_spatial: str | None = None, run: RunOptions = RunOptions(),
                    input_shape: tuple[int, int, int] | None = None, stack: contextlib.ExitStack | None = None):
    """``(predictor, tap)``: ``predictor(uint8 windows) -> (N, D)`` outputs of ``layers``; ``tap.layout`` the
    per-layer shapes once it has run. ``run`` (:class:`~zoo.options.RunOptions`): its ``device`` (default: the
    CPU), ``amp``, ``backend`` and ``max_memory``.

    ``backend="onnx"`` exports the tap (input ``(T, H, W)`` = ``input_shape``, dynamic batch) into a temporary
    folder kept open by ``stack`` and runs it with onnxruntime (CUDA provider when ``device`` is CUDA, its arena
    capped by :func:`~zoo.evaluate.memory.arena_limit` from ``max_memory``). The predictor's ``memory_device``
    is the device a memory budget measures.
    """
    backend, device = run.backend, run.device if run.device is not None else "cpu"
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        tap = LayerTap(model, layers, pool_spatial)
        return TorchPredictor(tap, mean, std, device=device, amp=run.amp), tap
    if input_shape is None or None in input_shape:
        raise ValueError("the onnx backend needs a fixed input size: give a crop size")
    from zoo.convert.onnx_export import export_module

    if stack is None:
        raise ValueError("the onnx backend needs an ExitStack to keep its exported model")
    tap = LayerTap(model.cpu().eval(), layers, pool_spatial, stop_early=False)
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zoo-extract-onnx-")))
    shape = (1, int(model_in_channels(model)), *input_shape)
    with contextlib.redirect_stdout(None):
        path = export_module(tap, folder / "tap.onnx", shape, dynamic="batch", output_name="features",
                             source="layer tap")
    with torch.inference_mode():
        tap(torch.zeros(shape))           # sets tap.layout
    from zoo.evaluate.memory import arena_limit
    from zoo.onnxrt import model_bytes

    limit = arena_limit(device, run.max_memory, model_bytes(path))
    return OnnxPredictor(path, mean, std, device=device, gpu_mem_limit=limit), tap


def model_in_channels(model: nn.Module) -> int:
    """Input channels of the model's first convolution (3 for RGB, 2 for optical flow)."""
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            return module.in_channels
    return 3
