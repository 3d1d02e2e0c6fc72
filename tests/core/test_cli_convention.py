"""One convention for the console tools: documented options, fast torch-free --help, kebab-case subcommands with
the snake_case names kept, --model/--arch and --model-option/--option, errors a user can act on (format sniffing,
CLI wording, no tracebacks), a lock per zoo-test output folder, stale temporary files cleaned, log-friendly
progress."""
from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import torch

import zoo
from zoo import cli
from zoo.convert.cli import main as convert_main
from zoo.data.prepare.cli import main as prepare_main
from zoo.data.synthetic import generate
from zoo.evaluate.cli import main as zoo_test_main
from zoo.formats import sniff_format
from zoo.progress import progress_bar
from zoo.train.cli import main as train_main, parse_args as train_args

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
#: the tools of the convention: the six of the seeds and zoo-extract
TOOLS = ("zoo-train", "zoo-test", "zoo-predict", "zoo-convert", "zoo-hub", "zoo-prepare", "zoo-extract")


def exit_status(main, argv) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:
        return exc.code


def _parsers(parser: argparse.ArgumentParser, name: str):
    """``(name, parser)`` for a parser and every subcommand parser below it (aliases once)."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen = set()
            for sub_name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    yield from _parsers(sub, f"{name} {sub_name}")


def _build_parser(script: str) -> argparse.ArgumentParser:
    module = importlib.import_module(SCRIPTS[script].split(":")[0])
    return module.build_parser()


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_option_of_every_console_script_is_documented(script):
    for name, parser in _parsers(_build_parser(script), script):
        assert issubclass(parser.formatter_class, cli.HelpFormatter), f"{name}: not the convention's help formatter"
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            label = "/".join(action.option_strings) or action.dest
            assert action.help and action.help != argparse.SUPPRESS, f"{name} {label}: no help text"
            for option in action.option_strings:
                assert option in text, f"{name}: {option} missing from --help"
            has_default = action.default not in (None, False, [], argparse.SUPPRESS) and action.option_strings
            shown = parser.formatter_class(name)._get_help_string(action)
            if isinstance(action, argparse._StoreConstAction):     # --no-flip: "(default: True)" would mislead
                assert shown == action.help, f"{name} {label}: the flag's default {action.default!r} is shown"
            elif has_default:
                assert "default" in shown.lower(), f"{name} {label}: default {action.default!r} not shown"


@pytest.mark.parametrize("script", TOOLS)
def test_help_is_fast_and_does_not_import_torch(script):
    module, func = SCRIPTS[script].split(":")
    code = (f"import sys\nfrom {module} import {func} as main\ntry:\n    main(['--help'])\nexcept SystemExit as e:\n"
            f"    code = e.code\nprint('TORCH' if 'torch' in sys.modules else 'NO-TORCH', code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "NO-TORCH 0"
    assert "usage:" in done.stdout


@pytest.mark.parametrize("argv", [["zoo-convert", "minidb_to_pickle"], ["zoo-convert", "minidb-to-pickle"],
                                  ["zoo-convert", "to_onnx"], ["zoo-convert", "pickle-to-safetensors"],
                                  ["zoo-prepare", "from-lmdb"], ["zoo-prepare", "from_lmdb"]])
def test_subcommands_are_kebab_case_and_keep_snake_case_aliases(argv):
    parser = _build_parser(argv[0])
    extra = ["a", "b"] if argv[0] == "zoo-convert" else ["db", "out"]
    args = parser.parse_args([*argv[1:], *extra])
    assert args.command == argv[1].replace("_", "-")


def test_model_and_model_option_have_the_old_spellings_as_aliases():
    parser = _build_parser("zoo-convert")
    new = parser.parse_args(["pickle-to-safetensors", "a", "b", "--model", "ir_csn_152", "--model-option", "use_pool1=true"])
    old = parser.parse_args(["pickle_to_safetensors", "a", "b", "--arch", "ir_csn_152", "--option", "use_pool1=true"])
    assert (new.model, new.model_option) == (old.model, old.model_option) == ("ir_csn_152", [("use_pool1", True)])
    args = train_args(["--arch", "r3d_18", "--option", "channel_multiplier=0.25", "-q"])
    assert args.model == "r3d_18" and args.model_option == [("channel_multiplier", 0.25)] and not args.progress


@pytest.mark.parametrize("argv,message", [
    (["--weights", "r2plus1d_34_32_kinetics"], "did you mean"),
    (["--model-option", "bogus=1"], "--model-option bogus: unknown option"),
    (["--model-option", "channel_multiplier=\"big\""], "expected float"),
    (["--model", "r2plus1d_19"], "unknown model"),
    (["--clip-len", "0"], "--clip-len"),
])
def test_zoo_train_refuses_mistakes_in_one_line(tmp_path, capsys, argv, message):
    status = exit_status(train_main, ["--output-dir", tmp_path / "run", "--epochs", "1", *argv])
    err = capsys.readouterr().err
    assert status == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run" / "last.pt").exists()


# ------------------------------------------------------------------------------ format sniffing
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from zoo.convert import to_onnx
    from zoo.convert.minidb import write_minidb
    from zoo.convert.pickle_io import save_pickle
    from zoo.convert.pipelines import checkpoint_blobs

    root = tmp_path_factory.mktemp("formats")
    torch.manual_seed(0)
    model = zoo.create_model("r3d_10", num_classes=2, channel_multiplier=0.125)
    ckpt = zoo.save_checkpoint(model, root / "model.safetensors", clip_len=4, crop_size=32)
    blobs = checkpoint_blobs(ckpt)
    out = {"safetensors": ckpt, "c2_pickle": save_pickle(root / "model.pkl", {"blobs": blobs}),
           "c2_minidb": write_minidb(root / "model.mdl", blobs), "pth": root / "model.pth",
           "onnx": to_onnx(ckpt, root / "model.onnx", verify=False)}
    torch.save(model.state_dict(), out["pth"])
    return out


def test_formats_are_sniffed_from_the_first_bytes(files, tmp_path):
    for fmt, path in files.items():
        renamed = tmp_path / f"no_extension_{fmt}"
        renamed.write_bytes(Path(path).read_bytes())
        assert sniff_format(renamed) == fmt


@pytest.mark.parametrize("command,given,said", [
    ("pickle_to_safetensors", "safetensors", "is a safetensors file"),
    ("minidb_to_pickle", "c2_pickle", "is a Python pickle"),
    ("minidb_to_safetensors", "onnx", "is an ONNX model"),
    ("torchvision_to_safetensors", "c2_pickle", "is a Python pickle"),
    ("safetensors_to_pickle", "c2_minidb", "is a Caffe2 MiniDB"),
    ("to_onnx", "pth", "is a PyTorch file"),
])
def test_convert_says_what_a_file_is_when_it_is_not_what_it_reads(files, tmp_path, capsys, command, given, said):
    out = tmp_path / "out.bin"
    assert exit_status(convert_main, [command, files[given], out]) == 2
    err = capsys.readouterr().err
    assert said in err and "zoo-convert" in err and "weights_only" not in err and "Traceback" not in err
    assert not out.exists()


def test_inspect_describes_onnx_files(files, capsys):
    assert exit_status(convert_main, ["inspect", files["onnx"], "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "onnx" and info["onnx"]["inputs"] == {"x": [1, 3, 4, 32, 32]}
    assert info["onnx"]["opsets"]["ai.onnx"] >= 18 and info["parameters"] > 0


@pytest.mark.parametrize("cut", [4, 20, "header"])
def test_inspect_on_a_cut_safetensors_file_is_one_line(files, tmp_path, capsys, cut):
    data = Path(files["safetensors"]).read_bytes()
    size = 8 + int.from_bytes(data[:8], "little") if cut == "header" else cut
    damaged = tmp_path / "cut.safetensors"
    damaged.write_bytes(data[:size])
    status = exit_status(convert_main, ["inspect", damaged])
    err = capsys.readouterr().err
    assert status == 1 and str(damaged) in err and "Traceback" not in err


def test_a_folder_where_a_file_is_expected_says_so(tmp_path, capsys):
    assert exit_status(convert_main, ["inspect", tmp_path]) == 2
    assert "is a folder" in capsys.readouterr().err


# ------------------------------------------------------------------------------ zoo-test output folder
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    data = generate(root / "data", classes=2, videos_per_class=2, val_videos_per_class=2, splits=("val",))
    torch.manual_seed(0)
    model = zoo.create_model("r3d_10", num_classes=2, channel_multiplier=0.125)
    ckpt = zoo.save_checkpoint(model, root / "m.safetensors", clip_len=4, crop_size=32, resize=[36, 48],
                               classes=(data / "classes.txt").read_text().split())
    return data, ckpt


def test_a_second_zoo_test_on_the_same_output_is_refused(small, tmp_path, capsys):
    from filelock import FileLock

    data, ckpt = small
    out = tmp_path / "out"
    out.mkdir()
    with FileLock(str(out / ".zoo-test.lock"), timeout=0):     # another zoo-test is running there
        status = exit_status(zoo_test_main, ["--checkpoint", ckpt, "--data-path", data, "--output", out,
                                             "--resume", "--workers", "0", "-q"])
    assert status == 2
    assert "another zoo-test is running" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [".zoo-test.lock"]


def test_zoo_test_removes_temporary_files_of_a_killed_run(small, tmp_path, capsys):
    data, ckpt = small
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".metrics.json.k1ll3d00.json", out / ".scores.npz.abcd_f12.npz"]
    for path in stale:
        path.write_bytes(b"half written")
    keep = out / ".notes.txt"
    keep.write_text("mine")
    argv = ["--checkpoint", ckpt, "--data-path", data, "--output", out, "--workers", "0", "-q", "--clips", "1"]
    assert exit_status(zoo_test_main, argv) == 0
    assert not any(p.exists() for p in stale) and keep.read_text() == "mine"
    assert (out / "metrics.json").is_file()


def test_corrupt_run_json_is_named_with_its_line(small, tmp_path, capsys):
    data, ckpt = small
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text('{"checkpoint": "x",\n  oops\n}')
    assert exit_status(zoo_test_main, ["--checkpoint", ckpt, "--data-path", data, "--output", out, "--resume",
                                       "--workers", "0", "-q"]) == 2
    assert f"{out / 'run.json'}: corrupt (line 2" in capsys.readouterr().err


def test_atomic_writes_remove_an_old_temporary_file_of_the_same_target(tmp_path):
    from zoo._io import STALE_TEMP_SECONDS, atomic_write_text

    old, fresh = tmp_path / ".a.txt.0ld0ld00.txt", tmp_path / ".a.txt.fr35h000.txt"
    for path in (old, fresh):
        path.write_text("partial")
    past = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(old, (past, past))
    atomic_write_text(tmp_path / "a.txt", "done")
    assert not old.exists() and fresh.exists()     # a fresh one may belong to a running writer


# ------------------------------------------------------------------------------ progress
def test_progress_is_a_line_every_few_seconds_when_not_a_terminal():
    stream = io.StringIO()
    bar = progress_bar(total=3, desc="work", unit="item", file=stream, interval=0)
    for _ in range(3):
        bar.update()
    bar.close()
    text = stream.getvalue()
    assert "\r" not in text
    lines = [line for line in text.splitlines() if line]
    assert len(lines) >= 2 and lines[-1].startswith("work: 100%") and "3/3" in lines[-1]


def test_progress_lines_are_throttled(monkeypatch):
    stream = io.StringIO()
    bar = progress_bar(total=1000, desc="work", file=stream, interval=3600)
    for _ in range(1000):
        bar.update()
    bar.close()
    assert len([line for line in stream.getvalue().splitlines() if line]) <= 3   # start, (maybe one), final


def test_quiet_progress_writes_nothing():
    stream = io.StringIO()
    with progress_bar(total=2, file=stream, enabled=False) as bar:
        bar.update(2)
    assert stream.getvalue() == ""


def test_workers_default_to_what_the_machine_offers():
    parser = _build_parser("zoo-test")
    workers = next(a for a in parser._actions if a.dest == "workers")
    assert workers.default == min(len(os.sched_getaffinity(0)), 8)


def test_hub_push_offline_is_one_line(files, tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    done = subprocess.run([sys.executable, "-c", "from zoo.hub.cli import main; raise SystemExit(main())",
                           "push", str(files["safetensors"]), "--repo-id", "me/model"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 1
    assert done.stderr.startswith("zoo-hub: error: push to me/model") and "Traceback" not in done.stderr
    assert "HF_HUB_OFFLINE" in done.stderr
