"""zoo-prepare ucf101 / hmdb51: official split files -> per-fold list files, with missing/extra videos counted."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from zoo.data.datasets import check_fold, discover, fold_splits
from zoo.data.prepare.cli import main
from zoo.data.prepare.official_splits import SplitFormatError, read_hmdb51_splits, safe_relative_path

from official_layouts import hmdb51_code, write_hmdb51, write_ucf101

UCF_CLASSES = ["YoYo", "Archery", "Bowling"]        # classInd order, deliberately not sorted
HMDB_CLASSES = ["wave", "brush_hair", "clap"]


def _names(samples) -> dict[str, int]:
    return {s.path.name: s.label for s in samples}


def test_ucf101_folds_follow_classind_and_count_missing_and_extra(tmp_path, capsys):
    videos, splits = write_ucf101(tmp_path, UCF_CLASSES, per_class=6)
    (videos / "Archery" / "v_Archery_g02_c01.avi").unlink()                  # listed (fold 1 train), missing
    (videos / "Bowling" / "v_Bowling_g99_c01.avi").write_bytes(b"x")          # on disk, in no split
    out = tmp_path / "ucf101"
    assert main(["ucf101", str(videos), str(splits), str(out)]) == 0
    printed = capsys.readouterr()
    assert "18 videos listed, 17 found, 1 missing, 1 extra" in printed.out
    assert "fold 1: 11 train, 6 test" in printed.out and "missing" in printed.err

    assert (out / "classes.txt").read_text().split() == UCF_CLASSES     # 1-based index k -> line k
    for fold in (1, 2, 3):
        check_fold(out, fold)
        train_name, test_name = fold_splits(fold)
        train, classes = discover(out, train_name)
        test, _ = discover(out, test_name)
        assert classes == UCF_CLASSES                                    # named by classes.txt beside the lists
        for sample in train + test:
            assert UCF_CLASSES[sample.label] == sample.path.parent.name
            assert sample.path.is_absolute()
        assert {int(s.path.stem.split("_g")[1][:2]) % 3 for s in test} == {fold % 3}
        assert not {s.path for s in train} & {s.path for s in test}
    train1, _ = discover(out, "train_fold1")
    assert "v_Archery_g02_c01.avi" not in _names(train1) and _names(train1)["v_YoYo_g02_c01.avi"] == 0

    report = json.loads((out / "prepare_report.json").read_text())
    assert report["missing"] == ["Archery/v_Archery_g02_c01.avi"] and report["extra"] == ["Bowling/v_Bowling_g99_c01.avi"]
    assert report["folds"]["1"] == {"train": 11, "test": 6, "unused": 0}

    with pytest.raises(FileNotFoundError, match=r"no fold 4 .*folds present: 1, 2, 3"):
        check_fold(out, 4)


def test_ucf101_relative_lists_survive_moving_the_tree(tmp_path):
    videos, splits = write_ucf101(tmp_path / "a", UCF_CLASSES, per_class=3)
    assert main(["ucf101", str(videos), str(splits), str(tmp_path / "a" / "lists"), "--relative"]) == 0
    assert not (tmp_path / "a" / "lists" / "test_fold1.csv").read_text().splitlines()[1].startswith("/")
    (tmp_path / "a").rename(tmp_path / "b")
    samples, _ = discover(tmp_path / "b" / "lists", "test_fold2")
    assert len(samples) == 3 and all(s.path.is_file() for s in samples)


def test_hmdb51_codes_classes_from_file_names(tmp_path, capsys):
    videos, splits = write_hmdb51(tmp_path, HMDB_CLASSES, per_class=6)
    out = tmp_path / "hmdb51"
    assert main(["hmdb51", str(videos), str(splits), str(out), "-q"]) == 0
    assert "fold 1:" not in capsys.readouterr().out
    assert main(["hmdb51", str(videos), str(splits), str(out)]) == 0
    assert "18 videos listed, 18 found, 0 missing, 0 extra" in capsys.readouterr().out
    classes = sorted(HMDB_CLASSES)
    assert (out / "classes.txt").read_text().split() == classes
    for fold in (1, 2, 3):
        train, _ = discover(out, f"train_fold{fold}")
        test, _ = discover(out, f"test_fold{fold}")
        codes = {}
        for label, name in enumerate(classes):
            for i in range(6):
                codes[f"Some_Movie_({i})_{name}_f_cm_np1_fr_med_{i}.avi"] = (label, hmdb51_code(i, fold))
        assert _names(train) == {v: label for v, (label, code) in codes.items() if code == 1}
        assert _names(test) == {v: label for v, (label, code) in codes.items() if code == 2}
        assert 0 < len(test) < len(train)
    report = json.loads((out / "prepare_report.json").read_text())
    assert all(report["folds"][str(f)]["unused"] == sum(hmdb51_code(i, f) == 0 for i in range(6)) * 3
               for f in (1, 2, 3))
    assert len(read_hmdb51_splits(splits).unused[1]) == report["folds"]["1"]["unused"] > 0


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace(b"v_YoYo_g02_c01.avi 1", b"v_YoYo_g02_c01.avi 0"), r"trainlist01.txt:\d+: class index 0 outside 1..3"),
    (lambda s: s.replace(b"v_YoYo_g02_c01.avi 1", b"v_YoYo_g02_c01.avi 2"), r"index 2 is 'Archery' but the video is in 'YoYo'"),
    (lambda s: s.replace(b"YoYo/v_YoYo_g02_c01.avi", b"../YoYo/v_YoYo_g02_c01.avi"), r"is not CLASS/FILE"),
    (lambda s: s.replace(b"YoYo/v_YoYo_g02_c01.avi", b"/etc/v_YoYo_g02_c01.avi"), r"is not CLASS/FILE"),
    (lambda s: s.replace(b"YoYo/v_YoYo_g02_c01.avi 1", b"Unknown/v_YoYo_g02_c01.avi 1"), r"'Unknown' is not a class"),
])
def test_ucf101_bad_train_list_is_a_usage_error_naming_file_and_line(tmp_path, capsys, edit, message):
    videos, splits = write_ucf101(tmp_path, UCF_CLASSES, per_class=3)
    path = splits / "trainlist01.txt"
    path.write_bytes(edit(path.read_bytes()))
    assert main(["ucf101", str(videos), str(splits), str(tmp_path / "out")]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_ucf101_missing_files_and_unextracted_archives_are_usage_errors(tmp_path, capsys):
    videos, splits = write_ucf101(tmp_path, UCF_CLASSES, per_class=3)
    out = str(tmp_path / "out")
    (splits / "testlist02.txt").unlink()
    assert main(["ucf101", str(videos), str(splits), out]) == 2
    assert "fold 2 has no testlist02.txt" in capsys.readouterr().err
    (splits / "classInd.txt").unlink()
    assert main(["ucf101", str(videos), str(splits), out]) == 2
    assert "no classInd.txt" in capsys.readouterr().err

    archive = tmp_path / "UCF101TrainTestSplits-RecognitionTask.zip"
    archive.write_bytes(b"PK")
    assert main(["ucf101", str(videos), str(archive), out]) == 2
    assert "archive, not the extracted folder" in capsys.readouterr().err

    videos2, splits2 = write_ucf101(tmp_path / "second", UCF_CLASSES, per_class=3)
    packed = tmp_path / "packed"
    packed.mkdir()
    (packed / "UCF101.rar").write_bytes(b"Rar!")
    assert main(["ucf101", str(packed), str(splits2), out]) == 2
    assert "holds 1 archive(s) (UCF101.rar) but nothing extracted" in capsys.readouterr().err
    assert main(["ucf101", str(tmp_path / "nowhere"), str(splits2), out]) == 2
    assert "videos folder not found" in capsys.readouterr().err
    assert main(["ucf101", str(splits2), str(splits2), out]) == 1       # wrong folder: every listed video missing
    assert "none of the 9 videos" in capsys.readouterr().err


def test_hmdb51_bad_or_missing_split_files(tmp_path, capsys):
    videos, splits = write_hmdb51(tmp_path, HMDB_CLASSES, per_class=3)
    out = str(tmp_path / "out")
    path = splits / "clap_test_split2.txt"
    good = path.read_text()
    path.write_text(good.replace(" 1 \n", " 3 \n", 1))
    assert main(["hmdb51", str(videos), str(splits), out]) == 2
    assert "clap_test_split2.txt:" in (err := capsys.readouterr().err) and "0|1|2" in err
    path.write_text("../../escape.avi 1\n")
    assert main(["hmdb51", str(videos), str(splits), out]) == 2
    assert "is not a file name" in capsys.readouterr().err
    path.unlink()
    assert main(["hmdb51", str(videos), str(splits), out]) == 2
    assert "missing clap_test_split2.txt" in capsys.readouterr().err

    # the class archives of hmdb51_org.rar not extracted yet (one of them: reported, its videos missing)
    videos2, splits2 = write_hmdb51(tmp_path / "second", HMDB_CLASSES, per_class=3)
    for folder in videos2.iterdir():
        for video in folder.iterdir():
            video.unlink()
        folder.rmdir()
        (videos2 / f"{folder.name}.rar").write_bytes(b"Rar!")
    assert main(["hmdb51", str(videos2), str(splits2), out]) == 2
    assert "holds 3 archive(s)" in capsys.readouterr().err
    videos3, splits3 = write_hmdb51(tmp_path / "third", HMDB_CLASSES, per_class=3)
    for video in (videos3 / "wave").iterdir():
        video.unlink()
    (videos3 / "wave").rmdir()
    (videos3 / "wave.rar").write_bytes(b"Rar!")
    assert main(["hmdb51", str(videos3), str(splits3), out]) == 0
    report = json.loads((Path(out) / "prepare_report.json").read_text())
    assert report["unextracted"] == ["wave.rar"] and len(report["missing"]) == 3


def test_safe_relative_path():
    assert str(safe_relative_path("Class/v_x (1)&'#.avi", "f", parts=2)) == "Class/v_x (1)&'#.avi"
    for bad in ("", "/abs.avi", "a/../b.avi", "./a.avi", ".hidden.avi", "a\\b.avi", "C:x.avi", "a\x00.avi", "a//b"):
        with pytest.raises(SplitFormatError):
            safe_relative_path(bad, "f")
    with pytest.raises(SplitFormatError, match="not a file name"):
        safe_relative_path("a/b.avi", "f", parts=1)
