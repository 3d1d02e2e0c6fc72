"""The tools at their boundary, security and data loss: untrusted names never become paths outside the output,
no tool writes over one of its inputs, converters write only weights that fit the architecture."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

import zoo
from zoo.convert.cli import main as convert_main
from zoo.convert.minidb import write_minidb
from zoo.convert.pipelines import checkpoint_blobs
from zoo.convert.pickle_io import save_pickle
from zoo.data.prepare.cli import main as prepare_main
from zoo.extract.predict import main as predict_main
from zoo.guards import kinetics_label_dir, safe_name
from zoo.hub.cli import main as hub_main


# ------------------------------------------------------------------------------ untrusted names -> paths
def _kinetics_csv(path: Path, label: str, youtube_id: str = "vid", split: str = "train") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
        writer.writerow(["walk", "ok", 0, 1, "train"])
        writer.writerow([label, youtube_id, 0, 1, split])
    return path


@pytest.mark.parametrize("label,youtube_id,split,field", [
    ("../../../../x", "vid", "train", "label"),
    ("/abs", "vid", "train", "label"),
    ("..", "vid", "train", "label"),
    ("a\x00b", "vid", "train", "label"),
    ("walk", "vid", "../../y", "split"),
    ("walk", "vid", "/tmp", "split"),
    ("walk", "../../../z", "train", "youtube_id"),
    ("walk", "vid", "..", "split"),
])
def test_trim_refuses_rows_that_leave_the_output(tmp_path, capsys, label, youtube_id, split, field):
    deep = tmp_path / "a" / "b" / "c" / "d"
    raw, out = deep / "raw", deep / "out"
    raw.mkdir(parents=True)
    ann = _kinetics_csv(deep / "k.csv", label, youtube_id, split)
    before = sorted(tmp_path.rglob("*"))
    status = prepare_main(["trim", str(ann), str(raw), str(out), "--workers", "1", "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    assert f"{ann}:3" in err and field in err          # names the file, row and field
    assert sorted(tmp_path.rglob("*")) == before        # nothing written anywhere, not even the report
    assert not Path("/abs").exists()


def test_kinetics_labels_are_normalised_like_the_kinetics_tools():
    assert kinetics_label_dir('passing American football (in game)') == "passing_American_football_(in_game)"
    assert kinetics_label_dir("  riding  'mule'  ") == "riding_mule"
    assert safe_name("abseiling", "label") == "abseiling"
    with pytest.raises(ValueError, match=r"row 9: label 'a/b' contains a path separator"):
        safe_name("a/b", "label", "row 9")


@pytest.mark.parametrize("names,split", [(["ok", "../evil"], "train"), (["ok", "fine"], "../up")])
def test_link_refuses_class_names_and_splits_that_leave_the_output(tmp_path, names, split):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 16)
    listing = tmp_path / "list.csv"
    listing.write_text(f"org_video,label\n{video},1\n")
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join(names) + "\n")
    out = tmp_path / "deep" / "out"
    assert prepare_main(["link", str(listing), str(out), "--split", split, "--classes", str(classes)]) == 2
    assert not (tmp_path / "deep").exists() and not (tmp_path / "evil").exists()


# ------------------------------------------------------------------------------ output = input
@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """One valid input file of every format zoo-convert reads."""
    root = tmp_path_factory.mktemp("inputs")
    torch.manual_seed(0)
    model = zoo.create_model("r2plus1d_18", num_classes=3, channel_multiplier=0.125)
    ckpt = zoo.save_checkpoint(model, root / "model.safetensors", clip_len=8)
    blobs = checkpoint_blobs(ckpt)
    pkl = save_pickle(root / "model.pkl", {"blobs": blobs})
    mdl = write_minidb(root / "model.mdl", blobs)
    pth = root / "model.pth"
    torch.save(model.state_dict(), pth)
    return {"safetensors": ckpt, "pickle": pkl, "minidb": mdl, "pth": pth}


CONVERT = [("minidb_to_pickle", "minidb"), ("pickle_to_safetensors", "pickle"), ("minidb_to_safetensors", "minidb"),
           ("safetensors_to_pickle", "safetensors"), ("safetensors_to_minidb", "safetensors"),
           ("torchvision_to_safetensors", "pth"), ("to_onnx", "safetensors")]


def _same_file_output(src: Path, folder: Path, kind: str) -> Path:
    """An output path that is ``src`` itself, a symlink to it or a hard link of it."""
    if kind == "plain":
        return src
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"out-{kind}{src.suffix}"
    if kind == "symlink":
        out.symlink_to(src)
    else:
        os.link(src, out)
    return out


@pytest.mark.parametrize("kind", ["plain", "symlink", "hardlink"])
@pytest.mark.parametrize("command,fmt", CONVERT)
def test_convert_refuses_to_write_over_its_input(inputs, tmp_path, capsys, command, fmt, kind):
    src = tmp_path / Path(inputs[fmt]).name
    src.write_bytes(Path(inputs[fmt]).read_bytes())
    original = src.read_bytes()
    out = _same_file_output(src, tmp_path / "links", kind)
    status = convert_main([command, str(src), str(out)])
    err = capsys.readouterr().err
    assert status == 2, err
    assert "is the input file" in err
    assert src.read_bytes() == original


@pytest.mark.parametrize("kind", ["plain", "symlink", "hardlink"])
def test_predict_features_refuses_the_checkpoint_path(inputs, tmp_path, capsys, kind):
    src = tmp_path / "model.safetensors"
    src.write_bytes(Path(inputs["safetensors"]).read_bytes())
    original = src.read_bytes()
    out = _same_file_output(src, tmp_path / "links", kind)
    if kind != "plain":   # the check is about the file, not the suffix: keep one predict accepts
        assert out.suffix == ".safetensors"
    assert predict_main([str(src), "--checkpoint", str(src), "--features", str(out)]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert src.read_bytes() == original


@pytest.mark.parametrize("layout", ["same", "model-in-folder"])
def test_hub_export_refuses_to_write_over_the_checkpoint(inputs, tmp_path, capsys, layout):
    folder = tmp_path / "hub"
    folder.mkdir()
    src = folder / "model.safetensors"
    src.write_bytes(Path(inputs["safetensors"]).read_bytes())
    original = src.read_bytes()
    out = src if layout == "same" else folder
    assert hub_main(["export", str(src), str(out)]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert src.read_bytes() == original and sorted(p.name for p in folder.iterdir()) == ["model.safetensors"]


# ------------------------------------------------------------------------------ unchecked weights
def _broken_checkpoint(inputs, path: Path, how: str) -> Path:
    from safetensors.numpy import load_file
    from safetensors import safe_open

    with safe_open(str(inputs["safetensors"]), framework="np") as fh:
        metadata = fh.metadata()
    state = load_file(str(inputs["safetensors"]))
    if how == "wrong-shape":
        state["fc.weight"] = np.zeros((5, 7), np.float32)
    elif how == "missing":
        del state["layer1.0.conv1.0.0.weight" if "layer1.0.conv1.0.0.weight" in state else sorted(state)[3]]
    else:
        state["extra.weight"] = np.zeros(3, np.float32)
    save_file(state, str(path), metadata=metadata)
    return path


@pytest.mark.parametrize("how", ["wrong-shape", "missing", "extra"])
@pytest.mark.parametrize("command,suffix", [("safetensors_to_pickle", ".pkl"), ("safetensors_to_minidb", ".mdl")])
def test_legacy_writers_refuse_weights_that_do_not_fit(inputs, tmp_path, capsys, command, suffix, how):
    bad = _broken_checkpoint(inputs, tmp_path / "bad.safetensors", how)
    with pytest.raises(ValueError, match="do not fit"):
        zoo.load_checkpoint(bad)                       # the loader refuses it ...
    out = tmp_path / f"out{suffix}"
    assert convert_main([command, str(bad), str(out)]) == 1
    assert "weights do not fit the model" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.safetensors"]   # ... and nothing is written
