"""Anchor side of ``bench/decode_views.py``: the same test views decoded by torchcodec or decord.

Runs inside the anchor's own virtual environment (``.bench-venvs/<name>``; it imports neither torch's CPU
build nor this project), started once per benchmark run so that imports and start-up are not timed. Reads
its jobs from a JSON file, then commands on stdin, one per line:

* ``run PROTOCOL [K]``: decode every video's views of PROTOCOL once (only video K's with K); prints the
  seconds it took.
* ``save PROTOCOL K FILE``: write video K's views as a ``.npy`` file (the benchmark compares them with ours).
* ``quit``.

Per video, the work is what a user of the library does for multi-clip, multi-crop testing: open the video,
ask for the distinct frames the clips need, resized by the library to the protocol's size, and cut the crops
into one ``(V, T, crop, crop, 3)`` uint8 array.

    python bench/_decode_anchor.py {torchcodec|decord} JOBS.json
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np


def torchcodec_frames(path: str, indices: list[int], size: tuple[int, int]) -> np.ndarray:
    from torchcodec.decoders import VideoDecoder
    from torchcodec.transforms import Resize

    decoder = VideoDecoder(path, dimension_order="NHWC", num_ffmpeg_threads=0, transforms=[Resize(size)])
    return decoder.get_frames_at(indices).data.numpy()


def decord_frames(path: str, indices: list[int], size: tuple[int, int]) -> np.ndarray:
    import decord

    reader = decord.VideoReader(path, width=size[1], height=size[0], num_threads=0)
    return reader.get_batch(indices).asnumpy()


DECODERS = {"torchcodec": torchcodec_frames, "decord": decord_frames}


def views(decode, job: dict) -> np.ndarray:
    """The views of one video: distinct frames decoded and resized by the library, then the crops."""
    frames = decode(job["path"], job["indices"], tuple(job["size"]))
    slot = {idx: k for k, idx in enumerate(job["indices"])}
    c = job["crop"]
    clips = job["clips"]
    out = np.empty((len(clips), len(job["positions"]), len(clips[0]), c, c, 3), np.uint8)
    for k, clip in enumerate(clips):
        picked = frames[[slot[i] for i in clip]]
        for j, (y, x) in enumerate(job["positions"]):
            out[k, j] = picked[:, y:y + c, x:x + c]
    return out.reshape(-1, len(clips[0]), c, c, 3)


def main(argv: list[str]) -> int:
    name, jobs_file = argv
    decode = DECODERS[name]
    with open(jobs_file) as fh:
        jobs = json.load(fh)
    for job in (j for protocol in jobs.values() for j in protocol):  # warm-up: libraries, codecs, page cache
        views(decode, job)
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        if command[0] == "run":
            todo = jobs[command[1]] if len(command) == 2 else [jobs[command[1]][int(command[2])]]
            start = time.perf_counter()
            for job in todo:
                views(decode, job)
            print(time.perf_counter() - start, flush=True)
        elif command[0] == "save":
            np.save(command[3], views(decode, jobs[command[1]][int(command[2])]))
            print("saved", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
