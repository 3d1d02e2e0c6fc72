"""Restricted unpickler and the Python-2-compatible protocol-2 writer."""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import pickletools
import subprocess
from pathlib import Path

import numpy as np
import pytest

import zoo
from convert_helpers import assert_same_state, python2, tiny_model
from zoo.convert import pickle_to_safetensors
from zoo.convert.pipelines import model_to_blobs
from zoo.convert.pickle_io import (PickleFormatError, UnsafePickleError, blobs_from_pickle, dump_pickle, load_pickle,
                                   loads_pickle, save_pickle)

ARRAYS = {
    "conv1_w": np.arange(2 * 3 * 1 * 2 * 2, dtype=np.float32).reshape(2, 3, 1, 2, 2) - 7.5,
    "f64": np.linspace(-1, 1, 5),
    "i8": np.array([-128, -1, 0, 127], dtype=np.int8),
    "u8": np.array([0, 200, 255], dtype=np.uint8),
    "i64": np.array([-(2 ** 62), 2 ** 62], dtype=np.int64),
    "f16": np.array([1.5, -0.25], dtype=np.float16),
    "flag": np.array([True, False]),
    "empty": np.zeros((0, 4), dtype=np.float32),
    "scalar": np.array(3.25, dtype=np.float32),
    "fortran": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
    "bigendian": np.arange(3, dtype=">i4"),
}


def _check(blobs):
    for name, ref in ARRAYS.items():
        got = blobs[name]
        assert got.shape == ref.shape and np.array_equal(got, ref), name
        assert got.dtype.kind == ref.dtype.kind and got.dtype.itemsize == ref.dtype.itemsize, name


def test_writer_round_trip_every_dtype(tmp_path):
    path = save_pickle(tmp_path / "w.pkl", {"blobs": ARRAYS, "cfg": "MODEL: x", "extra": [1, 2.5, None, (3,)]})
    data = load_pickle(path)
    _check(data["blobs"])
    assert data["cfg"] == "MODEL: x" and data["extra"] == [1, 2.5, None, (3,)]


def test_writer_emits_python2_layout(tmp_path):
    """Protocol 2 only, numpy 1.x globals, names and buffers as Python 2 byte strings (SHORT_BINSTRING/BINSTRING)."""
    buf = io.BytesIO()
    dump_pickle({"blobs": {"comp_0_conv_1_w": np.ones((70,), np.float32)}}, buf)
    ops = list(pickletools.genops(buf.getvalue()))
    assert ops[0][0].name == "PROTO" and ops[0][1] == 2
    assert max(op.proto for op, _, _ in ops) <= 2
    globals_ = {arg for op, arg, _ in ops if op.name == "GLOBAL"}
    assert globals_ == {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}
    strings = [arg for op, arg, _ in ops if op.name in ("SHORT_BINSTRING", "BINSTRING")]
    assert "blobs" in strings and "comp_0_conv_1_w" in strings
    assert not any(op.name in ("BINUNICODE", "SHORT_BINBYTES", "BINBYTES") for op, _, _ in ops)


PY2 = python2()
PY2_SCRIPT = Path(__file__).parent / "py2" / "numpy_stub_pickle.py"
needs_python2 = pytest.mark.skipif(PY2 is None, reason="no Python 2.7 interpreter on this machine")


@needs_python2
def test_python2_cpickle_reads_our_pickles(tmp_path):
    """Python 2.7's cPickle (numpy stubbed with numpy 1.x's rebuild protocol) reads every blob we write."""
    blobs = model_to_blobs(tiny_model("ir_csn_26"))
    pkl = save_pickle(tmp_path / "w.pkl", {"blobs": blobs})
    subprocess.run([PY2, str(PY2_SCRIPT), "read", str(pkl), str(tmp_path / "seen.json")], check=True)
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["keys"] == ["blobs"] and set(seen["blobs"]) == set(blobs)
    for name, arr in blobs.items():
        assert seen["blobs"][name] == {"shape": list(arr.shape), "dtype": "<f4",
                                       "sha1": hashlib.sha1(arr.tobytes()).hexdigest()}, name


@needs_python2
def test_we_read_what_python2_cpickle_wrote(tmp_path):
    """A pickle written by Python 2.7's cPickle (memo references, str names) converts bit-exactly."""
    model = tiny_model("r2plus1d_10")
    blobs = model_to_blobs(model)
    spec = {name: [list(arr.shape), "f4", arr.tobytes().hex()] for name, arr in blobs.items()}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    pkl = tmp_path / "py2.pkl"
    subprocess.run([PY2, str(PY2_SCRIPT), "write", str(tmp_path / "spec.json"), str(pkl)], check=True)
    ops = {op.name for op, _, _ in pickletools.genops(pkl.read_bytes())}
    assert {"BINGET", "BINSTRING", "SHORT_BINSTRING"} <= ops and "BINUNICODE" not in ops
    loaded = load_pickle(pkl)["blobs"]
    assert list(loaded) != [] and set(loaded) == set(blobs)
    for name, arr in blobs.items():
        assert loaded[name].dtype == np.float32 and np.array_equal(loaded[name], arr), name
    back = zoo.load_checkpoint(pickle_to_safetensors(pkl, tmp_path / "w.safetensors"))
    assert_same_state(model, back)


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_reads_python3_pickles(protocol):
    _check(loads_pickle(pickle.dumps({"blobs": ARRAYS}, protocol=protocol))["blobs"])


def test_flat_and_detectron_shapes():
    flat = {"a_w": np.ones(2, np.float32), "cfg": "yaml"}
    assert list(blobs_from_pickle(flat)) == ["a_w"]
    assert list(blobs_from_pickle({"blobs": flat, "cfg": "yaml"})) == ["a_w"]
    with pytest.raises(PickleFormatError, match="no numpy arrays"):
        blobs_from_pickle({"cfg": "x"}, "f.pkl")


class _System:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


class _Arbitrary:
    pass


@pytest.mark.parametrize("payload", ["system", "eval", "class"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, payload):
    marker = tmp_path / "PWNED"
    obj = {"system": _System(marker), "eval": _Eval(marker), "class": _Arbitrary()}[payload]
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"blobs": {"x": np.ones(2, np.float32), "y": obj}}, protocol=2))
    with pytest.raises(UnsafePickleError, match="refused global") as info:
        load_pickle(evil)
    assert str(evil) in str(info.value)
    assert not marker.exists()
    out = tmp_path / "out.safetensors"
    with pytest.raises(UnsafePickleError):
        pickle_to_safetensors(evil, out)
    assert not marker.exists() and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.pkl"]


def test_codecs_other_than_latin1_refused():
    crafted = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x04\x00\x00\x00zlib\x86R."
    with pytest.raises(UnsafePickleError, match="latin1|encoding"):
        loads_pickle(crafted)


def test_truncated_pickle_clear_error_and_no_output(tmp_path):
    good = save_pickle(tmp_path / "good.pkl", {"blobs": ARRAYS})
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(good.read_bytes()[:-37])
    with pytest.raises(PickleFormatError, match="truncated") as info:
        load_pickle(bad)
    assert str(bad) in str(info.value)
    with pytest.raises(PickleFormatError):
        pickle_to_safetensors(bad, tmp_path / "out.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pkl", "good.pkl"]
