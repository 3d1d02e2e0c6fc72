"""A small synthetic action dataset whose classes differ only in motion.

Every video shows a window onto a random, smooth, periodic colour texture that scrolls with a constant
velocity. The class is the motion: ``still``, ``up``, ``down``, ``sideways`` (left or right, chosen per
video), ... Each single frame is a window of the same kind of random texture at a random offset, so
per-frame statistics are identical across classes; only temporal information (the displacement between
frames) tells them apart. Classes are invariant under horizontal flipping (left and right motion share the
``sideways`` class), so the usual flip augmentation keeps labels valid.

Videos are real encoded files (H.264 and MPEG-4 in .mp4/.mkv/.avi via :mod:`zoo.data.encode`) with varied
frame sizes, frame rates and lengths, in the Kinetics layout ``OUT/{train,val}/{class}/{video}``, plus
``OUT/classes.txt`` (sorted, the order of the class folders). Generation is deterministic for a seed and
resumes: finished videos are kept.

``python -m zoo.data.synthetic OUT --classes 4 --videos-per-class 8``
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from zoo._io import atomic_write_text
from zoo.console import say
from zoo.limits import MAX_SEED

if TYPE_CHECKING:   # numpy and PyAV are imported when videos are made (zoo-prepare --help stays fast)
    import numpy as np

#: class name -> possible (dy, dx) unit directions of the on-screen motion (one is drawn per video; y grows
#: downwards); speeds are pixels per frame
MOTIONS: dict[str, tuple[tuple[int, int], ...]] = {
    "still": ((0, 0),),
    "up": ((-1, 0),),
    "down": ((1, 0),),
    "sideways": ((0, -1), (0, 1)),
    "diagonal_up": ((-1, -1), (-1, 1)),
    "diagonal_down": ((1, -1), (1, 1)),
}
#: frame sizes (width, height), frame rates and formats the videos are drawn from
SIZES = ((96, 72), (112, 84), (88, 64), (80, 80), (72, 96))
FRAME_RATES = (15, 20, 25, 30)
FORMATS = (("h264", ".mp4"), ("mpeg4", ".mp4"), ("h264", ".mkv"), ("mpeg4", ".avi"))
SPEEDS = (4, 5)
NUM_FRAMES = (32, 48)
TEXTURE_PERIOD = 128
TEXTURE_BLUR = 4.0
TEXTURE_COLOUR = False
#: the largest dataset the generator writes (a few seconds per video)
MAX_VIDEOS_PER_CLASS = 10_000


def class_names(num_classes: int) -> list[str]:
    """The first ``num_classes`` motion classes."""
    names = list(MOTIONS)
    if not 2 <= num_classes <= len(names):
        raise ValueError(f"classes must be between 2 and {len(names)}, got {num_classes}")
    return names[:num_classes]


def random_texture(rng: np.random.Generator, period: int = TEXTURE_PERIOD, blur: float | None = None,
                   colour: bool | None = None) -> np.ndarray:
    """A smooth periodic texture ``(period, period, 3)`` uint8 (low-pass filtered noise, std ~55); grey
    unless ``colour`` (grey textures give a model less appearance to memorise, so it learns the motion)."""
    import numpy as np

    blur = TEXTURE_BLUR if blur is None else blur
    colour = TEXTURE_COLOUR if colour is None else colour
    noise = rng.standard_normal((period, period, 3 if colour else 1))
    f = np.fft.fftfreq(period)
    gain = np.exp(-2 * (np.pi * blur) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    smooth = np.fft.ifft2(np.fft.fft2(noise, axes=(0, 1)) * gain[..., None], axes=(0, 1)).real
    smooth = (smooth - smooth.mean(axis=(0, 1))) / smooth.std(axis=(0, 1))
    return np.broadcast_to(np.clip(128 + 55 * smooth, 0, 255).astype(np.uint8), (period, period, 3))


def render_motion(texture: np.ndarray, num_frames: int, height: int, width: int, velocity: tuple[int, int],
                  offset: tuple[int, int]) -> np.ndarray:
    """Frames ``(T, H, W, 3)`` of the periodic ``texture`` moving by ``velocity`` (dy, dx) pixels per frame:
    the pixel at ``(y, x)`` in frame ``t`` is at ``(y + dy, x + dx)`` in frame ``t + 1``."""
    import numpy as np

    period_y, period_x = texture.shape[:2]
    ys, xs = np.arange(height), np.arange(width)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        oy, ox = offset[0] - t * velocity[0], offset[1] - t * velocity[1]
        frames[t] = texture[((ys + oy) % period_y)[:, None], ((xs + ox) % period_x)[None, :]]
    return frames


def _video_params(seed: int, split: str, label: int, index: int) -> dict:
    import numpy as np

    rng = np.random.default_rng([seed, 0 if split == "train" else 1, label, index])
    width, height = SIZES[rng.integers(len(SIZES))]
    codec, ext = FORMATS[(index + label) % len(FORMATS)]
    return dict(rng=rng, width=int(width), height=int(height), codec=codec, ext=ext,
                fps=int(FRAME_RATES[rng.integers(len(FRAME_RATES))]),
                num_frames=int(rng.integers(NUM_FRAMES[0], NUM_FRAMES[1] + 1)),
                speed=int(SPEEDS[rng.integers(len(SPEEDS))]))


def make_video(path: Path, motion: str, params: dict) -> Path:
    """Render and encode one video of class ``motion``."""
    from zoo.data.encode import encode_video

    rng = params["rng"]
    directions = MOTIONS[motion]
    dy, dx = directions[rng.integers(len(directions))]
    texture = random_texture(rng)
    offset = (int(rng.integers(TEXTURE_PERIOD)), int(rng.integers(TEXTURE_PERIOD)))
    velocity = (dy * params["speed"], dx * params["speed"])
    frames = render_motion(texture, params["num_frames"], params["height"], params["width"], velocity, offset)
    extra = {"qscale": 3, "crf": None} if params["codec"] == "mpeg4" else {"crf": 18}
    return encode_video(path, frames, fps=params["fps"], codec=params["codec"], **extra)


def generate(out_dir: str | os.PathLike, classes: int = 4, videos_per_class: int = 8, seed: int = 0,
             val_videos_per_class: int | None = None, splits: Sequence[str] = ("train", "val"),
             progress: bool = False) -> Path:
    """Write the dataset to ``out_dir`` (Kinetics layout + ``classes.txt``) and return ``out_dir``.

    ``videos_per_class`` videos per class in ``train``; ``val_videos_per_class`` (default
    ``max(2, videos_per_class // 2)``) in ``val``. Existing finished videos are kept, so an interrupted run
    resumes; a different configuration in an existing folder is an error.
    """
    out = Path(out_dir)
    names = class_names(classes)
    if val_videos_per_class is None:
        val_videos_per_class = max(2, videos_per_class // 2)
    for what, value, low, high in (("videos_per_class", videos_per_class, 1, MAX_VIDEOS_PER_CLASS),
                                   ("val_videos_per_class", val_videos_per_class, 1, MAX_VIDEOS_PER_CLASS),
                                   ("seed", seed, 0, MAX_SEED)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{what} must be an integer in {low}..{high}, got {value!r}")
    config = {"generator": "zoo.data.synthetic/1", "classes": names, "videos_per_class": videos_per_class,
              "val_videos_per_class": val_videos_per_class, "seed": seed, "splits": list(splits)}
    manifest = out / "synthetic.json"
    if manifest.is_file() and json.loads(manifest.read_text()) != config:
        raise ValueError(f"{out}: already holds a synthetic dataset with other settings ({manifest}); "
                         "use another folder")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(manifest, json.dumps(config, indent=1) + "\n")
    jobs = []
    for split in splits:
        count = videos_per_class if split == "train" else val_videos_per_class
        for label, name in enumerate(names):
            for i in range(count):
                jobs.append((split, label, name, i))
    if progress:
        from zoo.progress import progress_bar
        jobs = progress_bar(jobs, desc="synthetic videos", unit="video")
    for split, label, name, i in jobs:
        params = _video_params(seed, split, label, i)
        path = out / split / name / f"{name}_{i:04d}{params['ext']}"
        if not path.exists():
            make_video(path, name, params)
    # sorted, like the class folders discover() finds, so both give the same class index
    atomic_write_text(out / "classes.txt", "".join(n + "\n" for n in sorted(names)))
    return out


def _integer(low: int, high: int, what: str):
    """argparse type: an integer in ``low..high`` written in ASCII digits (``int('٣')`` would be 3)."""
    def parse(text: str) -> int:
        if not text.isascii() or not text.strip().lstrip("+-").isdigit():
            raise argparse.ArgumentTypeError(f"expected an integer in ASCII digits, got {text!r}")
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low}-{high} ({what}), got {text}")
        return value
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The generator's command-line options (shared with ``zoo-prepare synthetic``)."""
    parser.add_argument("out", help="output folder (Kinetics layout: OUT/{train,val}/{class}/{video})")
    videos = _integer(1, MAX_VIDEOS_PER_CLASS, "videos per class")
    parser.add_argument("--classes", type=_integer(2, len(MOTIONS), "motion classes"), default=4,
                        help=f"number of motion classes (2-{len(MOTIONS)})")
    parser.add_argument("--videos-per-class", type=videos, default=8, help="training videos per class")
    parser.add_argument("--val-videos-per-class", type=videos, default=None,
                        help="validation videos per class (default: half of --videos-per-class, at least 2)")
    parser.add_argument("--seed", type=_integer(0, MAX_SEED, "numpy's seed range"), default=0,
                        help="random seed (same seed, same videos)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def run(args: argparse.Namespace) -> int:
    """Generate from parsed :func:`add_arguments` options."""
    out = generate(args.out, classes=args.classes, videos_per_class=args.videos_per_class, seed=args.seed,
                   val_videos_per_class=args.val_videos_per_class, progress=not args.quiet)
    say(f"wrote {out} ({args.classes} classes: {', '.join(class_names(args.classes))})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="python -m zoo.data.synthetic", description=__doc__,
                                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
