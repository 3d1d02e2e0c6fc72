"""``zoo.extract_features``: features of one video from any layers, in Python."""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from zoo.data.errors import VIDEO_ERROR_REASONS, VideoError
from zoo.data.transforms import Size
from zoo.extract.windows_dataset import VideoJob
from zoo.extract.engine import VideoFeatures, extract_windows
from zoo.extract.taps import parse_layers
from zoo.extract.tap_predictor import layer_predictor
from zoo.extract.windows import WindowSpec
from zoo.protocol import resolve_settings


@dataclass
class Features:
    """``arrays[layer]``: ``(W, ...)`` per window (reduced with ``reduce``); ``start``/``end``: the windows'
    ``[start, end)`` in seconds."""

    arrays: dict[str, np.ndarray]
    start: np.ndarray
    end: np.ndarray

    def __getitem__(self, layer: str) -> np.ndarray:
        return self.arrays[layer]


def window_spec_from(meta: dict | None, *, window: int | None = None, sampling_rate: int | None = None,
                     stride: int | None = None, stride_sec: float | None = None, frame_rate: float | None = None,
                     clips: int | None = None, crops: int | None = None, resize: Size = None,
                     crop_size: int | None = None, full_frame: bool = False, pad_last: bool = True,
                     classes: Sequence[str] | None = None, convolutional: bool | None = None,
                     short_videos: str | None = None, entry=None, resize_filter: str | None = None,
                     crop_rule: str | None = None, colour_rule: str | None = None, upright: bool | None = None):
    """``(WindowSpec, EvalSettings)``: the evaluator's settings resolution (arguments > weights entry >
    checkpoint metadata > VMZ defaults, protocol rules included) turned into windows: test views when
    ``clips`` is given, else sliding windows of one centre crop (``full_frame``: the whole resized frame)."""
    if clips is None and crops not in (None, 1):
        raise ValueError("several crops need test views: give clips as well (sliding windows use one crop)")
    settings = resolve_settings(meta or {}, entry, {"clip_len": window, "sampling_rate": sampling_rate,
                                                    "frame_rate": frame_rate, "resize": resize,
                                                    "crop_size": crop_size, "num_clips": clips, "num_crops": crops,
                                                    "classes": classes, "convolutional": convolutional,
                                                    "short_videos": short_videos, "resize_filter": resize_filter,
                                                    "crop_rule": crop_rule, "colour_rule": colour_rule,
                                                    "upright": upright})
    view = settings.spec
    if clips is None:
        view = dataclasses.replace(view, num_clips=1, num_crops=1)
    if full_frame:
        if view.num_crops != 1:
            raise ValueError("the whole frame is one view: no crops with full_frame")
        view = dataclasses.replace(view, crop_size=None)
    spec = WindowSpec(view, views=clips is not None, stride=stride, stride_sec=stride_sec, pad_last=pad_last)
    return spec, settings


def protocol_model(model: nn.Module, spec: WindowSpec, settings) -> nn.Module:
    """``model`` as its test protocol runs it: test views of a convolutional protocol (CSN 10x3) get Caffe2's
    convolutional head, so ``logits`` are the scores ``zoo-test`` uses (``pool5`` stays the global pool)."""
    from zoo.models.conv_head import with_test_head

    return with_test_head(model, settings.head_crop_size if spec.views else None)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the CPU for a model without tensors."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def input_shape(spec: WindowSpec) -> tuple[int, int | None, int | None]:
    """``(T, H, W)`` of the model input (``None`` sides for whole frames, whose size varies)."""
    return spec.window, spec.view.crop_size, spec.view.crop_size


def extract_features(model: nn.Module, video: str | os.PathLike, layers: str | Sequence[str] = "pool5", *,
                     window: int | None = None, stride: int | None = None, stride_sec: float | None = None,
                     sampling_rate: int | None = None, frame_rate: float | None = None, clips: int | None = None,
                     crops: int | None = None, resize: Size = None, crop_size: int | None = None,
                     full_frame: bool = False, convolutional: bool | None = None, pool_spatial: str | None = None,
                     reduce: str = "none",
                     mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                     device: str | torch.device | None = None, amp: str | None = None, batch_windows: int = 32,
                     max_memory: int | None = None, backend: str = "torch") -> Features:
    """Features of ``layers`` (names or aliases such as ``pool5``, ``logits``, ``layer3``) for every window of
    ``video``, from one forward pass per batch of windows.

    Windows: ``window`` frames at ``sampling_rate`` every ``stride`` frames (default: back to back) or
    ``stride_sec`` seconds, or the evaluator's ``clips`` x ``crops`` test views. Defaults (window, rate,
    resize, crop, mean/std) come from ``model.zoo_meta`` (checkpoints) and otherwise VMZ's test protocol;
    ``convolutional=True`` gives test views' ``logits`` from Caffe2's convolutional head.
    ``max_memory`` (bytes) runs each batch in chunks measured to fit that budget. ``device`` defaults to the
    model's own; the model is back on its device (and in its train/eval mode) when the call returns.
    """
    meta = dict(getattr(model, "zoo_meta", None) or {})
    spec, settings = window_spec_from(meta, window=window, sampling_rate=sampling_rate, stride=stride,
                                      stride_sec=stride_sec, frame_rate=frame_rate, clips=clips, crops=crops,
                                      resize=resize, crop_size=crop_size, full_frame=full_frame,
                                      convolutional=convolutional)
    mean = list(mean) if mean is not None else settings.mean
    std = list(std) if std is not None else settings.std
    results: list[VideoFeatures] = []
    home = model_device(model)
    device = home if device is None else torch.device(device)
    with contextlib.ExitStack() as stack:
        stack.callback(model.train, model.training)   # last out: after the model is back home
        stack.callback(model.to, home)                # TorchPredictor moves it to ``device``, onnx to the CPU
        predictor, tap = layer_predictor(protocol_model(model, spec, settings), parse_layers(layers), mean, std, pool_spatial=pool_spatial,
                                         device=device, amp=amp, backend=backend,
                                         input_shape=input_shape(spec), stack=stack, max_memory=max_memory)
        stack.callback(tap.remove)
        extract_windows(predictor, lambda: tap.layout, [VideoJob(0, str(video), str(video))], spec, results.append,
                        reduce=reduce, batch_windows=batch_windows, device=predictor.memory_device, max_memory=max_memory,
                        progress=False,
                        log=lambda message: None)
    result = results[0]
    if result.error is not None:
        reason, _, detail = result.error.partition(": ")
        if reason in VIDEO_ERROR_REASONS:
            raise VideoError(str(video), reason, detail)
        raise RuntimeError(f"{video}: {result.error}")
    return Features(result.features, result.start, result.end)
