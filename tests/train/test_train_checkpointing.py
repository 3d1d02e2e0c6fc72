"""Training state: RNG round trip, weights_only loading, resume discovery, model export."""
import argparse
import random

import numpy as np
import pytest
import torch

import zoo
from zoo.train.checkpointing import (capture_rng_state, find_resume_state, load_training_state,
                                     restore_rng_state, save_model, save_training_state)


def _draws():
    return (torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)])


def test_rng_states_survive_a_weights_only_round_trip(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    np.random.randn()  # leaves a cached gaussian in numpy's state
    state = {"rank_states": [{"rng": capture_rng_state()}], "step": 7,
             "optimizer": {"state": {0: {"momentum_buffer": torch.ones(2)}}, "param_groups": [{"lr": 0.1}]}}
    expected = _draws()
    path = save_training_state(tmp_path / "last.pt", state)
    loaded = load_training_state(path)  # torch.load(weights_only=True) inside
    assert loaded["step"] == 7
    assert torch.equal(loaded["optimizer"]["state"][0]["momentum_buffer"], torch.ones(2))
    restore_rng_state(loaded["rank_states"][0]["rng"])
    assert _draws() == expected
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # atomic write left no temp file


def test_a_foreign_pickle_is_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"args": argparse.Namespace(lr=0.1)}, bad)  # arbitrary objects need unrestricted unpickling
    with pytest.raises(RuntimeError, match="bad.pt"):
        load_training_state(bad)


def test_find_resume_state(tmp_path):
    assert find_resume_state(tmp_path, "auto") is None
    assert find_resume_state(tmp_path, None) is None
    (tmp_path / "last.pt").write_bytes(b"x")
    assert find_resume_state(tmp_path, "auto") == tmp_path / "last.pt"
    assert find_resume_state(tmp_path / "elsewhere", str(tmp_path)) == tmp_path / "last.pt"
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        find_resume_state(tmp_path, str(tmp_path / "nothing.pt"))


def test_exported_model_loads_with_its_protocol(tmp_path):
    model = zoo.create_model("r2plus1d_10", num_classes=3, channel_multiplier=0.125)
    meta = {"clip_len": 8, "resize": [40, 53], "crop_size": 32, "classes": ["a", "b", "c"],
            "mean": [0.4, 0.4, 0.4], "std": [0.2, 0.2, 0.2], "training": {"epoch": 2}}
    path = save_model(model, tmp_path / "m.safetensors", meta)
    loaded = zoo.load_checkpoint(path)
    assert loaded.zoo_meta["classes"] == ["a", "b", "c"] and loaded.zoo_meta["training"]["epoch"] == 2
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
