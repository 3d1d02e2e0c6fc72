"""The tools at their boundary, failures reported as success: every option and metadata field is checked where
it enters, before any work (exit 2, nothing written); a run whose every item failed exits 1; a full disk is
reported as a full disk."""
from __future__ import annotations

import contextlib
import csv
import os
import subprocess
from pathlib import Path

import pytest
import torch

import zoo
from zoo.convert.cli import main as convert_main
from zoo.data.prepare.cli import main as prepare_main
from zoo.data.synthetic import generate
from zoo.evaluate.cli import main as zoo_test_main
from zoo.extract.predict import main as predict_main


def exit_status(main, argv) -> int:
    """A tool's exit status whether it returns it or argparse raises SystemExit."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:
        return exc.code


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny checkpoint that knows its classes, and a two-class validation set of synthetic videos."""
    root = tmp_path_factory.mktemp("validation")
    dataset = generate(root / "data", classes=2, videos_per_class=2, val_videos_per_class=2, splits=("val",))
    classes = (dataset / "classes.txt").read_text().split()
    torch.manual_seed(0)
    model = zoo.create_model("r2plus1d_18", num_classes=2, channel_multiplier=0.125)
    ckpt = zoo.save_checkpoint(model, root / "model.safetensors", clip_len=4, crop_size=32, resize=[36, 48],
                               classes=classes)
    video = next(iter(sorted((dataset / "val").rglob("*.*"))))
    return {"root": root, "data": dataset, "ckpt": ckpt, "video": video}


