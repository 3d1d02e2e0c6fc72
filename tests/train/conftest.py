"""Shared fixtures of the trainer tests: small synthetic datasets and a tiny-model command line."""
import shutil

import pytest

from zoo.data.synthetic import generate

@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory):
    """2 classes x 3 training videos, 2 validation videos per class."""
    return generate(tmp_path_factory.mktemp("syn-small"), classes=2, videos_per_class=3, val_videos_per_class=2)


@pytest.fixture
def dataset_copy(small_dataset, tmp_path):
    """A private copy of :func:`small_dataset` that a test may modify."""
    return shutil.copytree(small_dataset, tmp_path / "data")
