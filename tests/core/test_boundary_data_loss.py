"""The tools at their boundary, data loss: nothing a user owns is deleted or overwritten. No link replaces a real
file, no report overwrites an input, sweeps of killed runs' temporaries touch only the tool's own ones, no output
replaces a device or a FIFO, two inputs never share one output name, and a training run never continues (or
overwrites) another run's folder."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from zoo._io import atomic_write_bytes, atomic_write_text
from zoo.errors import UsageError
from zoo.convert.cli import main as convert_main
from zoo.data.encode import encode_video
from zoo.data.prepare.cli import main as prepare_main
from zoo.data.synthetic import generate
from zoo.evaluate.cli import main as zoo_test_main
from zoo.extract.cli import main as extract_main
from zoo.hub.cli import main as hub_main
from zoo.tensorproto import encode_tensor_protos


def exit_status(main, argv) -> int:
    """A tool's exit status whether it returns it or argparse raises SystemExit."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:
        return exc.code


def tree(root: Path) -> dict[str, str]:
    """Every entry below ``root`` with what it is (file contents hashed, links and FIFOs by kind)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            out[str(path)] = "link:" + os.readlink(path)
        elif path.is_fifo():
            out[str(path)] = "fifo"
        elif path.is_file():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[str(path)] = "dir"
    return out


def video(path: Path, seed: int, frames: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    return encode_video(path, rng.integers(0, 255, (frames, 32, 32, 3), dtype=np.uint8), fps=8)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A two-class synthetic dataset (train and val) and a tiny checkpoint that knows its classes."""
    root = tmp_path_factory.mktemp("data-loss")
    data = generate(root / "data", classes=2, videos_per_class=2, val_videos_per_class=1)
    classes = (data / "classes.txt").read_text().split()
    torch.manual_seed(0)
    model = zoo.create_model("r2plus1d_10", num_classes=2, channel_multiplier=0.125)
    ckpt = zoo.save_checkpoint(model, root / "model.safetensors", clip_len=4, crop_size=32, resize=32,
                               classes=classes, mean=[0.45] * 3, std=[0.225] * 3)
    return {"data": data, "ckpt": ckpt, "classes": classes}


# ------------------------------------------------------------------ 1. a link never replaces a real file
def test_link_never_replaces_a_users_file(tmp_path, capsys):
    videos = [video(tmp_path / "videos" / f"v{i}.mp4", i) for i in range(2)]
    listing = tmp_path / "list.csv"
    listing.write_text("org_video,label\n" + "".join(f"{v},0\n" for v in videos))
    out = tmp_path / "out"
    mine = out / "train" / "0" / "v1.mp4"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"the user's own video")
    before = tree(out)
    assert prepare_main(["link", str(listing), str(out)]) == 2
    assert f"{mine}: a file that is not a link is in the way" in capsys.readouterr().err
    assert tree(out) == before and mine.read_bytes() == b"the user's own video"   # no link made at all


# ------------------------------------------------------------------ 2. a report never overwrites an input
def _same_file(src: Path, kind: str) -> Path:
    if kind == "plain":
        return src
    out = src.with_name(f"report-{kind}.csv")
    out.symlink_to(src) if kind == "symlink" else os.link(src, out)
    return out


@pytest.mark.parametrize("kind", ["plain", "symlink", "hardlink"])
def test_trim_report_is_not_the_annotations(tmp_path, capsys, kind):
    video(tmp_path / "raw" / "abc.mp4", 0, frames=24)
    ann = tmp_path / "k.csv"
    ann.write_text("label,youtube_id,time_start,time_end,split\nwalk,abc,0,1,train\n")
    original = ann.read_bytes()
    status = prepare_main(["trim", str(ann), str(tmp_path / "raw"), str(tmp_path / "out"), "--workers", "1", "-q",
                           "--min-duration", "0.1", "--report", str(_same_file(ann, kind))])
    assert status == 2
    assert "is the input file" in capsys.readouterr().err
    assert ann.read_bytes() == original and not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["plain", "symlink", "hardlink"])
