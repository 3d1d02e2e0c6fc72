"""The conversions behind ``zoo-convert``: legacy pickles/MiniDBs/``.pth`` files <-> zoo checkpoints.

Every function writes its output atomically and returns the output path. Weights never get copied more
than needed: the model is built on the ``meta`` device and the loaded arrays are assigned to it.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import nn

from zoo._io import sha256_of
from zoo.checkpoint import check_checkpoint, check_weights, write_checkpoint
from zoo.guards import refuse_same_file
from zoo.convert.blobmap import (ArchGuess, BlobMappingError, blob_name_map, filter_blobs, infer_arch,
                                 match_blobs, num_classes_of, state_to_blobs)
from zoo.convert.minidb import read_minidb_contents, unscope_blobs, write_minidb
from zoo.convert.pickle_io import blobs_from_pickle, load_pickle, save_pickle
from zoo.convert.pth import pth_blobs, read_pth_state
from zoo.models import build_meta_model, model_family

log = logging.getLogger(__name__)


def provenance(path: str | os.PathLike, fmt: str, tool: str, extra: Mapping[str, Any] | None = None,
               sha256: str | None = None) -> dict:
    """The ``provenance`` metadata entry for a converted file (``file``: its name; the hub adds ``weights``,
    the registry name)."""
    path = Path(path)
    return {"file": path.name, "format": fmt, "sha256": sha256 or sha256_of(path), "tool": f"zoo-convert {tool}",
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), **(extra or {})}


class _BackgroundHash:
    """SHA-256 of a file computed in a thread (hashlib releases the GIL) while the caller parses it."""

    def __init__(self, path: str | os.PathLike):
        self._result: str | None = None
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True)
        self._thread.start()

    def _run(self, path: str | os.PathLike) -> None:
        try:
            self._result = sha256_of(path)
        except OSError as exc:   # the input vanished (e.g. a failed download was cleaned up): report on value()
            self._error = exc

    def value(self) -> str | None:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


# --------------------------------------------------------------------------------------- blobs -> model
def _tensor(arr: np.ndarray, like: torch.Tensor, copy: bool) -> torch.Tensor:
    if copy or not arr.flags.writeable:
        if not copy:   # read-only buffers (pickle bytes) are safe to alias for a one-shot save
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                t = torch.from_numpy(arr)
        else:
            t = torch.from_numpy(np.array(arr, copy=True))
    else:
        t = torch.from_numpy(arr)
    return t if t.dtype == like.dtype else t.to(like.dtype)


def assign_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """Give a meta-device ``model`` the tensors of ``state`` (no copy); BN counters default to 0."""
    full = dict(state)
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in full:
            full[key] = torch.zeros((), dtype=value.dtype)
    model.load_state_dict(full, strict=True, assign=True)
    return model.eval()


def resolve_arch(blobs: Mapping[str, np.ndarray], arch: str = "auto",
                 options: Mapping[str, Any] | None = None) -> ArchGuess:
    """Architecture for ``blobs``: inferred (``arch='auto'``) or named; explicit ``options`` win."""
    guess = infer_arch(blobs)
    if arch != "auto" and arch != guess.arch:
        guess.notes.append(f"blobs look like {guess.arch}; using {arch} as requested")
        visible = {k: v for k, v in guess.options.items() if k in ("channel_multiplier", "clip_len",
                                                                     "conv1_temporal_kernel", "midplanes")}
        if model_family(arch) in ("ir_csn", "ip_csn"):
            visible["use_pool1"] = True
        if model_family(arch) not in ("r2plus1d",):
            visible.pop("midplanes", None)
        if model_family(arch) == "c3d":
            visible = {k: v for k, v in visible.items() if k == "channel_multiplier"}
        guess = ArchGuess(arch, num_classes_of(blobs), visible, guess.notes)
    if "use_pool1" in (options or {}):
        guess.notes = [n for n in guess.notes if not n.startswith("use_pool1")]
    guess.options.update(options or {})
    return guess


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    return np.dtype(str(dtype).replace("torch.", ""))


def _validated_state(blobs: Mapping[str, np.ndarray], arch: str, options: Mapping[str, Any] | None,
                     source: str) -> tuple[nn.Module, dict[str, np.ndarray], list[str]]:
    """Check ``blobs`` strictly against the model they describe (every blob used exactly once).

    Returns the shape-only (meta) model, its state dict as numpy arrays in the model's order and dtypes (the
    blobs themselves where dtypes already match; BN counters zero), and the conversion notes.
    Raises :class:`BlobMappingError` listing missing, left-over and mis-shaped blobs with hints.
    """
    try:
        guess = resolve_arch(blobs, arch, options)
    except BlobMappingError as exc:
        raise BlobMappingError(f"{source}: {exc}") from None
    model = build_meta_model(guess.arch, guess.num_classes, **guess.options)
    meta_state = model.state_dict()
    names = blob_name_map(meta_state.keys(), guess.arch, guess.num_classes)
    match_blobs(blobs, {blob: tuple(meta_state[key].shape) for key, blob in names.items()}, source, guess.arch)
    state = {}
    for key, like in meta_state.items():
        if key in names:
            # C order and native byte order, as safetensors needs; no copy when the blob already is
            state[key] = np.require(blobs[names[key]], dtype=_numpy_dtype(like.dtype), requirements="C")
        elif key.endswith("num_batches_tracked"):
            state[key] = np.zeros((), _numpy_dtype(like.dtype))
        else:
            raise BlobMappingError(f"{source}: no Caffe2 blob name for {key} in {guess.arch}")
    return model, state, guess.notes


def blobs_to_model(blobs: Mapping[str, np.ndarray], arch: str = "auto", options: Mapping[str, Any] | None = None,
                   source: str = "<blobs>", copy: bool = True) -> nn.Module:
    """Build the model described by Caffe2 ``blobs`` and fill it, strictly (every blob used exactly once).

    Raises :class:`BlobMappingError` listing missing, left-over and mis-shaped blobs with hints.
    ``copy=False`` lets the parameters alias the arrays.
    """
    model, state, notes = _validated_state(blobs, arch, options, source)
    meta_state = model.state_dict()
    assign_state(model, {key: _tensor(array, meta_state[key], copy) for key, array in state.items()})
    model.zoo_meta = {"conversion_notes": notes} if notes else {}
    return model


def _write(config: dict, state: Mapping[str, Any], out_path: str | os.PathLike, prov: dict, notes: list[str],
           meta: dict) -> Path:
    user_prov = meta.pop("provenance", None) or {}
    if notes:
        prov["notes"] = notes
    return write_checkpoint(state, out_path, config, provenance={**prov, **user_prov}, **meta)


def _blobs_to_checkpoint(blobs: Mapping[str, np.ndarray], arch: str, options: Mapping[str, Any] | None,
                         source: str, out_path: str | os.PathLike, prov_of, meta: dict) -> Path:
    """Validate ``blobs`` and write them straight to a zoo checkpoint (no torch round trip, no copies)."""
    model, state, notes = _validated_state(blobs, arch, options, source)
    return _write(model.zoo_config, state, out_path, prov_of(), notes, meta)


def pickle_to_safetensors(in_path: str | os.PathLike, out_path: str | os.PathLike, arch: str = "auto", *,
                          options: Mapping[str, Any] | None = None, drop_momentum: bool = False,
                          ignore: Iterable[str] = (), **meta: Any) -> Path:
    """Convert a Caffe2 weights pickle (VMZ ``{'blobs': ...}``, flat or Detectron style) to a zoo checkpoint.

    ``arch='auto'`` infers the architecture (see :func:`infer_arch`); ``options`` override builder options
    (e.g. ``use_pool1``); ``meta`` (clip_len, crop_size, mean, std, classes, ...) goes into the checkpoint.
    """
    refuse_same_file(out_path, [in_path])
    digest = _BackgroundHash(in_path)
    blobs = filter_blobs(blobs_from_pickle(load_pickle(in_path), str(in_path)), drop_momentum, ignore)
    return _blobs_to_checkpoint(
        blobs, arch, options, str(in_path), out_path,
        lambda: provenance(in_path, "c2_pickle", "pickle_to_safetensors", sha256=digest.value()), meta)


def read_minidb_blobs(in_path: str | os.PathLike, drop_momentum: bool = False, progress: bool = False
                      ) -> tuple[dict[str, np.ndarray], list[str]]:
    """Tensors of a MiniDB checkpoint with VMZ's ``minidb_to_pickle`` naming; also returns dropped names."""
    contents = read_minidb_contents(in_path, progress=progress)
    if not contents.tensors:
        raise BlobMappingError(f"{in_path}: no tensor records ({contents.records} records: "
                               f"{', '.join(list(contents.skipped)[:5])})")
    return unscope_blobs(contents.tensors, drop_momentum=drop_momentum)


