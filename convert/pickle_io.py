"""Legacy Caffe2 pickles: a restricted reader and a Python-2-compatible protocol-2 writer.

Reading never runs code from the file: :class:`RestrictedUnpickler` resolves only the numpy array/dtype
reconstruction globals (``docs/legacy-formats.md`` "The restricted unpickler"); any other global
(``os.system``, ``builtins.eval``, ``torch.*``, arbitrary classes) raises :class:`UnsafePickleError` before
anything is called.

Writing emits the byte layout of Python 2 ``cPickle.dump(..., protocol=2)`` with numpy 1.x globals
(``numpy.core.multiarray._reconstruct``), ASCII names as byte strings and array buffers as ``BINSTRING``,
so VMZ's Python 2 tools read the files, and Python 3 reads them back with ``encoding='latin1'``.
"""
from __future__ import annotations

import io
import os
import pickle
import pickletools
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from zoo._gc import paused_gc
from zoo._io import atomic_path


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references a global outside the allow-list; nothing from it was executed."""


class PickleFormatError(ValueError):
    """The file is not a readable pickle (truncated, corrupt, or not a dict of arrays)."""


def _reconstruct(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
    if cls is not np.ndarray:
        raise UnsafePickleError(f"_reconstruct called with {cls!r} instead of numpy.ndarray")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
    # numpy >= 1.16 at pickle protocol 5 stores arrays as _frombuffer(PickleBuffer, dtype, shape, order)
    arr = np.frombuffer(buf, dtype=np.dtype(dtype))
    return arr.reshape(shape, order="F" if order == "F" else "C")


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # Python 3 writes bytes at protocol 2 as _codecs.encode(text, 'latin1'); nothing else is allowed
    if encoding.replace("-", "").lower() not in ("latin1", "iso88591"):
        raise UnsafePickleError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return text.encode("latin1")


def _dtype(obj: Any, align: Any = False, copy: Any = False) -> np.dtype:
    dt = np.dtype(obj, align=bool(align), copy=bool(copy))
    if dt.hasobject:
        raise UnsafePickleError("object dtypes are not allowed")
    return dt


#: (module, name) -> callable; the complete allow-list
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _latin1_encode,
    ("collections", "OrderedDict"): dict,
    ("__builtin__", "bytes"): bytes,   # Python 3 writes b'' as bytes() at protocols 0-2
    ("builtins", "bytes"): bytes,
}


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` only resolves :data:`ALLOWED_GLOBALS`."""

    def __init__(self, file: BinaryIO, source: str = "<pickle>"):
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102 - see class docstring
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self.source}: refused global '{module}.{name}' — only numpy array/dtype reconstruction is "
                f"allowed in a weights pickle; nothing from the file was executed") from None

    def persistent_load(self, pid: Any) -> Any:  # noqa: D102
        raise UnsafePickleError(f"{self.source}: persistent ids are not allowed (is this a torch file?)")


#: deepest container nesting a weights pickle may have (a VMZ blob dict is about 10 deep); deeper files are refused
#: before unpickling, because hashing a tuple nested 100,000 deep overflows the C stack (SIGSEGV)
MAX_PICKLE_NESTING = 100

_MUTATORS = frozenset({"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"})
_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})