def test_index_check_report_is_not_the_list_file(tmp_path, capsys, kind):
    clip = video(tmp_path / "videos" / "v.mp4", 0)
    listing = tmp_path / "list.csv"
    listing.write_text(f"org_video,label\n{clip},0\n")
    original = listing.read_bytes()
    status = prepare_main(["index", str(listing), "--check", "--workers", "1", "-q", "--cache-dir",
                           str(tmp_path / "cache"), "--report", str(_same_file(listing, kind))])
    assert status == 2
    assert "is the input file" in capsys.readouterr().err
    assert listing.read_bytes() == original and not (tmp_path / "cache").exists()


# ------------------------------------------------------------------ 3. sweeps touch only the tool's own temporaries
USERS_HIDDEN_FILES = {".env.settings": "KEY=1", ".bashrc.original": "alias ll='ls -l'",
                      ".best.notes": "keep", ".log.old": "old log", ".last.txt": "mine",
                      ".last.pt.abcd1234.pt": "a live zoo-train temporary"}


def _hidden(folder: Path) -> dict[Path, str]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {folder / name: text for name, text in USERS_HIDDEN_FILES.items()}
    for path, text in files.items():
        path.write_text(text)
    return files


def test_zoo_test_keeps_files_it_never_wrote(small, tmp_path):
    out = tmp_path / "out"
    files = _hidden(out)
    killed = out / ".metrics.json.k1ll3d00.json"       # its own, left by a killed zoo-test: the lock proves it
    killed.write_text("half written")
    assert exit_status(zoo_test_main, ["--checkpoint", small["ckpt"], "--data-path", small["data"], "--output", out,
                                       "--workers", "0", "-q", "--clips", "1"]) == 0
    assert {p: p.read_text() for p in files} == files
    assert not killed.exists() and (out / "metrics.json").is_file()


def test_zoo_train_keeps_files_it_never_wrote(tmp_path):
    from zoo.train.cli import main as train_main

    out = tmp_path / "out"
    files = _hidden(out)
    assert train_main(["--data-path", str(tmp_path / "missing"), "--output-dir", str(out), "--device", "cpu",
                       "--no-progress"]) == 2
    assert {p: p.read_text() for p in files} == files


def test_extract_sweeps_only_old_temporaries_of_its_own_files(small, tmp_path):
    """zoo-extract holds no lock on --output: a temporary younger than an hour may be a live run's."""
    clips = [video(tmp_path / "videos" / "a.mp4", 0), video(tmp_path / "videos" / "b.mp4", 1)]
    out = tmp_path / "feats"
    argv = [*clips, "--checkpoint", small["ckpt"], "--output", out, "--window", "4", "--workers", "0", "-q"]
    assert exit_status(extract_main, argv) == 0
    live, killed = out / ".a.safetensors.l1ve0000.safetensors", out / ".b.safetensors.k1ll3d00.safetensors"
    for path in (live, killed):
        path.write_bytes(b"half written")
    os.utime(killed, (0, 0))
    assert exit_status(extract_main, argv) == 0
    assert live.read_bytes() == b"half written" and not killed.exists()


def test_trim_keeps_hidden_files_beside_its_clips(tmp_path):
    video(tmp_path / "raw" / "abc.mp4", 0, frames=24)
    ann = tmp_path / "k.csv"
    ann.write_text("label,youtube_id,time_start,time_end,split\nwalk,abc,0,2,train\n")
    folder = tmp_path / "out" / "train" / "walk"
    folder.mkdir(parents=True)
    mine = folder / ".abc_000000_000002.mp4.original"
    mine.write_text("mine")
    assert prepare_main(["trim", str(ann), str(tmp_path / "raw"), str(tmp_path / "out"), "--workers", "1", "-q",
                         "--short-side", "32", "--fps", "8", "--min-duration", "0.1"]) == 0
    assert mine.read_text() == "mine" and (folder / "abc_000000_000002.mp4").is_file()


