"""Mixed precision: the ``--amp`` names of the tools and their torch dtypes, in one table.

Importing the module is cheap (torch is imported when a dtype is asked for), so the tools' ``--help`` uses
:data:`AMP_CHOICES`.
"""
from __future__ import annotations

#: ``--amp`` autocast dtypes of the tools that run models (torch dtypes: :func:`amp_dtype`)
AMP_CHOICES = ("bf16", "fp16")


def amp_dtype(name: str | None, device_type: str = "cpu"):
    """The torch dtype of an ``--amp`` name (:data:`AMP_CHOICES`); ``None`` -> ``None`` (no autocast); ``auto``
    (zoo-train's bare ``--amp``) is fp16 on CUDA and bf16 elsewhere. ValueError on an unknown name."""
    import torch

    if name is None:
        return None
    if name == "auto":
        name = "fp16" if device_type == "cuda" else "bf16"
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    if name not in dtypes:
        raise ValueError(f"unknown --amp {name!r}; choose {' or '.join(AMP_CHOICES)}")
    return dtypes[name]
