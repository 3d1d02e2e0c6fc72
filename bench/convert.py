"""Converter benchmark: Caffe2 pickle -> safetensors cost vs. the load+save floor; onnxruntime vs eager PyTorch.

1. A full-size ir-CSN-152 (400 classes, ~120 MB) is written as a VMZ-style pickle, then converted with
   ``zoo.convert.pickle_to_safetensors`` and, as the floor, unpickled (C unpickler, numpy globals only) and
   written with ``safetensors.numpy.save_file``. Each run is a fresh subprocess writing a new file after
   ``os.sync()``; modes are interleaved; best and median time and the peak RSS increase are reported as
   ratios (goal: within 1.5x time, 2x memory). A third mode, the floor paused for ``--pause`` seconds between
   loading and saving, is a control: on a real disk it shows how much a write that merely starts later costs.
   Files go to ``/dev/shm`` when it exists, which measures the converter's own work; ``--dir`` picks a disk.
2. R(2+1)D-18 and ir-CSN-50 on small clips: onnxruntime vs PyTorch eager CPU throughput, as a ratio.

Usage: ``python bench/convert.py [--quick] [--repeats N] [--dir DIR] [--pause S] [--clip-len T] [--crop-size S]``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import time_call

_CHILD = r"""
import json, pickle, resource, sys, time
import numpy, torch, safetensors.numpy, zoo, zoo.convert
mode, src, dst = sys.argv[1:4]

def rss_kb():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS"))

class NumpyOnly(pickle.Unpickler):          # the floor: C unpickler, numpy globals only
    def find_class(self, module, name):
        if module.split(".")[0] != "numpy":
            raise pickle.UnpicklingError(module + "." + name)
        return super().find_class(module, name)

base = rss_kb()
t = time.perf_counter()
if mode.startswith("floor"):
    with open(src, "rb") as fh:
        blobs = NumpyOnly(fh, encoding="latin1").load()["blobs"]
    if mode != "floor":
        time.sleep(float(mode.split("+")[1]))      # the control: the same work, the save starting later
    safetensors.numpy.save_file(blobs, dst)
else:
    zoo.convert.pickle_to_safetensors(src, dst)
elapsed = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "peak_mb": (peak - base) / 1024}))
"""


def _child(mode: str, src: Path, dst: Path) -> dict:
    # Every run writes a new file with no writeback pending: otherwise a run that does not fsync (the floor)
    # leaves ~120 MB of dirty pages that throttle whichever run comes next, and overwriting the previous
    # output adds freeing its blocks to one run's time but not the other's.
    dst.unlink(missing_ok=True)
    os.sync()
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, str(src), str(dst)], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_pickle(tmp: Path, repeats: int, pause: float) -> None:
    import zoo
    from zoo.convert import safetensors_to_pickle
    model = zoo.create_model("ir_csn_152", num_classes=400, use_pool1=True)
    pkl = safetensors_to_pickle(zoo.save_checkpoint(model, tmp / "src.safetensors"), tmp / "ir_csn_152.pkl")
    del model
    print(f"ir-CSN-152 pickle: {pkl.stat().st_size / 1e6:.1f} MB, files in {tmp.parent}")
    control = f"floor+{pause:g}"
    runs: dict[str, list[dict]] = {"floor": [], "convert": [], control: []}
    for _ in range(repeats):
        for mode in runs:      # interleaved so all see the same machine load
            runs[mode].append(_child(mode, pkl, tmp / "out.safetensors"))
    best = {m: min(r["seconds"] for r in rs) for m, rs in runs.items()}
    median = {m: statistics.median(r["seconds"] for r in rs) for m, rs in runs.items()}
    peak = {m: min(r["peak_mb"] for r in rs) for m, rs in runs.items()}
    for m in runs:
        print(f"  {m:12s} best of {repeats}: {best[m]:.3f} s (median {median[m]:.3f} s), "
              f"peak RSS increase {peak[m]:.0f} MB")
    for m in ("convert", control):
        print(f"  ratio {m}/floor: time {best[m] / best['floor']:.2f}x best, {median[m] / median['floor']:.2f}x "
              f"median" + (f" (goal <= 1.5x), memory {peak[m] / peak['floor']:.2f}x (goal <= 2x)"
                           if m == "convert" else f" (control: {pause:g} s idle before the save)"))


def bench_onnx(tmp: Path, clip_len: int, crop: int, repeats: int) -> None:
    import numpy as np
    import onnxruntime as ort
    import torch
    import zoo
    from zoo.convert import to_onnx
    for arch in ("r2plus1d_18", "ir_csn_50"):
        model = zoo.create_model(arch, num_classes=400).eval()
        ckpt = zoo.save_checkpoint(model, tmp / f"{arch}.safetensors", clip_len=clip_len, crop_size=crop)
        onnx_path = to_onnx(ckpt, tmp / f"{arch}.onnx")
        x = np.random.default_rng(0).standard_normal((1, 3, clip_len, crop, crop)).astype(np.float32)
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        xt = torch.from_numpy(x)

        def eager():
            with torch.inference_mode():
                model(xt)

        def onnxrt():
            session.run(None, {"x": x})

        times: dict[str, list[float]] = {"eager": [], "onnxruntime": []}
        for _ in range(repeats):    # alternated, so a burst of machine load hits both alike
            for name, fn in (("eager", eager), ("onnxruntime", onnxrt)):
                times[name].append(time_call(fn, torch.device("cpu"), 1, warmup=0 if times[name] else 1))
        rates = {name: 1.0 / statistics.median(t) for name, t in times.items()}
        print(f"{arch} 1x3x{clip_len}x{crop}x{crop}: eager {rates['eager']:.2f} clips/s, onnxruntime "
              f"{rates['onnxruntime']:.2f} clips/s, ratio ort/eager {rates['onnxruntime'] / rates['eager']:.2f}x")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat, small clips")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--clip-len", type=int, default=8)
    parser.add_argument("--crop-size", type=int, default=112)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="folder for the files (default /dev/shm: the converter's own work, no disk)")
    parser.add_argument("--pause", type=float, default=0.06,
                        help="idle seconds of the control run (about the converter's extra work)")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    crop = 64 if args.quick else args.crop_size
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        bench_pickle(Path(tmp), repeats, args.pause)
        bench_onnx(Path(tmp), args.clip_len, crop, max(min(repeats, 5), 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
