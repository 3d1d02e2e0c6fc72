"""Peak memory of ``zoo-test --large`` vs its budget and vs the default path (all views in one pass).

Full size: ir-CSN-152 (pool1, 400 classes), 32 frames x 256 x 256, 10 clips x 3 crops = 30 views of one
10 s 30 fps 340x256 video. ``--quick``: the same comparison with ir-CSN-152 at 1/4 width on 16 x 96 x 96
views (still 30 views), which runs in a few minutes on 2 CPU cores.

Each path runs in its own child process through ``zoo.evaluate.evaluate`` (decode -> uint8 views ->
chunks -> model), and the child measures its peak memory above the loaded model independently of the
evaluator's own accounting: on CPU the resident set size sampled every 2 ms; on CUDA the caching allocator's
own high-water marks, ``max_memory_reserved`` (what the process holds on the GPU, compared with the budget) and
``max_memory_allocated``, kept across the evaluator's resets of the peak statistics. The default path is
measured first; the --large budget is then ``--budget-fraction`` of it (or ``--max-memory``), so --large must
do the same work in a fraction of the memory. Ratios printed: large peak / budget (goal < 1) and large peak /
default peak.

    python bench/evaluate.py --quick
    python bench/evaluate.py --device cuda            # full size on a GPU
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SIZES = {
    "full": {"arch": "ir_csn_152", "channel_multiplier": 1.0, "clip_len": 32, "sampling_rate": 2, "resize": 256,
             "crop_size": 256, "video": (300, 256, 340)},
    "quick": {"arch": "ir_csn_152", "channel_multiplier": 0.25, "clip_len": 16, "sampling_rate": 2, "resize": 96,
              "crop_size": 96, "video": (120, 96, 128)},
}


def make_video(path: Path, frames: int, height: int, width: int) -> Path:
    """A moving random texture (realistic decode work), 30 fps H.264."""
    from zoo.data.encode import encode_video

    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (height, width * 2, 3), dtype=np.uint8)
    clip = np.stack([np.roll(texture, -2 * t, axis=1)[:, :width] for t in range(frames)])
    return encode_video(path, clip, fps=30)


class PeakSampler:
    """Background thread sampling current memory every ``interval`` s; ``peak`` is the highest above start."""

    def __init__(self, read, interval: float = 0.002):
        self.read, self.interval = read, interval
        self.start = read()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.read() - self.start)
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.read() - self.start)


class CudaPeaks:
    """The caching allocator's peak reserved and allocated bytes above their values at entry (``peak`` after
    the block). The evaluator resets the peak statistics between its chunks: each reset first folds the peaks
    so far into this record, so nothing in the block is missed."""

    def __init__(self, device):
        import torch

        self.torch, self.device, self.peak = torch, device, {}

    def _fold(self):
        cuda = self.torch.cuda
        self._seen["reserved"] = max(self._seen["reserved"], cuda.max_memory_reserved(self.device))
        self._seen["allocated"] = max(self._seen["allocated"], cuda.max_memory_allocated(self.device))

    def __enter__(self):
        cuda = self.torch.cuda
        cuda.synchronize(self.device)
        self._start = {"reserved": cuda.memory_reserved(self.device), "allocated": cuda.memory_allocated(self.device)}
        self._seen = {"reserved": 0, "allocated": 0}
        self._reset = cuda.reset_peak_memory_stats
        cuda.reset_peak_memory_stats(self.device)

        def folding_reset(device=None):
            self._fold()
            self._reset(device)

        cuda.reset_peak_memory_stats = folding_reset
        return self

    def __exit__(self, *exc):
        cuda = self.torch.cuda
        cuda.synchronize(self.device)
        self._fold()
        cuda.reset_peak_memory_stats = self._reset
        self.peak = {k: max(0, self._seen[k] - self._start[k]) for k in ("reserved", "allocated")}


def budget_key(device: str) -> str:
    """The measurement the budget is compared with: reserved GPU memory on CUDA, resident set size on CPU."""
    return "reserved" if device.startswith("cuda") else "rss"


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(args) -> None:
    """Run one path on the video and print a JSON line with its measurements."""
    import torch

    import zoo
    from zoo.data.datasets import VideoSample
    from zoo.data.views import ViewSpec
    from zoo.evaluate import TorchPredictor, evaluate
    from zoo.options import RunOptions

    size = SIZES[args.size]
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = zoo.create_model(size["arch"], num_classes=400, channel_multiplier=size["channel_multiplier"],
                             use_pool1=True)
    predictor = TorchPredictor(model, (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989), device=device)
    spec = ViewSpec(clip_len=size["clip_len"], sampling_rate=size["sampling_rate"], num_clips=10, num_crops=3,
                    resize=size["resize"], crop_size=size["crop_size"])
    samples = [VideoSample(Path(args.video), 0, "bench")]
    classes = [f"class{i}" for i in range(400)]
    tracker = CudaPeaks(device) if device.type == "cuda" else PeakSampler(_rss)
    t0 = time.perf_counter()
    with tracker:
        metrics = evaluate(predictor, samples, classes, spec, large=args.path == "large", videos_per_batch=1,
                           run=RunOptions.quiet(device=device, max_memory=args.max_memory))
    seconds = time.perf_counter() - t0
    peak = tracker.peak if device.type == "cuda" else {"rss": tracker.peak}
    result = {"path": args.path, "seconds": seconds, "views": metrics["num_clips"], "peak": peak,
              "memory": metrics.get("memory")}
    print("RESULT " + json.dumps(result))


def run_child(args, path: str, video: Path, max_memory: int | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", path, "--video", str(video), "--size", args.size,
           "--device", args.device, "--threads", str(args.threads)]
    if max_memory is not None:
        cmd += ["--max-memory-bytes", str(max_memory)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    line = next(l for l in out.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def gib(n: float) -> str:
    return f"{n / 1024 ** 3:.3f} GiB"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1/4-width ir-CSN-152 on 16x96x96 views (CPU friendly)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads in the children")
    p.add_argument("--budget-fraction", type=float, default=0.25,
                   help="--large budget as a fraction of the measured default-path peak (default 0.25)")
    p.add_argument("--max-memory", help="explicit --large budget (e.g. 8GiB) instead of --budget-fraction")
    p.add_argument("--child", choices=("default", "large"), help=argparse.SUPPRESS)
    p.add_argument("--video", help=argparse.SUPPRESS)
    p.add_argument("--size", default=None, help=argparse.SUPPRESS)
    p.add_argument("--max-memory-bytes", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        args.path, args.max_memory = args.child, args.max_memory_bytes
        child(args)
        return 0
    args.size = "quick" if args.quick else "full"
    size = SIZES[args.size]
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as tmp:
        frames, h, w = size["video"]
        video = make_video(Path(tmp) / "video.mp4", frames, h, w)
        default = run_child(args, "default", video)
        key = budget_key(args.device)
        if args.max_memory:
            from zoo.evaluate.memory import parse_size
            budget = parse_size(args.max_memory)
        else:
            budget = int(default["peak"][key] * args.budget_fraction)
        large = run_child(args, "large", video, budget)
    print(f"ir-CSN-152 x{size['channel_multiplier']} width, {size['clip_len']}x{size['crop_size']}x"
          f"{size['crop_size']}, 30 views (10 clips x 3 crops), device {args.device}")
    for r in (default, large):
        peaks = ", ".join(f"{k} {gib(v)}" for k, v in r["peak"].items())
        print(f"  {r['path']:>7}: peak above model {peaks}; {r['seconds']:.1f} s for {r['views']} views")
    mem = large["memory"] or {}
    print(f"  --large budget {gib(budget)}; probe {gib(mem.get('probe_bytes_per_view') or 0)}/view + "
          f"{gib(mem.get('probe_fixed_bytes') or 0)} fixed; chunk {mem.get('initial_chunk_views')} -> "
          f"{mem.get('final_chunk_views')} views; OOM retries {mem.get('oom_retries')}; "
          f"self-reported peak {gib(mem.get('max_peak_bytes') or 0)}")
    print(f"RATIO large peak / budget = {large['peak'][key] / budget:.3f} (goal < 1)")
    print(f"RATIO large peak / default peak = {large['peak'][key] / default['peak'][key]:.3f}")
    print(f"RATIO large time / default time = {large['seconds'] / default['seconds']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
