"""End to end: a Caffe2 pickle served locally becomes a model through create_model and torch.hub."""
from __future__ import annotations

import hashlib

import pytest
import torch

import zoo
from zoo.hub import cache, register_weights, unregister_weights
from zoo.hub.verify import HashLock

NAME = "r3d_18.tiny_test"


@pytest.fixture
def registered():
    """Register entries for the test and remove them afterwards."""
    names = []

    def add(name, entry):
        register_weights(name, entry)
        names.append(name)

    yield add
    for name in names:
        unregister_weights(name)


def tiny_entry(source):
    return {"arch": "r3d_18", "num_classes": 3, "options": {"channel_multiplier": 1 / 16}, "clip_len": 4,
            "crop_size": 32, "mean": [0.43, 0.39, 0.37], "std": [0.22, 0.22, 0.21], "label_set": "tiny3",
            "metrics": [{"dataset": "tiny3", "split": "val", "top1": 50.0, "top5": 100.0, "protocol": "p_test"}],
            "sources": [source]}


def test_caffe2_pickle_is_downloaded_converted_and_loaded(fake_hub, tiny, registered):
    url = fake_hub.add_file("dl/tiny_f123.pkl", tiny.pickle_bytes)
    registered(NAME, tiny_entry({"format": "c2_pickle", "url": url, "filename": "tiny_f123.pkl", "sha256": None}))
    model = zoo.create_model("r3d_18", weights=NAME)
    expected = tiny.model.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items())
    x = torch.randn(1, 3, 4, 32, 32)
    assert torch.equal(model(x), tiny.model.eval()(x))
    meta = zoo.read_checkpoint_meta(cache.checkpoint_path(NAME))
    assert meta["clip_len"] == 4 and meta["label_set"] == "tiny3" and meta["provenance"]["weights"] == NAME and meta["provenance"]["file"] == "tiny_f123.pkl"
    assert meta["provenance"]["sha256"] == hashlib.sha256(tiny.pickle_bytes).hexdigest()
    assert HashLock(cache.hash_lock_path()).get("tiny_f123.pkl") == meta["provenance"]["sha256"]
    assert (cache.weights_dir(NAME) / "tiny_f123.pkl").read_bytes() == tiny.pickle_bytes  # original next to it
    seen = len(fake_hub.requests)
    again = zoo.create_model("r3d_18", weights=NAME, num_classes=7)  # cached; new head for fine-tuning
    assert len(fake_hub.requests) == seen and again.fc.out_features == 7


def test_torch_hub_load_with_weights_from_hf_endpoint(fake_hub, tiny, registered, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url())
    fake_hub.add_hf_file("zoo-test/r3d", "tiny.pkl", tiny.pickle_bytes)
    registered("r3d_18.tiny_hf", tiny_entry({"format": "c2_pickle", "hf_repo_id": "zoo-test/r3d",
                                             "hf_filename": "tiny.pkl", "sha256": None}))
    import os

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    model = torch.hub.load(root, "r3d_18", source="local", weights="r3d_18.tiny_hf")
    expected = tiny.model.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items())
    assert fake_hub.count("GET", "/zoo-test/r3d/resolve/main/tiny.pkl") == 1


def test_hubconf_has_an_entry_point_per_model():
    import importlib.util
    import os

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    spec = importlib.util.spec_from_file_location("hubconf_under_test", os.path.join(root, "hubconf.py"))
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    public = sorted(n for n in dir(hubconf) if not n.startswith("_") and callable(getattr(hubconf, n)))
    assert public == sorted(zoo.list_models())
    model = hubconf.c3d(num_classes=2, channel_multiplier=1 / 16)
    assert model.zoo_config["arch"] == "c3d" and model.zoo_config["num_classes"] == 2