@pytest.mark.parametrize("flags,named", [
    (["--clips", "0"], "--clips"),
    (["--clip-len", "-1"], "--clip-len"),
    (["--sampling-rate", "-2"], "--sampling-rate"),
    (["--frame-rate", "-5"], "--frame-rate"),
    (["--frame-rate", "inf"], "--frame-rate"),
    (["--resize", "0"], "--resize"),
    (["--resize", "128x0"], "--resize"),
    (["--crop-size", "300", "--resize", "256"], "--crop-size"),
    (["--crop-size", "64"], "--crop-size"),            # larger than the checkpoint's 36x48 resize
    (["--batch-videos", "0"], "--batch-videos"),
    (["--workers", "-1"], "--workers"),
    (["--limit", "0"], "--limit"),
])
def test_zoo_test_refuses_invalid_flags_before_any_work(data, tmp_path, capsys, flags, named):
    out = tmp_path / "out"
    status = exit_status(zoo_test_main, ["--checkpoint", data["ckpt"], "--data-path", data["data"], "--output", out,
                                     "--workers", "0", *flags])
    assert status == 2
    assert named in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("flags,named", [
    (["--clips", "0"], "--clips"),
    (["--crop-size", "0"], "--crop-size"),
    (["--crop-size", "100"], "--crop-size"),
    (["--topk", "0"], "--topk"),
    (["--topk", "two"], "--topk"),
])
def test_zoo_predict_refuses_invalid_flags(data, capsys, flags, named):
    assert exit_status(predict_main, [data["video"], "--checkpoint", data["ckpt"], *flags]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: --device cuda is valid here")
@pytest.mark.parametrize("main_args", ["predict", "test"])
def test_device_cuda_without_cuda_is_a_usage_error(data, capsys, main_args):
    if main_args == "predict":
        status = exit_status(predict_main, [data["video"], "--checkpoint", data["ckpt"], "--device", "cuda"])
    else:
        status = exit_status(zoo_test_main, ["--checkpoint", data["ckpt"], "--data-path", data["data"],
                                         "--device", "cuda"])
    assert status == 2
    assert "--device cuda: CUDA is not available" in capsys.readouterr().err


def test_zoo_test_exits_1_when_every_video_fails(data, tmp_path, capsys):
    broken = tmp_path / "broken" / "val"
    for name in (data["data"] / "classes.txt").read_text().split():
        (broken / name).mkdir(parents=True)
        (broken / name / "v.mp4").write_bytes(os.urandom(2000))
    (tmp_path / "broken" / "classes.txt").write_text((data["data"] / "classes.txt").read_text())
    status = exit_status(zoo_test_main, ["--checkpoint", data["ckpt"], "--data-path", tmp_path / "broken",
                                     "--workers", "0", "-q"])
    assert status == 1
    assert "every one of the 2 video(s) was skipped" in capsys.readouterr().err


def test_zoo_test_counts_unlabelled_rows(data, tmp_path, capsys):
    videos = sorted((data["data"] / "val").rglob("*.*"))
    listing = tmp_path / "val.csv"
    listing.write_text("org_video,label\n" + "".join(f"{v},{-1 if i == 0 else i % 2}\n"
                                                     for i, v in enumerate(videos)))
    classes = (data["data"] / "classes.txt").read_text().split()
    ckpt = data["ckpt"]
    status = exit_status(zoo_test_main, ["--checkpoint", ckpt, "--data-path", listing, "--workers", "0", "-q",
                                     "--output", tmp_path / "out"])
    out = capsys.readouterr().out
    assert status == 0, out
    import json
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["num_unlabelled"] == 1 and metrics["num_videos"] == len(videos) - 1
    assert "videos without a label (-1)" in out and len(classes) == 2


def test_to_onnx_refuses_an_opset_it_cannot_write(data, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert exit_status(convert_main, ["to_onnx", data["ckpt"], out, "--opset", "11"]) == 2
    err = capsys.readouterr().err
    assert "--opset 11" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("flags", [["--clip-len", "-3"], ["--crop-size", "0"], ["--option", "bogus=1"],
                                   ["--model-option", "use_pool1=\"yes\""], ["--arch", "r2plus1d_999"]])
def test_converters_refuse_bad_metadata_and_options(data, tmp_path, capsys, flags):
    from zoo.convert.pipelines import checkpoint_blobs
    from zoo.convert.pickle_io import save_pickle

    pkl = save_pickle(tmp_path / "in.pkl", {"blobs": checkpoint_blobs(data["ckpt"])})
    out = tmp_path / "out.safetensors"
    assert exit_status(convert_main, ["pickle_to_safetensors", pkl, out, *flags]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("field,value", [("clip_len", -3), ("crop_size", 0), ("frame_rate", float("nan")),
                                         ("resize", [128, 0]), ("std", [0.2, 0.2]), ("classes", "ab")])
def test_checkpoint_metadata_is_validated_before_writing(tmp_path, field, value):
    model = zoo.create_model("r3d_10", num_classes=2, channel_multiplier=0.125)
    with pytest.raises(ValueError, match=field):
        zoo.save_checkpoint(model, tmp_path / "m.safetensors", **{field: value})
    assert not list(tmp_path.iterdir())


def _trim_csv(path: Path, rows) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
        writer.writerows(rows)
    return path


def test_trim_exits_1_when_every_row_fails(tmp_path, capsys):
    (tmp_path / "raw").mkdir()
    ann = _trim_csv(tmp_path / "k.csv", [("walk", "gone", 0, 1, "train"), ("run", "also_gone", 0, 1, "train")])
    assert prepare_main(["trim", str(ann), str(tmp_path / "raw"), str(tmp_path / "out"), "-q", "--workers", "1"]) == 1
    assert "every one of the 2 segment(s) failed" in capsys.readouterr().err


@pytest.mark.parametrize("start,end", [(0, "inf"), ("nan", 2), (3, 1), (-1, 2)])
def test_trim_refuses_rows_that_are_not_segments(tmp_path, capsys, start, end):
    (tmp_path / "raw").mkdir()
    ann = _trim_csv(tmp_path / "k.csv", [("walk", "vid", start, end, "train")])
    assert prepare_main(["trim", str(ann), str(tmp_path / "raw"), str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"{ann}:2" in err and "Traceback" not in err


def test_non_utf8_annotations_name_the_file_and_line(tmp_path, capsys):
    (tmp_path / "raw").mkdir()
    ann = tmp_path / "k.csv"
    ann.write_bytes(b"label,youtube_id,time_start,time_end,split\ncaf\xe9,x,0,1,train\n")
    assert prepare_main(["trim", str(ann), str(tmp_path / "raw"), str(tmp_path / "out"), "-q"]) == 2
    assert f"{ann}:2: not UTF-8" in capsys.readouterr().err


@contextlib.contextmanager
def tiny_filesystem(path: Path, size: str, read_only: bool = False):
    """A small tmpfs mounted at ``path`` (root only)."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'mount failed'})")
    try:
        if not read_only:   # fill it: the next byte anyone writes fails with ENOSPC
            fd = os.open(path / "filler", os.O_WRONLY | os.O_CREAT)
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * 512)
            os.close(fd)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs (ENOSPC/EROFS) needs root")


@needs_root
@pytest.mark.parametrize("read_only", [False, True], ids=["ENOSPC", "EROFS"])
def test_trim_reports_a_full_or_read_only_disk_as_such(data, tmp_path, capsys, read_only):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "vid.mp4").write_bytes(Path(data["video"]).read_bytes())
    ann = _trim_csv(tmp_path / "k.csv", [("walk", "vid", 0, 1, "train"), ("run", "vid", 0, 1, "val")])
    with tiny_filesystem(tmp_path / "disk", "8k", read_only) as disk:
        status = prepare_main(["trim", str(ann), str(raw), str(disk / "out"), "-q", "--workers", "1",
                               "--short-side", "64", "--min-duration", "0.1",
                               "--report", str(tmp_path / "report.csv")])
        err = capsys.readouterr().err
    assert status == 1, err
    assert ("read-only file system" if read_only else "no space left on device") in err
    assert "undecodable" not in err and "Traceback" not in err


@needs_root
def test_conversion_onto_a_full_disk_is_one_line(data, tmp_path, capsys):
    with tiny_filesystem(tmp_path / "disk", "16k") as disk:
        status = exit_status(convert_main, ["safetensors_to_pickle", data["ckpt"], disk / "m.pkl"])
        err = capsys.readouterr().err
        assert [p.name for p in disk.iterdir()] == ["filler"]      # no temporary file left behind
    assert status == 1
    assert "no space left on device (ENOSPC)" in err and "Traceback" not in err
