"""Callables mapping uint8 views ``(N, T, H, W, 3)`` to float32 logits ``(N, C)`` on the CPU.

:class:`TorchPredictor` runs a zoo model (optionally under bf16/fp16 autocast); :class:`OnnxPredictor`
runs an exported model with onnxruntime. Both normalise with the checkpoint's mean/std (0-1 scale) only
when a chunk runs, so decoded views stay uint8 until then. ``TorchPredictor(..., train_crop_size=N)`` uses
Caffe2's convolutional test head (:mod:`zoo.models.conv_head`) instead of the global pool.
"""
from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import torch

from zoo.amp import amp_dtype, check_amp
from zoo.data.transforms import normalize
from zoo.models.conv_head import ConvolutionalClassifier, with_test_head
from zoo.onnxrt import arena_full, arena_shrink_options, create_session


class TorchPredictor:
    """A zoo ``nn.Module`` on ``device`` in eval mode; ``__call__`` -> logits, ``features`` -> pooled features.

    With ``train_crop_size`` (the crop the model was trained on) the logits come from the convolutional test
    head: stride-1 pooling with the training kernel and the classifier at every position."""

    def __init__(self, model: torch.nn.Module, mean: Sequence[float], std: Sequence[float],
                 device: str | torch.device = "cpu", amp: str | None = None, train_crop_size: int | None = None):
        amp_dtype(amp)   # ValueError on an unknown name, before any work
        check_amp(amp, device)
        model = with_test_head(model, train_crop_size)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.mean, self.std = list(mean), list(std)
        self.amp = amp

    @property
    def memory_device(self) -> torch.device:
        """Where the model's working memory lives (what a memory budget measures)."""
        return self.device

    def _autocast(self):
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=amp_dtype(self.amp))

    def _input(self, views: torch.Tensor) -> torch.Tensor:
        views = views.to(self.device, non_blocking=True)
        return normalize(views, self.mean, self.std)

    @torch.inference_mode()
    def __call__(self, views: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            logits = self.model(self._input(views))
        return logits.float().cpu()

    @torch.inference_mode()
    def features(self, views: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features ``(N, D)`` (``model.forward_features``)."""
        with self._autocast():
            feats = self.model.forward_features(self._input(views))
        return feats.float().cpu()

    @torch.inference_mode()
    def features_and_logits(self, views: torch.Tensor) -> torch.Tensor:
        """``(N, D + C)``: pooled features then logits from one forward pass (logits = ``model.fc(features)``,
        exact for zoo models in eval mode, or the convolutional head's)."""
        with self._autocast():
            x = self._input(views)
            if isinstance(self.model, ConvolutionalClassifier):
                feats, logits = self.model.features_and_logits(x)
            else:
                feats = self.model.forward_features(x)
                logits = self.model.fc(feats)
        return torch.cat([feats, logits], dim=1).float().cpu()


class OnnxPredictor:
    """An ONNX model (input ``(N, 3, T, H, W)`` float32) run by onnxruntime (:mod:`zoo.onnxrt`) on ``device``:
    the CPU, or the CUDA provider on that GPU, with its arena capped at ``gpu_mem_limit`` bytes when given.

    Inputs are fed from host memory (``device`` is the CPU); ``memory_device`` is where the model's working
    memory lives, measured by free-memory deltas (``memory_source = "device"``): onnxruntime's arena is
    invisible to torch's allocator statistics."""

    memory_source = "device"

    def __init__(self, path, mean: Sequence[float], std: Sequence[float], device: str | torch.device = "cpu",
                 gpu_mem_limit: int | None = None):
        """``gpu_mem_limit``: see :func:`zoo.evaluate.memory.arena_limit`."""
        self.memory_device = torch.device(device) if torch.device(device).type == "cuda" else torch.device("cpu")
        self.session = create_session(path, self.memory_device, gpu_mem_limit)
        self.device = torch.device("cpu")
        self.input_name = self.session.get_inputs()[0].name
        self.mean, self.std = list(mean), list(std)
        self._shrink = False

    def release_memory(self) -> None:
        """Have the next run hand the arena's free memory back to the device (after an out-of-memory error:
        freeing torch's cache or the host heap does not shrink onnxruntime's arena)."""
        self._shrink = True

    def __call__(self, views: torch.Tensor) -> torch.Tensor:
        x = normalize(views, self.mean, self.std)
        x = np.ascontiguousarray(x.numpy() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
        options = arena_shrink_options(self.memory_device) if self._shrink else None
        self._shrink = False
        try:
            (logits,) = self.session.run(None, {self.input_name: x}, options)[:1]
        except Exception as exc:  # noqa: BLE001 - onnxruntime has no exception type for a full arena
            if arena_full(exc):
                raise MemoryError(f"onnxruntime on {self.memory_device}: {exc}") from exc
            raise
        return torch.from_numpy(np.asarray(logits, dtype=np.float32))
