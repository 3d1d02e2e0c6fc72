"""``hf-hub:ORG/REPO[@REVISION]`` names through huggingface_hub's real cache code, offline.

An exported folder is placed in a temporary Hugging Face cache in the library's layout (blobs, snapshot
symlinks, refs) with ``HF_HUB_OFFLINE=1`` (huggingface_hub's own offline switch turned on as well, so any
request would fail), then loaded by name the ways a user would.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

import zoo
from zoo.hub.errors import RepoError
from zoo.hub.export import export_checkpoint

from hfcache import COMMIT, place_in_hf_cache

ROOT = Path(__file__).resolve().parents[2]
NAME = "hf-hub:org/tiny"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny r3d_18 checkpoint with its preprocessing, and the folder ``zoo-hub export`` makes of it."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("hf_export")
    model = zoo.create_model("r3d_18", num_classes=3, channel_multiplier=1 / 16)
    ckpt = zoo.save_checkpoint(model, folder / "tiny.safetensors", clip_len=4, crop_size=32, resize=32,
                               classes=["c0", "c1", "c2"], mean=[0.45] * 3, std=[0.225] * 3)
    return ckpt, export_checkpoint(ckpt, folder / "export")


@pytest.fixture
def hf_cache(isolated_cache, monkeypatch):
    """The test's HF cache (HF_HUB_CACHE / HF_HOME point into it) with offline mode on."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)   # read at import: the library's own switch too
    return Path(os.environ["HF_HUB_CACHE"])


def _same_outputs(model, ckpt) -> bool:
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        return torch.equal(model(x), zoo.load_checkpoint(ckpt)(x))


def test_create_model_and_load_checkpoint_by_hf_name(exported, hf_cache):
    ckpt, folder = exported
    place_in_hf_cache(folder, hf_cache, "org/tiny", refs=("main", "v1"))
    model = zoo.create_model(NAME)
    assert model.zoo_config["arch"] == "r3d_18" and _same_outputs(model, ckpt)
    assert model.zoo_meta["classes"] == ["c0", "c1", "c2"]
    assert _same_outputs(zoo.create_model("r3d_18", weights=NAME), ckpt)
    assert _same_outputs(zoo.load_checkpoint(NAME), ckpt)
    for revision in ("v1", COMMIT):
        assert _same_outputs(zoo.create_model(f"{NAME}@{revision}"), ckpt)
    tuned = zoo.create_model(NAME, num_classes=5)   # fine-tuning: the backbone from the repo, a new head
    assert tuned.fc.out_features == 5 and tuned.zoo_meta["provenance"]["finetuned_from"] == NAME
    with pytest.raises(ValueError, match="r3d_18"):
        zoo.create_model("r2plus1d_18", weights=NAME)


def test_torch_hub_load_with_an_hf_name(exported, hf_cache):
    ckpt, folder = exported
    place_in_hf_cache(folder, hf_cache, "org/tiny")
    model = torch.hub.load(str(ROOT), "r3d_18", source="local", weights=NAME)
    assert _same_outputs(model, ckpt)


def test_the_entry_comes_from_config_json(exported, hf_cache):
    from zoo.hub.fetch import fetch_checkpoint
    from zoo.hub.lookup import get_weights

    _, folder = exported
    snapshot = place_in_hf_cache(folder, hf_cache, "org/tiny")
    entry = get_weights(NAME)
    assert (entry.arch, entry.num_classes, entry.preprocessing.clip_len, entry.preprocessing.crop_size) == \
        ("r3d_18", 3, 4, 32)
    assert entry.preprocessing.classes == ("c0", "c1", "c2") and entry.preprocessing.mean == (0.45,) * 3
    assert entry.sources[0]["hf_revision"] == COMMIT
    assert fetch_checkpoint(NAME) == snapshot / "model.safetensors"   # used in place: no copy in ZOO_HOME
    assert not (Path(os.environ["ZOO_HOME"]) / "weights").exists()


def _one_line_error(name: str) -> str:
    with pytest.raises(RepoError) as info:
        zoo.create_model(name)
    text = str(info.value)
    assert "\n" not in text and text.startswith(name.split("@")[0])
    return text


