"""The README's model table: every family x depth with parameters and multiply-adds.

``python -m zoo.models.table`` prints it as Markdown; a test checks that README.md contains it verbatim.
Counts are for 400 classes; MACs use VMZ's counting rule (conv weights x output positions + FC weights)
at 8x112x112 (C3D: its fixed 16x112x112 input; CSN rows with pool1 at 32x224x224, as released).
"""
from __future__ import annotations

from zoo.console import say
from zoo.models.describe import describe
from zoo.models.meta import build_meta_model
from zoo.models.registry import list_models


def _input_for(name: str) -> tuple[tuple[int, ...], dict]:
    if name == "c3d":
        return (1, 3, 16, 112, 112), {}
    if "csn" in name:
        return (1, 3, 32, 224, 224), {"use_pool1": True}
    return (1, 3, 8, 112, 112), {}


def rows() -> list[tuple[str, str, int, int, float]]:
    """(name, input, params, conv+fc weights, GMACs) for every model."""
    out = []
    for name in list_models():
        shape, options = _input_for(name)
        model = build_meta_model(name, 400, **options)
        info = describe(model, shape)
        label = "x".join(map(str, shape[2:])) + (" pool1" if options else "")
        out.append((name, label, info["params"], info["weights"], info["macs"] / 1e9))
    return out


def markdown() -> str:
    """The table as Markdown."""
    lines = ["| model | input | params (M) | conv+fc weights (M) | GMACs |", "|---|---|---:|---:|---:|"]
    for name, label, params, weights, gmacs in rows():
        lines.append(f"| `{name}` | {label} | {params / 1e6:.2f} | {weights / 1e6:.2f} | {gmacs:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    say(*markdown().splitlines())
