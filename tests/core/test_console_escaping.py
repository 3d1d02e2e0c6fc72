"""Untrusted text never steers the console: every tool, run over inputs whose class names, labels, ids, video file
names, blob names and checkpoint metadata carry ANSI escapes, carriage returns, newlines, tabs, bells and
bidirectional overrides, writes none of them raw to stdout, stderr or its human-readable reports; the only line
breaks are the tool's own. And no module prints except through :func:`zoo.console.say` (checked statically).
"""
from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from zoo.convert.cli import main as convert_main
from zoo.data.prepare.cli import main as prepare_main
from zoo.data.synthetic import generate
from zoo.evaluate.cli import main as evaluate_main
from zoo.extract.cli import main as extract_main
from zoo.extract.predict import main as predict_main
from zoo.hub.cli import main as hub_main
from zoo.train.cli import main as train_main

from test_boundary_validation import exit_status

ROOT = Path(__file__).resolve().parents[2]
#: what a hostile name carries: colours, a screen clear, a carriage return, a newline, a tab, a bell, an
#: right-to-left override; each control is followed by a marker that must never start a line or a field
HOSTILE = "\x1b[31mRED\x1b[2J\rCR\nNL\tTAB\x07BEL\u202eRTL"
#: raw characters no output may hold (the tools' own line breaks and tab-separated fields aside)
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
MARKERS = ("\rCR", "\nNL", "\tTAB")


def assert_escaped(text: str, where: str) -> None:
    raw = RAW.search(text)
    assert raw is None, f"{where}: raw {raw.group()!r} in {text[max(0, raw.start() - 80):raw.end() + 80]!r}"
    for marker in MARKERS:
        assert marker not in text, f"{where}: {marker!r} reached the output raw"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, make_tiny_checkpoint):
    """A dataset whose class folders and video files have hostile names (one video of each split is not a video),
    a checkpoint with those class names, a pickle with a hostile blob name, Kinetics annotations with a hostile
    label, and a raw-video folder with a hostile name."""
    from zoo.convert.pickle_io import save_pickle
    import numpy as np

    root = tmp_path_factory.mktemp("hostile")
    plain = generate(root / "plain", classes=2, videos_per_class=1, val_videos_per_class=1)
    classes = [f"c{i}{HOSTILE}" for i in range(2)]
    for split in ("train", "val"):
        for i, folder in enumerate(sorted((plain / split).iterdir())):
            if not folder.is_dir():
                continue
            target = root / "data" / split / classes[i]
            target.mkdir(parents=True)
            for n, video in enumerate(sorted(folder.iterdir())):
                shutil.copyfile(video, target / f"v{n}{HOSTILE}{video.suffix}")
        (root / "data" / split / classes[0] / f"broken{HOSTILE}.mp4").write_bytes(b"not a video " * 64)
    ckpt = make_tiny_checkpoint(classes, 32)
    shutil.copyfile(ckpt, root / f"model{HOSTILE}.safetensors")
    save_pickle(root / "blobs.pkl", {"blobs": {f"conv1{HOSTILE}": np.ones(2, np.float32)}})
    header = "label,youtube_id,time_start,time_end,split,is_cc\n"
    (root / "hostile_label.csv").write_text(header + f'"{HOSTILE}",abcdefghijk,0,1,train,0\n')
    (root / "kinetics.csv").write_text(header + "walking,abcdefghijk,0,1,train,0\n")
    (root / f"raw{HOSTILE}").mkdir()    # holds no video: the row fails, and the report names the folder
    video = next((root / "data" / "val" / classes[1]).iterdir())
    return {"root": root, "data": root / "data", "ckpt": ckpt, "named_ckpt": root / f"model{HOSTILE}.safetensors",
            "classes": classes, "video": video,
            "broken": root / "data" / "val" / classes[0] / f"broken{HOSTILE}.mp4"}


