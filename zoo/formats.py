"""What a weights file is, from its first bytes: zoo checkpoints (safetensors), Caffe2 pickles and MiniDBs, PyTorch
``.pth`` files (zip or legacy pickle), ONNX models. No file is parsed beyond a header and nothing is unpickled.

:func:`sniff_format` names the format; :func:`expect_format` is the check the tools run before any work, so
that a safetensors file given to ``pickle-to-safetensors`` is refused with what it is and the command that
reads it. No heavy imports (the command-line tools use it).
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

from zoo.errors import UsageError

#: format name -> what users call it
DESCRIPTIONS = {
    "safetensors": "a safetensors file (zoo checkpoint)",
    "c2_pickle": "a Python pickle (Caffe2 / VMZ weights)",
    "c2_minidb": "a Caffe2 MiniDB (.mdl)",
    "pth": "a PyTorch file (.pth, torch.save)",
    "onnx": "an ONNX model",
    "empty": "an empty file",
    "unknown": "not a weights file this zoo knows",
}

#: the zoo-convert subcommand (or tool) that reads each format
READER = {"safetensors": "zoo-convert safetensors-to-pickle / safetensors-to-minidb / to-onnx",
          "c2_pickle": "zoo-convert pickle-to-safetensors", "c2_minidb": "zoo-convert minidb-to-safetensors",
          "pth": "zoo-convert torchvision-to-safetensors", "onnx": "zoo-convert inspect or onnxruntime"}

# torch.save's legacy (pre-zip) format pickles this magic number first
_TORCH_LEGACY_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
_ONNX_FIELDS = {0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42, 0x52, 0x5A, 0x62, 0x72, 0x7A}   # ModelProto fields 2..15


def sniff_bytes(head: bytes, size: int | None = None) -> str:
    """The format of a file starting with ``head`` (its first 64 bytes or more); ``size``: the file's size."""
    if not head:
        return "empty"
    if head[:4] == b"PK\x03\x04":
        return "pth"
    if len(head) >= 9 and head[8:9] == b"{":
        length = struct.unpack("<Q", head[:8])[0]
        if 0 < length < (1 << 31):
            return "safetensors"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "pth" if _TORCH_LEGACY_MAGIC in head[:32] else "c2_pickle"
    if head[:1] in (b"(", b"}", b"]") and b"\n" in head[:64] or head[:2] in (b"(d", b"(l", b"}q", b"]q"):
        return "c2_pickle"          # protocol 0/1 pickles start with a container opcode
    if len(head) >= 8:
        key_len, value_len = struct.unpack("<ii", head[:8])
        key = head[8:8 + key_len]
        if 0 < key_len <= 4096 and value_len >= 0 and key and all(32 <= b < 127 for b in key):
            return "c2_minidb"
    if len(head) >= 3 and head[0] == 0x08 and 1 <= head[1] <= 20 and head[2] in _ONNX_FIELDS:
        return "onnx"               # ModelProto: ir_version (field 1, varint) first
    return "unknown"


def sniff_format(path: str | os.PathLike) -> str:
    """The format of the file at ``path`` (see :data:`DESCRIPTIONS`); a folder or missing file is a
    :class:`~zoo.errors.UsageError`."""
    from zoo.guards import require_file

    try:
        path = require_file(path)
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise UsageError(str(exc)) from None
    with open(path, "rb") as fh:
        head = fh.read(64)
    return sniff_bytes(head, path.stat().st_size)


def expect_format(path: str | os.PathLike, expected: tuple[str, ...], command: str) -> str:
    """The format of ``path`` when it is one of ``expected``, else a :class:`~zoo.errors.UsageError` saying what the
    file is and which command reads it."""
    found = sniff_format(path)
    if found in expected:
        return found
    wanted = " or ".join(DESCRIPTIONS[f] for f in expected)
    hint = f"; it is read by `{READER[found]}`" if found in READER else ""
    raise UsageError(f"{path}: is {DESCRIPTIONS[found]}, but `{command}` reads {wanted}{hint}")
