"""Regenerate the torchvision parity fixture (tests/models/data/torchvision_reference.{json,safetensors}).

torchvision cannot be imported in the project's .venv (CPU torch build), so this script runs once in a
separate virtualenv outside the repository and its small outputs are committed:

    python3 -m venv /work/tvenv
    /work/tvenv/bin/pip install 'torch==2.14.*' 'torchvision==0.29.*'
    /work/tvenv/bin/python tests/models/make_torchvision_reference.py

For each of torchvision's r2plus1d_18, r3d_18 and mc3_18 (num_classes=400, eval mode, CPU, float32) it
records the state-dict keys and shapes in order and the parameter count, loads the name-derived weights of
``tv_reference.deterministic_state_dict`` (strict), runs ``tv_reference.reference_input()`` and stores the
logits plus each stage's output averaged over T, H, W. Nothing of the project (``zoo``) is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from pathlib import Path

import torch
import torchvision
from safetensors.torch import save_file
from torchvision.models import video as tv_video

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tv_reference as ref  # noqa: E402

DATA_DIR = Path(__file__).resolve().parent / "data"


def describe_model(name: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """Fixture entry (keys, shapes, counts, digests) and output tensors for torchvision's ``name``."""
    model = getattr(tv_video, name)(weights=None, num_classes=400).eval()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    weights = ref.deterministic_state_dict(shapes)
    model.load_state_dict(weights, strict=True)
    logits, stages = ref.stage_means(model, ref.reference_input())
    entry = {
        "state_dict": [[k, list(s)] for k, s in shapes.items()],
        "num_entries": len(shapes),
        "num_params": sum(p.numel() for p in model.parameters()),
        "bn_eps": sorted({m.eps for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}),
        "weights_sha256": ref.tensors_digest(weights),
        "logits_abs_max": float(logits.abs().max()),
    }
    outputs = {f"{name}/logits": logits}
    outputs.update({f"{name}/{stage}": t for stage, t in stages.items()})
    return entry, {k: v.contiguous().float() for k, v in outputs.items()}


def _compact_json(obj: dict) -> str:
    """Indented JSON with each innermost list (shapes, [key, shape] pairs) kept on one line."""
    text = json.dumps(obj, indent=1)
    text = re.sub(r"\[\s*([-\d.e, \n]*?)\s*\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    text = re.sub(r"\[\s*(\"[^\"]*\"),\s*(\[[^\]\n]*\])\s*\]", r"[\1, \2]", text)
    return text + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    models, tensors = {}, {}
    for name in ref.MODELS:
        entry, outputs = describe_model(name)
        models[name] = entry
        tensors.update(outputs)
        print(f"{name}: {entry['num_entries']} entries, {entry['num_params']:,} params, "
              f"|logits|max {entry['logits_abs_max']:.3f}")

    x = ref.reference_input()
    spec = {
        "generated_by": "tests/models/make_torchvision_reference.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "device": "cpu",
        "dtype": "float32",
        "mode": "eval",
        "input": {"shape": list(ref.INPUT_SHAPE), "seed": ref.INPUT_SEED, "sha256": ref.tensors_digest({"x": x})},
        "outputs": "<model>/logits (N, 400) and <model>/<stage> = stage output mean over (T, H, W), (N, C)",
        "models": models,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.out_dir / "torchvision_reference.json"
    st_path = args.out_dir / "torchvision_reference.safetensors"
    for path, write in (
        (st_path, lambda p: save_file(tensors, str(p))),   # versions live in the JSON (byte-reproducible)
        (json_path, lambda p: p.write_text(_compact_json(spec))),
    ):
        tmp = path.with_name(path.name + ".tmp")
        write(tmp)
        os.replace(tmp, path)
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