def test_wrong_revision_and_missing_repo_are_one_line_errors(exported, hf_cache):
    place_in_hf_cache(exported[1], hf_cache, "org/tiny")
    assert "revision 'v9'" in _one_line_error(f"{NAME}@v9") and "cached: main" in _one_line_error(f"{NAME}@v9")
    assert "repo org/nothing is not in the Hugging Face cache" in _one_line_error("hf-hub:org/nothing")
    assert "not a Hugging Face model repo id" in _one_line_error("hf-hub:no-org")


def test_config_that_does_not_match_its_tensors(exported, hf_cache, tmp_path):
    folder = tmp_path / "wrong"
    shutil.copytree(exported[1], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_classes": 5, "classes": None}))
    place_in_hf_cache(folder, hf_cache, "org/wrong-head")
    text = _one_line_error("hf-hub:org/wrong-head")
    assert "does not match the tensors" in text and "fc.weight is (3, 32) in the file, (5, 32) by the config" in text
    (folder / "config.json").write_text(json.dumps({**config, "architecture": "r2plus1d_18"}))
    place_in_hf_cache(folder, hf_cache, "org/wrong-arch")
    assert "missing" in _one_line_error("hf-hub:org/wrong-arch")


def test_repo_without_config_json(exported, hf_cache):
    place_in_hf_cache(exported[1], hf_cache, "org/no-config", skip=("config.json",))
    assert "has no config.json" in _one_line_error("hf-hub:org/no-config")


def test_online_download_through_the_library_then_offline(exported, fake_hub, monkeypatch):
    """Online, snapshot_download asks the (fake) Hub's API and fills the cache; offline, the cache answers."""
    from huggingface_hub import constants

    ckpt, folder = exported
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url())
    for path in folder.iterdir():
        fake_hub.add_hf_file("org/online", path.name, path.read_bytes())
    assert _same_outputs(zoo.create_model("hf-hub:org/online"), ckpt)
    assert fake_hub.count("GET", "/api/models/org/online/revision/main") == 1
    assert fake_hub.count("GET", "/org/online/resolve/") == 3          # config.json, model.safetensors, card
    with pytest.raises(RepoError, match="no Hugging Face model repo org/absent"):
        zoo.create_model("hf-hub:org/absent")
    with pytest.raises(RepoError, match="has no revision 'v9'"):
        zoo.create_model("hf-hub:org/online@v9")
    seen = len(fake_hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert _same_outputs(zoo.load_checkpoint("hf-hub:org/online"), ckpt)
    assert len(fake_hub.requests) == seen


def test_one_lookup_answers_hf_hub_registered_and_registry_names(exported, hf_cache):
    """zoo.get_weights is the look-up every tool uses: a repo, a name registered at run time and a weights.json
    entry each come back as a record that reads like the entry's dict."""
    from zoo.factory import checkpoint_source
    from zoo.hub import get_weights, register_weights, unregister_weights
    from zoo.protocol import resolve_protocol
    from zoo.records import WeightsEntry

    _, folder = exported
    place_in_hf_cache(folder, hf_cache, "org/tiny")
    assert zoo.get_weights is get_weights
    repo = zoo.get_weights(NAME)
    config = json.loads((folder / "config.json").read_text())
    assert isinstance(repo, WeightsEntry) and repo["name"] == NAME and repo["arch"] == config["architecture"]
    assert checkpoint_source(None, NAME)[1] == repo
    assert NAME not in zoo.list_weights()   # a repo is looked up by name, never listed
    registered = {"arch": "r3d_18", "num_classes": 3, "clip_len": 4, "crop_size": 32,
                  "metrics": [{"dataset": "k400", "top1": 1.0, "protocol": "vmz_c2_10clip_3crop256_conv"}]}
    register_weights("r3d_18.tiny_registered", registered)
    try:
        entry = zoo.get_weights("r3d_18.tiny_registered")
        assert dict(entry) == {"name": "r3d_18.tiny_registered", **registered}
        assert resolve_protocol(entry).name == "vmz_c2_10clip_3crop256_conv"
        assert "r3d_18.tiny_registered" in zoo.list_weights()
        assert "r3d_18.tiny_registered" in zoo.list_weights(family="r3d", dataset=None)
    finally:
        unregister_weights("r3d_18.tiny_registered")
    assert "r3d_18.tiny_registered" not in zoo.list_weights()
    with pytest.raises(KeyError, match="unknown weights"):
        zoo.get_weights("r3d_18.tiny_registered")
    assert zoo.get_weights("r3d_18.kinetics400_16f")["arch"] == "r3d_18"
