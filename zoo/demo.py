"""``make demo``: the whole workflow on the built-in synthetic dataset, on CPU, in a few minutes.

1. generate a synthetic action dataset (classes differ only in motion direction),
2. train a small R(2+1)D with 2 DDP processes (torchrun, gloo),
3. convert the trained checkpoint to a Caffe2 pickle and to ONNX (checked with onnxruntime),
4. evaluate it with ``zoo-test --large --crops 3`` and print the accuracy table.

Every step is a real command line a researcher would type; the commands are printed as they run.
``python -m zoo.demo --out DIR`` chooses the output folder (default ``demo-output``).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from zoo.console import say

PY = sys.executable


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _run(title: str, argv: list[str]) -> None:
    say("", f"=== {title}", f"$ {shlex.join(argv)}")
    start = time.perf_counter()
    # one thread per process: 2 DDP ranks plus loader workers share 2 cores
    subprocess.run(argv, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    say(f"--- {title}: {time.perf_counter() - start:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="demo-output",
                        help="output folder; a second run reuses the data, resumes training and re-evaluates")
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args(argv)
    out = Path(args.out)
    data, train_dir = out / "data", out / "train"
    checkpoint = train_dir / "best.safetensors"

    steps = [
        ("generate the synthetic dataset", "zoo.data.synthetic",
         [PY, "-m", "zoo.data.synthetic", str(data), "--classes", "4", "--videos-per-class", "12",
          "--val-videos-per-class", "6", "--seed", "0"]),
        ("train a small R(2+1)D with 2 DDP processes on CPU (gloo)", "zoo.train",
         [PY, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "zoo.train",
          "--data-path", str(data), "--output-dir", str(train_dir), "--model", "r2plus1d_10",
          "--model-option", "channel_multiplier=0.125", "--clip-len", "4", "--frame-rate", "0",
          "--train-scale-jitter", "40", "48", "--train-crop-size", "40", "--val-resize-size", "40",
          "--val-crop-size", "40", "--val-clips-per-video", "3", "--batch-size", "4", "--epochs", str(args.epochs),
          "--clips-per-video", "4", "--lr", "0.1", "--lr-warmup-epochs", "0.5", "--lr-scheduler", "cosine",
          "--sync-bn", "--cache-dataset", "--workers", "1", "--threads", "1", "--seed", "0"]),
        ("convert to a Caffe2 pickle", "zoo.convert.cli",
         [PY, "-m", "zoo.convert.cli", "safetensors-to-pickle", str(checkpoint), str(out / "model.pkl")]),
        ("export to ONNX and check it with onnxruntime", "zoo.convert.cli",
         [PY, "-m", "zoo.convert.cli", "to-onnx", str(checkpoint), str(out / "model.onnx"),
          "--clip-len", "4", "--crop-size", "40"]),
        ("evaluate: 4 clips x 3 crops, --large (views chunked to a memory budget)", "zoo.evaluate.cli",
         [PY, "-m", "zoo.evaluate.cli", "--data-path", str(data), "--split", "val", "--checkpoint",
          str(checkpoint), "--large", "--crops", "3", "--clips", "4", "--resize", "40", "--crop-size", "40",
          "--workers", "1", "--output", str(out / "test")]),
    ]
    # a second run reuses the data and resumes (or skips) training; the evaluation starts afresh, since zoo-test
    # refuses to write over the results of an earlier run
    shutil.rmtree(out / "test", ignore_errors=True)
    start = time.perf_counter()
    for title, module, command in steps:
        if not _available(module):
            say("", f"=== {title}: not yet available ({module} is not installed)")
            continue
        _run(title, command)
    say("", f"demo finished in {time.perf_counter() - start:.0f} s; outputs in {out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
