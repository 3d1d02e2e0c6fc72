"""Shape-only models: the structure of a model without its numbers.

Converters check blob names and shapes against the model they describe, ``describe`` counts multiply-adds,
the hub and the README table list sizes: all of them need every parameter's name, shape and dtype and none
of its values. :func:`build_meta_model` builds the model inside :func:`zoo.models.layers.shapes_only`: every
layer is created on the ``meta`` device and no initialiser runs (ir-CSN-152: ~0.03 s, against ~0.07 s under
``torch.device("meta")``, which still runs every initialiser on ``meta`` and routes each torch call
through Python).
"""
from __future__ import annotations

from typing import Any

from torch import nn

from zoo.models.layers import shapes_only
from zoo.models.registry import build_model


def build_meta_model(name: str, num_classes: int = 400, **options: Any) -> nn.Module:
    """:func:`~zoo.models.build_model` with every tensor on ``meta`` and no initialisation (shapes only)."""
    with shapes_only():
        return build_model(name, num_classes, **options)


__all__ = ["build_meta_model"]
