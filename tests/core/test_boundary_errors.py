"""The tools at their boundary, errors a user can act on: one line naming the file and what is wrong (no
traceback), checks before any work, untrusted text escaped on the console, the convention's flags everywhere."""
from __future__ import annotations

import argparse
import importlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

import zoo
from zoo import cli
from zoo._io import atomic_path
from zoo.convert.cli import main as convert_main
from zoo.data.prepare.cli import main as prepare_main
from zoo.data.synthetic import generate
from zoo.evaluate.cli import main as zoo_test_main
from zoo.extract.cli import main as extract_main
from zoo.extract.predict import main as predict_main
from zoo.train.cli import main as train_main

from test_boundary_crashes import one_line_error, run_tool
from test_cli_convention import SCRIPTS, _parsers
from test_boundary_validation import exit_status, needs_root, tiny_filesystem


#: a tiny R(2+1)D on 4-frame 32-pixel clips (as the trainer tests use)
TINY_TRAIN = ["--model", "r2plus1d_10", "--model-option", "channel_multiplier=0.125", "--clip-len", "4",
              "--frame-rate", "0", "--train-resize-size", "36", "48", "--train-crop-size", "32", "--threads", "1",
              "--no-progress"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny checkpoint whose class names carry terminal escapes, its pickle, and one synthetic video."""
    root = tmp_path_factory.mktemp("errors")
    torch.manual_seed(0)
    model = zoo.create_model("r2plus1d_18", num_classes=2, channel_multiplier=0.125)
    ckpt = zoo.save_checkpoint(model, root / "model.safetensors", clip_len=4, crop_size=32, resize=[36, 48],
                               classes=["walk\x1b[2J\x1b[31m", "run\nzoo-predict: 1. forged  1.0000"])
    assert convert_main(["safetensors-to-pickle", str(ckpt), str(root / "model.pkl"), "-q"]) == 0
    data = generate(root / "data", classes=2, videos_per_class=1, val_videos_per_class=1, splits=("val",))
    video = next(iter(sorted((data / "val").rglob("*.*"))))
    return {"root": root, "ckpt": ckpt, "pkl": root / "model.pkl", "video": video, "data": data}


# ------------------------------------------------------------------ 13: tracebacks that remain
@needs_root
def test_full_disk_while_writing_safetensors_is_one_line_naming_the_output(tiny, tmp_path, capsys):
    with tiny_filesystem(tmp_path / "disk", "64k") as disk:
        status = convert_main(["pickle-to-safetensors", str(tiny["pkl"]), str(disk / "m.safetensors"), "-q",
                               "--model", "r2plus1d_18", "--option", "channel_multiplier=0.125"])
        err = capsys.readouterr().err
        assert [p.name for p in disk.iterdir()] == ["filler"]
    assert status == 1
    assert f"{disk / 'm.safetensors'}: no space left on device (ENOSPC)" in err and "Safetensor" not in err


@pytest.fixture(scope="module")
def matching(tmp_path_factory):
    """A tiny checkpoint whose classes are those of a small synthetic dataset (train and val)."""
    root = tmp_path_factory.mktemp("matching")
    data = generate(root / "data", classes=2, videos_per_class=2, val_videos_per_class=1)
    torch.manual_seed(0)
    model = zoo.create_model("r2plus1d_10", num_classes=2, channel_multiplier=0.125)
    ckpt = zoo.save_checkpoint(model, root / "m.safetensors", clip_len=4, crop_size=32, resize=[36, 48],
                               classes=sorted(p.name for p in (data / "val").iterdir()))
    return data, ckpt


@needs_root
@pytest.mark.parametrize("tool", ["zoo-extract", "zoo-train", "zoo-test"])
def test_a_full_disk_ends_every_writing_tool_in_one_line_naming_its_output(matching, tmp_path, capsys, tool):
    """The tools end to end on a full disk: exit 1 and one line naming the file they were writing (not a
    SafetensorError or a traceback), and nothing left on the disk but what was there."""
    data, ckpt = matching
    with tiny_filesystem(tmp_path / "disk", "256k") as disk:
        out = disk / "out"
        main, args = {
            "zoo-extract": (extract_main, ["--data-path", data, "--split", "val", "--checkpoint", ckpt,
                                           "--output", out, "--window", "4", "--workers", "0", "-q"]),
            "zoo-train": (train_main, ["--data-path", data, "--output-dir", out, *TINY_TRAIN, "--epochs", "1",
                                       "-b", "2", "--val-split", "none", "-j", "0", "-q"]),
            "zoo-test": (zoo_test_main, ["--data-path", data, "--checkpoint", ckpt, "--output", out,
                                     "--workers", "0", "-q"])}[tool]
        status = exit_status(main, args)
        err = capsys.readouterr().err
        left = sorted(p.name for p in disk.rglob("*") if p.is_file())
    assert status == 1, err
    errors = [line for line in err.splitlines() if line.startswith(f"{tool}: error:")]
    assert len(errors) == 1 and str(out) in errors[0] and "no space left on device (ENOSPC)" in errors[0], err
    assert "Traceback" not in err and "Safetensor" not in err
    assert [name for name in left if not name.endswith(".lock")] == ["filler"]   # the folder's (empty) lock
    # file stays, as after every run


def test_a_rust_io_error_inside_an_atomic_write_is_an_os_error_naming_the_target(tmp_path):
    class SafetensorError(Exception):
        pass

    with pytest.raises(OSError) as info:
        with atomic_path(tmp_path / "out.safetensors"):
            raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                                  'message: "No space left on device" })')
    assert info.value.errno == 28 and info.value.filename == str(tmp_path / "out.safetensors")
    assert cli.error_message(info.value) == f"{tmp_path / 'out.safetensors'}: no space left on device (ENOSPC)"
    assert list(tmp_path.iterdir()) == []


@needs_root
def test_torch_save_onto_a_full_disk_is_an_enospc_naming_the_target(tmp_path):
    with tiny_filesystem(tmp_path / "disk", "64k") as disk:
        with pytest.raises(OSError) as info:
            with atomic_path(disk / "last.pt") as tmp:
                torch.save({"x": torch.zeros(100_000)}, tmp)
        assert [p.name for p in disk.iterdir()] == ["filler"]
    assert info.value.errno == 28 and info.value.filename == str(disk / "last.pt")


def test_a_diverging_loss_is_one_line_naming_epoch_step_and_flag(tiny, tmp_path, capsys):
    status = train_main(TINY_TRAIN + ["--data-path", str(tiny["data"]), "--train-split", "val", "--val-split", "none",
                                "--epochs", "2", "-b", "1", "--lr", "1000000", "--lr-warmup-epochs", "0",
                                "--output-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 1, err
    assert "training diverged" in err and "epoch 1, step" in err and "--lr" in err
    assert "Traceback" not in err and "FloatingPointError" not in err


@pytest.mark.parametrize("document,expected", [
    ("[1,2]", "is a JSON list, not an object"),
    (json.dumps({"format_version": "9", "arch": "r2plus1d_18", "num_classes": 2}), "format_version must be an integer"),
    (json.dumps({"format_version": 1, "arch": "r2plus1d_18", "num_classes": 2,
                 "options": {"channel_multiplier": float("inf")}}), "channel_multiplier must be a number in (0, 8]"),
    (json.dumps({"format_version": 1, "arch": "r2plus1d_18", "num_classes": 2, "options": [1]}),
     "options must be an object"),
    (json.dumps({"format_version": 1, "arch": ["x"], "num_classes": 2}), "arch must be a model name"),
])
def test_malformed_metadata_is_one_line(tmp_path, document, expected):
    ckpt = tmp_path / "odd.safetensors"
    save_file({"fc.bias": np.zeros(2, np.float32)}, str(ckpt), metadata={"zoo": document})
    err = one_line_error(run_tool("zoo.convert.cli", ["to-onnx", ckpt, tmp_path / "m.onnx", "-q"], tmp_path))
    assert "odd.safetensors" in err and expected in err
    assert not (tmp_path / "m.onnx").exists()


# ------------------------------------------------------------------ 14: checks that came too late
@pytest.mark.parametrize("flags,named", [
    (["--train-scale-jitter", "200", "100"], "--train-scale-jitter"),
    (["--train-crop-size", "500", "--train-resize-size", "64", "85"], "--train-crop-size"),
    (["--train-crop-size", "112", "--train-scale-jitter", "64", "128"], "--train-crop-size"),
    (["--val-crop-size", "200", "--val-resize-size", "128", "171"], "--val-crop-size"),
    (["--epochs", "٣"], "--epochs"),
    (["--model-option", "dropout=NaN"], "--model-option"),
])
def test_train_refuses_flags_while_parsing(tmp_path, capsys, flags, named):
    assert exit_status(train_main, flags + ["--output-dir", tmp_path / "run"]) == 2
    assert named in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flags,named", [
    (["--model-option", "dropout=2"], "dropout"),
    (["--model-option", "clip_len=-3"], "clip_len"),
    (["--model-option", "conv1_temporal_stride=0"], "conv1_temporal_stride"),
    (["--device", "cpu:99"], "--device cpu:99"),
])
def test_train_refuses_values_before_any_work(tiny, tmp_path, capsys, flags, named):
    # a tiny one-epoch run, so that a value let through costs seconds, not a 45-epoch training
    status = exit_status(train_main, TINY_TRAIN + flags + ["--data-path", tiny["data"], "--train-split", "val",
                                                           "--val-split", "none", "--epochs", "1", "-b", "1",
                                                           "--output-dir", tmp_path / "run"])
    assert status == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_synthetic_refuses_a_negative_seed_before_writing(tmp_path, capsys):
    assert exit_status(prepare_main, ["synthetic", tmp_path / "syn", "--seed", "-1"]) == 2
    assert "--seed" in capsys.readouterr().err
    with pytest.raises(ValueError, match="seed"):
        generate(tmp_path / "syn", seed=-1)
    assert not (tmp_path / "syn").exists()


@pytest.mark.parametrize("dtype", ["int8", "bool", "float16"])
@pytest.mark.parametrize("command,suffix", [("safetensors-to-pickle", ".pkl"), ("safetensors-to-minidb", ".mdl")])
def test_legacy_writers_refuse_tensors_that_are_not_float32_weights(tiny, tmp_path, capsys, dtype, command, suffix):
    from safetensors.numpy import load_file

    state = {k: (v.astype(dtype) if v.dtype == np.float32 else v) for k, v in load_file(str(tiny["ckpt"])).items()}
    meta = {"zoo": json.dumps(zoo.read_checkpoint_meta(tiny["ckpt"]))}
    odd = tmp_path / f"{dtype}.safetensors"
    save_file(state, str(odd), metadata=meta)
    status = exit_status(convert_main, [command, odd, tmp_path / f"out{suffix}", "-q"])
    assert status in (1, 2)
    assert f"({dtype})" in capsys.readouterr().err
    assert not (tmp_path / f"out{suffix}").exists()


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.safetensors"
    os.mkfifo(path)
    return path


def test_a_fifo_given_to_zoo_convert_is_refused_without_blocking(tmp_path, fifo):
    for argv in (["inspect", fifo], ["safetensors-to-pickle", fifo, tmp_path / "o.pkl"]):
        err = one_line_error(run_tool("zoo.convert.cli", argv, tmp_path))   # run_python's timeout: no hang
        assert "pipe.safetensors: is a FIFO" in err


@pytest.mark.parametrize("which", ["fifo", "/dev/zero"])
def test_fifo_and_device_inputs_are_named_as_such(tiny, tmp_path, capsys, fifo, which):
    source = fifo if which == "fifo" else Path("/dev/zero")
    kind = "is a FIFO" if which == "fifo" else "is a character device"
    assert exit_status(predict_main, [tiny["video"], "--checkpoint", source, "--device", "cpu", "-q"]) == 2
    err = capsys.readouterr().err
    assert kind in err and "no such" not in err
    assert exit_status(predict_main, [source, "--checkpoint", tiny["ckpt"], "--device", "cpu", "-q"]) == 2
    err = capsys.readouterr().err
    assert kind in err and "no such" not in err


# ------------------------------------------------------------------ 15: untrusted text on the console
def test_class_names_are_escaped_in_predictions(tiny, capsys):
    assert predict_main([str(tiny["video"]), "--checkpoint", str(tiny["ckpt"]), "--device", "cpu", "-q",
                         "--clips", "1", "--topk", "2"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "walk\\x1b[2J" in out
    assert "run\\x0azoo-predict: 1. forged" in out
    assert len(out.splitlines()) == 3       # the video, then one line per class: no forged lines


def test_blob_names_are_escaped_by_inspect(tmp_path, capsys):
    from zoo.convert.pickle_io import save_pickle

    save_pickle(tmp_path / "w.pkl", {"blobs": {"conv1\x1b]0;pwned\x07\nfake line": np.ones(2, np.float32)}})
    assert convert_main(["inspect", str(tmp_path / "w.pkl")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "conv1\\x1b]0;pwned\\x07\\x0afake line" in out


def test_error_lines_escape_terminal_controls(capsys):
    cli.print_error("zoo-x", "bad \x1b[31mname\x1b[0m\r")
    assert capsys.readouterr().err == "zoo-x: error: bad \\x1b[31mname\\x1b[0m\\x0d\n"
    assert cli.printable("a\u202eb\u2028c") == "a\\u202eb\\u2028c"


# ------------------------------------------------------------------ 16: messages and the convention
@needs_root
def test_read_only_output_names_the_output_not_the_input(tiny, tmp_path, capsys):
    from zoo.hub.cli import main as hub_main

    with tiny_filesystem(tmp_path / "ro", "1m", read_only=True) as disk:
        status = exit_status(convert_main, ["safetensors-to-pickle", tiny["ckpt"], disk / "m.pkl", "-q"])
        err = capsys.readouterr().err
        assert status in (1, 2) and str(disk / "m.pkl") in err and str(tiny["ckpt"]) not in err
        status = exit_status(hub_main, ["export", tiny["ckpt"], disk / "hub", "-q"])
        err = capsys.readouterr().err
    assert status in (1, 2)
    assert f"{disk / 'hub'}: read-only file system (EROFS)" in err and str(tiny["ckpt"]) not in err
    assert "[Errno" not in err


def test_hidden_split_is_refused(tmp_path, capsys):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 16)
    listing = tmp_path / "list.csv"
    listing.write_text(f"org_video,label\n{video},0\n")
    assert exit_status(prepare_main, ["link", listing, tmp_path / "out", "--split", ".hidden"]) == 2
    assert "starts with a dot" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_every_command_of_every_tool_takes_quiet():
    missing = []
    for script, target in SCRIPTS.items():
        for name, parser in _parsers(importlib.import_module(target.split(":")[0]).build_parser(), script):
            if any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
                continue    # a tool with subcommands: each subcommand takes -q
            if "-q" not in parser._option_string_actions or "--quiet" not in parser._option_string_actions:
                missing.append(name)
    assert missing == []
