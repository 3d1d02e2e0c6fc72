"""Caffe2 MiniDB files (``.mdl``) in pure Python: reader, writer and training-checkpoint clean-up.

Layout (``docs/legacy-formats.md``, "minidb records", "Keys, chunks and reassembly" and "Non-tensor
and data records"): records of ``int32 key_len, int32 value_len, key, value`` to EOF, each
value a serialized ``BlobProto`` (or, before 2016-07, a bare ``TensorProto``). Tensors are split into
chunks keyed ``name#%N`` (or, 2016-07..2017-01, repeated un-suffixed keys), each carrying the full dims and
an element ``segment``; chunks may come in any order. Data DBs hold ``TensorProtos`` values instead and
are rejected as "a data file, not a checkpoint".
"""
from __future__ import annotations

import math
import mmap
import os
import random
import re
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import numpy as np

from zoo._io import atomic_path
from zoo import protobuf as pb
from zoo.limits import MAX_ELEMENTS
from zoo.tensorproto import TensorChunk, decode_tensor, encode_tensor

DEFAULT_CHUNK_SIZE = 1_000_000
_HEADER = struct.Struct("<ii")


class MinidbError(ValueError):
    """The file is not a readable MiniDB checkpoint; the message names the file, offset and key."""


class NotACheckpointError(MinidbError):
    """A MiniDB data file (TensorProtos values), not a checkpoint."""


# ---------------------------------------------------------------------------------------------- records
@dataclass
class Record:
    offset: int
    key: str
    value: memoryview


def iter_records(path: str | os.PathLike) -> Iterator[Record]:
    """Yield the raw records of a MiniDB file in file order (duplicates included).

    A 1-3 byte tail is ignored with a warning, as Caffe2 did; anything else that does not form a complete
    record raises :class:`MinidbError` with the byte offset and, when readable, the key.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise MinidbError(f"{path}: empty file, no MiniDB records")
    with open(path, "rb") as fh:
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(mm)
    pos = 0
    while pos < size:
        rest = size - pos
        if rest < 4:
            warnings.warn(f"{path}: ignoring a {rest}-byte tail at offset {pos} (Caffe2 ignores it too)",
                          stacklevel=2)
            return
        if rest < 8:
            raise MinidbError(f"{path}: truncated record header at offset {pos} ({rest} bytes left)")
        key_len, value_len = _HEADER.unpack_from(view, pos)
        if key_len <= 0 or value_len <= 0:
            raise MinidbError(f"{path}: bad record at offset {pos}: key length {key_len}, value length "
                              f"{value_len} (not a MiniDB file, or corrupt)")
        key_end = pos + 8 + key_len
        key = bytes(view[pos + 8:min(key_end, size)]).decode("utf-8", "replace")
        if key_end + value_len > size:
            raise MinidbError(f"{path}: truncated record at offset {pos}, key {key!r}: needs "
                              f"{8 + key_len + value_len} bytes, only {rest} left in the file")
        yield Record(pos, key, view[key_end:key_end + value_len])
        pos = key_end + value_len


def base_name(key: str) -> str:
    """Blob name of a record key: the text before the first ``#%``."""
    return key.split("#%", 1)[0]


# ------------------------------------------------------------------------------------------ reassembly
@dataclass
class _Assembly:
    dims: tuple[int, ...]
    dtype: np.dtype
    data_type: int
    flat: np.ndarray
    ranges: list[tuple[int, int]] = field(default_factory=list)
    filled: int = 0

    @property
    def complete(self) -> bool:
        return self.filled == self.flat.size


@dataclass
class MinidbContents:
    """Everything a MiniDB read produced."""

    tensors: dict[str, np.ndarray]
    records: int = 0
    skipped: dict[str, str] = field(default_factory=dict)    # name -> why it is not a tensor
    duplicates: list[str] = field(default_factory=list)
    variant: str = "blobproto"                                # 'blobproto' | 'bare-tensorproto'


def _classify(value: memoryview) -> str:
    """'blob', 'tensor' (pre-2016 bare TensorProto), or 'protos' (TensorProtos data record)."""
    f = pb.parse(value)
    if any(w == pb.VARINT for w, _ in f.get(1, []) + f.get(2, [])):
        return "tensor"
    if any(k in f for k in (2, 3, 4, 5, 6, 7)):
        return "blob"
    if set(f) == {1} and all(w == pb.LEN for w, _ in f[1]):
        try:
            decode_tensor(f[1][0][1])
            return "protos"
        except (pb.ProtobufError, MinidbError, ValueError):
            pass
    return "blob"


