"""Safetensors checkpoints whose metadata fully describes the model.

The file's metadata has one key, ``"zoo"``, holding JSON: ``format_version``, ``arch``, ``num_classes``,
``options`` (the builder options), the fields of a :class:`zoo.records.Preprocessing` record (``clip_len``,
``sampling_rate``, ``frame_rate``, ``resize``, ``crop_size``, ``mean``, ``std`` in 0-1 scale, ``classes``,
``label_set``; checked on writing, read back with :func:`read_preprocessing`) and ``provenance`` (``file``:
the converted file's name, ``weights``: the registry name, ``sha256``, ``tool``...).
:func:`load_checkpoint` rebuilds the model from the file alone.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file
from torch import nn

from zoo._io import atomic_path
from zoo.guards import require_file
from zoo.limits import MAX_CLASSES
from zoo.records import Preprocessing

META_KEY = "zoo"
FORMAT_VERSION = 1
_RESERVED = {"format_version", "arch", "num_classes", "options"}


class WeightMismatchError(ValueError):
    """Weights that do not fit a model: lists every missing, unexpected and wrongly shaped key."""

    def __init__(self, source: str, missing: list[str], unexpected: list[str],
                 mismatched: list[tuple[str, tuple, tuple]]):
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        parts = []
        if missing:
            parts.append(f"missing ({len(missing)}): " + ", ".join(missing))
        if unexpected:
            parts.append(f"unexpected ({len(unexpected)}): " + ", ".join(unexpected))
        if mismatched:
            parts.append(f"wrong shape ({len(mismatched)}): " + ", ".join(
                f"{k} file {tuple(a)} vs model {tuple(b)}" for k, a, b in mismatched))
        super().__init__(f"{source}: weights do not fit the model: " + "; ".join(parts))


def check_weights(expected: Mapping[str, Any], given: Mapping[str, Any], source: str = "weights",
                  optional: tuple[str, ...] = ()) -> None:
    """Raise :class:`WeightMismatchError` unless ``given`` has exactly the keys and shapes of ``expected``.

    Keys ending with a suffix in ``optional`` (e.g. BN counters) may be absent from ``given``.
    """
    missing = [k for k in expected if k not in given and not (optional and k.endswith(optional))]
    unexpected = [k for k in given if k not in expected]
    mismatched = [(k, tuple(given[k].shape), tuple(v.shape)) for k, v in expected.items()
                  if k in given and tuple(given[k].shape) != tuple(v.shape)]
    if missing or unexpected or mismatched:
        raise WeightMismatchError(source, missing, unexpected, mismatched)


def load_weights(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "weights",
                 skip: tuple[str, ...] = ()) -> None:
    """Strictly load ``state_dict`` into ``model``; keys starting with a prefix in ``skip`` are left as they are.

    Raises :class:`WeightMismatchError` listing all problems at once.
    """
    expected = {k: v for k, v in model.state_dict().items() if not (skip and k.startswith(skip))}
    given = {k: v for k, v in state_dict.items() if not (skip and k.startswith(skip))}
    check_weights(expected, given, source)
    model.load_state_dict(dict(given), strict=not skip)


def _json_ready(meta: dict, path: Path) -> str:
    try:
        return json.dumps(meta, sort_keys=True)
    except TypeError as exc:
        raise TypeError(f"{path}: checkpoint metadata must be JSON-serialisable ({exc})") from None


def write_checkpoint(tensors: Mapping[str, torch.Tensor | np.ndarray], path: str | os.PathLike, config: dict,
                     **meta: Any) -> Path:
    """Write a state dict (torch tensors, or numpy arrays written without a copy) with its metadata, atomically.

    ``config`` is a model's ``zoo_config`` (arch, num_classes, options); :func:`save_checkpoint` is the usual
    entry point, this one serves converters that already hold validated arrays.
    """
    path = Path(path)
    clash = _RESERVED & set(meta)
    if clash:
        raise ValueError(f"{path}: metadata keys {sorted(clash)} are set from the model and cannot be overridden")
    Preprocessing.from_dict(meta, str(path))    # a malformed preprocessing field is an error now, not at reading
    document = {**meta, "format_version": FORMAT_VERSION, **config}
    metadata = {META_KEY: _json_ready(document, path), "format": "pt"}
    with atomic_path(path) as tmp:
        if all(isinstance(v, np.ndarray) for v in tensors.values()):
            save_numpy(dict(tensors), str(tmp), metadata=metadata)
        else:
            save_file({k: torch.as_tensor(v).detach().to("cpu").contiguous() for k, v in tensors.items()},
                      str(tmp), metadata=metadata)
    return path


def unwrap_model(model: nn.Module) -> nn.Module:
    """The zoo model under its wrappers: DDP / DataParallel (``.module``) and ``torch.compile``
    (``._orig_mod``), in any nesting. Their state dicts prefix every key (``module.``, ``_orig_mod.``)."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def save_checkpoint(model: nn.Module, path: str | os.PathLike, **meta: Any) -> Path:
    """Write ``model`` (built by :func:`zoo.create_model`, possibly wrapped by DDP or ``torch.compile``) and
    ``meta`` to a safetensors file, atomically."""
    model = unwrap_model(model)
    config = getattr(model, "zoo_config", None)
    if config is None:
        raise TypeError("save_checkpoint needs a model built by zoo.create_model (it has no zoo_config)")
    base = {k: v for k, v in (getattr(model, "zoo_meta", {}) or {}).items() if k not in _RESERVED}
    return write_checkpoint(model.state_dict(), path, config, **{**base, **meta})


