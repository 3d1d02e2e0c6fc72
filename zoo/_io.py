"""File helpers: atomic writes (temporary file in the target folder, fsync, rename) and SHA-256.

Every file the project writes (checkpoints, converted weights, pickles, ONNX, metrics, videos) goes
through :func:`atomic_path` or :func:`atomic_write_bytes`, so a crash never leaves a half-written file
under the final name. :func:`sha256_of` is the one file hash (hub verification, conversion provenance,
``zoo-test --resume`` identity).
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import mmap
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator

from zoo.guards import check_regular_output


#: an unchanged temporary file of this age was left by a killed run (a live writer keeps writing to its own)
STALE_TEMP_SECONDS = 3600.0


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched. Temporary files of the
    same target that a killed run left (unchanged for :data:`STALE_TEMP_SECONDS`) are removed first.
    ``suffix`` defaults to the target's suffix (some writers, e.g. PyAV, pick the format from it).
    A ``path`` that exists and is not a regular file (a device, a FIFO) is refused (``UsageError``) before
    anything is written.
    """
    path = Path(path)
    check_regular_output(path)
    with _named_output_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path.parent, STALE_TEMP_SECONDS, path.name)   # left by a killed run
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix if suffix is None else suffix,
                                   dir=path.parent)
        os.close(fd)
    tmp_path = Path(tmp)
    with _named_output_errors(path):
        try:
            yield tmp_path
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp_path, 0o666 & ~_umask())   # mkstemp creates 0600; give the usual permissions
            os.replace(tmp_path, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()
            raise


#: errors of the file system written to (whatever file the failing call named, the output is what failed)
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
#: errors of a write that may also come from reading: named after the output only when they name no file
_WRITE_ERRNOS = _OUTPUT_ERRNOS | {errno.EACCES, errno.EPERM}
#: how Rust libraries (safetensors) spell an OS error in their messages
_RUST_OS_ERROR = re.compile(r"Os \{ code: (\d+)")


@contextlib.contextmanager
def _named_output_errors(path: Path) -> Iterator[None]:
    """A full or read-only disk while writing ``path`` is an ``OSError`` naming ``path`` (not the temporary file,
    not the input a copy read from, not nothing); a Rust library's I/O error (``SafetensorError``) becomes
    that ``OSError`` too."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _OUTPUT_ERRNOS or (exc.errno in _WRITE_ERRNOS and exc.filename is None):
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except Exception as exc:     # noqa: BLE001 - only errors that carry an OS error code are translated
        match = _RUST_OS_ERROR.search(str(exc))
        code = int(match.group(1)) if match else errno.ENOSPC if _disk_full(path.parent) else None
        if code is None:
            raise
        raise OSError(code, os.strerror(code), str(path)) from exc


def _disk_full(folder: Path) -> bool:
    """True when the file system of ``folder`` has no block left (a writer that reports a failed write without
    its errno, such as ``torch.save``, failed for that reason)."""
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


#: a temporary file of :func:`atomic_path`: ``.NAME.XXXXXXXX[SUFFIX]`` (mkstemp's 8 random characters, drawn from
#: lower-case letters, digits and ``_``)
_TEMP_NAMES = (re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}$"),
               re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}(?P<suffix>\.[^.]*)$"))


def _temp_target(file_name: str, names: set[str]) -> str | None:
    """The target name among ``names`` whose :func:`atomic_path` temporary ``file_name`` is, else None."""
    for pattern in _TEMP_NAMES:
        match = pattern.match(file_name)
        if match and match["name"] in names and match.groupdict().get("suffix") in (None, Path(match["name"]).suffix):
            return match["name"]
    return None


def remove_stale_temps(folder: str | os.PathLike, older_than: float, name: str | Iterable[str]) -> list[Path]:
    """Remove the temporary files that killed runs left in ``folder`` (not recursive); returns them.

    Only files named like :func:`atomic_path`'s temporaries of the target ``name`` (or of any of several target
    names: the caller's own outputs, never a whole folder) are touched, and only those not modified for
    ``older_than`` seconds (0: any age; only for a caller that holds the folder's lock, so no live writer owns
    them).
    """
    removed = []
    now = time.time()
    names = {name} if isinstance(name, str) else set(name)
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        if _temp_target(entry.name, names) is None or not entry.is_file(follow_symlinks=False):
            continue
        try:
            if older_than and now - entry.stat(follow_symlinks=False).st_mtime < older_than:
                continue
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        removed.append(Path(entry.path))
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode(encoding))


def read_text(path: str | os.PathLike, what: str = "text file") -> str:
    """The UTF-8 text of ``path`` (a leading byte-order mark dropped). A folder, or bytes that are not UTF-8, are a
    ``ValueError`` naming the file (and the line of the first bad byte)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; expected a {what}")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise ValueError(f"{path}:{line}: not UTF-8 text (byte 0x{data[err.start]:02x}); save the {what} as "
                         "UTF-8") from None


def read_json_object(path: str | os.PathLike, what: str = "JSON file") -> dict:
    """The JSON object in ``path``; FileNotFoundError, or ValueError naming the file, when it is missing, not JSON
    or not an object."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file ({what})")
    try:
        data = json.loads(read_text(path, what))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); expected the {what}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object ({what})")
    return data


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file.

    Hashes a read-only memory map in one call: no copies, and the GIL is released for the whole file, so it
    runs in a thread beside busy Python code without slowing either.
    """
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return hashlib.sha256().hexdigest()
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return hashlib.sha256(mapped).hexdigest()