def minidb_to_pickle(in_path: str | os.PathLike, out_path: str | os.PathLike, drop_momentum: bool = False,
                     progress: bool = False) -> Path:
    """VMZ's ``minidb_to_pickle`` without Caffe2: unscoped tensors as ``{'blobs': ...}``, protocol 2."""
    refuse_same_file(out_path, [in_path])
    blobs, dropped = read_minidb_blobs(in_path, drop_momentum, progress)
    if dropped:
        log.info("%s: dropped %d blob(s): %s", in_path, len(dropped), ", ".join(dropped[:10]))
    return save_pickle(out_path, {"blobs": blobs})


def minidb_to_safetensors(in_path: str | os.PathLike, out_path: str | os.PathLike, arch: str = "auto", *,
                          options: Mapping[str, Any] | None = None, drop_momentum: bool = False,
                          ignore: Iterable[str] = (), progress: bool = False, **meta: Any) -> Path:
    """:func:`minidb_to_pickle` and :func:`pickle_to_safetensors` in one step."""
    refuse_same_file(out_path, [in_path])
    blobs, _ = read_minidb_blobs(in_path, drop_momentum, progress)
    blobs = filter_blobs(blobs, drop_momentum, ignore)
    return _blobs_to_checkpoint(blobs, arch, options, str(in_path), out_path,
                                lambda: provenance(in_path, "c2_minidb", "minidb_to_safetensors"), meta)


