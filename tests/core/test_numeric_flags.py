"""Every numeric flag of every tool refuses huge, tiny, NaN, infinite and non-ASCII-digit values while the command
line is parsed: exit status 2, the flag named, nothing written.

The tools come from the package's console scripts (pyproject.toml) and the flags from their argparse parsers (subcommands
included), so a flag added tomorrow is covered without touching this file. A flag counts as numeric when its
argparse type accepts a number (``16``, ``0.5``) or a ``KEY=NUMBER`` pair.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import re
import signal

import pytest

from test_cli_convention import SCRIPTS, _parsers

HUGE = ["1" + "0" * 20, "1e30", "1e308"]
TINY = ["-1" + "0" * 20, "-1e30", "-1e308"]
NAN = ["nan", "NaN", "-nan"]
INF = ["inf", "-inf", "Infinity", "1e999"]
NON_ASCII_DIGITS = ["٣", "１６", "३२", "٣.٥", "𝟙𝟚"]
VALUES = HUGE + TINY + NAN + INF + NON_ASCII_DIGITS
PROBES = ("1", "3", "16", "256", "0.5")
KEY_PROBES = ("fc=1", "channel_multiplier=0.5")
SENTINEL = "--numeric-flag-probe-never-a-flag"   # makes argparse stop with exit 2 if the value were accepted
_NEGATIVE = re.compile(r"^-\d+$|^-\d*\.\d+$")    # argparse reads these as values, not as options


def _tools():
    """(script name, module) of every console script of the package (pyproject.toml)."""
    return sorted((name, importlib.import_module(target.split(":")[0])) for name, target in SCRIPTS.items())


def _actions(parser: argparse.ArgumentParser, tool: str):
    """(subcommand path, action) of a parser and of its subcommands (aliases once)."""
    for name, sub in _parsers(parser, tool):
        for action in sub._actions:
            if not isinstance(action, argparse._SubParsersAction):
                yield tuple(name.split()[1:]), action


def _accepts(action: argparse.Action, text: str) -> bool:
    try:
        value = action.type(text)
    except Exception:   # noqa: BLE001 - any refusal means "not this shape"
        return False
    return action.choices is None or value in action.choices


def numeric_template(action: argparse.Action) -> str | None:
    """``"{}"`` for a numeric flag, ``"KEY={}"`` for a KEY=NUMBER flag, None for anything else."""
    if action.nargs == 0 or action.type is None or not action.option_strings:
        return None
    if any(_accepts(action, probe) for probe in PROBES):
        return "{}"
    for probe in KEY_PROBES:
        if _accepts(action, probe):
            return probe.split("=")[0] + "={}"
    return None


def numeric_flags():
    """(tool, subcommand path, option, nargs, template, main) of every numeric flag."""
    found = []
    for tool, module in _tools():
        for path, action in _actions(module.build_parser(), tool):
            template = numeric_template(action)
            if template is not None:
                found.append((tool, path, action, template, module.main))
    return found


FLAGS = numeric_flags()


def test_the_enumeration_finds_the_numeric_flags_of_every_tool():
    tools = {tool for tool, *_ in FLAGS}
    assert tools == {name for name, _ in _tools()} - {"zoo-hub"}    # zoo-hub takes no numbers
    names = {(tool, " ".join(path), action.option_strings[-1]) for tool, path, action, _, _ in FLAGS}
    for known in [("zoo-train", "", "--frame-rate"), ("zoo-train", "", "--workers"), ("zoo-train", "", "--lr-mult"),
                  ("zoo-test", "", "--clips"), ("zoo-test", "", "--max-memory"), ("zoo-test", "", "--resize"),
                  ("zoo-prepare", "trim", "--fps"), ("zoo-prepare", "synthetic", "--seed"),
                  ("zoo-extract", "", "--crops"), ("zoo-convert", "to-onnx", "--opset"),
                  ("zoo-convert", "pickle-to-safetensors", "--option")]:
        assert known in names
    assert len(FLAGS) > 70


@contextlib.contextmanager
def _deadline(seconds: int):
    """Fail instead of hanging: parsing a command line takes milliseconds."""
    def expired(*_):
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _argv(path, action, template, value) -> list[str] | None:
    text = template.format(value)
    option = action.option_strings[-1]
    if action.nargs in (None, "?", "+", "*", 1):
        return [*path, f"{option}={text}", SENTINEL]
    if text.startswith("-") and not _NEGATIVE.match(text):
        return None     # argparse would read it as another option: not a value of this flag
    return [*path, option, *[text] * action.nargs, SENTINEL]


@pytest.mark.parametrize("tool,path,action,template,main", FLAGS,
                         ids=[f"{t}{' ' + ' '.join(p) if p else ''} {a.option_strings[-1]}" for t, p, a, _, _ in FLAGS])
def test_numeric_flag_refuses_out_of_range_values(tool, path, action, template, main, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    flag = "/".join(action.option_strings)
    accepted = []
    for value in VALUES:
        argv = _argv(path, action, template, value)
        if argv is None:
            continue
        with _deadline(20):
            try:
                status = main(argv)
            except SystemExit as exc:
                status = exc.code
        err = capsys.readouterr().err
        if status != 2 or f"argument {flag}:" not in err:
            accepted.append(f"{value!r} -> exit {status}: {err.strip()[-200:]}")
    assert not accepted, f"{tool} {' '.join(path)} {flag} accepted:\n" + "\n".join(accepted)
    assert list(tmp_path.iterdir()) == []
