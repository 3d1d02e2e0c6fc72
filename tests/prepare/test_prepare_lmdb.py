"""VMZ video LMDBs: TensorProtos records, direct reading, and zoo-prepare from-lmdb."""
from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

import lmdb  # noqa: E402  (dev extra: the tests need it, never skip)

from prepare_videos import cfr_times, make_source, read_code  # noqa: E402
from zoo import protobuf as pb  # noqa: E402
from zoo.data.datasets import discover, read_vmz_list  # noqa: E402
from zoo.data.views import ViewSpec, decode_views  # noqa: E402
from zoo.data.prepare.cli import main  # noqa: E402
from zoo.data.prepare.lists import ListRow, read_classes  # noqa: E402
from zoo.data.lmdb_videos import VideoLmdb, write_video_lmdb  # noqa: E402
from zoo.tensorproto import INT32, INT64, STRING, decode_tensor_protos, encode_tensor_protos  # noqa: E402


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    paths = []
    for i, (w, h) in enumerate([(32, 24), (24, 32), (32, 24)]):
        path = root / f"clip{i}.mp4"
        make_source(path, cfr_times(4 + i, Fraction(25)), w, h)
        paths.append(path)
    return paths


def test_tensorprotos_roundtrip_and_unpacked_ints():
    blob = encode_tensor_protos([[b"\x00video\xff"], np.array([-3], np.int32), np.array([7], np.int32),
                                 np.array([1 << 40], np.int64)])
    assert decode_tensor_protos(blob) == [(STRING, [b"\x00video\xff"]), (INT32, [-3]), (INT32, [7]),
                                          (INT64, [1 << 40])]
    # a writer that emits unpacked int32_data (tag 0x20) must read the same
    unpacked = pb.field_varint(1, 1) + pb.field_varint(2, INT32) + pb.field_varint(4, 12)
    assert decode_tensor_protos(pb.field_bytes(1, unpacked)) == [(INT32, [12])]


def test_read_bytes_and_path_databases(clips, tmp_path):
    rows = [ListRow(str(p), label, None, None) for p, label in zip(clips, [1, 0, 1])]
    write_video_lmdb(tmp_path / "bytes_db", rows)
    with VideoLmdb(tmp_path / "bytes_db") as db:
        assert len(db) == 3
        records = list(db)
        assert [r.label for r in records] == [1, 0, 1]
        assert [r.data for r in records] == [p.read_bytes() for p in clips]
        with av.open(db[1].open()) as container:  # the datasets can decode straight from the record
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert [read_code(f) for f in frames] == [0, 1, 2, 3, 4]

    dense = [ListRow(str(clips[0]), 2, start, 10) for start in (0, 2)] + [ListRow(str(clips[2]), 0, 0, 11)]
    write_video_lmdb(tmp_path / "path_db", dense, use_list=True)
    with VideoLmdb(tmp_path / "path_db") as db:
        got = [(r.path, r.label, r.start_frame, r.video_id, r.data) for r in db]
    assert got == [(str(clips[0]), 2, 0, 10, None), (str(clips[0]), 2, 2, 10, None), (str(clips[2]), 0, 0, 11, None)]


def test_from_lmdb_cli(clips, tmp_path, capsys):
    # two "epochs" (create_video_db.py --num_epochs 2): every video appears twice
    rows = [ListRow(str(p), label, None, vid) for vid, (p, label) in enumerate(zip(clips, [1, 0, 1]))] * 2
    write_video_lmdb(tmp_path / "db", rows)
    (tmp_path / "classes.txt").write_text("archery\nbowling\n")
    out = tmp_path / "out"
    assert main(["from-lmdb", str(tmp_path / "db"), str(out), "--split", "val",
                 "--classes", str(tmp_path / "classes.txt")]) == 0
    assert "6 record(s): 3 video file(s) written" in capsys.readouterr().out
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mp4"))
    assert files == ["val/archery/00000001.mp4", "val/bowling/00000000.mp4", "val/bowling/00000002.mp4"]
    assert (out / "val/bowling/00000002.mp4").read_bytes() == clips[2].read_bytes()
    assert read_classes(out / "classes.txt") == ["archery", "bowling"]
    samples, _ = read_vmz_list(out / "val_list.csv")
    assert len(samples) == 6 and [s.label for s in samples[:3]] == [1, 0, 1]
    folder, names = discover(out, split="val", classes=["archery", "bowling"])
    assert sorted((s.path.name, s.label) for s in folder) == [("00000000.mp4", 1), ("00000001.mp4", 0),
                                                             ("00000002.mp4", 1)]


def test_bad_databases(tmp_path):
    env = lmdb.open(str(tmp_path / "junk"), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"0", encode_tensor_protos([np.array([1], np.int32)]))
    env.close()
    with VideoLmdb(tmp_path / "junk") as db, pytest.raises(ValueError, match=r"junk: record '0' is not a VMZ"):
        db[0]
    with pytest.raises(FileNotFoundError, match="nope"):
        VideoLmdb(tmp_path / "nope")
    assert main(["from-lmdb", str(tmp_path / "junk"), str(tmp_path / "o")]) == 2


def test_datasets_read_an_lmdb_directly(clips, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    rows = [ListRow(str(p), label, None, vid) for vid, (p, label) in enumerate(zip(clips, [1, 0, 1]))]
    write_video_lmdb(tmp_path / "bytes_db", rows)
    samples, names = discover(tmp_path / "bytes_db", classes=["archery", "bowling"])
    assert names == ["archery", "bowling"] and [s.label for s in samples] == [1, 0, 1]
    spec = ViewSpec(clip_len=2, sampling_rate=1, num_clips=2, resize=None, crop_size=None)
    views = decode_views(samples[1].path, spec)               # unpacked bytes decode like any video
    assert [[read_code(f) for f in clip] for clip in views.numpy()] == [[0, 1], [3, 4]]
    stamp = samples[0].path.stat().st_mtime_ns
    again, _ = discover(tmp_path / "bytes_db", classes=["archery", "bowling"])
    assert again == samples and samples[0].path.stat().st_mtime_ns == stamp   # unpacked once, then reused
    # path records are used in place; dense rows keep their start frame and video id
    dense = [ListRow(str(clips[0]), 0, start, 10) for start in (0, 2)]
    write_video_lmdb(tmp_path / "path_db", dense, use_list=True)
    samples, names = discover(tmp_path / "path_db")
    assert names == ["0"] and [(s.start_frame, s.video_id) for s in samples] == [(0, "10"), (2, "10")]
    assert samples[0].path.resolve() == clips[0].resolve()
