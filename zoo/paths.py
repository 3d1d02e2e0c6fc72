"""Where the project keeps its caches (one place, so every tool agrees).

* :func:`user_cache_dir`: the platform's user cache folder for ``video-model-zoo``.
* :func:`data_cache_root`: caches derived from datasets (metadata index, unpacked LMDB videos, the built-in
  synthetic dataset): ``$ZOO_CACHE_DIR`` or :func:`user_cache_dir`.
* Downloaded weights live under ``$ZOO_HOME`` or :func:`user_cache_dir` (see :mod:`zoo.hub.cache`).
"""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "video-model-zoo"


def user_cache_dir() -> Path:
    """The platform's user cache folder for this project."""
    return Path(platformdirs.user_cache_dir(APP_NAME))


def data_cache_root() -> Path:
    """Root of the dataset-derived caches: ``$ZOO_CACHE_DIR`` or :func:`user_cache_dir`."""
    env = os.environ.get("ZOO_CACHE_DIR")
    return Path(env) if env else user_cache_dir()