def read_checkpoint_meta(path: str | os.PathLike) -> dict:
    """The metadata document of a zoo checkpoint (no tensors are read)."""
    path = require_file(path, "checkpoint file")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from None
    if raw is None:
        raise ValueError(f"{path}: safetensors file without zoo metadata; convert it with `zoo-convert` first")
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: corrupt zoo metadata ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: zoo metadata is a JSON {type(meta).__name__}, not an object")
    version = meta.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"{path}: zoo metadata format_version must be an integer, not {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: checkpoint format {version} is newer than this zoo ({FORMAT_VERSION}); upgrade "
                         "the package")
    for key in ("arch", "num_classes"):
        if key not in meta:
            raise ValueError(f"{path}: zoo metadata lacks {key!r}")
    num_classes = meta["num_classes"]
    if not isinstance(meta["arch"], str):
        raise ValueError(f"{path}: zoo metadata arch must be a model name, not {meta['arch']!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or not 1 <= num_classes <= MAX_CLASSES:
        raise ValueError(f"{path}: zoo metadata num_classes must be an integer in 1..{MAX_CLASSES}, "
                         f"not {num_classes!r}")
    if not isinstance(meta.get("options", {}), dict):
        raise ValueError(f"{path}: zoo metadata options must be an object, not {meta['options']!r}")
    return meta


def read_preprocessing(path: str | os.PathLike) -> Preprocessing:
    """The preprocessing record stored in a zoo checkpoint."""
    return Preprocessing.from_dict(read_checkpoint_meta(path), str(path))


def read_state_dict(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file."""
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as fh:
            return {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{path}: cannot read tensors ({exc})") from None


def tensor_shapes(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor of a safetensors file (no tensor data is read)."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{path}: cannot read tensors ({exc})") from None


class _Shape:
    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape


def check_checkpoint(path: str | os.PathLike, meta: dict | None = None) -> dict:
    """``meta`` (default: the file's metadata) checked against the tensors the file holds, before any model is
    built: the metadata's model, built with shapes only, must have exactly the file's names and shapes (the
    shapes imply the widths, so a forged ``channel_multiplier`` or ``num_classes`` is caught here instead of
    allocating gigabytes). Returns the metadata; ``ValueError`` (:class:`WeightMismatchError`) names the file."""
    from zoo.models.meta import build_meta_model

    meta = read_checkpoint_meta(path) if meta is None else meta
    shapes = tensor_shapes(path)
    if not shapes:
        raise ValueError(f"{path}: holds no tensors; it is not a model checkpoint")
    try:
        model = build_meta_model(meta["arch"], meta["num_classes"], **meta.get("options", {}))
    except (TypeError, ValueError, OverflowError, RuntimeError) as exc:
        raise ValueError(f"{path}: its metadata describes no model this zoo builds: {exc}") from None
    check_weights(model.state_dict(), {k: _Shape(v) for k, v in shapes.items()}, str(path),
                  optional=("num_batches_tracked",))   # BN counters: not weights, some converters leave them out
    return meta


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model stored in ``path`` (eval mode); its metadata is on ``model.zoo_meta``."""
    from zoo.models import build_model

    meta = check_checkpoint(path)
    model = build_model(meta["arch"], meta["num_classes"], **meta.get("options", {}))
    load_weights(model, read_state_dict(path), source=str(path))
    model.zoo_meta = meta
    return model.to(device).eval()