def read_minidb_contents(path: str | os.PathLike, progress: bool = False) -> MinidbContents:
    """Read every tensor of a MiniDB checkpoint, reassembling chunks (see module docstring).

    Duplicated tensors: the first complete copy wins and a warning names them. Non-tensor records
    (``!!META_NET_DEF``, strings, DB readers, Int8 tensors) are listed in ``skipped``.
    """
    path = Path(path)
    out = MinidbContents({})
    parts: dict[str, _Assembly] = {}
    bar = _progress(path, progress)
    last = 0
    for rec in iter_records(path):
        bar.update(rec.offset - last)
        last = rec.offset
        out.records += 1
        name = base_name(rec.key)
        where = f"{path}: record at offset {rec.offset}, key {rec.key!r}"
        if rec.key.startswith("!!"):
            out.skipped[name] = "metadata record"
            continue
        try:
            kind = _classify(rec.value)
            if kind == "protos":
                raise NotACheckpointError(
                    f"{path}: a data file, not a checkpoint (record {rec.key!r} at offset {rec.offset} holds "
                    f"TensorProtos, as in VMZ/Caffe2 video or feature databases)")
            if kind == "tensor":
                out.variant = "bare-tensorproto"
                chunk = decode_tensor(rec.value, name)
            else:
                f = pb.parse(rec.value)
                if 3 not in f:
                    type_raw = pb.last_bytes(f, 2)
                    kind_name = type_raw.decode("utf-8", "replace") if type_raw else "unknown"
                    out.skipped[name] = f"non-tensor blob ({'Int8 qtensor' if 5 in f else kind_name})"
                    continue
                chunk = decode_tensor(f[3][-1][1], name)
        except pb.ProtobufError as exc:
            raise MinidbError(f"{where}: malformed protobuf ({exc})") from exc
        if chunk.data is None:
            out.skipped[name] = f"tensor of Caffe2 data type {chunk.data_type} (not numeric)"
            continue
        _place(out, parts, name, chunk, where)
    bar.update(max(0, bar.total - bar.n) if bar.total else 0)
    bar.close()
    incomplete = [n for n, a in parts.items() if not a.complete]
    if incomplete:
        details = ", ".join(f"{n} ({parts[n].filled}/{parts[n].flat.size} elements)" for n in incomplete[:10])
        raise MinidbError(f"{path}: data size mismatch, chunks missing for {len(incomplete)} tensor(s): {details}")
    if out.duplicates:
        warnings.warn(f"{path}: {len(out.duplicates)} tensor(s) stored more than once; the first complete copy "
                      f"was kept: {', '.join(out.duplicates[:10])}", stacklevel=2)
    return out


def _place(out: MinidbContents, parts: dict[str, _Assembly], name: str, chunk: TensorChunk, where: str) -> None:
    if name in out.tensors:                      # a later copy of a finished tensor: first one wins
        if name not in out.duplicates:
            out.duplicates.append(name)
        return
    numel = math.prod(chunk.dims)     # Python ints: numpy's int64 product wraps around for forged dims
    if any(d < 0 for d in chunk.dims) or numel > MAX_ELEMENTS:
        raise MinidbError(f"{where}: dims {list(chunk.dims)[:8]} ({numel} elements) are not those of a weight "
                          f"(at most {MAX_ELEMENTS} elements)")
    data = chunk.data
    if chunk.segment is None:
        if name in parts:
            raise MinidbError(f"{where}: a whole-tensor record for {name!r}, which is already partly read")
        if data.size != numel:
            raise MinidbError(f"{where}: {data.size} elements stored for dims {list(chunk.dims)} ({numel})")
        out.tensors[name] = data.reshape(chunk.dims).copy()
        return
    begin, end = chunk.segment
    if not 0 <= begin <= end <= numel or data.size != end - begin:
        raise MinidbError(f"{where}: segment [{begin}, {end}) with {data.size} elements does not fit dims "
                          f"{list(chunk.dims)} ({numel} elements)")
    asm = parts.get(name)
    if asm is None:
        asm = parts[name] = _Assembly(chunk.dims, data.dtype, chunk.data_type, np.empty(numel, data.dtype))
    elif asm.dims != chunk.dims or asm.data_type != chunk.data_type:
        raise MinidbError(f"{where}: chunk dims/type {list(chunk.dims)}/{chunk.data_type} disagree with earlier "
                          f"chunks {list(asm.dims)}/{asm.data_type}")
    for b, e in asm.ranges:
        if begin < e and b < end:
            raise MinidbError(f"{where}: extra part [{begin}, {end}) for an already filled range of {name!r}")
    asm.flat[begin:end] = data
    asm.ranges.append((begin, end))
    asm.filled += end - begin
    if asm.complete:
        out.tensors[name] = asm.flat.reshape(asm.dims)
        del parts[name]


def read_minidb(path: str | os.PathLike, progress: bool = False) -> dict[str, np.ndarray]:
    """``{blob name: ndarray}`` of every tensor in a MiniDB checkpoint (names keep any ``gpu_N/`` scope)."""
    return read_minidb_contents(path, progress).tensors


def _progress(path: Path, enabled: bool):
    from zoo.progress import progress_bar
    return progress_bar(total=path.stat().st_size, unit="B", unit_scale=True, desc=f"reading {path.name}",
                        enabled=enabled, leave=False)


# ------------------------------------------------------------------------------------ checkpoint clean-up
_SCOPE = re.compile(r"^gpu_(\d+)/")


