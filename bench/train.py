"""Training throughput of ``zoo-train``: model alone, loader alone, the full loop, and 2-process DDP.

Measured in one run on Kinetics-like videos (320x240, 30 fps, H.264 with a keyframe every second, generated
here): for R(2+1)D-18 on 8x112 clips (resize 128x171, random crop, flip)

* model   — training steps on clips already in memory (clips/s): the rate the data has to keep up with;
* loader  — the training DataLoader alone with the default workers (clips/s); goal: >= 2x the model;
* trainer — ``zoo-train`` itself, 1 process: clips/s and the share of step time spent waiting for data
  (goal: < 10 %);
* ddp     — ``torchrun --nproc_per_node=2 -m zoo.train`` with the same per-process batch: global clips/s and
  its ratio to the 1-process trainer (ideal: 2x).

Every process (model alone, 1-process and each DDP process) gets the same number of threads, CPUs/2 by default,
so that the DDP ratio measures scaling rather than thread over-subscription (on a busy 2-core machine one
process with 2 OpenMP threads can be several times slower than with 1).

Throughput of the trainer runs is taken from the second epoch (workers already started).
``python bench/train.py --quick`` takes a few minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import zoo
from zoo.data.datasets import discover
from zoo.data.encode import encode_video
from zoo.data.synthetic import random_texture, render_motion
from zoo.data.views import TrainClipSpec
from zoo.train.clips_dataset import TrainClipDataset, collate_clips
from zoo.train.loop import default_workers
from zoo.distributed import DistEnv
from zoo.train.sampler import ClipSampler


def make_videos(root: Path, classes: int, per_class: int, frames: int = 90) -> Path:
    """Kinetics-layout videos at 320x240, 30 fps, keyframe every 30 frames (like trimmed, re-encoded clips)."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        for i in range(per_class):
            path = root / "train" / f"class{c}" / f"v{i}.mp4"
            if path.exists():
                continue
            velocity = [(0, 0), (-2, 0), (2, 0), (0, 2)][c % 4]
            clip = render_motion(random_texture(rng, period=256), frames, 240, 320, velocity,
                                 (int(rng.integers(256)), int(rng.integers(256))))
            encode_video(path, clip, fps=30, gop=30, crf=23)
    return root


def model_rate(arch: str, clip_len: int, crop: int, batch: int, steps: int, threads: int) -> float:
    """Training clips/s of the model on in-memory input (forward, backward, SGD step)."""
    torch.set_num_threads(threads)
    model = zoo.create_model(arch, num_classes=4).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, clip_len, crop, crop)
    y = torch.zeros(batch, dtype=torch.int64)

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0)


def loader_rate(data: Path, clip_len: int, crop: int, batch: int, batches: int, workers: int) -> float:
    """Clips/s delivered by the training DataLoader alone (decode + resize + crop + flip + collate)."""
    samples, _ = discover(data, "train")
    spec = TrainClipSpec(clip_len=clip_len, frame_rate=None, scale_range=None, resize=(128, 171), crop_size=crop)
    dataset = TrainClipDataset(samples, spec)
    sampler = ClipSampler(len(samples), clips_per_video=max(1, -(-batch * (batches + 2) // len(samples))))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers,
                                         collate_fn=collate_clips, drop_last=True,
                                         prefetch_factor=4 if workers else None)
    it = iter(loader)
    next(it)  # workers started
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batch * batches / (time.perf_counter() - t0)


def trainer_run(data: Path, out: Path, nproc: int, arch: str, clip_len: int, crop: int, batch: int,
                threads: int, clips_per_video: int) -> dict:
    """Two epochs of zoo-train (no validation); returns the second epoch's log row."""
    train = ["--data-path", str(data), "--output-dir", str(out), "--model", arch, "--clip-len", str(clip_len),
             "--frame-rate", "0", "--train-crop-size", str(crop), "-b", str(batch), "--epochs", "2",
             "--clips-per-video", str(clips_per_video), "--val-split", "none", "--lr", "0.01",
             "--lr-warmup-epochs", "0", "--threads", str(threads), "--no-progress", "--no-resume"]
    if nproc == 1:
        cmd = [sys.executable, "-m", "zoo.train", *train]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "zoo.train", *train]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = str(threads)
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return rows[-1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small batches and few steps (a few minutes on 2 cores)")
    p.add_argument("--model", default="r2plus1d_18")
    p.add_argument("--clip-len", type=int, default=8)
    p.add_argument("--crop", type=int, default=112)
    p.add_argument("--batch-size", type=int, default=None, help="clips per process per step (quick: 2, else 8)")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps per trainer epoch (quick: 3, else 8)")
    p.add_argument("--workers", type=int, default=None, help="loader workers (default: zoo-train's default)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads per process (default: CPUs/2)")
    p.add_argument("--skip-ddp", action="store_true")
    args = p.parse_args(argv)
    batch = args.batch_size or (2 if args.quick else 8)
    steps = args.steps or (3 if args.quick else 8)
    cpus = os.cpu_count() or 1
    threads = args.threads or max(1, cpus // 2)
    workers = default_workers(DistEnv()) if args.workers is None else args.workers

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        tmp = Path(tmp)
        videos = 8
        data = make_videos(tmp / "data", classes=4, per_class=videos // 4)
        clips_per_video = -(-batch * steps // videos)  # one epoch = `steps` steps of one process
        print(f"{args.model} {args.clip_len}x{args.crop}, batch {batch}/process, {cpus} CPUs, "
              f"{threads} threads/process, {workers} loader workers, torch {torch.__version__}", flush=True)

        model = model_rate(args.model, args.clip_len, args.crop, batch, max(2, steps // 2), threads)
        print(f"model alone      : {model:8.2f} clips/s", flush=True)
        loader = loader_rate(data, args.clip_len, args.crop, batch, max(4, 2 * steps), workers)
        print(f"loader alone     : {loader:8.2f} clips/s   loader/model = {loader / model:.1f}x (goal >= 2x)",
              flush=True)
        single = trainer_run(data, tmp / "one", 1, args.model, args.clip_len, args.crop, batch, threads,
                             clips_per_video)
        print(f"zoo-train 1 proc : {single['clips_per_s']:8.2f} clips/s   data wait {100 * single['data_wait']:.1f}% "
              f"of step time (goal < 10%)   trainer/model = {single['clips_per_s'] / model:.2f}", flush=True)
        if not args.skip_ddp:
            ddp = trainer_run(data, tmp / "two", 2, args.model, args.clip_len, args.crop, batch, threads,
                              clips_per_video * 2)
            print(f"zoo-train 2 proc : {ddp['clips_per_s']:8.2f} clips/s   data wait {100 * ddp['data_wait']:.1f}%   "
                  f"DDP 2 proc / 1 proc = {ddp['clips_per_s'] / single['clips_per_s']:.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
