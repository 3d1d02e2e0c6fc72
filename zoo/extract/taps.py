"""Outputs of any layers of a model from one forward pass (forward hooks), by name.

Names are the module names of the model (torchvision style: ``stem``, ``layer1``..``layer4``, ``avgpool``,
``fc``, or any nested name such as ``layer3.1``) and these aliases:

* ``pool5``, ``avgpool``, ``final_avg`` (VMZ's blob): the global average pool, i.e. ``model.forward_features``;
* ``logits``, ``fc``, ``last_out_L{N}`` (VMZ's blob, N = the number of classes): the classifier;
* ``softmax``: the classifier's output through a softmax.

:class:`LayerTap` wraps a model: ``tap(x)`` runs the model once and returns every requested output flattened
and concatenated, ``(N, D1 + D2 + ...)``, which is what the evaluator's chunked runners and the ONNX exporter
handle; :func:`split_outputs` cuts it back into one array per layer (``tap.layout`` has the shapes). The
forward pass stops as soon as the last requested layer has run. Spatial maps ``(N, C, T, H, W)`` keep their
shape, or with ``pool_spatial`` lose H and W (mean or max) to ``(N, C, T)``; a map whose T, H and W are all 1
(the global pool) becomes ``(N, C)``.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import torch
from torch import nn
from zoo.extract.options import POOL_SPATIAL

ALIASES = {"pool5": ("avgpool", "pool5_fit"), "final_avg": ("avgpool", "pool5_fit"), "avgpool": ("avgpool",),
           "logits": ("fc",), "fc": ("fc",), "softmax": ("fc",)}
_LAST_OUT = re.compile(r"^last_out_L(\d+)$")


class _Done(Exception):
    """Raised by the last hook: the rest of the forward pass is not needed."""


def resolve_layer(model: nn.Module, name: str) -> str:
    """The module name that ``name`` (a module name or an alias) refers to in ``model``."""
    modules = dict(model.named_modules())
    match = _LAST_OUT.match(name)
    if match:
        fc = modules.get("fc")
        classes = getattr(fc, "out_features", None)
        if classes is not None and classes != int(match.group(1)):
            raise ValueError(f"layer {name!r}: the model has {classes} classes, so its classifier is "
                             f"last_out_L{classes}")
        candidates: Sequence[str] = ("fc",)
    else:
        candidates = ALIASES.get(name, (name,))
    for candidate in candidates:   # a wrapper (e.g. the convolutional test head) keeps the network as `model`
        for name_in_model in (candidate, f"model.{candidate}"):
            if name_in_model in modules and candidate != "":
                return name_in_model
    tops = ", ".join(n for n, _ in model.named_children())
    raise ValueError(f"unknown layer {name!r}: not a module of {type(model).__name__} (its top-level modules: "
                     f"{tops}; aliases: pool5, final_avg, logits, last_out_L<classes>, softmax)")


def parse_layers(text: str | Sequence[str]) -> list[str]:
    """``"pool5,logits"`` or a list -> the distinct names in order."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    if not names:
        raise ValueError("no layers given (e.g. --layers pool5 or pool5,logits)")
    if len(set(names)) != len(names):
        raise ValueError(f"layer named twice in {','.join(names)}")
    return names


class LayerTap(nn.Module):
    """``model`` with forward hooks on the requested layers; ``forward`` -> ``(N, sum of sizes)`` float."""

    def __init__(self, model: nn.Module, layers: Sequence[str], pool_spatial: str | None = None,
                 stop_early: bool = True):
        super().__init__()
        if pool_spatial not in (None, *POOL_SPATIAL):
            raise ValueError(f"pool_spatial must be one of {POOL_SPATIAL} or None, got {pool_spatial!r}")
        self.model = model
        self.layers = parse_layers(layers)
        self.pool_spatial = pool_spatial
        self.stop_early = stop_early
        self.modules_of = {name: resolve_layer(model, name) for name in self.layers}
        self.layout: list[tuple[str, tuple[int, ...]]] | None = None
        self._captured: dict[str, torch.Tensor] = {}
        modules = dict(model.named_modules())
        self._handles = [modules[m].register_forward_hook(self._hook(m)) for m in dict.fromkeys(
            self.modules_of.values())]

    def _hook(self, module_name: str):
        names = [n for n in self.layers if self.modules_of[n] == module_name]

        def hook(module, inputs, output):
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"layer {module_name!r} returns {type(output).__name__}, not a tensor")
            if names[0] in self._captured:
                raise ValueError(f"layer {module_name!r} runs more than once per forward pass (a shared module): "
                                 "pick a layer that runs once")
            for name in names:
                shaped = self._shape(name, output)
                # later in-place ops (ReLU(inplace=True)) must not change what was captured
                fresh = name == "softmax" or (output.dim() == 5 and self.pool_spatial is not None)
                self._captured[name] = shaped if fresh else shaped.clone()
            if self.stop_early and len(self._captured) == len(self.layers):
                raise _Done
        return hook

    def _shape(self, name: str, out: torch.Tensor) -> torch.Tensor:
        if name == "softmax":
            out = torch.softmax(out.float(), dim=1)
        if out.dim() == 5:
            if self.pool_spatial == "mean":
                out = out.mean(dim=(3, 4))
            elif self.pool_spatial == "max":
                out = out.amax(dim=(3, 4))
            if all(s == 1 for s in out.shape[2:]):
                out = out.flatten(1)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._captured = {}
        try:
            self.model(x)
        except _Done:
            pass
        captured, self._captured = self._captured, {}
        missing = [self.modules_of[n] for n in self.layers if n not in captured]
        if missing:
            raise ValueError(f"layer(s) {', '.join(missing)} did not run in the forward pass")
        outs = [captured[name] for name in self.layers]
        self.layout = [(name, tuple(int(s) for s in o.shape[1:])) for name, o in zip(self.layers, outs)]
        return torch.cat([o.float().reshape(o.shape[0], -1) for o in outs], dim=1)

    def remove(self) -> None:
        """Take the hooks off the wrapped model."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


def split_outputs(flat: np.ndarray | torch.Tensor, layout: Sequence[tuple[str, tuple[int, ...]]]
                  ) -> dict[str, np.ndarray]:
    """Cut ``(N, D1 + D2 + ...)`` back into ``{layer: (N, *shape)}`` float32 arrays."""
    flat = flat.numpy() if isinstance(flat, torch.Tensor) else np.asarray(flat)
    out, offset = {}, 0
    for name, shape in layout:
        size = int(np.prod(shape)) if shape else 1
        out[name] = np.ascontiguousarray(flat[:, offset:offset + size], dtype=np.float32).reshape(
            flat.shape[0], *shape)
        offset += size
    if offset != flat.shape[1]:
        raise ValueError(f"outputs have {flat.shape[1]} values per window, the layers {offset}")
    return out
