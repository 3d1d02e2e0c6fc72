"""Caffe2 blob names <-> zoo state-dict keys, architecture inference from blobs, strict mapping.

Mapping rules (``docs/architectures.md`` "Caffe2 blob names and module names", ``docs/legacy-formats.md``
"Blob names of the residual families"): the block counter ``i`` runs over
``layer1..layer4`` blocks in order; inside a block ``convN.0`` is ``comp_i_conv_N``, ``convN.1`` its BN
``comp_i_spatbn_N``; the (2+1)D spatial conv/BN ``convN.0.0/.0.1`` are ``comp_i_conv_N_middle`` /
``comp_i_spatbn_N_middle`` and the temporal conv ``convN.0.3`` (or ip-CSN's depthwise ``convN.0.2``) is
``comp_i_conv_N``; ir-CSN numbers its 2nd and 3rd conv 3 and 4; ``downsample.0/.1`` are
``shortcut_projection_i[_spatbn]``; ``fc`` is ``last_out_L{N}``. C3D modules carry the Caffe2 names.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from zoo.models.registry import model_family

_BN_SUFFIX = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}
_CONV_SUFFIX = {"weight": "w", "bias": "b"}
_BLOCK = re.compile(r"^layer(\d+)\.(\d+)\.(.+)$")
_CONV = re.compile(r"^conv(\d)\.(0|1|0\.0|0\.1|0\.2|0\.3)$")
_HEAD = re.compile(r"^last_out_L(\d+)_w$")
_RESNET_BASE = {"stem": 64, "stem_mid": 45}


class BlobMappingError(ValueError):
    """Blobs that do not fit the target architecture; lists missing, leftover and mis-shaped blobs with hints."""


# ------------------------------------------------------------------------------------- key <-> blob name
def _param_name(module_blob: str, param: str, key: str) -> str:
    table = _BN_SUFFIX if ("spatbn" in module_blob or module_blob.endswith("_bn")) else _CONV_SUFFIX
    if param not in table:
        raise KeyError(f"no Caffe2 name for {key!r}")
    return f"{module_blob}_{table[param]}"


def _block_module(path: str, i: int, ir_csn: bool, key: str) -> str:
    if path == "downsample.0":
        return f"shortcut_projection_{i}"
    if path == "downsample.1":
        return f"shortcut_projection_{i}_spatbn"
    m = _CONV.match(path)
    if not m:
        raise KeyError(f"no Caffe2 name for {key!r}")
    n, sub = int(m.group(1)), m.group(2)
    if ir_csn and n >= 2:       # '3d-sep' bumps the conv counter twice: conv_1, conv_3, conv_4
        n += 1
    return {"0": f"comp_{i}_conv_{n}", "1": f"comp_{i}_spatbn_{n}", "0.0": f"comp_{i}_conv_{n}_middle",
            "0.1": f"comp_{i}_spatbn_{n}_middle", "0.2": f"comp_{i}_conv_{n}", "0.3": f"comp_{i}_conv_{n}"}[sub]


def blob_name_map(keys: Iterable[str], arch: str, num_classes: int) -> dict[str, str]:
    """``{state-dict key: Caffe2 blob name}`` for every key except ``num_batches_tracked``.

    ``arch`` is a model name (``ir_csn_152``) or only its family (``ir_csn``): the naming depends on the family.
    """
    keys = [k for k in keys if not k.endswith("num_batches_tracked")]
    family = model_family(arch)
    ir_csn = family == "ir_csn"
    two_plus_one_stem = any(k.startswith("stem.3.") for k in keys)
    stem_names = ({"0": "conv1_middle", "1": "conv1_middle_spatbn_relu", "3": "conv1", "4": "conv1_spatbn_relu"}
                  if two_plus_one_stem else {"0": "conv1", "1": "conv1_spatbn_relu"})
    blocks = sorted({(int(m.group(1)), int(m.group(2))) for m in map(_BLOCK.match, keys) if m})
    block_index = {b: i for i, b in enumerate(blocks)}
    out: dict[str, str] = {}
    for key in keys:
        module, _, param = key.rpartition(".")
        if module == "fc":
            out[key] = f"last_out_L{num_classes}_{_CONV_SUFFIX[param]}"
        elif family == "c3d":
            out[key] = _param_name(module, param, key)
        elif module.startswith("stem."):
            idx = module.split(".", 1)[1]
            if idx not in stem_names:
                raise KeyError(f"no Caffe2 name for {key!r}")
            out[key] = _param_name(stem_names[idx], param, key)
        else:
            m = _BLOCK.match(module)
            if not m:
                raise KeyError(f"no Caffe2 name for {key!r}")
            i = block_index[(int(m.group(1)), int(m.group(2)))]
            out[key] = _param_name(_block_module(m.group(3), i, ir_csn, key), param, key)
    if len(set(out.values())) != len(out):
        raise KeyError(f"{arch}: two state-dict keys map onto one blob name")
    return out


def state_to_blobs(state: Mapping[str, object], arch: str, num_classes: int) -> dict[str, np.ndarray]:
    """Rename a state dict (tensors or arrays) to Caffe2 blobs, as float32 numpy arrays in construction order
    (``arch``: a model name or its family, as for :func:`blob_name_map`)."""
    names = blob_name_map(state.keys(), arch, num_classes)
    out = {}
    for key, blob in names.items():
        value = state[key]
        arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        out[blob] = arr
    return out


# -------------------------------------------------------------------------------------- inference
@dataclass
class ArchGuess:
    """Result of :func:`infer_arch`: what the blobs show, plus documented defaults for what they cannot."""

    arch: str
    num_classes: int
    options: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def num_classes_of(blobs: Mapping[str, np.ndarray]) -> int:
    """N from the single ``last_out_L{N}_w`` blob."""
    heads = [m for m in map(_HEAD.match, blobs) if m]
    if len(heads) != 1:
        found = ", ".join(m.group(0) for m in heads) or "none"
        raise BlobMappingError(f"expected exactly one classifier blob last_out_L<N>_w, found {found}")
    n = int(heads[0].group(1))
    shape = np.shape(blobs[heads[0].group(0)])
    if not shape or shape[0] != n:
        raise BlobMappingError(f"{heads[0].group(0)} has shape {shape}, expected ({n}, C)")
    return n


def _multiplier(pairs: list[tuple[int, int]]) -> float:
    """The smallest channel multiplier m with ``max(1, int(base*m)) == width`` for all (base, width) pairs."""
    m = max(width / base for base, width in pairs)
    return 1.0 if abs(m - 1.0) < 1e-12 else m


def _kt(blobs: Mapping[str, np.ndarray], name: str) -> int:
    return int(np.shape(blobs[name])[2])


def infer_arch(blobs: Mapping[str, np.ndarray]) -> ArchGuess:
    """Infer family, depth, num_classes and the visible options from Caffe2 blob names and shapes.

    Not visible in the blobs, so taken from the documented defaults (``docs/architectures.md`` "Stems"): ``use_pool1``
    is True for ir/ip-CSN (all released CSN models were trained at 224 with pool1) and False otherwise;
    ``conv1_temporal_stride`` is 1. Override them with explicit options.
    """
    n = num_classes_of(blobs)
    if "conv1a_w" in blobs:
        pairs = [(64, blobs["conv1a_w"].shape[0]), (512, blobs["conv5b_w"].shape[0]), (4096, blobs["fc6_w"].shape[0])]
        return _guess("c3d", n, _multiplier(pairs), [])
    if "conv1_w" not in blobs:
        raise BlobMappingError("no stem blob (conv1_w or conv1a_w): not a VMZ video model")
    comps = {int(m.group(1)) for m in map(re.compile(r"^comp_(\d+)_").match, blobs) if m}
    if not comps or comps != set(range(max(comps) + 1)):
        raise BlobMappingError(f"block blobs comp_<i>_* are not numbered 0..N-1 (found {sorted(comps)[:8]}...)")
    n_blocks = len(comps)
    if "conv1_middle_w" in blobs:
        family, unit = "r2plus1d", "2.5d"
    elif "comp_0_conv_4_w" in blobs:
        family, unit = "ir_csn", "ir"
    elif "comp_0_conv_2_middle_w" in blobs:
        family, unit = "ip_csn", "ip"
    else:
        family, unit = "r3d", "3d"
    bottleneck = "comp_0_conv_3_w" in blobs or unit == "ir"
    from zoo.models.resnet import BLOCK_CONFIG, uses_bottleneck
    depths = [d for d, cfg in BLOCK_CONFIG.items() if sum(cfg) == n_blocks and uses_bottleneck(d) == bottleneck]
    if len(depths) != 1:
        kind = "bottleneck" if bottleneck else "basic"
        raise BlobMappingError(f"{n_blocks} {kind} blocks match no VMZ depth (known: "
                               + ", ".join(f"{d}: {sum(c)}" for d, c in BLOCK_CONFIG.items()) + ")")
    depth = depths[0]
    stage_first = np.cumsum((0,) + BLOCK_CONFIG[depth][:-1])
    notes: list[str] = []
    options: dict = {}
    stem_out = "conv1_w"
    pairs = [(64, blobs[stem_out].shape[0]), (512 if depth <= 34 else 2048, blobs[f"last_out_L{n}_w"].shape[1])]
    if family == "r2plus1d":
        pairs.append((45, blobs["conv1_middle_w"].shape[0]))
    mult = _multiplier(pairs)
    stem_kt = _kt(blobs, "conv1_w")
    if family == "r3d":
        core = "conv_2" if bottleneck else "conv_1"
        is_3d = [_kt(blobs, f"comp_{i}_{core}_w") > 1 for i in stage_first]
        family, options_extra = _r3d_like(is_3d, stem_kt)
        options.update(options_extra)
    elif stem_kt != 3:
        options["conv1_temporal_kernel"] = stem_kt
    if family == "r2plus1d":
        mid = _midplanes_flavour(blobs, depth, stage_first, bottleneck)
        if mid != "vmz":
            options["midplanes"] = mid
            notes.append("middle widths follow torchvision's per-block formula")
    if family in ("ir_csn", "ip_csn"):
        options["use_pool1"] = True
        notes.append("use_pool1=True assumed (pool1 has no weights; every released CSN used it at 224 px)")
    if family in ("r3d", "r2plus1d") or family.startswith(("mc", "rmc")):
        notes.append("use_pool1=False assumed (pool1 has no weights; 112-px VMZ models have none)")
    guess = _guess(f"{family}_{depth}", n, mult, notes)
    guess.options.update(options)
    return guess


def _guess(arch: str, n: int, mult: float, notes: list[str]) -> ArchGuess:
    options = {} if mult == 1.0 else {"channel_multiplier": mult}
    return ArchGuess(arch, n, options, notes)


def _r3d_like(is_3d: list[bool], stem_kt: int) -> tuple[str, dict]:
    """Name the 3x3x3/1x3x3 family from which stages are 3-D (``docs/architectures.md`` "mcX, rmcX, r2d, r2df")."""
    k = sum(is_3d)
    if all(is_3d):
        if stem_kt == 1:
            return "rmc2", {}
        return "r3d", ({} if stem_kt == 3 else {"conv1_temporal_kernel": stem_kt})
    if not any(is_3d):
        if stem_kt == 1:
            return "r2df", {}
        return ("mc2", {}) if stem_kt == 3 else ("r2d", {"clip_len": stem_kt})
    if is_3d == [True] * k + [False] * (4 - k) and stem_kt == 3:
        return f"mc{k + 2}", {}
    if is_3d == [False] * (4 - k) + [True] * k and stem_kt == 1:
        return f"rmc{6 - k}", {}
    raise BlobMappingError(f"stage pattern 3-D={is_3d} with a stem of temporal size {stem_kt} matches no family")


def _midplanes_flavour(blobs: Mapping[str, np.ndarray], depth: int, stage_first, bottleneck: bool) -> str:
    """'vmz' (per-conv middle widths) or 'torchvision' (per-block), judged on the second stage's first block."""
    from zoo.models.layers import vmz_midplanes
    i = int(stage_first[1])
    conv = "conv_2" if not bottleneck else "conv_2"
    mid = blobs[f"comp_{i}_{conv}_middle_w"].shape
    if bottleneck:
        inner, block_in = mid[1], blobs[f"comp_{i}_conv_1_w"].shape[1]
    else:
        inner, block_in = mid[1], blobs[f"comp_{i}_conv_1_middle_w"].shape[1]
    if mid[0] == vmz_midplanes(inner, inner):
        return "vmz"
    if mid[0] == vmz_midplanes(block_in, inner):
        return "torchvision"
    return "vmz"


