"""Test-view decoding: single-pass ``decode_views`` vs one decode per clip vs a bare PyAV decode (floor).

Videos: 10 s at 30 fps, 340x256, H.264 made with the ffmpeg CLI (libx264 defaults: B-frames, keyframe every
250 frames, as Kinetics copies re-encoded with ffmpeg typically have; ``--gop`` changes it) from three
sources: ffmpeg's testsrc2 and mandelbrot patterns with grain, and a moving texture piped in as raw frames.
Views: 10 clips x 3 crops. Protocols:

* ``csn``: 32 frames at rate 2, short side 256, 256 crops (ir-CSN-152 test protocol)
* ``r2plus1d``: 8 frames at rate 1, 128x171 resize, 112 crops (R(2+1)D-18 test protocol)
* ``torchvision``: 16 frames, 5 clips x 1 centre crop 112 of a 128x171 torch bilinear resize (no antialias)
  of the decoded frames (torchvision's video weights; not resampled to 15 fps here)

The VMZ protocols resize in the decoder with libswscale's FAST_BILINEAR (Caffe2's filter).

Baselines measured in the same run:

* per-clip: every clip decoded on its own (open, seek to its keyframe, decode its span, convert), as
  clip-by-clip readers (torchvision ``read_video`` per clip) do; goal: ours >= 3x faster.
* floor: one bare PyAV pass over the needed span (threaded decode, no RGB conversion, no resize, no crops);
  goal: ours within 1.3x of it. Also printed: the time to allocate and fill an array of the output's size
  ("write"), which no decoder can avoid, and ours / (floor + write).

Anchors (``--anchors``, on by default except with ``--quick``): torchcodec and decord decoding the same views
(open the video, ask for the distinct frames the clips need resized by the library, cut the crops), each in
its own virtual environment under ``.bench-venvs/`` (created on first use: torchcodec's PyPI wheel needs the
CUDA build of the torch release it was made for, decord 0.6.0 needs no torch), driven through
``bench/_decode_anchor.py``. Printed: (probe + ours) / anchor, since both libraries index the whole video when
they open it, as our probe does. Goal: <= 1.0.

Times are the best of the repeats, methods interleaved (the machine may be shared).

    python bench/decode_views.py            # 3 videos, 5 repeats, anchors
    python bench/decode_views.py --quick    # 1 video, 3 repeats, no anchors
    python bench/decode_views.py --anchor-names decord --avi 2   # against decord, with 2 UCF101-like AVIs

Against the anchors each video is timed on its own: printed per video, then the geometric mean and the worst
video's ratio.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import time  # noqa: E402
from _common import ensure_ffmpeg  # noqa: E402
from zoo.data.decode import decode_frames  # noqa: E402
from zoo.data.probe import probe_video  # noqa: E402
from zoo.data.synthetic import random_texture, render_motion  # noqa: E402
from zoo.data.transforms import RESIZE_FILTERS, crop_positions, resize, resized_shape  # noqa: E402
from zoo.data.views import ViewSpec, decode_views, view_clip_indices  # noqa: E402

PROTOCOLS = {
    "csn": ViewSpec(clip_len=32, sampling_rate=2, num_clips=10, num_crops=3, resize=256, crop_size=256),
    "r2plus1d": ViewSpec(clip_len=8, sampling_rate=1, num_clips=10, num_crops=3, resize=(128, 171),
                         crop_size=112),
    "torchvision": ViewSpec(clip_len=16, sampling_rate=1, num_clips=5, num_crops=1, resize=(128, 171),
                            crop_size=112, resize_filter="torch_bilinear", crop_rule="torchvision"),
}


#: anchor name -> what its virtual environment installs from PyPI
ANCHORS = {"torchcodec": ["torch==2.13.0", "torchcodec==0.17.0", "numpy"], "decord": ["decord==0.6.0", "numpy"]}
VENVS = Path(__file__).resolve().parents[1] / ".bench-venvs"  # ignored by git, outside the scanned sources
#: the protocols timed against the anchors (torchvision's resizes with torch after decoding, which the
#: libraries do not do; their own resize would not be the same work)
ANCHOR_PROTOCOLS = ("csn", "r2plus1d")
SOURCES = ["testsrc2=size=340x256:rate=30:duration=10,noise=alls=5:allf=t",
           "mandelbrot=size=340x256:rate=30,trim=duration=10,noise=alls=2:allf=t", None]


def make_clip(ffmpeg: str, path: Path, k: int, gop: int | None) -> Path:
    """Clip ``k``: a 10 s 30 fps 340x256 H.264 video (libx264 CRF 20 for ffmpeg's patterns, 18 for the
    texture: 0.6-1.3 Mbit/s, like Kinetics copies at this size) encoded by the ffmpeg CLI from :data:`SOURCES`
    (``None``: a detailed moving colour texture with grain, piped in as raw RGB frames)."""
    source = SOURCES[k % len(SOURCES)]
    encode = ["-c:v", "libx264", "-crf", "20" if source else "18", "-pix_fmt", "yuv420p",
              *(["-g", str(gop)] if gop else []), str(path)]
    if source is not None:
        subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", source, *encode], check=True)
        return path
    rng = np.random.default_rng(k)
    texture = random_texture(rng, period=512, blur=1.5, colour=True)
    frames = render_motion(texture, 300, 256, 340, (1, 2), (0, 0))
    grain = rng.integers(-12, 13, (8, *frames.shape[1:]), dtype=np.int16)
    frames = np.clip(frames + grain[np.arange(len(frames)) % 8], 0, 255).astype(np.uint8)
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "340x256",
                    "-r", "30", "-i", "-", *encode], input=frames.tobytes(), check=True)
    return path


def make_avi(ffmpeg: str, path: Path, k: int) -> Path:
    """A UCF101-like video: 7 s of 25 fps 320x240 Xvid (MPEG-4 part 2, packed B-frames) in AVI."""
    source = ["testsrc2=size=320x240:rate=25:duration=7,noise=alls=5:allf=t",
              "mandelbrot=size=320x240:rate=25,trim=duration=7,noise=alls=2:allf=t"][k % 2]
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", source, "-c:v", "libxvid", "-bf", "2",
                    "-q:v", "4", str(path)], check=True)
    return path


def probe_and_views(path: Path, spec: ViewSpec, info) -> torch.Tensor:
    """What the evaluator does per video: probe it, then decode its views."""
    return decode_views(path, spec, probe_video(path))


def anchor_python(name: str) -> Path:
    """The Python of anchor ``name``'s virtual environment, created and installed from PyPI when missing.

    pip runs without this machine's pip configuration: a local CPU-only torch wheel there must not replace
    the CUDA build that torchcodec's PyPI wheel is linked against (its CPU decoding works without a GPU)."""
    python = VENVS / name / "bin" / "python"
    if not python.exists():
        print(f"creating {VENVS / name} ({' '.join(ANCHORS[name])}); this downloads from PyPI", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENVS / name)], check=True)
        env = {k: v for k, v in os.environ.items() if k != "PIP_FIND_LINKS"}
        env["PIP_CONFIG_FILE"] = os.devnull
        subprocess.run([str(python), "-m", "pip", "install", "-q", *ANCHORS[name]], check=True, env=env)
    return python


