"""Checks at the tools' boundary: untrusted names that become paths, outputs that would overwrite an input,
outputs that cannot be written.

Every tool calls these before any work starts:

* :func:`safe_name` for text read from files users download (Kinetics labels and splits, YouTube ids,
  ``classes.txt`` names, LMDB video ids) before it becomes a folder or file name: the result is one path
  component that stays inside the output folder, or a ``UsageError`` naming the row.
* :func:`refuse_same_file` before writing an output: refuses when it resolves to one of the inputs (the same
  path, a symlink to it or a hard link of it).
* :func:`check_writable` before long work whose result is written at the end; it refuses, like every atomic
  writer (:func:`check_regular_output`), an output that exists and is not a regular file (a device, a FIFO).
* :func:`unique_outputs` before writing many files named after inputs: two inputs that map to one output name
  are an error before any work.
* :func:`output_lock` for the whole run of a tool that owns an output folder (one run per folder).

The errors are :class:`zoo.errors.UsageError` (a ``ValueError``): the tools exit with status 2 and write nothing.
No heavy imports here: the command-line parsers use this module.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable

from zoo.errors import UsageError

_WHITESPACE = re.compile(r"\s+")
_QUOTES = str.maketrans("", "", "\"'")


def kinetics_label_dir(label: str) -> str:
    """The folder name of a Kinetics label as the Kinetics download tools write it: spaces become
    underscores and quotes are dropped (``"passing American football (in game)"`` ->
    ``passing_American_football_(in_game)``). Not checked: use :func:`safe_name` on the result."""
    return _WHITESPACE.sub("_", label.strip().translate(_QUOTES))


def safe_name(text: str, what: str, where: str = "") -> str:
    """``text`` if it is usable as one path component inside an output folder, else ``UsageError``.

    Refused: empty names, ``.``/``..``, path separators (``/`` and ``\\``), absolute or drive paths, NUL and
    other control characters, and hidden names (a leading dot: the lists and datasets never see them). ``what`` names the field (``"label"``) and ``where`` the row
    (``"train.csv:12"``) in the message.
    """
    prefix = f"{where}: " if where else ""
    problem = None
    if not text:
        problem = "is empty"
    elif text in (".", ".."):
        problem = "is a relative folder reference"
    elif "\x00" in text:
        problem = "contains a NUL byte"
    elif "/" in text or "\\" in text or os.sep in text or (os.altsep and os.altsep in text):
        problem = "contains a path separator"
    elif any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        problem = "contains a control character"
    elif os.path.isabs(text) or re.match(r"^[A-Za-z]:", text):
        problem = "is an absolute path"
    elif text.startswith("."):   # a hidden name: the datasets and `zoo-prepare lists` skip what it names
        problem = "starts with a dot (a hidden file or folder that the lists and datasets skip)"
    if problem:
        raise UsageError(f"{prefix}{what} {text!r} {problem}; it cannot name a file or folder inside the output")
    return text


def inside(root: str | os.PathLike, *parts: str) -> Path:
    """``root/part/...`` after checking that the joined path stays inside ``root`` (symlinks resolved)."""
    root_path = Path(root)
    path = root_path.joinpath(*parts)
    real_root = os.path.realpath(root_path)
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root:
        raise UsageError(f"{path}: resolves outside the output folder {root_path}")
    return path


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` are the same file: equal resolved paths, a symlink, or a hard link."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet): compare what the paths resolve to
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_same_file(output: str | os.PathLike, inputs: Iterable[str | os.PathLike], flag: str = "output") -> None:
    """``UsageError`` when ``output`` is (through symlinks or hard links) one of ``inputs``."""
    try:
        out_stat = os.stat(output)
        identity = (out_stat.st_dev, out_stat.st_ino)
    except OSError:   # not there (yet): only a path that resolves to it can be the same file
        identity = None
    real = os.path.realpath(output)
    for item in inputs:
        if item is None:
            continue
        if identity is not None:
            try:
                item_stat = os.stat(item)
                same = (item_stat.st_dev, item_stat.st_ino) == identity
            except OSError:
                same = False
        else:
            same = os.path.realpath(item) == real
        if same:
            raise UsageError(f"{flag} {output} is the input file {item}; writing it would destroy the input. "
                             "Choose another output path")


def check_regular_output(path: str | os.PathLike, flag: str = "output") -> None:
    """``UsageError`` when ``path`` exists (through symlinks) and is not a regular file: a device, a FIFO or a
    socket is never replaced by an output file (as root, ``/dev/null`` would be destroyed)."""
    kind = file_kind(path)
    if kind is None or kind == "missing":   # unreadable metadata: the write itself reports it
        return
    if kind == "a folder":
        raise UsageError(f"{flag} {path}: is a directory; give a file name")
    raise UsageError(f"{flag} {path}: is {kind}, not a regular file; refusing to replace it. "
                     "Choose another output path")


def unique_outputs(outputs: Iterable[tuple[str | os.PathLike, Hashable]],
                   key: Callable[[Any], Hashable] | None = None) -> None:
    """``UsageError`` when two different sources map to one output path (``(output, source)`` pairs; the same
    source twice is fine, sources compared by ``key(source)`` when given). Call it before any work: one
    result must never silently replace another."""
    seen: dict[str, Any] = {}
    for output, source in outputs:
        path = os.path.normpath(os.fspath(output))
        first = seen.setdefault(path, source)
        if first is not source and (key(first) != key(source) if key else first != source):
            raise UsageError(f"{output}: both {first} and {source} would be written to this one file; rename "
                             "one of them (nothing was written)")


def output_lock(folder: str | os.PathLike, tool: str, flag: str = "--output"):
    """Create ``folder`` and hold ``folder/.TOOL.lock`` (a ``filelock.FileLock``; release it when the run ends).

    A second run of ``tool`` on the same folder is a ``UsageError``; while the lock is held, temporaries of the
    tool's own output names in the folder can only be left by a killed run.
    """
    from filelock import FileLock, Timeout

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / f".{tool}.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise UsageError(f"{flag} {folder}: another {tool} is running on this folder (wait for it to finish or "
                         f"choose another {flag})") from None
    return lock


def check_writable(path: str | os.PathLike, flag: str = "output") -> None:
    """``UsageError`` unless a file can be created or replaced at ``path`` (checked before long work).

    An existing directory, device or FIFO, a missing or read-only parent folder are refused with the flag named.
    """
    path = Path(path)
    check_regular_output(path, flag)
    parent = path.parent
    while not parent.exists() and parent != parent.parent:  # atomic writes create missing folders
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: folder {parent} is not writable")


def check_writable_dir(path: str | os.PathLike, flag: str = "output") -> None:
    """``UsageError`` unless ``path`` is (or can be created as) a writable folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: is a file, not a folder")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: folder {existing} is not writable")


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def file_kind(path: str | os.PathLike) -> str | None:
    """What is at ``path`` when it is not a regular file (``"a FIFO (named pipe)"``, ``"a character device"``,
    ``"a folder"``...), ``"missing"`` when nothing is, None for a regular file (symlinks followed)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except OSError:
        return None     # unreadable: let the open that follows say why
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def require_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` if it is a regular file (opening a FIFO would block forever, ``/dev/zero`` never ends):
    ``FileNotFoundError`` when it is missing, ``IsADirectoryError`` for a folder, :class:`UsageError` for a
    FIFO, device or socket; ``what`` names the expected file in the message."""
    kind = file_kind(path)
    if kind == "missing":
        raise FileNotFoundError(f"{path}: no such {what}")
    if kind == "a folder":
        raise IsADirectoryError(f"{path}: is a folder; give a {what}")
    if kind is not None:
        raise UsageError(f"{path}: is {kind}, not a {what}")
    return Path(path)


def check_video_files(paths: Iterable[str | os.PathLike]) -> None:
    """``FileNotFoundError`` naming the missing ones (first five) unless every path is a regular file;
    :class:`UsageError` for a FIFO, device or socket among them."""
    kinds = [(str(p), file_kind(p)) for p in paths]
    missing = [p for p, kind in kinds if kind == "missing"]
    if missing:
        raise FileNotFoundError(f"no such video file(s): {', '.join(missing[:5])}"
                                + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    odd = [(p, kind) for p, kind in kinds if kind is not None]
    if odd:
        raise UsageError(f"{odd[0][0]}: is {odd[0][1]}, not a video file")
