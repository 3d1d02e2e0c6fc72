"""Dataset discovery: Kinetics folders, VMZ list files, Kinetics annotation CSVs, class lists."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from zoo.data.datasets import VideoSample, discover, kinetics_clip_name
from zoo.data.errors import ClassMismatchError, DatasetWarning


@pytest.fixture()
def kinetics_tree(tmp_path, videos) -> Path:
    src = videos["h264_30fps"]
    root = tmp_path / "k400"
    for split, names in {"train": ["b class", "a_class", "c"], "val": ["a_class", "c"]}.items():
        for name in names:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(2):
                shutil.copy(src, folder / f"vid{i}.mp4")
    (root / "train" / "c" / ".vid9.mp4.tmp123.mp4").write_bytes(b"partial")  # atomic temp file
    (root / "train" / "c" / "notes.txt").write_text("not a video")
    (root / "train" / ".cache").mkdir()
    return root


def test_folder_layout(kinetics_tree):
    with pytest.warns(DatasetWarning, match=r"left_out: 1 file\(s\) .*c/notes.txt"):  # never skipped silently
        samples, classes = discover(kinetics_tree, "train")
    assert classes == ["a_class", "b class", "c"]
    assert len(samples) == 6 and all(s.path.suffix == ".mp4" and not s.path.name.startswith(".")
                                     for s in samples)
    assert {(s.path.parent.name, s.label) for s in samples} == {("a_class", 0), ("b class", 1), ("c", 2)}
    assert len({s.video_id for s in samples}) == 6


def test_folder_layout_with_a_given_class_list(kinetics_tree):
    classes = ["zebra", "c", "b_class", "a class"]  # folder names match up to spaces/underscores
    samples, names = discover(kinetics_tree, "val", classes=classes)
    assert names == classes
    assert {(s.path.parent.name, s.label) for s in samples} == {("a_class", 3), ("c", 1)}


def test_class_mismatch_is_a_clear_error(kinetics_tree):
    with pytest.raises(ClassMismatchError, match="b class"):
        discover(kinetics_tree, "train", classes=["a_class", "c"])


def test_wrong_paths(kinetics_tree, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        discover(tmp_path / "nowhere", "val")
    with pytest.raises(FileNotFoundError, match="test"):
        discover(kinetics_tree, "test")
    (tmp_path / "empty" / "val" / "x").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no videos"):
        discover(tmp_path / "empty", "val")
    with pytest.raises(FileNotFoundError, match="pass a split"):
        discover(kinetics_tree)


def test_vmz_list_file(tmp_path, videos):
    shutil.copy(videos["h264_30fps"], tmp_path / "a.mp4")
    (tmp_path / "sub").mkdir()
    shutil.copy(videos["mpeg4_25fps"], tmp_path / "sub" / "b.avi")
    lst = tmp_path / "val_list.csv"
    lst.write_text(f"org_video,label,start_frm,video_id\na.mp4,2,0,7\na.mp4,2,32,7\n"
                   f"{tmp_path / 'sub' / 'b.avi'},0,0,8\n")
    samples, classes = discover(lst)
    assert classes == ["0", "1", "2"]
    assert samples == [VideoSample(tmp_path / "a.mp4", 2, "7", 0), VideoSample(tmp_path / "a.mp4", 2, "7", 32),
                       VideoSample(tmp_path / "sub" / "b.avi", 0, "8", 0)]
    # headerless two-column list; found via ROOT/{split}list.csv
    (tmp_path / "trainlist.csv").write_text("a.mp4,1\nsub/b.avi,0\n")
    samples, classes = discover(tmp_path, "train", classes=["x", "y"])
    assert [(s.path.name, s.label, s.video_id) for s in samples] == [("a.mp4", 1, str(tmp_path / "a.mp4")),
                                                                     ("b.avi", 0, str(tmp_path / "sub/b.avi"))]
    assert all(s.start_frame is None for s in samples)   # no start_frm column: uniform clips over the video
    with pytest.raises(ClassMismatchError):
        discover(lst, classes=["x", "y"])


def test_vmz_list_missing_video(tmp_path, videos):
    shutil.copy(videos["h264_30fps"], tmp_path / "a.mp4")
    lst = tmp_path / "list.csv"
    lst.write_text("org_video,label\na.mp4,0\ngone.mp4,1\n")
    with pytest.raises(FileNotFoundError, match="gone.mp4"):
        discover(lst)
    with pytest.warns(UserWarning, match="1 listed video"):
        samples, _ = discover(lst, on_missing="skip")
    assert len(samples) == 1


def test_kinetics_annotation_csv(tmp_path, videos):
    rows = [("abseiling", "AAAAAAAAAAA", 10, 20), ("air drumming", "BBBBBBBBBBB", 0, 10),
            ("abseiling", "CCCCCCCCCCC", 5, 15)]
    (tmp_path / "val" / "abseiling").mkdir(parents=True)
    (tmp_path / "air_drumming").mkdir()
    shutil.copy(videos["h264_30fps"], tmp_path / "val" / "abseiling" / kinetics_clip_name("AAAAAAAAAAA", 10, 20))
    shutil.copy(videos["h264_30fps"], tmp_path / "air_drumming" / "BBBBBBBBBBB_000000_000010.mp4")
    csv_path = tmp_path / "val.csv"
    csv_path.write_text("label,youtube_id,time_start,time_end,split,is_cc\n"
                        + "".join(f"{a},{b},{c},{d},val,0\n" for a, b, c, d in rows))
    with pytest.raises(FileNotFoundError, match="CCCCCCCCCCC_000005_000015"):
        discover(csv_path)
    with pytest.warns(UserWarning):
        samples, classes = discover(csv_path, on_missing="skip")
    assert classes == ["abseiling", "air drumming"]
    assert [(s.video_id, s.label) for s in samples] == [("AAAAAAAAAAA_000010_000020", 0),
                                                        ("BBBBBBBBBBB_000000_000010", 1)]
    with pytest.raises(ClassMismatchError, match="air drumming"):
        discover(csv_path, classes=["abseiling", "zumba"], on_missing="skip")


def test_kinetics_csv_found_by_split_name(tmp_path, videos):
    (tmp_path / "yoga").mkdir()
    shutil.copy(videos["mpeg4_25fps"], tmp_path / "yoga" / "DDDDDDDDDDD_000001_000011.avi")
    (tmp_path / "test.csv").write_text("label,youtube_id,time_start,time_end,split\n"
                                       "yoga,DDDDDDDDDDD,1,11,test\n")
    samples, classes = discover(tmp_path, "test")
    assert classes == ["yoga"] and samples[0].label == 0 and samples[0].path.suffix == ".avi"


def test_folder_takes_every_format_ffmpeg_demuxes(tmp_path, videos):
    """Transport streams, WMV/ASF, MXF, raw elementary streams... are videos too."""
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    names = ["x.ts", "x.m2ts", "x.wmv", "x.asf", "x.mxf", "x.m2v", "x.ivf", "x.gif", "x.264", "x.rm", "x.vob"]
    for name in names:
        shutil.copy(videos["h264_30fps"], root / "a" / name)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing left out
        samples, _ = discover(root)
    assert sorted(s.path.name for s in samples) == sorted(names)
