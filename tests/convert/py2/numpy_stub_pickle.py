"""Runs under Python 2.7 (no numpy there): reads and writes VMZ-style weights pickles with real cPickle.

numpy is replaced by stub modules that reduce and rebuild exactly as numpy 1.x does
(``numpy.core.multiarray._reconstruct``, ``numpy.dtype`` with a version-3 state), so the pickle stream is
what Python 2's cPickle produces and accepts for numpy arrays.

    python2.7 numpy_stub_pickle.py read  FILE.pkl  OUT.json   # names, shapes, dtypes, sha1 of the bytes
    python2.7 numpy_stub_pickle.py write SPEC.json OUT.pkl    # SPEC: {name: [shape, "f4", hex bytes]}
"""
import cPickle
import hashlib
import json
import sys
import types

numpy = types.ModuleType("numpy")
core = types.ModuleType("numpy.core")
multiarray = types.ModuleType("numpy.core.multiarray")
numpy.core, core.multiarray = core, multiarray
sys.modules.update({"numpy": numpy, "numpy.core": core, "numpy.core.multiarray": multiarray})


class dtype(object):
    def __init__(self, code, align=0, copy=1):
        self.code, self.order = code, "<"

    def __reduce__(self):
        return (dtype, (self.code, 0, 1), (3, self.order, None, None, None, -1, -1, 0))

    def __setstate__(self, state):
        self.order = state[1]


class ndarray(object):
    def __init__(self, shape=(0,), dt=None, data=""):
        self.shape, self.dtype, self.data = tuple(shape), dt, data

    def __reduce__(self):
        return (_reconstruct, (ndarray, (0,), "b"), (1, self.shape, self.dtype, False, self.data))

    def __setstate__(self, state):
        _, self.shape, self.dtype, fortran, self.data = state
        assert not fortran


def _reconstruct(cls, shape, code):
    return cls()


dtype.__module__ = ndarray.__module__ = "numpy"
_reconstruct.__module__ = "numpy.core.multiarray"
numpy.dtype, numpy.ndarray, multiarray._reconstruct = dtype, ndarray, _reconstruct


def read(src, out):
    with open(src, "rb") as fh:
        obj = cPickle.load(fh)
    blobs = obj["blobs"]
    assert all(isinstance(k, str) for k in blobs), "names must be Python 2 str"
    info = dict((k, {"shape": list(v.shape), "dtype": v.dtype.order + v.dtype.code,
                     "sha1": hashlib.sha1(v.data).hexdigest()}) for k, v in blobs.items())
    with open(out, "w") as fh:
        json.dump({"keys": list(obj), "blobs": info}, fh)


def write(spec, out):
    with open(spec) as fh:
        arrays = json.load(fh)
    shared = {}
    blobs = {}
    for name, (shape, code, hexdata) in arrays.items():
        dt = shared.setdefault(code, dtype(str(code)))     # numpy shares one dtype object per type: memoised
        blobs[str(name)] = ndarray(shape, dt, hexdata.decode("hex"))
    with open(out, "wb") as fh:
        cPickle.dump({"blobs": blobs}, fh, protocol=2)


if __name__ == "__main__":
    {"read": read, "write": write}[sys.argv[1]](sys.argv[2], sys.argv[3])
