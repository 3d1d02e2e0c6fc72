"""The tools at their boundary, crashes, hangs and memory: a small hostile input ends in a one-line error and exit
status 1 or 2, never a signal (each crash class runs in a subprocess so a SIGSEGV or SIGBUS shows as one)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: a 200 KB pickle: {((((0,),),)...): 1} nested 200,000 deep; hashing the key overflows the C stack
DEEP_PICKLE = b"\x80\x02}" + b"K\x00" + b"\x85" * 200_000 + b"K\x01s."


def run_python(code: str, tmp_path: Path, timeout: float = 300, **env) -> subprocess.CompletedProcess:
    """``python -c code`` in ``tmp_path`` with an isolated cache; its exit status is never a signal here."""
    environ = {k: v for k, v in os.environ.items() if k not in ("ZOO_OFFLINE", "HF_HUB_OFFLINE", "ZOO_MIRRORS")}
    environ.update(ZOO_HOME=str(tmp_path / "zoo_home"), ZOO_CACHE_DIR=str(tmp_path / "cache"),
                   HF_HOME=str(tmp_path / "hf_home"), HF_HUB_DISABLE_TELEMETRY="1", **env)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode >= 0, f"killed by signal {-done.returncode}: {done.stderr[-2000:]}"
    return done


def run_tool(module: str, argv: list, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    return run_python(f"import sys; from {module} import main; sys.exit(main({[str(a) for a in argv]!r}))",
                      tmp_path, **env)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode in (1, 2), done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    return done.stderr


# ------------------------------------------------------------------ 8: nesting bomb in a pickle
@pytest.mark.parametrize("command", ["inspect", "pickle-to-safetensors"])
def test_deeply_nested_pickle_is_refused_not_a_crash(tmp_path, command):
    bomb = tmp_path / "bomb.pkl"
    bomb.write_bytes(DEEP_PICKLE)
    argv = ["inspect", bomb] if command == "inspect" else [command, bomb, tmp_path / "out.safetensors",
                                                             "--model", "r2plus1d_18"]
    err = one_line_error(run_tool("zoo.convert.cli", argv, tmp_path))
    assert "bomb.pkl" in err and "nested more than" in err
    assert not (tmp_path / "out.safetensors").exists()


def test_restricted_unpickler_bounds_nesting_but_reads_weights():
    import numpy as np

    from zoo.convert.pickle_io import MAX_PICKLE_NESTING, PickleFormatError, dump_pickle, loads_pickle

    import io
    buf = io.BytesIO()
    dump_pickle({"blobs": {"conv1_w": np.ones((2, 3), np.float32), "pred_b": np.zeros(4, np.float32)}}, buf)
    assert loads_pickle(buf.getvalue())["blobs"]["conv1_w"].shape == (2, 3)
    nested = b"\x80\x02" + b"K\x00" + b"\x85" * (MAX_PICKLE_NESTING + 5) + b"."
    with pytest.raises(PickleFormatError, match="nested more than"):
        loads_pickle(nested, "x.pkl")
    lists = b"\x80\x02" + b"]q\x00" * 1 + b"(" * 300 + b"K\x01" + b"l" * 300 + b"."   # lists in lists
    with pytest.raises(PickleFormatError, match="nested more than"):
        loads_pickle(lists, "y.pkl")


def test_hub_download_of_a_nesting_bomb_fails_and_caches_nothing(tmp_path):
    bomb = tmp_path / "served" / "bomb.pkl"
    bomb.parent.mkdir()
    bomb.write_bytes(DEEP_PICKLE)
    entry = {"arch": "r3d_18", "num_classes": 3, "options": {"channel_multiplier": 1 / 16}, "clip_len": 4,
             "crop_size": 32, "label_set": "tiny3",
             "sources": [{"format": "c2_pickle", "url": bomb.as_uri(), "filename": "bomb.pkl",
                          "sha256": hashlib.sha256(DEEP_PICKLE).hexdigest()}]}
    code = f"""
        import sys
        from zoo.hub import register_weights
        from zoo.hub.cli import main
        register_weights("r3d_18.bomb", {json.dumps(entry)!s})
        sys.exit(main(["download", "r3d_18.bomb", "-q"]))
    """.replace("null", "None")
    first = run_python(code, tmp_path)
    assert first.returncode == 1 and "nested more than" in first.stderr, first.stderr[-2000:]
    cached = [p.name for p in (tmp_path / "zoo_home").rglob("*") if p.is_file()]
    assert "bomb.pkl" not in cached and not any(n.endswith(".safetensors") for n in cached)
    again = run_python(code, tmp_path, ZOO_OFFLINE="1")      # offline: nothing cached to trip over
    assert again.returncode == 1 and "not cached" in again.stderr, again.stderr[-2000:]


# ------------------------------------------------------------------ 12: truncated LMDB
@pytest.fixture(scope="module")
def lmdb_db(tmp_path_factory):
    pytest.importorskip("lmdb")
    from zoo.data.lmdb_videos import write_video_lmdb
    from zoo.data.vmz_list import ListRow

    root = tmp_path_factory.mktemp("lmdb")
    video = root / "v.mp4"
    video.write_bytes(os.urandom(40_000))
    db = root / "db"
    write_video_lmdb(db, [ListRow(str(video), i % 2) for i in range(4)])
    return db


@pytest.mark.parametrize("keep", [8192, 12288, 100])
def test_truncated_lmdb_is_an_error_not_sigbus(lmdb_db, tmp_path, keep):
    db = tmp_path / "cut"
    db.mkdir()
    (db / "data.mdb").write_bytes((lmdb_db / "data.mdb").read_bytes()[:keep])
    err = one_line_error(run_tool("zoo.data.prepare.cli", ["from-lmdb", db, tmp_path / "out", "-q"], tmp_path))
    assert "data.mdb" in err and ("truncated" in err or "not an LMDB" in err)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ 9: a model built from forged metadata
def forged_checkpoint(path: Path, tensors: dict | None = None, **document) -> Path:
    """A safetensors file whose zoo metadata says whatever ``document`` says (tiny tensors, or none)."""
    import numpy as np
    from safetensors.numpy import save_file

    document = {"format_version": 1, "arch": "r2plus1d_18", "num_classes": 400, "options": {}, **document}
    tensors = {"fc.bias": np.zeros(2, np.float32)} if tensors is None else tensors
    save_file(tensors, str(path), metadata={"zoo": json.dumps(document), "format": "pt"})
    return path


#: the address space a tool may use in these tests: a build of the forged model would need far more
MEMORY_CAP = 3 << 30


def run_capped(module: str, argv: list, tmp_path: Path) -> subprocess.CompletedProcess:
    code = (f"import resource, sys; resource.setrlimit(resource.RLIMIT_DATA, ({MEMORY_CAP}, {MEMORY_CAP}))\n"
            f"from {module} import main; sys.exit(main({[str(a) for a in argv]!r}))")
    return run_python(code, tmp_path)


@pytest.mark.parametrize("options,expected", [({"channel_multiplier": 64}, "channel_multiplier must be"),
                                              ({"channel_multiplier": 8}, "do not fit"), ({}, "do not fit")])
def test_to_onnx_checks_metadata_against_the_tensors_before_building(tmp_path, options, expected):
    ckpt = forged_checkpoint(tmp_path / "forged.safetensors", options=options)
    assert ckpt.stat().st_size < 400
    done = run_capped("zoo.convert.cli", ["to-onnx", ckpt, tmp_path / "m.onnx", "-q"], tmp_path)
    err = one_line_error(done)
    assert "forged.safetensors" in err and expected in err and "MemoryError" not in err
    assert not (tmp_path / "m.onnx").exists()


def test_loading_checks_the_file_before_allocating(tmp_path):
    ckpt = forged_checkpoint(tmp_path / "big.safetensors", num_classes=100_000, options={"channel_multiplier": 8})
    code = (f"import resource, sys; resource.setrlimit(resource.RLIMIT_DATA, ({MEMORY_CAP}, {MEMORY_CAP}))\n"
            "import zoo\n"
            f"for load in (lambda: zoo.load_checkpoint({str(ckpt)!r}),\n"
            f"             lambda: zoo.create_model('r2plus1d_18', weights={str(ckpt)!r})):\n"
            "    try:\n        load()\n    except ValueError as exc:\n        print(str(exc).splitlines()[0])\n")
    done = run_python(code, tmp_path)     # a build of the forged model would take 9 GB: capped, in a subprocess
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("weights do not fit the model") == 2


def test_hub_export_of_a_file_without_tensors_fails(tmp_path):
    ckpt = forged_checkpoint(tmp_path / "empty.safetensors", tensors={})
    err = one_line_error(run_tool("zoo.hub.cli", ["export", ckpt, tmp_path / "out"], tmp_path))
    assert "empty.safetensors" in err and "no tensors" in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ 10: sizes from metadata are bounded
@pytest.mark.parametrize("field,value", [("clip_len", 10 ** 6), ("frame_rate", 1e9), ("sampling_rate", 10 ** 9),
                                         ("crop_size", 99999999), ("resize", [99999999, 3]),
                                         ("classes", ["x" * 200_000, "y" * 200_000]),
                                         ("num_classes", 2 ** 31 - 1)])
def test_checkpoint_metadata_sizes_are_bounded(tmp_path, field, value):
    from zoo.checkpoint import read_checkpoint_meta, read_preprocessing

    ckpt = forged_checkpoint(tmp_path / "m.safetensors", **{field: value})
    with pytest.raises(ValueError) as info:
        read_preprocessing(ckpt) if field != "num_classes" else read_checkpoint_meta(ckpt)
    assert (field if field != "classes" else "class name") in str(info.value) and len(str(info.value)) < 400


def test_lmdb_label_is_a_class_number_not_a_list_size(tmp_path):
    pytest.importorskip("lmdb")
    from zoo.data.lmdb_videos import write_video_lmdb
    from zoo.data.vmz_list import ListRow

    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 64)
    write_video_lmdb(tmp_path / "db", [ListRow(str(video), 2 ** 31 - 1)])
    err = one_line_error(run_capped("zoo.data.prepare.cli", ["from-lmdb", tmp_path / "db", tmp_path / "out", "-q"],
                                    tmp_path))
    assert "label 2147483647" in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ 11: an endless download
@pytest.fixture
def endless_server():
    """An HTTP server on 127.0.0.1 whose every response is a stream of zeros without a Content-Length, far longer
    than the registry says (it stops at 256 MiB so that a client without a cap cannot fill the test's disk)."""
    import http.server
    import threading

    class Endless(http.server.BaseHTTPRequestHandler):
        def do_GET(self):    # noqa: N802 - http.server's naming
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(4096):
                    self.wfile.write(b"\0" * 65536)
            except OSError:
                pass

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_hub_download_stops_at_the_registry_size_and_removes_the_partial_file(tmp_path, endless_server):
    entry = {"arch": "r3d_18", "num_classes": 3, "options": {}, "clip_len": 4, "crop_size": 32,
             "sources": [{"format": "c2_pickle", "url": endless_server + "/w.pkl", "filename": "w.pkl",
                          "sha256": None, "file_size_mb": 2}]}
    code = f"""
        import sys
        from zoo.hub import register_weights
        from zoo.hub.cli import main
        register_weights("r3d_18.endless", {json.dumps(entry)!s})
        sys.exit(main(["download", "r3d_18.endless", "-q"]))
    """.replace("null", "None")
    done = run_python(code, tmp_path, timeout=120)
    assert done.returncode == 1 and "more than" in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    left = [p for p in (tmp_path / "zoo_home").rglob("*") if p.is_file() and p.stat().st_size > 1 << 20]
    assert left == []


def test_download_limit_comes_from_the_registry():
    from zoo.hub.download import DEFAULT_DOWNLOAD_LIMIT, download_limit

    assert 2 << 20 < download_limit({"file_size_mb": 2}) < 32 << 20
    assert 33_300_000 * 4 < download_limit({}, {"params_m": 33.3}) < 33_300_000 * 20
    assert download_limit({}, {"params_m": None}) == DEFAULT_DOWNLOAD_LIMIT


def test_list_file_label_is_a_class_number_not_a_list_size(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 64)
    listing = tmp_path / "list.csv"
    listing.write_text(f"org_video,label\n{video},2147483647\n")
    err = one_line_error(run_capped("zoo.data.prepare.cli", ["link", listing, tmp_path / "out", "-q"], tmp_path))
    assert "list.csv:2: label 2147483647 is not a class number" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("dims", [(2 ** 33,), (2 ** 40, 2 ** 40, 2 ** 40)])
def test_minidb_dims_of_a_huge_tensor_with_one_element_are_refused(tmp_path, dims):
    import numpy as np

    from zoo.convert.minidb import MinidbWriter, encode_blob, encode_tensor

    path = tmp_path / "forged.mdl"
    with MinidbWriter(path) as writer:
        writer.put("conv1_w#%0", encode_blob("conv1_w", encode_tensor(np.ones(1, np.float32), "conv1_w", (0, 1),
                                                                        dims=dims)))
    err = one_line_error(run_capped("zoo.convert.cli", ["minidb-to-pickle", path, tmp_path / "o.pkl", "-q"], tmp_path))
    assert "forged.mdl" in err and "not those of a weight" in err
    assert not (tmp_path / "o.pkl").exists()
