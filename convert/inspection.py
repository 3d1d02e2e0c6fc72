"""``zoo-convert inspect``: what a weights file holds (format, blobs, shapes, dtypes, architecture, size)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from zoo.convert.blobmap import BlobMappingError, infer_arch
from zoo.convert.minidb import read_minidb_contents, unscope_blobs
from zoo.convert.pickle_io import blobs_from_pickle, load_pickle
from zoo.convert.pth import pth_blobs, read_pth_state
from zoo.formats import DESCRIPTIONS, sniff_format
from zoo.guards import require_file

_STATS = ("_rm", "_riv", "_momentum", "running_mean", "running_var", "num_batches_tracked")


def detect_format(path: str | os.PathLike) -> str:
    """'safetensors', 'c2_pickle', 'c2_minidb', 'pth', 'onnx', 'empty' or 'unknown', from the first bytes of the
    file (see :func:`zoo.formats.sniff_format`)."""
    return sniff_format(path)


def _onnx_arrays(path: Path) -> tuple[dict[str, Any], dict]:
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:   # onnx raises DecodeError and others for damaged files
        raise ValueError(f"{path}: a damaged ONNX file ({type(exc).__name__}: {exc})") from None

    def dims(value) -> list:
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    arrays = {t.name: numpy_helper.to_array(t) if not t.external_data else np.zeros(tuple(t.dims), np.float32)
              for t in model.graph.initializer}
    producer = f"{model.producer_name} {model.producer_version}".strip()
    extra = {"onnx": {"ir_version": model.ir_version, "producer": producer,
                      "opsets": {i.domain or "ai.onnx": i.version for i in model.opset_import},
                      "inputs": {v.name: dims(v) for v in model.graph.input if v.name not in arrays},
                      "outputs": {v.name: dims(v) for v in model.graph.output}, "nodes": len(model.graph.node)}}
    return arrays, extra


def _arrays(path: Path, fmt: str) -> tuple[dict[str, Any], dict]:
    extra: dict = {}
    if fmt == "onnx":
        return _onnx_arrays(path)
    if fmt in ("empty", "unknown"):
        raise ValueError(f"{path}: is {DESCRIPTIONS[fmt]} (first bytes match no safetensors, pickle, MiniDB, "
                         ".pth or ONNX file)")
    if fmt == "c2_pickle":
        return blobs_from_pickle(load_pickle(path), str(path)), extra
    if fmt == "c2_minidb":
        contents = read_minidb_contents(path)
        extra.update(records=contents.records, skipped=contents.skipped, variant=contents.variant)
        return contents.tensors, extra
    if fmt == "safetensors":
        from safetensors.numpy import load_file
        from safetensors import safe_open
        try:
            with safe_open(str(path), framework="np") as fh:
                raw = (fh.metadata() or {}).get("zoo")
            arrays = load_file(str(path))
        except Exception as exc:   # SafetensorError for cut files and files holding only a header
            raise ValueError(f"{path}: a damaged or cut safetensors file ({exc})") from None
        if raw:
            try:
                extra["metadata"] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: corrupt zoo metadata (JSON line {exc.lineno}: {exc.msg})") from None
        return arrays, extra
    return {k: v.numpy() for k, v in read_pth_state(path).items()}, extra


def _architecture(arrays: Mapping[str, Any], fmt: str, extra: dict) -> str:
    if fmt == "onnx":
        return f"ONNX graph of {extra['onnx']['nodes']} nodes"
    try:
        if "metadata" in extra:
            return extra["metadata"]["arch"]
        if fmt == "pth":
            return infer_arch(pth_blobs({k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()})).arch
        blobs = unscope_blobs(dict(arrays), drop_momentum=True)[0] if fmt == "c2_minidb" else arrays
        guess = infer_arch(blobs)
        opts = ", ".join(f"{k}={v}" for k, v in guess.options.items())
        return guess.arch + (f" ({opts})" if opts else "")
    except (BlobMappingError, KeyError, ValueError, IndexError) as exc:
        return f"unknown ({str(exc).splitlines()[0]})"


def inspect_file(path: str | os.PathLike) -> dict:
    """Summary of a weights file: format, count, per-blob shape/dtype, inferred architecture, parameter total."""
    path = require_file(path)
    fmt = detect_format(path)
    arrays, extra = _arrays(path, fmt)
    blobs = {k: (tuple(np.shape(v)), str(np.asarray(v).dtype)) for k, v in arrays.items()}
    params = sum(int(np.prod(s)) for k, (s, _) in blobs.items() if not k.endswith(_STATS))
    return {"path": str(path), "format": fmt, "size_bytes": path.stat().st_size, "count": len(blobs),
            "architecture": _architecture(arrays, fmt, extra), "parameters": params, "blobs": blobs, **extra}


def format_report(info: Mapping[str, Any], show_blobs: bool = True) -> list[str]:
    """Human-readable lines of :func:`inspect_file`'s result (blob names come from the file: print them with
    :func:`zoo.console.say`)."""
    lines = [f"file:         {info['path']} ({info['size_bytes']:,} bytes)", f"format:       {info['format']}"]
    if "records" in info:
        lines.append(f"records:      {info['records']} ({info.get('variant')})")
    if "onnx" in info:
        graph = info["onnx"]
        lines += [f"onnx:         IR {graph['ir_version']}, opsets {graph['opsets']}, {graph['producer']}",
                  f"inputs:       {graph['inputs']}", f"outputs:      {graph['outputs']}"]
    lines += [f"blobs:        {info['count']}", f"architecture: {info['architecture']}",
              f"parameters:   {info['parameters']:,} (excluding BN statistics and momentum)"]
    for name, why in (info.get("skipped") or {}).items():
        lines.append(f"skipped:      {name}: {why}")
    if show_blobs:
        width = max((len(k) for k in info["blobs"]), default=0)
        lines += [f"  {k:<{width}}  {str(s):<22} {d}" for k, (s, d) in info["blobs"].items()]
    return lines


__all__ = ["detect_format", "format_report", "inspect_file"]
