"""Shared helpers for the converter tests: tiny models with non-trivial BN statistics, a Python 2 to talk to."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess

import torch

import zoo

TINY = 0.125


def tiny_model(arch: str, num_classes: int = 3, seed: int = 0, **options) -> torch.nn.Module:
    """A small model whose BN statistics and affine parameters are random (so mapping errors show)."""
    torch.manual_seed(seed)
    options.setdefault("channel_multiplier", TINY)
    model = zoo.create_model(arch, num_classes=num_classes, **options).eval()
    randomize_bn(model)
    return model


def randomize_bn(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1, 0.2)
                m.bias.normal_(0, 0.2)


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    keys = [k for k in sa if not k.endswith("num_batches_tracked")]
    assert keys == [k for k in sb if not k.endswith("num_batches_tracked")]
    for k in keys:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]), k


def python2() -> str | None:
    """A working Python 2.7 interpreter (on PATH or installed by pyenv), or None."""
    candidates = [shutil.which("python2.7"), shutil.which("python2"),
                  *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/2.7*/bin/python")))]
    for exe in filter(None, candidates):
        probe = subprocess.run([exe, "-c", "import cPickle"], capture_output=True)   # pyenv shims may just fail
        if probe.returncode == 0:
            return exe
    return None
