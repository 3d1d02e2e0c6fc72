"""Every Hugging Face download stops at a known size: a file larger than the Hub announces, an endless body, a size
announced over zoo's limit and a small file (config.json) without a size all end in exit status 1 with one line
naming the repo and file, leave no partial or cached file, and a later good run works.

The fake Hub (tests/hub/fakehub.py, 127.0.0.1) lies about one file; huggingface_hub's real download code runs.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import zoo
from zoo.hub import register_weights, unregister_weights
from zoo.hub.cli import main as zoo_hub
from zoo.hub.download import SMALL_FILE_LIMIT
from zoo.hub.export import export_checkpoint

REPO = "org/liar"


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory):
    """The files ``zoo-hub export`` makes of the tiny r3d_18 checkpoint: {file name: bytes}."""
    ckpt = tmp_path_factory.mktemp("cap_export") / "tiny.safetensors"
    ckpt.write_bytes(tiny.ckpt_bytes)
    return {p.name: p.read_bytes() for p in export_checkpoint(ckpt, ckpt.parent / "export").iterdir()}


@pytest.fixture
def hub(fake_hub, exported, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url())
    for name, data in exported.items():
        fake_hub.add_hf_file(REPO, name, data)
    return fake_hub


def download(name: str, capsys) -> tuple[int, str]:
    code = zoo_hub(["download", name, "-q"])
    return code, capsys.readouterr().err


def left_in_hf_cache(filename: str, data: bytes) -> list[Path]:
    """What the failed download of ``filename`` left: its blob, a temporary, or a snapshot entry (huggingface_hub's
    empty lock files aside)."""
    cache = Path(os.environ["HF_HUB_CACHE"])
    digest = hashlib.sha256(data).hexdigest()
    return [p for p in cache.rglob("*") if ".locks" not in p.parts and (
        p.name.endswith(".incomplete") or p.name.startswith(digest) or (p.name == filename and "snapshots" in p.parts))]


LIES = {
    "larger than announced": lambda hub, name, data: (hub.add_hf_file(REPO, name, data + bytes(1 << 20)),
                                                      hub.announce.__setitem__((REPO, name), len(data))),
    "endless": lambda hub, name, data: hub.endless.add((REPO, name)),
    "announced over the limit": lambda hub, name, data: hub.announce.__setitem__((REPO, name), 10 << 30),
}
SAYS = {"larger than announced": "it announced", "endless": "it announced",
        "announced over the limit": "announces 10,737,418,240 bytes"}


@pytest.mark.parametrize("lie", sorted(LIES))
def test_hf_hub_weights_are_capped(hub, exported, capsys, lie):
    data = exported["model.safetensors"]
    LIES[lie](hub, "model.safetensors", data)
    code, err = download(f"hf-hub:{REPO}", capsys)
    assert code == 1, err
    line = err.strip()
    assert "\n" not in line and "Traceback" not in line
    assert f"{REPO}/model.safetensors" in line and SAYS[lie] in line
    assert ("nothing was downloaded" if lie == "announced over the limit" else "removed the partial file") in line
    if lie == "announced over the limit":
        assert hub.count("GET", f"/{REPO}/resolve/") == 2   # config.json and the card; never the weights
    else:
        assert hub.body_sent(f"/{REPO}/resolve/{hub_commit()}/model.safetensors") < 64 << 20
    assert left_in_hf_cache("model.safetensors", data + bytes(1 << 20)) == []
    assert left_in_hf_cache("model.safetensors", data) == []
    assert not (Path(os.environ["ZOO_HOME"]) / "weights").exists()

    hub.announce.clear()
    hub.endless.clear()
    hub.add_hf_file(REPO, "model.safetensors", data)
    code, err = download(f"hf-hub:{REPO}", capsys)
    assert code == 0, err
    assert zoo.load_checkpoint(f"hf-hub:{REPO}").fc.out_features == 3


def test_config_json_without_a_size_stops_at_the_small_file_limit(hub, exported, capsys):
    hub.announce[(REPO, "config.json")] = None
    hub.endless.add((REPO, "config.json"))
    code, err = download(f"hf-hub:{REPO}", capsys)
    assert code == 1 and f"{REPO}/config.json" in err and f"more than {SMALL_FILE_LIMIT:,} bytes" in err, err
    assert hub.count("GET", "model.safetensors") == 0
    assert left_in_hf_cache("config.json", exported["config.json"]) == []
    hub.announce.clear()
    hub.endless.clear()
    assert download(f"hf-hub:{REPO}", capsys)[0] == 0


@pytest.mark.parametrize("lie", sorted(LIES))
def test_registry_hf_source_is_capped(hub, exported, capsys, lie):
    data = exported["model.safetensors"]
    entry = {"arch": "r3d_18", "num_classes": 3, "clip_len": 4, "crop_size": 32,
             "sources": [{"format": "safetensors", "hf_repo_id": REPO, "hf_filename": "model.safetensors",
                          "file_size_mb": 1}]}
    register_weights("r3d_18.liar", entry)
    try:
        LIES[lie](hub, "model.safetensors", data)
        code, err = download("r3d_18.liar", capsys)
        assert code == 1 and f"{REPO}/model.safetensors" in err and SAYS[lie] in err, err
        assert left_in_hf_cache("model.safetensors", data + bytes(1 << 20)) == []
        assert left_in_hf_cache("model.safetensors", data) == []
        assert not zoo.hub.cache.is_cached("r3d_18.liar")
        hub.announce.clear()
        hub.endless.clear()
        hub.add_hf_file(REPO, "model.safetensors", data)
        assert download("r3d_18.liar", capsys)[0] == 0
        assert zoo.hub.cache.is_cached("r3d_18.liar")
    finally:
        unregister_weights("r3d_18.liar")


def hub_commit() -> str:
    from fakehub import COMMIT

    return COMMIT