# ------------------------------------------------------------------ 4. no output replaces a device or a FIFO
@pytest.fixture(params=["fifo", "link-to-dev-null"])
def special(request, tmp_path) -> Path:
    path = tmp_path / "special"
    if request.param == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(os.devnull)
    return path


def _is_special(path: Path, kind_before: str) -> bool:
    return path.is_fifo() if kind_before == "fifo" else (path.is_symlink() and os.readlink(path) == os.devnull)


def test_the_atomic_writer_refuses_a_device_or_fifo(special):
    kind = "fifo" if special.is_fifo() else "link"
    with pytest.raises(UsageError, match="not a regular file"):
        atomic_write_bytes(special, b"data")
    with pytest.raises(UsageError, match="not a regular file"):
        atomic_write_text(special, "text")
    assert _is_special(special, kind) and [p.name for p in special.parent.iterdir()] == ["special"]


def test_tools_refuse_a_device_or_fifo_output(small, special, tmp_path, capsys):
    kind = "fifo" if special.is_fifo() else "link"
    assert exit_status(convert_main, ["safetensors_to_pickle", small["ckpt"], special]) == 2
    assert "not a regular file" in capsys.readouterr().err and _is_special(special, kind)
    clip = next(small["data"].rglob("*.mp4"))
    listing = tmp_path / "list.csv"
    listing.write_text(f"org_video,label\n{clip},0\n")
    assert exit_status(prepare_main, ["index", listing, "--check", "--workers", "1", "-q", "--cache-dir",
                                      tmp_path / "cache", "--report", special]) == 2
    assert "not a regular file" in capsys.readouterr().err and _is_special(special, kind)


