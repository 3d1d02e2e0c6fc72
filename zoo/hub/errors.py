"""Exceptions raised by zoo.hub (all subclasses of :class:`HubError`)."""
from __future__ import annotations

import os
from pathlib import Path


class HubError(RuntimeError):
    """Base class of hub errors."""


class DownloadError(HubError):
    """A file could not be downloaded (HTTP error, connection refused, dropped connection)."""


class OfflineError(HubError):
    """Offline mode is on and the requested file is not in the cache."""


class ConversionError(HubError):
    """A downloaded legacy file could not be converted into a checkpoint."""


class ChecksumError(HubError, ValueError):
    """A file's sha256 does not match the expected value (the file has been deleted)."""

    def __init__(self, path: str | os.PathLike, expected: str, actual: str, source: str = "weights.json"):
        self.path, self.expected, self.actual, self.source = Path(path), expected, actual, source
        super().__init__(
            f"sha256 mismatch for {Path(path).name}: expected {expected} ({source}), got {actual}; "
            f"the file was deleted"
        )


class RepoError(HubError, ValueError):
    """An ``hf-hub:`` name that cannot be used: no such repo or revision, no ``config.json``, or a config that
    does not match its tensors (a mistake in what the user named: the tools exit with status 2)."""
