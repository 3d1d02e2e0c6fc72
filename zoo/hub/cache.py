"""Cache layout for pretrained weights.

``$ZOO_HOME`` (default: the platformdirs user cache folder of ``video-model-zoo``) holds::

    weights/<weights name>/<original file>          downloaded as published (plain URL sources)
    weights/<weights name>/<weights name>.safetensors  our converted checkpoint, next to the original
    weights/<weights name>/.lock                    file lock serialising fetches of that name
    weights/sha256.lock.json                        first-seen hashes of files without a published one

Hugging Face sources stay in huggingface_hub's own cache; only the converted checkpoint is written here.
Files only appear under their final name once complete (temporary name + rename), so an interrupted
download or conversion never leaves a corrupt entry.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import filelock

from zoo.paths import user_cache_dir

_UNSAFE = re.compile(r"_*[^A-Za-z0-9._+-]+_*")


def zoo_home() -> Path:
    """Root of the project's cache: ``$ZOO_HOME`` or the user cache folder."""
    env = os.environ.get("ZOO_HOME")
    return Path(env).expanduser() if env else user_cache_dir()


def weights_root() -> Path:
    """Folder holding one sub-folder per weights name."""
    return zoo_home() / "weights"


def weights_dir(name: str) -> Path:
    """Cache folder of one weights name."""
    return weights_root() / safe_filename(name)


def checkpoint_path(name: str) -> Path:
    """Where the converted safetensors checkpoint of ``name`` is cached."""
    return weights_dir(name) / f"{safe_filename(name)}.safetensors"


def original_path(name: str, filename: str) -> Path:
    """Where a downloaded original file of ``name`` is kept (sanitised file name)."""
    return weights_dir(name) / safe_filename(filename)


def is_cached(name: str) -> bool:
    """True when the converted checkpoint of ``name`` is in the cache."""
    return checkpoint_path(name).is_file()


def hash_lock_path() -> Path:
    """The local lock file recording first-seen sha256 hashes."""
    return weights_root() / "sha256.lock.json"


def name_lock(name: str, timeout: float = -1) -> filelock.FileLock:
    """Inter-process lock serialising downloads and conversion of one weights name."""
    folder = weights_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(str(folder / ".lock"), timeout=timeout)


def safe_filename(name: str) -> str:
    """A local file name for a remote one: spaces and odd characters become ``_``, no path parts."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    cleaned = _UNSAFE.sub("_", base).strip("._") or "file"
    return cleaned
