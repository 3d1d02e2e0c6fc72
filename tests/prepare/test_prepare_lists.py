"""zoo-prepare lists / link: VMZ list files, classes.txt, per-split CSVs, and the folder view of a list."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from zoo.data.datasets import discover
from zoo.data.prepare.cli import main
from zoo.data.prepare.lists import list_to_folder, read_classes, write_lists


@pytest.fixture
def prepared(tmp_path) -> Path:
    """A prepared folder (file contents do not matter to list writing)."""
    root = tmp_path / "kinetics"
    layout = {"train": {"zumba": ["a_000001_000011", "b_000000_000010"], "abseiling": ["c_000005_000015"],
                        "bowling": ["d_000002_000012"]},
              "val": {"abseiling": ["e_000003_000013"], "zumba": ["plain"]}}
    for split, classes in layout.items():
        for name, stems in classes.items():
            for stem in stems:
                path = root / split / name / f"{stem}.mp4"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"video")
    (root / "train" / "zumba" / ".a_000001_000011.mp4.tmp.mp4").write_bytes(b"partial")  # ignored
    return root


def test_lists_from_folder(prepared, capsys):
    assert main(["lists", str(prepared), "--video-id"]) == 0
    classes = read_classes(prepared / "classes.txt")
    assert classes == ["abseiling", "bowling", "zumba"]  # sorted union over splits, index = line number
    with open(prepared / "train_list.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["org_video", "label", "video_id"]
    got = {Path(r["org_video"]).name: classes[int(r["label"])] for r in rows}
    assert got == {"c_000005_000015.mp4": "abseiling", "d_000002_000012.mp4": "bowling",
                   "a_000001_000011.mp4": "zumba", "b_000000_000010.mp4": "zumba"}
    assert len({r["video_id"] for r in rows}) == 4
    # the data layer reads both list forms back to the same samples as the folder itself
    folder, _ = discover(prepared, split="val", classes=classes)
    for listed, kinetics_named_only in (("val_list.csv", False), ("val.csv", True)):
        samples, _ = discover(prepared / listed, classes=classes)
        expected = [s for s in folder if not kinetics_named_only or s.path.stem != "plain"]
        assert sorted((s.path.resolve(), s.label) for s in samples) == \
            sorted((s.path.resolve(), s.label) for s in expected)
    with open(prepared / "train.csv", newline="") as fh:
        kinetics = {r["youtube_id"]: r for r in csv.DictReader(fh)}
    assert kinetics["a"] == {"label": "zumba", "youtube_id": "a", "time_start": "1", "time_end": "11",
                             "split": "train"}


def test_link_list_to_folder(prepared, tmp_path):
    write_lists(prepared, tmp_path / "lists", relative=True)
    out = tmp_path / "view"
    classes = read_classes(tmp_path / "lists" / "classes.txt")
    assert main(["link", str(tmp_path / "lists" / "train_list.csv"), str(out), "--split", "train",
                 "--classes", str(tmp_path / "lists" / "classes.txt")]) == 0
    linked = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mp4"))
    assert linked == ["train/abseiling/c_000005_000015.mp4", "train/bowling/d_000002_000012.mp4",
                      "train/zumba/a_000001_000011.mp4", "train/zumba/b_000000_000010.mp4"]
    assert all(p.is_symlink() and p.resolve().is_file() for p in out.rglob("*.mp4"))
    samples, names = discover(out, split="train", classes=classes)
    assert len(samples) == 4 and names == classes
    # without class names the folders are the label numbers; running again is a no-op
    assert list_to_folder(tmp_path / "lists" / "val_list.csv", tmp_path / "numbers", "val") == 2
    assert sorted(p.name for p in (tmp_path / "numbers" / "val").iterdir()) == ["0", "2"]
    assert list_to_folder(tmp_path / "lists" / "val_list.csv", tmp_path / "numbers", "val") == 0


def test_list_errors(prepared, tmp_path):
    bad = tmp_path / "bad_list.csv"
    bad.write_text(f"org_video,label\n{prepared}/train/zumba/missing.mp4,0\n")
    with pytest.raises(FileNotFoundError, match="bad_list.csv"):
        list_to_folder(bad, tmp_path / "v", "train")
    bad.write_text(f"org_video,label\n{prepared}/train/zumba/a_000001_000011.mp4,7\n")
    with pytest.raises(ValueError, match="label 7 outside"):
        list_to_folder(bad, tmp_path / "v", "train", classes=["x"])
    assert main(["lists", str(tmp_path / "nowhere")]) == 2


def test_synthetic_subcommand(tmp_path):
    out = tmp_path / "synthetic"
    assert main(["synthetic", str(out), "--classes", "2", "--videos-per-class", "1",
                 "--val-videos-per-class", "1"]) == 0
    samples, names = discover(out, split="val")
    assert len(names) == 2 and len(samples) == 2
    assert main(["lists", str(out)]) == 0 and read_classes(out / "classes.txt") == names
