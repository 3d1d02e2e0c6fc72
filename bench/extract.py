"""Feature extraction: ``zoo.extract`` (decoding in DataLoader workers, windows of several videos per forward)
vs the straightforward loop most extraction scripts use (ig65m-pytorch's ``extract``): decode the whole video
with PyAV into RGB arrays, resize and crop with torch, then run its windows through the model, one video
after another.

Same videos (H.264, 30 fps, 320x240 moving texture), same model (R(2+1)D-18 at ``--width`` of its channels,
pool5 features), same windows (``--window`` frames every ``--stride``, 112 crops of a 128 short side) and the
same torch threads. Printed:

* ``RATIO windows/s ours / loop`` (goal >= 1.5 with 2 workers on 2 cores), each the best of ``--repeats``
  interleaved runs;
* the data-wait fraction of ours: time the model loop waited for decoded windows / total (goal < 10 %);
* peak memory of ours above the loaded model, for N and 2N videos, each in a fresh process
  (``RATIO peak 2N / N``, goal ~1: nothing accumulates with the number of videos).

    python bench/extract.py --quick
    python bench/extract.py --device cuda          # the model on the GPU (decoding stays on the CPU)
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

MEAN, STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)


def make_videos(folder: Path, count: int, frames: int, seed0: int = 0) -> list[Path]:
    from zoo.data.encode import encode_video

    paths = []
    for k in range(count):
        rng = np.random.default_rng(seed0 + k)
        texture = rng.integers(0, 256, (240, 320 * 2, 3), dtype=np.uint8)
        clip = np.stack([np.roll(texture, -3 * t, axis=1)[:, :320] for t in range(frames)])
        paths.append(encode_video(folder / f"v{k:03d}.mp4", clip, fps=30))
    return paths


def build_model(args):
    import torch
    import zoo

    torch.manual_seed(0)
    model = zoo.create_model("r2plus1d_18", num_classes=400, channel_multiplier=args.width).eval()
    return model.to(args.device)


def straightforward(model, videos, args) -> dict:
    """ig65m-pytorch style: whole video -> RGB arrays -> torch resize/crop/normalise -> windows -> model."""
    import av
    import torch
    import torch.nn.functional as F

    windows = 0
    start = time.perf_counter()
    for path in videos:
        with av.open(str(path)) as container:
            frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        x = torch.from_numpy(frames).permute(3, 0, 1, 2).float() / 255          # (3, T, H, W)
        h, w = x.shape[-2:]
        size = (128, round(w * 128 / h)) if h <= w else (round(h * 128 / w), 128)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        top, left = (x.shape[-2] - 112) // 2, (x.shape[-1] - 112) // 2
        x = x[..., top:top + 112, left:left + 112]
        x = (x - torch.tensor(MEAN)[:, None, None, None]) / torch.tensor(STD)[:, None, None, None]
        starts = list(range(0, x.shape[1] - args.window + 1, args.stride))
        clips = torch.stack([x[:, s:s + args.window] for s in starts])
        feats = []
        with torch.inference_mode():
            for i in range(0, len(clips), args.batch):
                feats.append(model.forward_features(clips[i:i + args.batch].to(args.device)).cpu())
        windows += len(starts)
    seconds = time.perf_counter() - start
    return {"windows": windows, "seconds": seconds, "windows_per_s": windows / seconds}


def ours(model, videos, args) -> dict:
    from zoo.data.views import ViewSpec
    from zoo.extract import VideoJob, WindowSpec, extract_windows
    from zoo.extract.tap_predictor import layer_predictor
    from zoo.options import RunOptions

    run = RunOptions.quiet(device=args.device, workers=args.workers)
    predictor, tap = layer_predictor(model, ["pool5"], MEAN, STD, run=run)
    spec = WindowSpec(ViewSpec(clip_len=args.window, num_clips=1, resize=128, crop_size=112), stride=args.stride,
                      pad_last=False)
    jobs = [VideoJob(i, str(p), str(p)) for i, p in enumerate(videos)]
    kept = []
    stats = extract_windows(predictor, lambda: tap.layout, jobs, spec, lambda r: kept.append(r.num_windows),
                            batch_windows=args.batch_windows, run=run)
    tap.remove()
    out = stats.as_dict()
    out["seconds"] = out["total_s"]
    return out


def _hwm() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def child(args) -> None:
    """One extraction in a fresh process: peak resident memory above the loaded model (and CUDA peak)."""
    import torch

    torch.set_num_threads(args.threads)
    model = build_model(args)
    videos = sorted(Path(args.videos_dir).glob("*.mp4"))[:args.count]
    ours(model, videos[:1], args)                      # warm-up (allocator, oneDNN kernels)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    base = _hwm()
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    result = ours(model, videos, args)
    result["peak_rss"] = _hwm() - base
    if args.device.startswith("cuda"):
        result["peak_cuda"] = torch.cuda.max_memory_allocated()
    print("RESULT " + json.dumps(result))


def run_child(args, videos_dir: Path, count: int) -> dict:
    cmd = [sys.executable, __file__, "--child", "--videos-dir", str(videos_dir), "--count", str(count),
           "--device", args.device, "--threads", str(args.threads), "--width", str(args.width),
           "--window", str(args.window), "--stride", str(args.stride), "--workers", str(args.workers),
           "--batch-windows", str(args.batch_windows)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(next(l for l in out.stdout.splitlines() if l.startswith("RESULT "))[7:])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="4 videos of 2 s, 8-frame windows every 4, 1/8 width, 2 repeats")
    p.add_argument("--device", default="cpu")
    p.add_argument("--videos", type=int, default=8, help="videos per run (default 8)")
    p.add_argument("--seconds", type=float, default=4.0, help="length of each video (default 4 s)")
    p.add_argument("--width", type=float, default=0.25, help="channel multiplier of R(2+1)D-18 (default 0.25)")
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--stride", type=int, default=8)
    p.add_argument("--batch", type=int, default=8, help="windows per forward in the loop (default 8)")
    p.add_argument("--batch-windows", type=int, default=16, help="windows per forward in ours (default 16)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--videos-dir", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args)
        return 0
    if args.quick:
        args.videos, args.seconds, args.repeats, args.width, args.window, args.stride = 4, 2.0, 2, 0.125, 8, 4
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp:
        folder = Path(tmp)
        videos = make_videos(folder, 2 * args.videos, int(args.seconds * 30))
        model = build_model(args)
        ours(model, videos[:1], args)                    # warm-up both paths
        straightforward(model, videos[:1], args)
        best_loop, best_ours = None, None
        for _ in range(args.repeats):                    # interleaved: both see the same machine load
            loop = straightforward(model, videos[:args.videos], args)
            mine = ours(model, videos[:args.videos], args)
            if best_loop is None or loop["windows_per_s"] > best_loop["windows_per_s"]:
                best_loop = loop
            if best_ours is None or mine["windows_per_s"] > best_ours["windows_per_s"]:
                best_ours = mine
        small = run_child(args, folder, args.videos)
        large = run_child(args, folder, 2 * args.videos)
    ratio = best_ours["windows_per_s"] / best_loop["windows_per_s"]
    print(f"R(2+1)D-18 x{args.width} width, {args.window}-frame windows every {args.stride}, 112 crops, "
          f"{args.videos} videos of {args.seconds:g} s, device {args.device}, {args.workers} workers, "
          f"{args.threads} torch threads")
    print(f"  loop: {best_loop['windows']} windows in {best_loop['seconds']:.2f} s "
          f"({best_loop['windows_per_s']:.1f} windows/s)")
    print(f"  ours: {best_ours['windows']} windows in {best_ours['seconds']:.2f} s "
          f"({best_ours['windows_per_s']:.1f} windows/s, {best_ours['videos_per_s']:.2f} videos/s); "
          f"data wait {best_ours['data_wait_s']:.2f} s, model {best_ours['compute_s']:.2f} s")
    print(f"  peak RSS above the model: {small['peak_rss'] / 2**20:.1f} MiB ({args.videos} videos), "
          f"{large['peak_rss'] / 2**20:.1f} MiB ({2 * args.videos} videos)")
    print(f"RATIO windows/s ours / loop = {ratio:.2f} (goal >= 1.5)")
    print(f"RATIO data wait / step time = {best_ours['data_wait_fraction']:.3f} (goal < 0.10)")
    mem_ratio = large["peak_rss"] / max(small["peak_rss"], 1)
    print(f"RATIO peak memory {2 * args.videos} / {args.videos} videos = {mem_ratio:.2f} (goal ~1)")
    if args.json:
        Path(args.json).write_text(json.dumps({"loop": best_loop, "ours": best_ours, "ratio": ratio,
                                               "peak_small": small, "peak_large": large,
                                               "memory_ratio": mem_ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