def pickle_nesting(fh: BinaryIO, limit: int = MAX_PICKLE_NESTING) -> int:
    """The container nesting depth of the pickle read from ``fh`` (an upper bound), found from its opcodes
    without building anything; stops early with :class:`PickleFormatError` once it passes ``limit``."""
    stack: list = []          # one cell [depth] per stack object; memo entries share their object's cell
    marks: list[int] = []
    memo: dict = {}
    deepest = 0
    for op, arg, _pos in pickletools.genops(fh):
        name = op.name
        if name in _PUTS:
            memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1] if stack else [0]
            continue
        if name in _GETS:
            stack.append(memo.get(arg, [0]))
            continue
        if name == "MARK":
            marks.append(len(stack))
            continue
        before = op.stack_before
        popped: list = []
        if pickletools.markobject in before:
            start = marks.pop() if marks else 0
            popped, stack[start:] = stack[start:], []
            below = before.index(pickletools.markobject)
        else:
            below = len(before)
        popped += [stack.pop() if stack else [0] for _ in range(below)]
        if name == "DUP":
            stack += popped * 2
            continue
        if name in _MUTATORS:      # the container (popped last) grows around the items
            cell = popped[-1]
            cell[0] = max([cell[0]] + [c[0] + 1 for c in popped[:-1]])
        else:
            cell = [1 + max((c[0] for c in popped), default=0)]
        deepest = max(deepest, cell[0])
        if deepest > limit:
            raise PickleFormatError(f"containers nested more than {limit} deep; a weights pickle is a flat "
                                    "dict of arrays")
        stack += [cell] * len(op.stack_after)
    return deepest


def _check_nesting(fh: BinaryIO, source: str) -> None:
    """:func:`pickle_nesting` on ``fh``, then rewind it. Opcodes it cannot parse are left to the unpickler,
    which reads the same bytes up to the same point (so everything before it was within the bound)."""
    try:
        pickle_nesting(fh)
    except PickleFormatError as exc:
        raise PickleFormatError(f"{source}: {exc}") from None
    except ValueError:
        pass
    fh.seek(0)


def loads_pickle(data: bytes, source: str = "<bytes>") -> Any:
    """Restricted unpickling of ``data`` (see :func:`load_pickle`)."""
    return _load(io.BytesIO(data), source)


def _load(fh: BinaryIO, source: str) -> Any:
    try:
        _check_nesting(fh, source)
        with paused_gc():       # thousands of tuples/arrays, no cycles: the collector would only slow it down
            return RestrictedUnpickler(fh, source).load()
    except (UnsafePickleError, PickleFormatError):
        raise
    except (EOFError, pickle.UnpicklingError) as exc:
        raise PickleFormatError(f"{source}: not a complete pickle ({exc}); the file may be truncated") from exc
    except (ValueError, TypeError, struct.error, IndexError, KeyError, AttributeError, MemoryError) as exc:
        raise PickleFormatError(f"{source}: corrupt pickle: {type(exc).__name__}: {exc}") from exc


