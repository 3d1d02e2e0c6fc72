"""File verification: sha256, torch.hub hash prefixes in file names, and a local lock file of hashes."""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
from pathlib import Path

import filelock

from zoo._io import atomic_write_text
from zoo._io import sha256_of as sha256_file
from zoo.hub.errors import ChecksumError

# torch.hub convention: ``name-<first hex digits of sha256>.ext`` (e.g. ``r3d_18-b3b3357e.pth``).
_HASH_PREFIX = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")


def hash_prefix_from_name(filename: str) -> str | None:
    """The sha256 prefix encoded in a torch.hub-style file name, or None."""
    match = _HASH_PREFIX.search(filename)
    return match.group(1) if match else None


def check_file(path: str | os.PathLike, *, sha256: str | None = None, filename: str | None = None,
               locked: str | None = None, lock_file: str | os.PathLike | None = None) -> str:
    """Verify ``path`` and return its sha256; on mismatch delete it and raise :class:`ChecksumError`.

    ``sha256`` is the published hash, ``filename`` the remote name (its torch.hub hash prefix is
    checked) and ``locked`` a hash recorded earlier in the local lock file ``lock_file``.
    """
    path = Path(path)
    actual = sha256_file(path)
    prefix = hash_prefix_from_name(filename or path.name)
    expectations = [(sha256, "weights.json"), (locked, f"local lock file {lock_file or ''}".strip())]
    for expected, source in expectations:
        if expected and actual != expected.lower():
            _delete(path)
            raise ChecksumError(path, expected.lower(), actual, source)
    if prefix and not actual.startswith(prefix):
        _delete(path)
        raise ChecksumError(path, prefix + "…", actual, "hash prefix in the file name")
    return actual


class HashLock:
    """Local lock file ``{key: {sha256, url, first_seen}}`` of hashes first seen on a verified download."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def _read(self) -> dict:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{self.path}: not a valid hash lock file ({err}); fix or delete it") from err
        return data.get("files", {})

    def get(self, key: str) -> str | None:
        """Recorded sha256 for ``key``, or None."""
        record = self._read().get(key)
        return record["sha256"] if record else None

    def record(self, key: str, sha256: str, url: str | None = None) -> str:
        """Record ``sha256`` for ``key`` unless one is already there; return the recorded hash."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(str(self.path) + ".lock"):
            files = self._read()
            if key not in files:
                files[key] = {"sha256": sha256, "url": url,
                              "first_seen": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
                atomic_write_text(self.path, json.dumps({"version": 1, "files": files}, indent=1, sort_keys=True))
            return files[key]["sha256"]


def _delete(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