class Anchor:
    """A running ``bench/_decode_anchor.py`` in the anchor's environment, given every job up front."""

    def __init__(self, name: str, jobs: dict, folder: Path):
        self.name = name
        jobs_file = folder / f"{name}_jobs.json"
        jobs_file.write_text(json.dumps(jobs))
        self.proc = subprocess.Popen([str(anchor_python(name)), str(Path(__file__).with_name("_decode_anchor.py")),
                                      name, str(jobs_file)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        if self._ask(None) != "ready":
            raise SystemExit(f"anchor {name} did not start")

    def _ask(self, command: str | None) -> str:
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"anchor {self.name} stopped (exit code {self.proc.wait()})")
        return line.strip()

    def run(self, protocol: str, k: int | None = None) -> float:
        return float(self._ask(f"run {protocol}" + ("" if k is None else f" {k}")))

    def views(self, protocol: str, k: int, folder: Path) -> np.ndarray:
        target = folder / f"{self.name}_{protocol}_{k}.npy"
        self._ask(f"save {protocol} {k} {target}")
        return np.load(target)

    def close(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait()


def anchor_jobs(paths, infos, spec: ViewSpec) -> list[dict]:
    """The anchors' work for one protocol: per video the clips, the distinct frames, size and crops."""
    jobs = []
    for path, info in zip(paths, infos):
        clips = view_clip_indices(info, spec)
        h, w = resized_shape(info.height, info.width, spec.resize, spec.rounding)
        jobs.append({"path": str(path), "clips": clips, "indices": sorted({i for c in clips for i in c}),
                     "size": [h, w], "crop": spec.crop_size,
                     "positions": crop_positions(h, w, spec.crop_size, spec.num_crops, spec.crop_rule)})
    return jobs


def per_clip(path: Path, spec: ViewSpec, info) -> torch.Tensor:
    """Baseline: one open + seek + decode per clip, then the same crops."""
    out = []
    size = resized_shape(info.height, info.width, spec.resize, spec.rounding)
    interpolation = RESIZE_FILTERS[spec.resize_filter]
    for clip in view_clip_indices(info, spec):
        if interpolation is None:
            frames = resize(torch.from_numpy(decode_frames(path, clip, info)), size, antialias=False).numpy()
        else:
            frames = decode_frames(path, clip, info, size=size, interpolation=interpolation)
        h, w = frames.shape[1:3]
        for y, x in crop_positions(h, w, spec.crop_size, spec.num_crops, spec.crop_rule):
            out.append(torch.from_numpy(np.ascontiguousarray(frames[:, y:y + spec.crop_size,
                                                                    x:x + spec.crop_size])))
    return torch.stack(out)


def bare_span(path: Path, spec: ViewSpec, info) -> int:
    """Floor: decode (threaded) from the first to the last needed frame, no conversion at all."""
    clips = view_clip_indices(info, spec)
    first, last = min(min(c) for c in clips), max(max(c) for c in clips)
    t_first, t_last = info.frame_times[first], info.frame_times[last]
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if first > 0:
            container.seek(int(t_first / stream.time_base), stream=stream)
        for frame in container.decode(stream):
            count += 1
            if frame.time >= t_last - 1e-6:
                break
    return count


def resize_step(path: Path, repeats: int) -> dict:
    """Seconds per frame of the resize step alone (RGB conversion + resize of decoded frames, no decoding), for
    each filter: libswscale FAST_BILINEAR and BILINEAR to 128x171, and torch bilinear (no antialias) of the
    native RGB frame; the filters run in turn on the same 32 frames."""
    from av.video.reformatter import VideoReformatter

    with av.open(str(path)) as container:
        frames = [f for _, f in zip(range(32), container.decode(video=0))]
    reformatter = VideoReformatter()

    def swscale(interpolation):
        return lambda: [reformatter.reformat(f, 171, 128, "rgb24", interpolation=interpolation, threads=1)
                        .to_ndarray() for f in frames]

    def torch_bilinear():
        native = np.stack([f.to_ndarray(format="rgb24") for f in frames])
        return resize(torch.from_numpy(native), (128, 171), antialias=False)

    best = interleaved_min({"FAST_BILINEAR": swscale("FAST_BILINEAR"), "BILINEAR": swscale("BILINEAR"),
                            "torch": torch_bilinear}, repeats * 4)
    return {name: t / len(frames) for name, t in best.items()}


def interleaved_min(fns: dict, repeats: int) -> dict:
    """Best-of-``repeats`` seconds per function, running them in turn (fair on a shared, noisy machine)."""
    best = {name: float("inf") for name in fns}
    for fn in fns.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def each(fn, paths, infos, spec):
    """Run ``fn`` on every video, dropping each result before the next (one output alive at a time)."""
    def run():
        for path, info in zip(paths, infos):
            fn(path, spec, info)
    return run


def main(argv=None) -> int:  # noqa: C901 - one linear script
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 video, 3 repeats")
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--gop", type=int, default=None, help="keyframe interval (default: libx264's 250)")
    parser.add_argument("--protocol", choices=[*PROTOCOLS, "all"], default="all")
    parser.add_argument("--anchors", action=argparse.BooleanOptionalAction, default=None,
                        help="time torchcodec and decord too (default: yes, except with --quick)")
    parser.add_argument("--anchor-names", nargs="+", choices=list(ANCHORS), default=list(ANCHORS),
                        help="which anchors to time (default: all)")
    parser.add_argument("--avi", type=int, default=0,
                        help="add N UCF101-like videos to the anchor race: 7 s, 25 fps, 320x240 MPEG-4 AVI with "
                             "packed B-frames (Xvid), whose frames are listed by decoding them once")
    args = parser.parse_args(argv)
    if args.quick:
        args.videos, args.repeats = 1, 3
    if args.anchors is None:
        args.anchors = not args.quick
    names = list(PROTOCOLS) if args.protocol == "all" else [args.protocol]
    print(f"torch threads {torch.get_num_threads()}, PyAV {av.__version__}, gop {args.gop or 'x264 default'}")
    ffmpeg = ensure_ffmpeg()
    anchors: list[Anchor] = []
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = [make_clip(ffmpeg, Path(tmp) / f"v{i}.mp4", i, args.gop) for i in range(args.videos)]
        infos = [probe_video(p) for p in paths]
        raced = paths + [make_avi(ffmpeg, Path(tmp) / f"ucf{i}.avi", i) for i in range(args.avi)]
        raced_infos = infos + [probe_video(p) for p in raced[len(paths):]]
        if args.anchors:
            jobs = {name: anchor_jobs(raced, raced_infos, PROTOCOLS[name])
                    for name in names if name in ANCHOR_PROTOCOLS}
            anchors = [Anchor(name, jobs, Path(tmp)) for name in args.anchor_names]
        probe_s = interleaved_min({"probe": lambda: [probe_video(p) for p in paths]}, args.repeats)["probe"]
        probe_s /= len(paths)
        print(f"probe (demux all packets): {probe_s * 1e3:.1f} ms/video")
        print(f"{'protocol':10s} {'views':>16s} {'ours ms':>8s} {'per-clip ms':>11s} {'floor ms':>9s} "
              f"{'per-clip/ours':>13s} {'ours/floor':>10s} {'write ms':>8s} {'ours/(floor+write)':>18s} "
              f"{'ours/BILINEAR':>13s}")
        for name in names:
            spec = PROTOCOLS[name]
            # correctness guard: both ways give the same views
            assert torch.equal(decode_views(paths[0], spec, infos[0]), per_clip(paths[0], spec, infos[0]))
            out_shape = (spec.num_views, spec.clip_len, spec.crop_size, spec.crop_size, 3)
            timed = {
                "ours": each(decode_views, paths, infos, spec),
                "write": each(lambda *_: np.ones(out_shape, np.uint8), paths, infos, spec),
                "per_clip": each(per_clip, paths, infos, spec),
                "floor": each(bare_span, paths, infos, spec),
                # the same views through libswscale's BILINEAR (the filter used before the protocol rules)
                "bilinear": each(decode_views, paths, infos,
                                 dataclasses.replace(spec, resize_filter="swscale_bilinear"))}
            racing = anchors if name in ANCHOR_PROTOCOLS else []
            for k, (path, info) in enumerate(zip(raced, raced_infos) if racing else []):  # each video on its own
                timed[f"probe+ours:{k}"] = lambda path=path, info=info, spec=spec: probe_and_views(path, spec, info)
                for anchor in racing:
                    timed[f"{anchor.name}:{k}"] = lambda anchor=anchor, name=name, k=k: anchor.run(name, k)
            best = interleaved_min(timed, args.repeats)
            ours, clip, floor, write = best["ours"], best["per_clip"], best["floor"], best["write"]
            n = len(paths)
            shape = "x".join(str(d) for d in decode_views(paths[0], spec, infos[0]).shape)
            print(f"{name:10s} {shape:>16s} {ours / n * 1e3:8.1f} {clip / n * 1e3:11.1f} {floor / n * 1e3:9.1f} "
                  f"{clip / ours:13.2f} {ours / floor:10.2f} {write / n * 1e3:8.1f} {ours / (floor + write):18.2f} "
                  f"{ours / best['bilinear']:13.2f}")
            for anchor in racing:  # same frames? (the libraries resize with their own filters)
                for k, path in enumerate(raced):
                    diff = np.abs(anchor.views(name, k, Path(tmp)).astype(np.int16)
                                  - decode_views(path, spec, raced_infos[k]).numpy().astype(np.int16)).mean()
                    ours_s, anchor_s = best[f"probe+ours:{k}"], best[f"{anchor.name}:{k}"]
                    ratios.append((name, anchor.name, path.name, ours_s * 1e3, anchor_s * 1e3, ours_s / anchor_s,
                                   diff))
        for anchor in anchors:
            anchor.close()
        step = resize_step(paths[0], args.repeats)
        print(f"resize step alone, 340x256 -> 128x171, ms/frame: FAST_BILINEAR {step['FAST_BILINEAR'] * 1e3:.3f}, "
              f"BILINEAR {step['BILINEAR'] * 1e3:.3f} (FAST/BILINEAR {step['FAST_BILINEAR'] / step['BILINEAR']:.2f}), "
              f"torch bilinear of the RGB frame {step['torch'] * 1e3:.3f} "
              f"(torch/BILINEAR {step['torch'] / step['BILINEAR']:.2f})")
    print("goals: per-clip/ours >= 3, ours/floor <= 1.3; 'write' = allocating and filling an output-sized "
          "uint8 array (the part of ours the floor does not do); ours/BILINEAR = the protocol's filter against "
          "libswscale BILINEAR decoding the same views")
    if ratios:
        print(f"\n{'protocol':12s} {'anchor':11s} {'video':10s} {'probe+ours ms':>13s} {'anchor ms':>9s} "
              f"{'ours/anchor':>11s} {'mean |diff|':>11s}")
        for protocol, anchor, video, ours_ms, anchor_ms, ratio, diff in ratios:
            print(f"{protocol:12s} {anchor:11s} {video:10s} {ours_ms:13.1f} {anchor_ms:9.1f} {ratio:11.2f} "
                  f"{diff:11.2f}")
        for anchor in sorted({r[1] for r in ratios}):
            mine = [r for r in ratios if r[1] == anchor]
            geomean = float(np.exp(np.mean([np.log(r[5]) for r in mine])))
            worst = max(mine, key=lambda r: r[5])
            print(f"ours/{anchor}: geometric mean {geomean:.2f} over {len(mine)} (protocol, video) pairs; worst "
                  f"{worst[5]:.2f} ({worst[0]}, {worst[2]})")
        print("goal: ours/anchor <= 1.0 (geometric mean); mean |diff| = pixel levels between the anchor's views "
              "and ours (each library's own resize filter; a large one means other frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
