"""Fixtures for tests/data: the test videos are encoded once per session."""
from __future__ import annotations

from pathlib import Path

import pytest

from data_videos import make_videos


@pytest.fixture(scope="session")
def videos(tmp_path_factory) -> dict[str, Path]:
    """Index videos of several codecs, sizes and rates, a variable-frame-rate one, and broken files."""
    return make_videos(tmp_path_factory.mktemp("videos"))
