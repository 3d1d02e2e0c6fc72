"""Model and test protocol from ``--checkpoint FILE`` or ``--weights NAME``, with command-line overrides.

Protocol fields are looked up in this order: the command line, the ``weights.json`` entry (``--weights``),
the checkpoint metadata, then VMZ's ``test_net.py`` defaults (10 clips x 1 centre crop, 16 frames,
128x171 resize, 112 crop).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import zoo
from zoo.data.views import ViewSpec

#: torchvision / VMZ-PyTorch normalisation (Caffe2's 0-255 constants / 255), used when the metadata has none
DEFAULT_MEAN = (0.43216, 0.394666, 0.37645)
DEFAULT_STD = (0.22803, 0.22145, 0.216989)
_DEFAULTS = {"clip_len": 16, "sampling_rate": 1, "frame_rate": None, "resize": [128, 171], "crop_size": 112,
             "clips": 10, "crops": None, "mean": list(DEFAULT_MEAN), "std": list(DEFAULT_STD)}
_CLIPS_RE = re.compile(r"(\d+)_?clips?", re.IGNORECASE)
_CROPS_RE = re.compile(r"(\d+)_?crops?(\d+)?|(center|centre)(\d+)?", re.IGNORECASE)


@dataclass
class Protocol:
    """Everything needed to turn a video into model input, plus the class names."""

    spec: ViewSpec
    mean: list[float]
    std: list[float]
    classes: list[str] | None = None
    sources: dict = field(default_factory=dict)

    def settings(self) -> dict:
        """JSON-ready description (stored in ``run.json`` / ``metrics.json``)."""
        s = self.spec
        return {"clip_len": s.clip_len, "sampling_rate": s.sampling_rate, "frame_rate": s.frame_rate,
                "resize": list(s.resize) if isinstance(s.resize, (list, tuple)) else s.resize,
                "crop_size": s.crop_size, "clips": s.num_clips, "crops": s.num_crops,
                "mean": list(self.mean), "std": list(self.std)}


def parse_resize(text: str) -> int | list[int]:
    """``"256"`` -> 256 (short side), ``"128x171"`` -> [128, 171] (exact height x width)."""
    parts = re.split(r"[x,×]", str(text).strip())
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"--resize {text!r}: expected SHORT_SIDE or HEIGHTxWIDTH, e.g. 256 or 128x171") from None
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return values
    raise ValueError(f"--resize {text!r}: expected SHORT_SIDE or HEIGHTxWIDTH")


def _views_from_metrics(entry: dict) -> dict:
    """Clips, crops and test crop size of the first published metric's protocol: a dict, or a protocol
    name such as ``vmz_c2_10clip_3crop256_conv`` / ``vmz_c2_10clip_center112``."""
    for metric in entry.get("metrics") or []:
        protocol = metric.get("protocol")
        if isinstance(protocol, dict):
            return {k: protocol[k] for k in ("clips", "crops", "crop_size") if k in protocol}
        if not isinstance(protocol, str):
            continue
        found = {}
        if match := _CLIPS_RE.search(protocol):
            found["clips"] = int(match.group(1))
        if match := _CROPS_RE.search(protocol):
            found["crops"] = int(match.group(1)) if match.group(1) else 1
            size = match.group(2) or match.group(4)
            if size:
                found["crop_size"] = int(size)
        if found:
            return found
    return {}


def resolve_protocol(meta: dict, entry: dict | None = None, overrides: dict | None = None) -> Protocol:
    """Merge command line ``overrides`` > weights ``entry`` > checkpoint ``meta`` > VMZ defaults.

    When nothing sets the crop count: 3 crops if the crop is as large as a short-side resize (the
    CSN 10x3 protocol), else 1 centre crop.
    """
    layers = [("default", _DEFAULTS), ("checkpoint", meta or {}),
              ("weights", dict(entry or {}, **_views_from_metrics(entry or {}))), ("command line", overrides or {})]
    merged, sources = {}, {}
    for name, layer in layers:
        for key in _DEFAULTS:
            if layer.get(key) is not None:
                merged[key], sources[key] = layer[key], name
    resize = merged["resize"]
    if merged.get("crops") is None:
        merged["crops"] = 3 if isinstance(resize, int) and merged["crop_size"] == resize else 1
    spec = ViewSpec(clip_len=int(merged["clip_len"]), sampling_rate=int(merged["sampling_rate"]),
                    num_clips=int(merged["clips"]), num_crops=int(merged["crops"]),
                    resize=resize if isinstance(resize, int) else tuple(resize),
                    crop_size=None if merged["crop_size"] is None else int(merged["crop_size"]),
                    frame_rate=merged.get("frame_rate"))
    classes = (overrides or {}).get("classes") or (entry or {}).get("classes") or (meta or {}).get("classes")
    return Protocol(spec, [float(v) for v in merged["mean"]], [float(v) for v in merged["std"]],
                    list(classes) if classes else None, sources)


def checkpoint_source(checkpoint: str | None, weights: str | None) -> tuple[Path, dict | None]:
    """The checkpoint file (fetched and cached for ``--weights``) and the weights entry, if any."""
    if (checkpoint is None) == (weights is None):
        raise ValueError("give exactly one of --checkpoint FILE or --weights NAME")
    if weights is not None:
        from zoo.hub import fetch_checkpoint

        entry = zoo.get_weights(weights)
        return Path(fetch_checkpoint(weights)), entry
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"--checkpoint {path}: no such file")
    return path, None


def check_classes(protocol: Protocol, num_classes: int, source: str) -> None:
    """The class list must have one name per model output."""
    if protocol.classes is not None and len(protocol.classes) != num_classes:
        raise ValueError(f"{source}: the model has {num_classes} outputs but {len(protocol.classes)} class names")