def runs(h, out: Path):
    """Every tool over the hostile inputs: (name, main, argv)."""
    data, ckpt, video = h["data"], h["ckpt"], h["video"]
    tiny_train = ["--clip-len", "4", "--frame-rate", "0", "--train-resize-size", "36", "48", "--train-crop-size", "32",
                  "--val-resize-size", "32", "--val-crop-size", "32", "--threads", "1", "--workers", "0",
                  "--epochs", "1", "-b", "1", "--device", "cpu"]
    return [
        ("zoo-test", evaluate_main, ["--checkpoint", ckpt, "--data-path", data, "--split", "val", "--clips", "1",
                                 "--crops", "1", "--workers", "0", "--device", "cpu", "--output", out / "test"]),
        ("zoo-predict", predict_main, [video, h["broken"], "--checkpoint", ckpt, "--device", "cpu", "--clips", "1",
                                       "--topk", "2"]),
        ("zoo-extract", extract_main, ["--checkpoint", ckpt, "--data-path", data, "--split", "val", "--clips", "1",
                                       "--workers", "0", "--device", "cpu", "--output", out / "extract"]),
        ("zoo-train", train_main, ["--data-path", data, "--output-dir", out / "train", "--model", "r2plus1d_10",
                                   "--model-option", "channel_multiplier=0.125", *tiny_train]),
        ("zoo-train from a checkpoint", train_main, ["--data-path", data, "--output-dir", out / "finetune",
                                                     "--checkpoint", h["named_ckpt"], "--new-head", *tiny_train]),
        ("zoo-convert inspect", convert_main, ["inspect", h["root"] / "blobs.pkl"]),
        ("zoo-convert", convert_main, ["safetensors-to-pickle", ckpt, out / f"m{HOSTILE}.pkl"]),
        ("zoo-hub export", hub_main, ["export", ckpt, out / f"hub{HOSTILE}"]),
        ("zoo-hub download", hub_main, ["download", "r3d_18.hostile", "-q"]),
        ("zoo-prepare index", prepare_main, ["index", data, "--check", "--report", out / "index_report.csv",
                                             "--workers", "1"]),
        ("zoo-prepare lists", prepare_main, ["lists", data, "--out", out / "lists"]),
        ("zoo-prepare trim", prepare_main, ["trim", h["root"] / "kinetics.csv", h["root"] / f"raw{HOSTILE}",
                                            out / "trim", "--workers", "1"]),
        ("zoo-prepare trim label", prepare_main, ["trim", h["root"] / "hostile_label.csv", h["root"] / "raw",
                                                  out / "trim2", "--workers", "1"]),
    ]


def test_no_tool_writes_untrusted_text_raw(hostile, tmp_path, capfd, monkeypatch):
    from zoo import weights

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo_home"))
    monkeypatch.setitem(weights._registered, "r3d_18.hostile", {   # a source whose path is hostile text
        "arch": "r3d_18", "num_classes": 2, "clip_len": 4, "crop_size": 32,
        "sources": [{"format": "safetensors", "url": str(tmp_path / f"gone{HOSTILE}" / "w.safetensors")}]})
    statuses = {}
    for name, main, argv in runs(hostile, tmp_path):
        statuses[name] = exit_status(main, argv)
        captured = capfd.readouterr()     # the file descriptors: what C libraries (libav, torch) write counts too
        assert_escaped(captured.out, f"{name} stdout")
        assert_escaped(captured.err, f"{name} stderr")
        assert "Traceback" not in captured.err, (name, captured.err[-2000:])
    # the tools did their work (or failed the way their hostile inputs make them): never a usage error
    assert statuses == {"zoo-test": 0, "zoo-predict": 1, "zoo-extract": 0, "zoo-train": 0,
                        "zoo-train from a checkpoint": 0, "zoo-hub download": 1,
                        "zoo-convert inspect": 0, "zoo-convert": 0, "zoo-hub export": 0, "zoo-prepare index": 1,
                        "zoo-prepare lists": 0, "zoo-prepare trim": 1, "zoo-prepare trim label": 2}, statuses
    for report in (tmp_path / "index_report.csv", tmp_path / "trim" / "trim_report.csv",
                   tmp_path / "train" / "log.csv"):
        assert_escaped(report.read_text(encoding="utf-8").replace("\r\n", "\n"), str(report.name))


def test_the_hostile_names_are_shown_escaped(hostile, tmp_path, capsys):
    assert predict_main([str(hostile["video"]), "--checkpoint", str(hostile["ckpt"]), "--device", "cpu",
                         "--clips", "1", "--topk", "2"]) == 0
    out = capsys.readouterr().out
    assert "\\x1b[31mRED\\x1b[2J\\x0dCR\\x0aNL\\x09TAB\\x07BEL\\u202eRTL" in out
    assert len(out.splitlines()) == 3     # the video, then one line per class


# ------------------------------------------------------------------ the mechanism: one console writer
#: the one module that writes to the console
CONSOLE = ROOT / "zoo" / "console.py"


