"""``zoo-convert inspect``: what a weights file holds (format, blobs, shapes, dtypes, architecture, size)."""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from zoo.convert.blobmap import BlobMappingError, infer_arch
from zoo.convert.minidb import read_minidb_contents, unscope_blobs
from zoo.convert.pickle_io import blobs_from_pickle, load_pickle
from zoo.convert.pth import pth_blobs, read_pth_state

_STATS = ("_rm", "_riv", "_momentum", "running_mean", "running_var", "num_batches_tracked")


def detect_format(path: str | os.PathLike) -> str:
    """'pth' (zip), 'safetensors', 'c2_pickle' or 'c2_minidb', from the first bytes of the file."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[:2] == b"PK":
        return "pth"
    if len(head) >= 9 and head[8:9] == b"{" and 0 < struct.unpack("<Q", head[:8])[0] < (1 << 30):
        return "safetensors"
    if head[:1] == b"\x80" or head[:1] in (b"(", b"}"):
        return "c2_pickle"
    return "c2_minidb"


def _arrays(path: Path, fmt: str) -> tuple[dict[str, Any], dict]:
    extra: dict = {}
    if fmt == "c2_pickle":
        return blobs_from_pickle(load_pickle(path), str(path)), extra
    if fmt == "c2_minidb":
        contents = read_minidb_contents(path)
        extra.update(records=contents.records, skipped=contents.skipped, variant=contents.variant)
        return contents.tensors, extra
    if fmt == "safetensors":
        from safetensors.numpy import load_file
        from safetensors import safe_open
        with safe_open(str(path), framework="np") as fh:
            raw = (fh.metadata() or {}).get("zoo")
        if raw:
            extra["metadata"] = json.loads(raw)
        return load_file(str(path)), extra
    return {k: v.numpy() for k, v in read_pth_state(path).items()}, extra


def _architecture(arrays: Mapping[str, Any], fmt: str, extra: dict) -> str:
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
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    fmt = detect_format(path)
    arrays, extra = _arrays(path, fmt)
    blobs = {k: (tuple(np.shape(v)), str(np.asarray(v).dtype)) for k, v in arrays.items()}
    params = sum(int(np.prod(s)) for k, (s, _) in blobs.items() if not k.endswith(_STATS))
    return {"path": str(path), "format": fmt, "size_bytes": path.stat().st_size, "count": len(blobs),
            "architecture": _architecture(arrays, fmt, extra), "parameters": params, "blobs": blobs, **extra}


def format_report(info: Mapping[str, Any], show_blobs: bool = True) -> str:
    """Human-readable text of :func:`inspect_file`'s result."""
    lines = [f"file:         {info['path']} ({info['size_bytes']:,} bytes)", f"format:       {info['format']}"]
    if "records" in info:
        lines.append(f"records:      {info['records']} ({info.get('variant')})")
    lines += [f"blobs:        {info['count']}", f"architecture: {info['architecture']}",
              f"parameters:   {info['parameters']:,} (excluding BN statistics and momentum)"]
    for name, why in (info.get("skipped") or {}).items():
        lines.append(f"skipped:      {name}: {why}")
    if show_blobs:
        width = max((len(k) for k in info["blobs"]), default=0)
        lines += [f"  {k:<{width}}  {str(s):<22} {d}" for k, (s, d) in info["blobs"].items()]
    return "\n".join(lines)


__all__ = ["detect_format", "format_report", "inspect_file"]