# --------------------------------------------------------------------------------- checkpoint -> legacy
def checkpoint_blobs(ckpt: str | os.PathLike) -> dict[str, np.ndarray]:
    """The Caffe2-named blobs of a zoo checkpoint (bit-exact copies of its tensors).

    The tensors are checked against the architecture in the metadata first (every tensor present, none
    extra, every shape right): a :class:`~zoo.checkpoint.WeightMismatchError` means nothing is written.
    """
    from safetensors.numpy import load_file
    meta = check_checkpoint(ckpt)    # names and shapes against the metadata, before reading any tensor
    try:
        state = load_file(str(ckpt))
    except Exception as exc:   # safetensors raises SafetensorError for cut or corrupt files
        raise ValueError(f"{ckpt}: cannot read the tensors ({exc})") from None
    try:
        expected = build_meta_model(meta["arch"], meta["num_classes"], **meta.get("options", {})).state_dict()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{ckpt}: metadata does not describe a model ({exc})") from None
    check_weights(expected, state, str(ckpt), optional=("num_batches_tracked",))
    wrong = [f"{k} ({state[k].dtype})" for k, like in expected.items()
             if k in state and state[k].dtype != _numpy_dtype(like.dtype)]
    if wrong:
        raise ValueError(f"{ckpt}: tensors of another dtype than the model's ({', '.join(wrong[:5])}"
                         f"{', ...' if len(wrong) > 5 else ''}); VMZ pickles and MiniDBs hold the float32 weights")
    # construction order (safetensors stores keys sorted), as VMZ's tools listed them
    order = [k for k in expected if k in state]
    state = {**{k: state[k] for k in order}, **state}
    return state_to_blobs(state, meta["arch"], int(meta["num_classes"]))


def safetensors_to_pickle(ckpt: str | os.PathLike, out_pkl: str | os.PathLike) -> Path:
    """Write a zoo checkpoint as a VMZ-style ``{'blobs': ...}`` protocol-2 pickle (readable by Python 2)."""
    refuse_same_file(out_pkl, [ckpt])
    return save_pickle(out_pkl, {"blobs": checkpoint_blobs(ckpt)})


