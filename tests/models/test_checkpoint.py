"""Checkpoints: metadata round trip, strict loading errors, atomic writes, create_model(weights=...)."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

import zoo
from zoo.checkpoint import WeightMismatchError, load_weights

TINY = dict(channel_multiplier=0.125)
META = dict(clip_len=8, sampling_rate=2, resize=128, crop_size=112, mean=[0.43216, 0.394666, 0.37645],
            std=[0.22803, 0.22145, 0.216989], classes=["a", "b", "c"], label_set="toy",
            provenance={"source": "test"})


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = zoo.create_model("ip_csn_26", num_classes=3, use_pool1=True, **TINY).eval()
    path = zoo.save_checkpoint(model, tmp_path / "m.safetensors", **META)
    return model, path


def test_checkpoint_rebuilds_model_from_file_alone(saved):
    model, path = saved
    loaded = zoo.load_checkpoint(path)
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    meta = loaded.zoo_meta
    assert meta["arch"] == "ip_csn_26" and meta["num_classes"] == 3
    assert meta["options"]["use_pool1"] is True and meta["options"]["channel_multiplier"] == 0.125
    for key, value in META.items():
        assert meta[key] == value
    assert zoo.read_checkpoint_meta(path) == meta


def test_resaving_a_loaded_model_keeps_metadata(saved, tmp_path):
    _, path = saved
    again = zoo.save_checkpoint(zoo.load_checkpoint(path), tmp_path / "again.safetensors", note="x")
    meta = zoo.read_checkpoint_meta(again)
    assert meta["classes"] == ["a", "b", "c"] and meta["note"] == "x"


def test_mismatch_error_lists_missing_unexpected_and_shapes():
    model = zoo.create_model("r3d_10", num_classes=3, **TINY)
    state = dict(model.state_dict())
    state.pop("fc.bias")
    state["extra.weight"] = torch.zeros(1)
    state["fc.weight"] = torch.zeros(7, 64)
    with pytest.raises(WeightMismatchError) as err:
        load_weights(model, state, source="file.bin")
    text = str(err.value)
    assert "file.bin" in text and "missing (1): fc.bias" in text and "unexpected (1): extra.weight" in text
    assert "fc.weight file (7, 64) vs model (3, 64)" in text


def test_reserved_and_unserialisable_metadata_rejected_without_leftovers(tmp_path):
    model = zoo.create_model("r3d_10", num_classes=2, **TINY)
    with pytest.raises(ValueError, match="arch"):
        zoo.save_checkpoint(model, tmp_path / "a.safetensors", arch="other")
    with pytest.raises(TypeError, match="JSON"):
        zoo.save_checkpoint(model, tmp_path / "b.safetensors", bad=object())
    assert list(tmp_path.iterdir()) == []


def test_foreign_and_corrupt_files_give_clear_errors(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ValueError, match="without zoo metadata"):
        zoo.load_checkpoint(plain)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match="junk.safetensors"):
        zoo.load_checkpoint(junk)
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        zoo.load_checkpoint(tmp_path / "nope.safetensors")


def test_newer_format_is_refused(tmp_path):
    path = tmp_path / "future.safetensors"
    doc = {"format_version": 99, "arch": "r3d_10", "num_classes": 2, "options": {}}
    save_file({"w": torch.zeros(1)}, str(path), metadata={"zoo": json.dumps(doc)})
    with pytest.raises(ValueError, match="newer"):
        zoo.read_checkpoint_meta(path)


def test_create_model_with_checkpoint_and_new_head(saved):
    model, path = saved
    same = zoo.create_model("ip_csn_26", weights=path)
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        assert torch.equal(same(x), model(x))
    tuned = zoo.create_model("ip_csn_26", num_classes=5, weights=path)
    assert tuned.fc.out_features == 5
    assert torch.equal(tuned.stem[0].weight, model.stem[0].weight)
    assert "classes" not in tuned.zoo_meta and tuned.zoo_meta["provenance"]["finetuned_from"] == str(path)
    with pytest.raises(ValueError, match="for 'ip_csn_26', not 'ir_csn_26'"):
        zoo.create_model("ir_csn_26", weights=path)


def test_a_compiled_model_saves_a_loadable_checkpoint(tmp_path):
    # torch.compile wraps the model in an OptimizedModule whose state dict prefixes every key with _orig_mod.;
    # the "eager" backend wraps exactly as inductor does without compiling kernels (fast on CPU)
    torch.manual_seed(0)
    model = zoo.create_model("r3d_10", num_classes=3, **TINY).eval()
    compiled = torch.compile(model, backend="eager")
    assert all(k.startswith("_orig_mod.") for k in compiled.state_dict())
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        expected = compiled(x)
    path = zoo.save_checkpoint(compiled, tmp_path / "compiled.safetensors", **META)
    loaded = zoo.load_checkpoint(path)
    with torch.no_grad():
        assert torch.equal(loaded(x), expected)
    assert zoo.read_checkpoint_meta(path)["classes"] == META["classes"]


def test_wrappers_are_unwrapped_in_any_nesting():
    from zoo.checkpoint import unwrap_model

    model = zoo.create_model("r3d_10", num_classes=3, **TINY)
    assert unwrap_model(torch.nn.DataParallel(torch.compile(model, backend="eager"))) is model
    assert unwrap_model(torch.compile(torch.nn.DataParallel(model), backend="eager")) is model
    assert unwrap_model(model) is model