def load_pickle(path: str | os.PathLike) -> Any:
    """Load a Caffe2/Detectron weights pickle (Python 2 or 3) without executing anything.

    Python 2 byte strings are decoded as latin-1 (array buffers stay lossless). Returns the unpickled
    object, normally ``{'blobs': {name: ndarray}}`` or a flat ``{name: ndarray}``.
    Raises :class:`UnsafePickleError` for disallowed globals and :class:`PickleFormatError` for
    truncated or corrupt files; both name the file.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        return _load(fh, str(path))


def blobs_from_pickle(obj: Any, source: str = "<pickle>") -> dict[str, np.ndarray]:
    """The ``{name: ndarray}`` part of a loaded pickle: ``obj['blobs']`` if present, else ``obj`` itself.

    Non-array values (Detectron's ``cfg`` string, counters) are dropped.
    """
    if not isinstance(obj, dict):
        raise PickleFormatError(f"{source}: expected a dict of blobs, found {type(obj).__name__}")
    blobs = obj.get("blobs", obj)
    if not isinstance(blobs, dict):
        raise PickleFormatError(f"{source}: 'blobs' is a {type(blobs).__name__}, not a dict")
    out = {str(k): v for k, v in blobs.items() if isinstance(v, np.ndarray)}
    if not out:
        raise PickleFormatError(f"{source}: contains no numpy arrays (keys: {sorted(map(str, blobs))[:10]})")
    return out


# ---------------------------------------------------------------------------------------------- writer
class _Py2Writer:
    """Emits protocol-2 opcodes the way Python 2 ``cPickle`` did (no memo, which is valid pickle)."""

    def __init__(self, fh: BinaryIO):
        self.fh = fh

    def w(self, b: bytes) -> None:
        self.fh.write(b)

    def global_(self, module: str, name: str) -> None:
        self.w(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def bytes_(self, data: bytes | memoryview) -> None:
        n = len(data) if isinstance(data, bytes) else data.nbytes
        self.w(b"U" + bytes([n]) if n < 256 else b"T" + struct.pack("<i", n))
        self.w(data)

    def str_(self, s: str) -> None:
        if s.isascii():
            self.bytes_(s.encode("ascii"))      # Python 2 str
        else:
            data = s.encode("utf-8")
            self.w(b"X" + struct.pack("<I", len(data)) + data)

    def value(self, obj: Any) -> None:
        if obj is None:
            self.w(b"N")
        elif obj is True or obj is False:
            self.w(b"\x88" if obj else b"\x89")
        elif isinstance(obj, (int, np.integer)):
            obj = int(obj)
            if -(2 ** 31) <= obj < 2 ** 31:
                self.w(b"J" + struct.pack("<i", obj))
            else:
                data = obj.to_bytes((obj.bit_length() + 8) // 8, "little", signed=True)
                self.w(b"\x8a" + bytes([len(data)]) + data)
        elif isinstance(obj, (float, np.floating)):
            self.w(b"G" + struct.pack(">d", float(obj)))
        elif isinstance(obj, str):
            self.str_(obj)
        elif isinstance(obj, (bytes, bytearray)):
            self.bytes_(bytes(obj))
        elif isinstance(obj, np.ndarray):
            self.array(obj)
        elif isinstance(obj, dict):
            self.w(b"}")
            for k, v in obj.items():
                self.w(b"(")
                self.value(k)
                self.value(v)
                self.w(b"u")
        elif isinstance(obj, (list, tuple)):
            self.w(b"(")
            for v in obj:
                self.value(v)
            self.w(b"l" if isinstance(obj, list) else b"t")
        else:
            raise TypeError(f"cannot write {type(obj).__name__} to a legacy pickle")

    def dtype(self, dt: np.dtype) -> None:
        self.global_("numpy", "dtype")
        self.w(b"(")
        self.str_(dt.str[1:])          # e.g. 'f4'
        self.w(b"K\x00K\x01t" + b"R")  # numpy.dtype('f4', 0, 1)
        order = "|" if dt.itemsize == 1 else "<"
        self.w(b"(K\x03")
        self.str_(order)
        self.w(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t" + b"b")

    def array(self, arr: np.ndarray) -> None:
        if arr.dtype.hasobject or arr.dtype.fields is not None:
            raise TypeError(f"cannot write dtype {arr.dtype} to a legacy pickle")
        arr = np.asarray(arr, dtype=arr.dtype.newbyteorder("<") if arr.dtype.itemsize > 1 else arr.dtype)
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")
        self.global_("numpy.core.multiarray", "_reconstruct")
        self.global_("numpy", "ndarray")
        self.w(b"K\x00\x85")           # (0,)
        self.bytes_(b"b")
        self.w(b"\x87R")               # TUPLE3, REDUCE
        self.w(b"(K\x01")
        self.value(tuple(int(d) for d in arr.shape))
        self.dtype(arr.dtype)
        self.w(b"\x89")                # is_fortran = False
        self.bytes_(memoryview(arr.reshape(-1)).cast("B"))
        self.w(b"tb")                  # state tuple, BUILD


def dump_pickle(obj: Any, fh: BinaryIO) -> None:
    """Write ``obj`` (dicts, lists, tuples, str, bytes, numbers, ndarrays) as a Python-2 protocol-2 pickle."""
    fh.write(b"\x80\x02")
    _Py2Writer(fh).value(obj)
    fh.write(b".")


def save_pickle(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as a protocol-2 pickle readable by VMZ's Python 2 tools; returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        dump_pickle(obj, fh)
    return path


__all__ = ["ALLOWED_GLOBALS", "PickleFormatError", "RestrictedUnpickler", "UnsafePickleError", "blobs_from_pickle",
           "dump_pickle", "load_pickle", "loads_pickle", "save_pickle"]