def safetensors_to_minidb(ckpt: str | os.PathLike, out_mdl: str | os.PathLike, progress: bool = False,
                          **writer_options: Any) -> Path:
    """Write a zoo checkpoint as a Caffe2 MiniDB (``!!META_NET_DEF`` + ``name#%N`` tensor records)."""
    refuse_same_file(out_mdl, [ckpt])
    return write_minidb(out_mdl, checkpoint_blobs(ckpt), progress=progress, **writer_options)


def model_to_blobs(model: nn.Module) -> dict[str, np.ndarray]:
    """Caffe2-named float arrays of a zoo model (views of its tensors)."""
    cfg = model.zoo_config
    return state_to_blobs(model.state_dict(), cfg["arch"], cfg["num_classes"])


# -------------------------------------------------------------------------------------- .pth -> model
TORCHVISION_ARCHS = ("r2plus1d_18", "r3d_18", "mc3_18")
#: how torchvision's video weights see frames (``torchvision/transforms/_presets.py``, ``VideoClassification``:
#: ``F.resize(..., antialias=False)`` on uint8 frames, ``F.center_crop``; decoded by a PyAV that converted with
#: libswscale's BT.601 default)
TORCHVISION_RULES = {"resize_filter": "torch_bilinear", "crop_rule": "torchvision", "colour_rule": "bt601"}


def torchvision_to_safetensors(in_path: str | os.PathLike, out_path: str | os.PathLike, arch: str | None = None,
                               *, flavor: str = "auto", options: Mapping[str, Any] | None = None,
                               **meta: Any) -> Path:
    """Convert a torchvision ``r2plus1d_18``/``r3d_18``/``mc3_18`` or VMZ/ig65m ``.pth`` port to a checkpoint.

    Loaded with ``torch.load(weights_only=True)``. ``flavor='auto'`` treats r3d_18/mc3_18 and R(2+1)D with
    torchvision's per-block middle widths as torchvision (BN eps 1e-5, ``midplanes='torchvision'`` where it
    applies) and everything else as a VMZ/ig65m port (BN eps 1e-3). A torchvision checkpoint records
    torchvision's pixel rules (:data:`TORCHVISION_RULES`) unless ``meta`` names others.
    """
    refuse_same_file(out_path, [in_path])
    source = str(in_path)
    state = read_pth_state(in_path)
    try:
        guess = infer_arch(pth_blobs(state))
    except (BlobMappingError, KeyError) as exc:
        raise ValueError(f"{source}: not a recognised VideoResNet state dict ({exc})") from None
    arch = arch or guess.arch
    opts = dict(guess.options) if arch == guess.arch else {}
    if flavor == "auto":
        flavor = "torchvision" if arch in TORCHVISION_ARCHS[1:] or opts.get("midplanes") == "torchvision" else "vmz"
    if flavor == "torchvision":
        meta = {**TORCHVISION_RULES, **meta}
        opts["bn_eps"] = 1e-5
        if model_family(arch) == "r2plus1d":
            opts["midplanes"] = "torchvision"
    elif flavor != "vmz":
        raise ValueError(f"flavor must be 'auto', 'torchvision' or 'vmz', not {flavor!r}")
    opts.update(options or {})
    model = build_meta_model(arch, guess.num_classes, **opts)
    expected = model.state_dict()
    check_weights(expected, state, source, optional=("num_batches_tracked",))
    assign_state(model, {k: v.to(expected[k].dtype) for k, v in state.items()})
    prov = provenance(in_path, "pth", "torchvision_to_safetensors", {"flavor": flavor})
    return _write(model.zoo_config, model.state_dict(), out_path, prov, guess.notes, meta)


__all__ = ["assign_state", "blobs_to_model", "checkpoint_blobs", "minidb_to_pickle", "minidb_to_safetensors",
           "model_to_blobs", "pickle_to_safetensors", "provenance", "read_minidb_blobs", "resolve_arch",
           "safetensors_to_minidb", "safetensors_to_pickle", "torchvision_to_safetensors"]