def console_writes(path: Path) -> list[str]:
    """Places in ``path`` that write to the console other than through zoo.console.say: ``print`` (called or
    handed on as a callable), ``sys.stdout``/``sys.stderr`` ``.write``, ``tqdm.write`` and a bar's ``.write``."""
    found = []
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Name) and node.id == "print":
            found.append(f"{where}:{node.lineno}: print")
        elif isinstance(node, ast.Attribute) and node.attr == "write":
            owner = ast.unparse(node.value)
            if owner in ("sys.stdout", "sys.stderr", "tqdm") or "bar" in owner.lower():
                found.append(f"{where}:{node.lineno}: {owner}.write")
    return found


def test_every_console_line_goes_through_say():
    files = [p for folder in ("zoo", "convert", "evaluate") for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(files) > 100
    writes = [w for path in files if path != CONSOLE for w in console_writes(path)]
    assert writes == [], "write console lines with zoo.console.say:\n  " + "\n  ".join(writes)


def test_the_static_check_sees_a_print(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import sys\nprint('x')\nsys.stderr.write('y')\nlog = print\nbar.write('z')\n")
    assert sorted(console_writes(sample)) == ["sample.py:2: print", "sample.py:3: sys.stderr.write",
                                              "sample.py:4: print", "sample.py:5: bar.write"]


def test_an_error_listing_several_problems_is_one_line(hostile, tmp_path, capsys):
    """A blob-mapping error lists missing and left-over blobs with hints: one line, the hostile blob name escaped."""
    import numpy as np

    from zoo.convert.pickle_io import blobs_from_pickle, load_pickle, save_pickle
    from zoo.convert.pipelines import safetensors_to_pickle

    blobs = blobs_from_pickle(load_pickle(safetensors_to_pickle(hostile["ckpt"], tmp_path / "tiny.pkl")))
    blobs.pop(sorted(blobs)[0])                   # one missing, one left over with a hostile name
    blobs[f"conv1{HOSTILE}"] = np.ones(2, np.float32)
    save_pickle(tmp_path / "w.pkl", {"blobs": blobs})
    status = exit_status(convert_main, ["pickle-to-safetensors", tmp_path / "w.pkl", tmp_path / "w.safetensors",
                                        "--model", "r2plus1d_10", "--option", "channel_multiplier=0.125", "-q"])
    err = capsys.readouterr().err
    assert status in (1, 2) and err.count("\n") == 1 and err.startswith("zoo-convert: error: "), err
    assert "expected): missing (1): " in err and "; left over (1): conv1\\x1b[31mRED" in err and "; hint: " in err
    assert_escaped(err, "zoo-convert error")


UNKNOWN = f"--x{HOSTILE}"
USAGE_ERRORS = {"zoo-test": (evaluate_main, [UNKNOWN]), "zoo-predict": (predict_main, ["v.mp4", "--checkpoint", "c",
                                                                                      UNKNOWN]),
                "zoo-extract": (extract_main, ["--checkpoint", "c", "--output", "o", UNKNOWN]),
                "zoo-train": (train_main, [UNKNOWN]), "zoo-convert": (convert_main, ["inspect", "f", UNKNOWN]),
                "zoo-hub": (hub_main, ["list", UNKNOWN]), "zoo-prepare": (prepare_main, ["lists", "root", UNKNOWN])}


@pytest.mark.parametrize("tool", sorted(USAGE_ERRORS))
def test_usage_errors_quote_arguments_escaped(tool, capsys):
    """argparse quotes what it did not understand (a file name from a shell glob, say): escaped like any error."""
    main, argv = USAGE_ERRORS[tool]
    assert exit_status(main, argv) == 2
    err = capsys.readouterr().err
    assert_escaped(err, "usage error")
    assert err.splitlines()[-1].startswith(f"{tool}") and "unrecognized arguments: --x\\x1b[31mRED" in err, err


def test_warnings_and_log_records_inside_a_tool_are_escaped_lines(capfd):
    """Python warnings, input warnings and records of the zoo loggers met while a tool runs: one escaped line each."""
    import argparse
    import logging
    import warnings

    from zoo import cli
    from zoo.data.errors import VideoWarning

    def run(args):
        warnings.warn(f"a library's warning about {HOSTILE}")
        warnings.warn(VideoWarning(f"clip{HOSTILE}.mp4", "decode_errors", f"detail {HOSTILE}"))
        logging.getLogger("zoo.factory").warning("replacing the head of %s", HOSTILE)
        return 0

    assert cli.run_parsed("zoo-x", run, argparse.Namespace(quiet=False)) == 0
    out, err = capfd.readouterr()
    assert_escaped(out + err, "warnings")
    lines = err.splitlines()
    assert len(lines) == 4 and all(line.startswith("zoo-x: warning: ") for line in lines[:3]), err
    assert lines[3] == "zoo-x: 1 warning(s) about inputs (decode_errors 1)"
