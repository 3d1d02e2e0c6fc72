"""zoo-extract over a dataset folder: per-video files mirroring the input, index, re-runs, formats, dense
lists, test views, bad videos and refused settings."""
import json
import shutil

import numpy as np
import pytest

import zoo
from extract_helpers import read_features
from zoo._io import sha256_of
from zoo.extract import extract_features
from zoo.extract.cli import main as zoo_extract

VIDEOS = ["c0/a", "c0/b", "c1/c", "c1/d"]


def run(dataset, checkpoint, out, *extra):
    return zoo_extract(["--data-path", str(dataset), "--split", "val", "--checkpoint", str(checkpoint),
                        "--output", str(out), "--window", "4", "--stride", "3", "--workers", "0", "-q", *extra])


def index(out):
    return [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]


def test_dataset_to_files_with_times_and_index(dataset, checkpoint, tmp_path):
    out = tmp_path / "feats"
    assert run(dataset, checkpoint, out, "--layers", "pool5,logits", "--workers", "2", "--batch-windows", "5") == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.safetensors")) == \
        [f"{v}.safetensors" for v in VIDEOS]
    rows = index(out)
    assert [r["status"] for r in rows] == ["ok"] * 4 and [r["label"] for r in rows] == [0, 0, 1, 1]
    model = zoo.load_checkpoint(checkpoint)
    for row, name in zip(rows, VIDEOS):
        data = read_features(out / f"{name}.safetensors")
        direct = extract_features(model, dataset / "val" / f"{name}.mp4", "pool5,logits", window=4, stride=3)
        np.testing.assert_allclose(data["pool5"], direct["pool5"], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(data["window_start"], direct.start)
        np.testing.assert_array_equal(data["window_end"], direct.end)
        assert row["windows"] == len(direct.start) and row["shape"]["logits"] == [len(direct.start), 2]
        from safetensors import safe_open
        with safe_open(str(out / f"{name}.safetensors"), "numpy") as fh:
            meta = json.loads(fh.metadata()["zoo_extract"])
        assert meta["settings"]["checkpoint_sha256"] == sha256_of(checkpoint)
        assert meta["settings"]["layers"] == ["pool5", "logits"] and meta["settings"]["clip_len"] == 4
        assert meta["video"] == str(dataset / "val" / f"{name}.mp4")
    csv_lines = (out / "index.csv").read_text().splitlines()
    assert csv_lines[0].startswith("index,video,video_id,label,file,windows,shape,status") and len(csv_lines) == 5


def test_pixel_rule_flags(dataset, checkpoint, tmp_path):
    out = tmp_path / "feats"
    assert run(dataset, checkpoint, out, "--resize-filter", "swscale_bilinear", "--crop-rule", "torchvision",
               "--colour-rule", "frame_tag") == 0
    settings = json.loads((out / "run.json").read_text())
    assert (settings["resize_filter"], settings["crop_rule"], settings["colour_rule"]) == \
        ("swscale_bilinear", "torchvision", "frame_tag")


def test_rerun_skips_done_videos_and_refuses_other_settings(dataset, checkpoint, tmp_path, capsys):
    out = tmp_path / "feats"
    assert run(dataset, checkpoint, out) == 0
    inodes = {p: p.stat().st_ino for p in out.rglob("*.safetensors")}
    (out / "c1/d.safetensors").unlink()
    assert run(dataset, checkpoint, out, "--resume") == 0
    assert "3 videos already done, 1 to go" in capsys.readouterr().err
    for path, inode in inodes.items():   # done files untouched (a rewrite is a rename: a new inode)
        assert path.exists() and (path.name == "d.safetensors" or path.stat().st_ino == inode)
    assert [r["status"] for r in index(out)] == ["ok"] * 4
    assert run(dataset, checkpoint, out, "--layers", "layer4") == 2
    assert "other settings" in capsys.readouterr().err and "layer4" not in json.dumps(index(out))
    assert run(dataset, checkpoint, tmp_path / "empty", "--resume") == 2


def test_bad_videos_are_skipped_and_reported(dataset, checkpoint, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    (data / "val/c0/empty.mp4").write_bytes(b"")
    (data / "val/c1/text.mp4").write_text("not a video\n" * 40)
    out = tmp_path / "feats"
    assert run(data, checkpoint, out) == 0
    rows = {r["video_id"]: r for r in index(out)}
    assert rows["c0/empty"]["status"] == "skipped" and rows["c0/empty"]["reason"].startswith("empty")
    assert rows["c1/text"]["status"] == "skipped" and rows["c1/text"]["file"] is None
    assert sum(r["status"] == "ok" for r in rows.values()) == 4
    assert not (out / "c0/empty.safetensors").exists()


def test_npy_format_and_test_views_with_reduction(dataset, checkpoint, tmp_path):
    out = tmp_path / "feats"
    assert run(dataset, checkpoint, out, "--format", "npy", "--layers", "pool5,layer2", "--pool-spatial", "mean",
               "--clips", "2", "--crops", "3", "--resize", "40", "--crop-size", "32", "--reduce", "max") == 0
    meta = json.loads((out / "c0/a.json").read_text())
    pool5 = np.load(out / "c0/a.pool5.npy")
    assert pool5.shape == (64,) and np.load(out / "c0/a.layer2.npy").shape == (16, 2)
    assert meta["windows"] == 2 and len(meta["window_start"]) == 2 and meta["settings"]["mode"] == "views"
    views = extract_features(zoo.load_checkpoint(checkpoint), dataset / "val/c0/a.mp4", "pool5", clips=2, crops=3,
                             resize=40, crop_size=32)
    np.testing.assert_allclose(pool5, views["pool5"].max(axis=(0, 1)), rtol=1e-5, atol=1e-6)
    mtime = (out / "c0/a.json").stat().st_ino
    assert run(dataset, checkpoint, out, "--format", "npy", "--layers", "pool5,layer2", "--pool-spatial", "mean",
               "--clips", "2", "--crops", "3", "--resize", "40", "--crop-size", "32", "--reduce", "max") == 0
    assert (out / "c0/a.json").stat().st_ino == mtime


def test_dense_list_rows_become_the_windows_of_one_file(dataset, checkpoint, tmp_path):
    listing = tmp_path / "dense.csv"
    video = dataset / "val/c1/c.mp4"
    listing.write_text("org_video,label,start_frm,video_id\n"
                       f"{video},1,0,clip_c\n{video},1,8,clip_c\n{video},1,20,clip_c\n"
                       f"{dataset / 'val/c0/a.mp4'},0,4,clip_a\n")
    out = tmp_path / "feats"
    assert zoo_extract(["--data-path", str(listing), "--checkpoint", str(checkpoint), "--output", str(out),
                        "--window", "4", "--workers", "0", "-q"]) == 0
    rows = index(out)
    assert [(r["video_id"], r["windows"]) for r in rows] == [("clip_c", 3), ("clip_a", 1)]
    data = read_features(out / "c1/c.safetensors")
    np.testing.assert_allclose(data["window_start"], [0, 8 / 30, 20 / 30])
    model = zoo.load_checkpoint(checkpoint)
    slid = extract_features(model, video, "pool5", window=4, stride=4)      # windows at 0, 4, 8, ... 24
    np.testing.assert_allclose(data["pool5"], slid["pool5"][[0, 2, 5]], rtol=1e-5, atol=1e-6)


def test_usage_errors(dataset, checkpoint, tmp_path, capsys):
    assert run(dataset, checkpoint, dataset) == 2
    assert "contains the input video" in capsys.readouterr().err
    assert run(dataset, checkpoint, tmp_path / "o", "--layers", "nope") == 2
    assert "unknown layer 'nope'" in capsys.readouterr().err
    assert zoo_extract(["--checkpoint", str(checkpoint), "--output", str(tmp_path / "x")]) == 2
    with pytest.raises(SystemExit) as exc:
        zoo_extract(["--output", str(tmp_path)])
    assert exc.value.code == 2


def test_a_text_file_of_video_paths(dataset, checkpoint, tmp_path):
    listing = tmp_path / "videos.txt"
    listing.write_text(f"# two videos\n{dataset / 'val/c1/d.mp4'}\n\n{dataset / 'val/c0/a.mp4'}\n")
    out = tmp_path / "feats"
    assert zoo_extract([str(listing), "--checkpoint", str(checkpoint), "--output", str(out), "--window", "4",
                        "--stride-sec", "0.2", "--workers", "0", "-q"]) == 0
    rows = index(out)
    assert [r["video"] for r in rows] == [str(dataset / "val/c1/d.mp4"), str(dataset / "val/c0/a.mp4")]
    assert [r["label"] for r in rows] == [-1, -1] and rows[0]["file"] == "c1/d.safetensors"
    np.testing.assert_allclose(read_features(out / "c0/a.safetensors")["window_start"], [0.0, 0.2, 0.4])


def test_amp_with_the_onnx_backend_is_a_usage_error(dataset, checkpoint, tmp_path, capsys):
    """onnxruntime would ignore --amp: a usage error (exit 2) before any work, nothing written."""
    assert run(dataset, checkpoint, tmp_path / "feats", "--amp", "fp16", "--backend", "onnx") == 2
    assert "--amp applies to the torch backend only" in capsys.readouterr().err
    assert not (tmp_path / "feats").exists()

