"""zoo-hub list / info / download / export / push."""
from __future__ import annotations

import json

import pytest

import zoo
from zoo.hub import cache, fetch_checkpoint, register_weights, unregister_weights
from zoo.hub.cli import main
from zoo.hub.export import export_checkpoint

from test_pretrained import tiny_entry

NAME = "r3d_18.tiny_cli"


@pytest.fixture
def tiny_weights(fake_hub, tiny):
    url = fake_hub.add_file("tiny.pkl", tiny.pickle_bytes)
    register_weights(NAME, tiny_entry({"format": "c2_pickle", "url": url, "filename": "tiny.pkl", "sha256": None}))
    yield NAME
    unregister_weights(NAME)


def test_list_shows_registry_and_cache_state(capsys):
    real = zoo.list_weights(family="r3d")[0]
    assert main(["list", "--family", "r3d"]) == 0
    out = capsys.readouterr().out
    assert "cached" in out.splitlines()[0] and real in out and "ir_csn" not in out
    line = next(line for line in out.splitlines() if line.startswith(real + " "))
    assert line.split()[-1] == "-"
    cache.checkpoint_path(real).parent.mkdir(parents=True)
    cache.checkpoint_path(real).write_bytes(b"x")
    main(["list", "--family", "r3d"])
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(real + " "))
    assert line.split()[-1] == "yes"
    assert main(["list", "--dataset", "no-such-dataset"]) == 2   # a usage error
    assert "no-such-dataset" in capsys.readouterr().err


def test_info_counts_parameters(tiny_weights, tiny, capsys):
    assert main(["info", tiny_weights]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["arch"] == "r3d_18" and info["cached"] is False
    assert info["computed"]["params"] == sum(p.numel() for p in tiny.model.parameters())
    assert info["computed"]["macs"] > 0
    assert main(["info", "r3d_18.kinetic400"]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_download_then_offline(tiny_weights, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert main(["download", "-q", tiny_weights]) == 1
    assert f"zoo-hub download {tiny_weights}" in capsys.readouterr().err
    monkeypatch.delenv("ZOO_OFFLINE")
    assert main(["download", "-q", tiny_weights]) == 0
    assert str(cache.checkpoint_path(tiny_weights)) in capsys.readouterr().out
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert main(["download", "-q", tiny_weights]) == 0
    assert main(["download"]) == 2


def test_export_writes_a_hub_folder(tiny_weights, tmp_path):
    ckpt = fetch_checkpoint(tiny_weights, progress=False)
    out = export_checkpoint(ckpt, tmp_path / "export")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    model = zoo.load_checkpoint(out / "model.safetensors")
    assert model.zoo_config["arch"] == "r3d_18"
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "r3d_18" and config["num_classes"] == 3
    assert config["preprocessing"]["clip_len"] == 4 and config["weights_name"] == tiny_weights
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: video-model-zoo")
    assert "| tiny3 | val | 50.0 | 100.0 |" in card and "p_test" in card
    assert main(["export", str(tmp_path / "nope.safetensors"), str(tmp_path / "x")]) == 2


def test_push_uploads_the_exported_folder(tiny_weights, tmp_path, monkeypatch):
    from huggingface_hub import HfApi

    calls = {}

    def create_repo(self, repo_id, **kwargs):
        calls["repo"] = (repo_id, kwargs)

    def upload_folder(self, *, folder_path, repo_id, **kwargs):
        from pathlib import Path

        calls["files"] = sorted(p.name for p in Path(folder_path).iterdir())
        calls["endpoint"] = self.endpoint
        return "http://127.0.0.1/commit/1"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    ckpt = fetch_checkpoint(tiny_weights, progress=False)
    assert main(["push", str(ckpt), "--repo-id", "me/tiny", "--private"]) == 0
    assert calls["repo"] == ("me/tiny", {"private": True, "exist_ok": True})
    assert calls["files"] == ["README.md", "config.json", "model.safetensors"]
    assert calls["endpoint"] == "http://127.0.0.1:9"