def unscope_blobs(blobs: dict[str, np.ndarray], drop_momentum: bool = False,
                  drop: Iterable[str] = ("gpu_0/data", "data")) -> tuple[dict[str, np.ndarray], list[str]]:
    """VMZ ``minidb_to_pickle`` naming: strip ``gpu_N/`` scopes, first device (lowest N) wins.

    Returns ``(blobs, dropped)``; ``dropped`` lists the names not kept (other devices' copies, the data
    input, and ``_momentum`` buffers when ``drop_momentum``).
    """
    drop = set(drop)

    def device(name: str) -> int:
        m = _SCOPE.match(name)
        return int(m.group(1)) if m else -1

    kept: dict[str, np.ndarray] = {}
    dropped: list[str] = []
    for name in sorted(blobs, key=device):      # stable: file order within a device
        short = name.rsplit("/", 1)[-1]
        if name in drop or short in drop or short in kept or (drop_momentum and short.endswith("_momentum")):
            dropped.append(name)
            continue
        kept[short] = blobs[name]
    return kept, dropped


# ---------------------------------------------------------------------------------------------- writer
def encode_blob(name: str, tensor: bytes) -> bytes:
    """A BlobProto holding a serialized TensorProto."""
    return pb.field_string(1, name) + pb.field_string(2, "Tensor") + pb.field_bytes(3, tensor)


class MinidbWriter:
    """Write a MiniDB file atomically (``with MinidbWriter(path) as w: w.put_tensor(...)``).

    ``layout`` picks the key scheme: ``'suffix'`` (``name#%N``, 2017+), ``'repeat'`` (chunks share the
    un-suffixed key, 2016-07..2017-01) or ``'bare'`` (pre-2016: one bare TensorProto per tensor, no segment).
    """

    def __init__(self, path: str | os.PathLike, layout: str = "suffix", chunk_size: int = DEFAULT_CHUNK_SIZE,
                 shuffle_seed: int | None = None, **tensor_options):
        if layout not in ("suffix", "repeat", "bare"):
            raise ValueError(f"layout must be 'suffix', 'repeat' or 'bare', not {layout!r}")
        if chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        self.path, self.layout, self.chunk_size = Path(path), layout, chunk_size
        self.rng = random.Random(shuffle_seed) if shuffle_seed is not None else None
        self.tensor_options = tensor_options
        self._ctx = None
        self._fh: BinaryIO | None = None

    def __enter__(self) -> "MinidbWriter":
        self._ctx = atomic_path(self.path)
        tmp = self._ctx.__enter__()
        self._fh = open(tmp, "wb")
        return self

    def __exit__(self, *exc) -> bool | None:
        self._fh.close()
        return self._ctx.__exit__(*exc)

    def put(self, key: str, value: bytes) -> None:
        """Append one raw record."""
        k = key.encode("utf-8")
        self._fh.write(_HEADER.pack(len(k), len(value)))
        self._fh.write(k)
        self._fh.write(value)

    def put_tensor(self, name: str, arr: np.ndarray, chunk_size: int | None = None, **options) -> None:
        """Append the records of one tensor, chunked and (with ``shuffle_seed``) in shuffled chunk order."""
        arr = np.asarray(arr)
        opts = {**self.tensor_options, **options}
        if self.layout == "bare":
            self.put(name, encode_tensor(arr, name, None, **opts))
            return
        size = chunk_size or self.chunk_size
        numel = arr.size
        starts = list(range(0, numel, size)) or [0]
        if self.rng is not None:
            self.rng.shuffle(starts)
        for begin in starts:
            seg = (begin, min(begin + size, numel))
            key = f"{name}#%{begin // size}" if self.layout == "suffix" else name
            self.put(key, encode_blob(name, encode_tensor(arr, name, seg, **opts)))

    def put_meta_net_def(self, parameters: Iterable[str]) -> None:
        """The ``!!META_NET_DEF`` record of predictor_exporter, listing the parameter blobs."""
        blobs_map = pb.field_string(1, "PARAMETERS_BLOB_TYPE") + b"".join(pb.field_string(2, p) for p in parameters)
        meta = pb.field_bytes(1, blobs_map)
        self.put("!!META_NET_DEF", pb.field_string(1, "!!META_NET_DEF") + pb.field_string(2, "std::string")
                 + pb.field_bytes(4, meta))


def write_minidb(path: str | os.PathLike, blobs: dict[str, np.ndarray], meta_net_def: bool = True,
                 progress: bool = False, **writer_options) -> Path:
    """Write ``blobs`` as a MiniDB checkpoint (``!!META_NET_DEF`` first, then every tensor); returns ``path``."""
    from zoo.progress import progress_bar
    with MinidbWriter(path, **writer_options) as w:
        if meta_net_def and w.layout != "bare":
            w.put_meta_net_def(blobs)
        for name, arr in progress_bar(blobs.items(), desc=f"writing {Path(path).name}", unit="blob",
                                      enabled=progress, leave=False):
            w.put_tensor(name, arr)
    return Path(path)


__all__ = ["MinidbContents", "MinidbError", "MinidbWriter", "NotACheckpointError", "Record", "base_name",
           "decode_tensor", "encode_blob", "encode_tensor", "iter_records", "read_minidb", "read_minidb_contents",
           "unscope_blobs", "write_minidb"]
