"""Benchmark: ``zoo-prepare trim`` (PyAV) vs the ``ffmpeg`` command line on 10 s Kinetics-style segments.

Both re-encode the same segments to 30 fps, short side 320, H.264 (libx264 preset veryfast, CRF 18), no
audio, with the same number of parallel jobs; the ffmpeg side runs the tutorial's command per clip
(``ffmpeg -ss S -t 10 -i RAW -r 30 -vf scale=-2:320 ...``). Prints clips/s of each and
RATIO = zoo time / ffmpeg time (goal: <= 1.3). Installs Debian's ffmpeg with apt-get when it is missing.

    python bench/prepare.py            # 6 clips from 640x360 sources, 2 workers, best of 2 runs
    python bench/prepare.py --quick    # 2 clips, 1 run
"""
from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av

from zoo.data.prepare.cli import main as zoo_prepare

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_ffmpeg  # noqa: E402

SOURCE_SECONDS = 25
SEGMENT = (5, 15)


def make_sources(ffmpeg: str, raw: Path, count: int, size: str) -> list[tuple[str, int]]:
    """``count`` synthetic raw videos (ffmpeg's testsrc2 pattern, varied frame rates); returns (id, fps)."""
    rates = [30, 25, 30000 / 1001, 24]
    made = []
    for i in range(count):
        fps = rates[i % len(rates)]
        vid = f"video{i:02d}"
        subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size={size}:rate={fps}:duration={SOURCE_SECONDS}", "-c:v", "libx264",
                        "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", str(raw / f"{vid}.mp4")],
                       check=True)
        made.append((vid, fps))
    return made


def run_zoo(annotations: Path, raw: Path, out: Path, workers: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    rc = zoo_prepare(["trim", str(annotations), str(raw), str(out), "--workers", str(workers), "--quiet"])
    elapsed = time.perf_counter() - start
    if rc != 0:
        raise SystemExit(f"zoo-prepare trim failed with exit code {rc}")
    return elapsed


def ffmpeg_command(ffmpeg: str, src: Path, dst: Path, width: int, height: int) -> list[str]:
    scale = "scale=-2:320" if width >= height else "scale=320:-2"
    return [ffmpeg, "-v", "error", "-y", "-ss", str(SEGMENT[0]), "-t", str(SEGMENT[1] - SEGMENT[0]), "-i", str(src),
            "-r", "30", "-vf", scale, "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
            "-an", str(dst)]


def run_ffmpeg(ffmpeg: str, sources: list[Path], out: Path, workers: int, width: int, height: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    commands = [ffmpeg_command(ffmpeg, src, out / src.name, width, height) for src in sources]
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for result in pool.map(lambda cmd: subprocess.run(cmd, check=True), commands):
            pass
    return time.perf_counter() - start


def frame_counts(folder: Path) -> list[int]:
    counts = []
    for path in sorted(folder.rglob("*.mp4")):
        with av.open(str(path)) as c:
            counts.append(sum(1 for p in c.demux(video=0) if p.size))
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", default="640x360", help="raw video size WxH (default 640x360)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per tool; the best time counts")
    parser.add_argument("--quick", action="store_true", help="2 clips, 1 run")
    args = parser.parse_args(argv)
    if args.quick:
        args.clips, args.repeat = 2, 1
    ffmpeg = ensure_ffmpeg()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="bench_prepare_") as tmp:
        tmp = Path(tmp)
        raw = tmp / "raw"
        raw.mkdir()
        sources = make_sources(ffmpeg, raw, args.clips, args.size)
        annotations = tmp / "annotations.csv"
        with open(annotations, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
            writer.writerows(["bench", vid, *SEGMENT, "val"] for vid, _ in sources)
        zoo_times, ffmpeg_times = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            ffmpeg_times.append(run_ffmpeg(ffmpeg, [raw / f"{vid}.mp4" for vid, _ in sources], tmp / "ffmpeg",
                                           args.workers, width, height))
            zoo_times.append(run_zoo(annotations, raw, tmp / "zoo", args.workers))
        zoo_frames, ffmpeg_frames = frame_counts(tmp / "zoo"), frame_counts(tmp / "ffmpeg")
    zoo_t, ffmpeg_t = min(zoo_times), min(ffmpeg_times)
    n = args.clips
    print(f"{n} clips of {SEGMENT[1] - SEGMENT[0]} s from {args.size} sources (fps {[round(f, 3) for _, f in sources]}), "
          f"{args.workers} parallel jobs, best of {args.repeat}")
    print(f"zoo-prepare trim : {zoo_t:7.2f} s  {n / zoo_t:6.2f} clips/s  frames per clip {sorted(set(zoo_frames))}")
    print(f"ffmpeg CLI       : {ffmpeg_t:7.2f} s  {n / ffmpeg_t:6.2f} clips/s  frames per clip "
          f"{sorted(set(ffmpeg_frames))}")
    print(f"RATIO zoo/ffmpeg time: {zoo_t / ffmpeg_t:.2f} (goal <= 1.3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
