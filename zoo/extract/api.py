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
from zoo.extract.windows_dataset import VideoJob
from zoo.extract.engine import VideoFeatures, extract_windows
from zoo.extract.options import WindowRequest
from zoo.extract.taps import parse_layers
from zoo.extract.tap_predictor import layer_predictor
from zoo.extract.windows import WindowSpec
from zoo.options import RunOptions, fold_keywords
from zoo.protocol.settings import resolve_settings


@dataclass
class Features:
    """``arrays[layer]``: ``(W, ...)`` per window (reduced with ``reduce``); ``start``/``end``: the windows'
    ``[start, end)`` in seconds."""

    arrays: dict[str, np.ndarray]
    start: np.ndarray
    end: np.ndarray

    def __getitem__(self, layer: str) -> np.ndarray:
        return self.arrays[layer]


def window_spec_from(meta: dict | None, request: WindowRequest = WindowRequest(), entry=None):
    """``(WindowSpec, EvalSettings)`` of ``request``: the evaluator's settings resolution (request > weights
    ``entry`` > checkpoint ``meta`` > VMZ defaults, protocol rules included) turned into windows: test views when
    the request gives clips, else sliding windows of one centre crop (``full_frame``: the whole resized frame);
    the settings carry the request's ``mean``/``std`` when it gives them."""
    settings = resolve_settings(meta or {}, entry, request.protocol_overrides())
    view = settings.spec
    if not request.views:
        view = dataclasses.replace(view, num_clips=1, num_crops=1)
    if request.full_frame:
        if view.num_crops != 1:
            raise ValueError("the whole frame is one view: no crops with full_frame")
        view = dataclasses.replace(view, crop_size=None)
    if request.mean is not None:
        settings.mean = list(request.mean)
    if request.std is not None:
        settings.std = list(request.std)
    spec = WindowSpec(view, views=request.views, stride=request.stride, stride_sec=request.stride_sec,
                      pad_last=request.pad_last)
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
                     pool_spatial: str | None = None, reduce: str = "none", batch_windows: int = 32,
                     windows: WindowRequest | None = None, run: RunOptions | None = None, **keywords) -> Features:
    """Features of ``layers`` (names or aliases such as ``pool5``, ``logits``, ``layer3``) for every window of
    ``video``, from one forward pass per ``batch_windows`` windows (``pool_spatial``: pool maps over H and W;
    ``reduce``: over the windows).

    What is read (:class:`~zoo.extract.options.WindowRequest`): ``window`` frames at ``sampling_rate`` every
    ``stride`` frames (default: back to back) or ``stride_sec`` seconds, or the evaluator's ``clips`` x
    ``crops`` test views. Defaults (window, rate, resize, crop, mean/std) come from ``model.zoo_meta``
    (checkpoints) and otherwise VMZ's test protocol; ``convolutional=True`` gives test views' ``logits`` from
    Caffe2's convolutional head. How it runs (:class:`~zoo.options.RunOptions`): ``device`` (default: the
    model's own), ``amp``, ``backend``; ``max_memory`` (bytes) runs each batch in chunks measured to fit that
    budget. Each field may be given as a keyword of its own (``window=16, stride=8, device="cuda"``) or as the
    record (``windows=WindowRequest(...)``). The model is back on its device (and in its train/eval mode) when
    the call returns.
    """
    windows, run = fold_keywords("extract_features", keywords, windows or WindowRequest(), run or RunOptions.quiet())
    spec, settings = window_spec_from(getattr(model, "zoo_meta", None), windows)
    results: list[VideoFeatures] = []
    home = model_device(model)
    run = dataclasses.replace(run, device=home if run.device is None else torch.device(run.device))
    with contextlib.ExitStack() as stack:
        stack.callback(model.train, model.training)   # last out: after the model is back home
        stack.callback(model.to, home)                # TorchPredictor moves it to ``device``, onnx to the CPU
        predictor, tap = layer_predictor(protocol_model(model, spec, settings), parse_layers(layers), settings.mean,
                                         settings.std, pool_spatial=pool_spatial, run=run,
                                         input_shape=input_shape(spec), stack=stack)
        stack.callback(tap.remove)
        extract_windows(predictor, lambda: tap.layout, [VideoJob(0, str(video), str(video))], spec, results.append,
                        reduce=reduce, batch_windows=batch_windows,
                        run=dataclasses.replace(run, device=predictor.memory_device))
    result = results[0]
    if result.error is not None:
        reason, _, detail = result.error.partition(": ")
        if reason in VIDEO_ERROR_REASONS:
            raise VideoError(str(video), reason, detail)
        raise RuntimeError(f"{video}: {result.error}")
    return Features(result.features, result.start, result.end)