# ------------------------------------------------------------------------------------------ strictness
def filter_blobs(blobs: Mapping[str, np.ndarray], drop_momentum: bool = False,
                 ignore: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """Drop ``_momentum`` buffers (if asked) and names matching any ``ignore`` glob pattern."""
    ignore = list(ignore)
    return {k: v for k, v in blobs.items()
            if not (drop_momentum and k.endswith("_momentum")) and not any(fnmatch.fnmatchcase(k, p) for p in ignore)}


def _hints(leftover: list[str], missing: list[str], mismatched: list[str]) -> list[str]:
    hints = []
    if any(k.endswith("_momentum") for k in leftover):
        hints.append("_momentum blobs are SGD state from a training checkpoint: pass --drop-momentum")
    if any(k.startswith("gpu_") for k in leftover):
        hints.append("gpu_N/ scoped names: convert the .mdl with minidb_to_safetensors (it unscopes), or "
                     "run minidb_to_pickle first")
    if any(k.startswith(("v_", "a_", "av_")) for k in leftover):
        hints.append("v_/a_/av_ blobs belong to an audio-visual model, which is not supported")
    if any(re.search(r"(_sm|_siv)$|iter|^lr$|optimizer", k) for k in leftover):
        hints.append("training-state blobs (saved BN stats, iteration counters, learning rate): "
                     "pass --ignore PATTERN to drop them")
    if any(_HEAD.match(k) for k in leftover) and any(_HEAD.match(k) for k in missing):
        hints.append("the classifier size differs from the requested num_classes")
    if any("_middle" in k for k in mismatched):
        hints.append("R(2+1)D middle widths differ: torchvision-style weights need midplanes='torchvision'")
    if mismatched and not missing and not leftover:
        hints.append("every name matches but shapes differ: check channel_multiplier, conv1_temporal_kernel "
                     "and clip_len, or use --arch auto")
    if missing and leftover and not hints:
        hints.append("names differ: the blobs may be of another family or depth; try --arch auto")
    return hints


def match_blobs(blobs: Mapping[str, np.ndarray], expected: Mapping[str, tuple[int, ...]], source: str,
                arch: str) -> None:
    """Check that ``blobs`` fill ``expected`` (blob name -> shape) exactly; one error listing everything."""
    missing = [k for k in expected if k not in blobs]
    leftover = [k for k in blobs if k not in expected]
    mismatched = [k for k in expected if k in blobs and tuple(np.shape(blobs[k])) != tuple(expected[k])]
    if not (missing or leftover or mismatched):
        return

    def listing(names: list[str]) -> str:
        return ", ".join(names[:25]) + (f", ... ({len(names) - 25} more)" if len(names) > 25 else "")

    parts = []
    if missing:
        parts.append(f"missing ({len(missing)}): {listing(missing)}")
    if leftover:
        parts.append(f"left over ({len(leftover)}): {listing(leftover)}")
    if mismatched:
        parts.append(f"wrong shape ({len(mismatched)}): " + listing(
            [f"{k} {tuple(np.shape(blobs[k]))} vs {tuple(expected[k])}" for k in mismatched]))
    parts += [f"hint: {h}" for h in _hints(leftover, missing, mismatched)]
    raise BlobMappingError(f"{source}: blobs do not fit {arch} ({len(blobs)} blobs given, {len(expected)} "
                           "expected): " + "; ".join(parts))


__all__ = ["ArchGuess", "BlobMappingError", "blob_name_map", "filter_blobs", "infer_arch",
           "match_blobs", "num_classes_of", "state_to_blobs"]