def test_a_device_output_is_refused_in_a_subprocess(small, tmp_path):
    """The zoo-convert case of the report, as a user runs it: exit 2, no traceback, /dev/null untouched."""
    nul = tmp_path / "nul"
    nul.symlink_to(os.devnull)
    proc = subprocess.run([sys.executable, "-c", "import sys; from zoo.convert.cli import main; sys.exit(main())",
                           "safetensors_to_minidb", str(small["ckpt"]), str(nul)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "is a character device" in proc.stderr
    assert nul.is_symlink() and Path(os.devnull).is_char_device()


def test_a_fifo_in_place_of_an_appended_log_is_refused_not_waited_on(tmp_path):
    """zoo-test appends its per-rank records: a FIFO there would block the run forever (subprocess: the old
    code hangs)."""
    os.mkfifo(tmp_path / "records-0.jsonl")
    proc = subprocess.run([sys.executable, "-c", "import sys; from zoo.evaluate.records import RecordLog; "
                           "RecordLog(sys.argv[1])", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "is a FIFO (named pipe), not a regular file" in proc.stderr
    assert (tmp_path / "records-0.jsonl").is_fifo()


# ------------------------------------------------------------------ 5. output names never collide
def test_extract_gives_every_video_its_own_file(small, tmp_path):
    root = tmp_path / "data"
    names = ["a.mp4", "a.mkv", "a.mp4.mp4"]
    for i, name in enumerate(names):
        video(root / "val" / small["classes"][0] / name, i)
    video(root / "val" / small["classes"][1] / "b.mp4", 9)
    out = tmp_path / "feats"
    assert exit_status(extract_main, ["--data-path", root, "--split", "val", "--checkpoint", small["ckpt"],
                                      "--output", out, "--window", "4", "--workers", "0", "-q"]) == 0
    rows = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["ok"] * 4
    assert len({r["file"] for r in rows}) == 4                       # one file per video ...
    from safetensors import safe_open
    for row in rows:                                                  # ... holding that video's features
        with safe_open(str(out / row["file"]), "numpy") as fh:
            assert json.loads(fh.metadata()["zoo_extract"])["video"] == row["video"]


def test_extract_refuses_a_video_named_like_the_runs_own_files(small, tmp_path, capsys):
    clips = [video(tmp_path / "videos" / "run.mp4", 0), video(tmp_path / "videos" / "b.mp4", 1)]
    out = tmp_path / "feats"
    status = exit_status(extract_main, [*clips, "--checkpoint", small["ckpt"], "--output", out, "--window", "4",
                                        "--workers", "0", "-q", "--format", "npy", "--layers", "logits"])
    assert status == 2
    err = capsys.readouterr().err
    assert "run.json" in err and "would be written to this one file" in err
    assert not out.exists() or not any(out.iterdir())


def test_lists_refuses_splits_whose_files_collide(tmp_path, capsys):
    root = tmp_path / "data"
    video(root / "a" / "walk" / "v.mp4", 0)
    video(root / "a_list" / "walk" / "w.mp4", 1)
    out = tmp_path / "lists"
    assert prepare_main(["lists", str(root), "--out", str(out)]) == 2
    assert "a_list.csv: both split 'a' and split 'a_list'" in capsys.readouterr().err
    assert not out.exists()


def test_trim_refuses_segments_that_share_a_clip_name(tmp_path, capsys):
    video(tmp_path / "raw" / "abc.mp4", 0, frames=24)
    ann = tmp_path / "k.csv"
    ann.write_text("label,youtube_id,time_start,time_end,split\n"
                   "walk,abc,0.2,2.0,train\nwalk,abc,0.9,2.5,train\nwalk,abc,0.2,2.0,train\n")
    out = tmp_path / "out"
    assert prepare_main(["trim", str(ann), str(tmp_path / "raw"), str(out), "--workers", "1", "-q"]) == 2
    err = capsys.readouterr().err
    assert "line 2 (abc 0.2-2 s) and line 3 (abc 0.9-2.5 s)" in err and "abc_000000_000002.mp4" in err
    assert not out.exists()


def test_hub_export_never_replaces_a_users_readme_or_config(small, tmp_path, capsys):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "README.md").write_text("# my project\n")
    (folder / "config.json").write_text('{"mine": true}\n')
    before = tree(folder)
    assert hub_main(["export", str(small["ckpt"]), str(folder)]) == 2
    assert "not written by zoo-hub export" in capsys.readouterr().err
    assert tree(folder) == before
    exported = tmp_path / "exported"                     # an export folder may be exported into again
    assert hub_main(["export", str(small["ckpt"]), str(exported)]) == 0
    assert hub_main(["export", str(small["ckpt"]), str(exported)]) == 0


def test_link_refuses_two_videos_with_one_link_name(tmp_path, capsys):
    a, b = video(tmp_path / "x" / "v.mp4", 0), video(tmp_path / "y" / "v.mp4", 1)
    listing = tmp_path / "list.csv"
    listing.write_text(f"org_video,label\n{a},0\n{a},0\n{b},0\n")   # the same file twice is fine
    out = tmp_path / "out"
    assert prepare_main(["link", str(listing), str(out)]) == 2
    assert f"both {a} and {b}" in capsys.readouterr().err
    assert not out.exists()


# ------------------------------------------------------------------ 6. LMDB export: one file per record
def _lmdb(path: Path, records: list[tuple[bytes, bytes, int]]) -> Path:
    import lmdb

    env = lmdb.open(str(path), map_size=1 << 24, subdir=True)
    with env.begin(write=True) as txn:
        for key, blob, label in records:
            txn.put(key, encode_tensor_protos([[blob], np.array([label], np.int32)]))
    env.close()
    return path


def _blob(i: int) -> bytes:
    return b"\x00\x00\x00\x18ftypmp42" + bytes([i]) * 64     # MP4-looking bytes, one distinct video per i


def test_lmdb_export_keeps_every_record_apart(tmp_path):
    keys = [b"1", b"01", "\u00e9".encode(), "\u00e8".encode(), b"\xff\xfe"]
    db = _lmdb(tmp_path / "db", [(key, _blob(i), 0) for i, key in enumerate(keys)])
    out = tmp_path / "out"
    assert prepare_main(["from-lmdb", str(db), str(out)]) == 0
    with open(out / "train_list.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(keys) and len({r["org_video"] for r in rows}) == len(keys)
    assert sorted(Path(r["org_video"]).read_bytes() for r in rows) == sorted(_blob(i) for i in range(len(keys)))


def test_lmdb_export_refuses_a_negative_label(tmp_path, capsys):
    db = _lmdb(tmp_path / "db", [(b"0", _blob(0), 0), (b"1", _blob(1), 2), (b"2", _blob(2), -1)])
    out = tmp_path / "out"
    assert prepare_main(["from-lmdb", str(db), str(out)]) == 2
    assert "negative label -1" in capsys.readouterr().err
    assert not out.exists()


# ------------------------------------------------------------------ 7. one training run per folder
TINY = ["--model", "r2plus1d_10", "--model-option", "channel_multiplier=0.125", "--clip-len", "4",
        "--frame-rate", "0", "--train-resize-size", "36", "48", "--train-crop-size", "32", "--threads", "1",
        "--no-progress", "--device", "cpu", "-b", "2", "--epochs", "1", "--val-split", "none", "-j", "0"]


@pytest.fixture(scope="module")
def trained(small, tmp_path_factory):
    """A finished one-epoch run of the tiny model on ``small``'s data."""
    from zoo.train.cli import main as train_main

    out = tmp_path_factory.mktemp("run") / "out"
    files = _hidden(out)
    killed = out / ".last.pt.abcd1234.pt"        # its own temporary, in its folder, under its lock: a killed run's
    del files[killed]
    assert train_main(["--data-path", str(small["data"]), "--output-dir", str(out), *TINY]) == 0
    assert {p: p.read_text() for p in files} == files and not killed.exists()   # only that one is swept
    for path in files:
        path.unlink()
    return out


def _train(argv: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "zoo.train", *map(str, argv)], capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.mark.parametrize("change,named", [
    ({"--model": "r3d_10"}, "model r2plus1d_10 there, r3d_10 now"),
    ({"--model-option": "channel_multiplier=0.25"}, "channel_multiplier"),
    ({"--data-path": "COPY"}, "--data-path"),
    ({"--model": "r3d_10", "--no-resume": None}, "model r2plus1d_10 there, r3d_10 now"),
])
def test_zoo_train_refuses_another_runs_folder(small, trained, tmp_path, change, named):
    argv = ["--data-path", small["data"], "--output-dir", trained, *TINY]
    for flag, value in change.items():
        if value == "COPY":   # the same videos in another folder: another dataset as far as a run can tell
            value = shutil.copytree(small["data"], tmp_path / "copy")
        if value is None:
            argv.append(flag)
        elif flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    before = tree(trained)
    proc = _train(argv)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "is another run" in proc.stderr and named in proc.stderr and "Traceback" not in proc.stderr
    assert tree(trained) == before


def test_a_second_zoo_train_on_one_folder_is_refused(small, trained):
    from filelock import FileLock

    before = tree(trained)
    with FileLock(str(trained / ".zoo-train.lock"), timeout=0):    # a zoo-train is running there
        proc = _train(["--data-path", small["data"], "--output-dir", trained, *TINY])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "another zoo-train is running" in proc.stderr
    assert tree(trained) == before


def test_zoo_train_never_writes_over_the_checkpoint_it_starts_from(small, trained, tmp_path):
    out = tmp_path / "finetune"
    out.mkdir()
    start = out / "last.safetensors"          # the name of a model file the run writes: it would be replaced
    shutil.copyfile(trained / "last.safetensors", start)
    before = tree(out)
    proc = _train(["--checkpoint", start, "--data-path", small["data"], "--output-dir", out, *TINY])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "is the input file" in proc.stderr and "Traceback" not in proc.stderr
    assert tree(out) == before
