"""fetch_checkpoint: Hugging Face and plain sources, cache re-use, verification, offline mode, locking."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from zoo.hub import cache, fetch_checkpoint
from zoo.hub.errors import ChecksumError, ConversionError, DownloadError, OfflineError
from zoo.hub.verify import HashLock

REPO = "zoo-test/tiny"
CKPT_BYTES = SHA = None


@pytest.fixture(autouse=True)
def _tiny_bytes(tiny):
    global CKPT_BYTES, SHA
    CKPT_BYTES, SHA = tiny.ckpt_bytes, hashlib.sha256(tiny.ckpt_bytes).hexdigest()


def same_weights(path, tiny):
    state = load_file(path)
    return all(torch.equal(state[k], v) for k, v in tiny.model.state_dict().items())


def entry(*sources, **fields):
    return {"arch": "r3d_18", "num_classes": 3, "clip_len": 4, "crop_size": 32, "sources": list(sources), **fields}


def hf_source(filename="model.safetensors", sha256=None, repo=REPO):
    return {"format": "safetensors", "hf_repo_id": repo, "hf_filename": filename, "sha256": sha256,
            "filename": filename}


def plain_source(url, filename="w.safetensors", sha256=None, fmt="safetensors"):
    return {"format": fmt, "url": url, "filename": filename, "sha256": sha256}


def only_lock_left(name):
    return sorted(p.name for p in cache.weights_dir(name).iterdir()) == [".lock"]


def test_hf_source_is_fetched_once_then_served_from_cache(fake_hub, monkeypatch, tiny):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url())
    fake_hub.add_hf_file(REPO, "model.safetensors", CKPT_BYTES)
    path = fetch_checkpoint("tiny.hf", entry=entry(hf_source(sha256=SHA)), progress=False)
    assert path == cache.checkpoint_path("tiny.hf")
    assert same_weights(path, tiny)
    assert fake_hub.count("HEAD") >= 1 and fake_hub.count("GET") == 1
    seen = len(fake_hub.requests)
    assert fetch_checkpoint("tiny.hf", entry=entry(hf_source(sha256=SHA)), progress=False) == path
    assert len(fake_hub.requests) == seen  # no request at all for a cached checkpoint


def test_plain_source_records_first_seen_hash_and_enforces_it(fake_hub):
    url = fake_hub.add_file("w.safetensors", CKPT_BYTES)
    path = fetch_checkpoint("tiny.plain", entry=entry(plain_source(url)), progress=False)
    assert path.read_bytes() == CKPT_BYTES
    assert (cache.weights_dir("tiny.plain") / "w.safetensors").read_bytes() == CKPT_BYTES  # original kept
    assert HashLock(cache.hash_lock_path()).get("w.safetensors") == SHA
    # The host now serves different bytes under the same name: the lock file rejects them.
    fake_hub.add_file("w.safetensors", CKPT_BYTES + b" ")
    with pytest.raises(ChecksumError) as info:
        fetch_checkpoint("tiny.other", entry=entry(plain_source(url)), progress=False)
    assert SHA in str(info.value) and "lock" in str(info.value) and "w.safetensors" in str(info.value)
    assert only_lock_left("tiny.other")


def test_corrupted_plain_file_is_rejected_and_deleted(fake_hub):
    url = fake_hub.add_file("w.safetensors", CKPT_BYTES[:-1] + b"\x00")
    actual = hashlib.sha256(CKPT_BYTES[:-1] + b"\x00").hexdigest()
    with pytest.raises(ChecksumError) as info:
        fetch_checkpoint("tiny.bad", entry=entry(plain_source(url, sha256=SHA)), progress=False)
    assert SHA in str(info.value) and actual in str(info.value) and "w.safetensors" in str(info.value)
    assert only_lock_left("tiny.bad")
    assert not cache.is_cached("tiny.bad")


def test_corrupted_hf_file_is_rejected_and_removed_from_hf_cache(fake_hub, monkeypatch, isolated_cache):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url())
    fake_hub.add_hf_file(REPO, "model.safetensors", b"garbage" + CKPT_BYTES)
    with pytest.raises(ChecksumError, match=SHA):
        fetch_checkpoint("tiny.hfbad", entry=entry(hf_source(sha256=SHA)), progress=False)
    blobs = list((isolated_cache / "hf_cache").rglob("blobs/*"))
    assert blobs == [] and not cache.is_cached("tiny.hfbad")


def test_failed_conversion_leaves_no_checkpoint(fake_hub):
    url = fake_hub.add_file("w.pkl", b"<html>this is not a pickle</html>")
    with pytest.raises(ConversionError, match="w.pkl"):
        fetch_checkpoint("tiny.html", entry=entry(plain_source(url, "w.pkl", fmt="c2_pickle")), progress=False)
    assert only_lock_left("tiny.html")  # the unverified, unusable download is gone too
    assert HashLock(cache.hash_lock_path()).get("w.pkl") is None


def test_later_source_is_used_when_the_first_fails(fake_hub, refused_url):
    url = fake_hub.add_file("mirror/w.safetensors", CKPT_BYTES)
    sources = [plain_source(f"{refused_url}/w.safetensors"), plain_source(url)]
    assert fetch_checkpoint("tiny.mirror", entry=entry(*sources), progress=False).read_bytes() == CKPT_BYTES


def test_404_and_connection_refused_errors(fake_hub, monkeypatch, refused_url, no_hf_backoff):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url())
    fake_hub.add_hf_file(REPO, "model.safetensors", CKPT_BYTES)
    with pytest.raises(DownloadError, match=r"missing\.safetensors not found in Hugging Face repo zoo-test/tiny"):
        fetch_checkpoint("e404", entry=entry(hf_source("missing.safetensors")), progress=False)
    with pytest.raises(DownloadError, match="Hugging Face repo zoo-test/nope not found"):
        fetch_checkpoint("r404", entry=entry(hf_source(repo="zoo-test/nope")), progress=False)
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch_checkpoint("p404", entry=entry(plain_source(fake_hub.url("nope.bin"))), progress=False)
    with pytest.raises(DownloadError, match="connection refused"):
        fetch_checkpoint("prefused", entry=entry(plain_source(f"{refused_url}/w.bin")), progress=False)
    monkeypatch.setenv("HF_ENDPOINT", refused_url)
    with pytest.raises(DownloadError, match=f"could not reach {refused_url}"):
        fetch_checkpoint("hrefused", entry=entry(hf_source()), progress=False)


@pytest.mark.parametrize("variable", ["ZOO_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_mode_uses_cache_only(fake_hub, monkeypatch, variable):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url())
    fake_hub.add_hf_file(REPO, "model.safetensors", CKPT_BYTES)
    plain = entry(plain_source(fake_hub.add_file("w.safetensors", CKPT_BYTES)))
    monkeypatch.setenv(variable, "1")
    for name, weights in [("off.plain", plain), ("off.hf", entry(hf_source()))]:
        with pytest.raises(OfflineError) as info:
            fetch_checkpoint(name, entry=weights, progress=False)
        assert f"`zoo-hub download {name}`" in str(info.value)
        assert str(cache.checkpoint_path(name)) in str(info.value)
    assert fake_hub.requests == []
    # Originals already downloaded (HF cache / zoo cache) are converted offline without any request.
    monkeypatch.delenv(variable)
    from zoo.hub.hf import hf_download

    hf_download(REPO, "model.safetensors", progress=False, max_bytes=1 << 20)
    fetch_checkpoint("off.plain", entry=plain, progress=False)
    cache.checkpoint_path("off.plain").unlink()
    seen = len(fake_hub.requests)
    monkeypatch.setenv(variable, "1")
    assert fetch_checkpoint("off.hf", entry=entry(hf_source()), progress=False).read_bytes() == CKPT_BYTES
    assert fetch_checkpoint("off.plain", entry=plain, progress=False).read_bytes() == CKPT_BYTES
    assert len(fake_hub.requests) == seen


def test_two_processes_fetching_at_once_share_one_download(fake_hub, tiny, tmp_path):
    import threading
    import time

    fake_hub.add_file("w.pkl", tiny.pickle_bytes)
    fake_hub.gate = threading.Event()  # the first download stalls until both processes are fetching
    weights = entry(plain_source(fake_hub.url("w.pkl"), "w.pkl", fmt="c2_pickle"))
    code = ("import json, pathlib, sys; from zoo.hub import fetch_checkpoint; "
            "pathlib.Path(sys.argv[3]).touch(); "
            "print(fetch_checkpoint(sys.argv[1], entry=json.loads(sys.argv[2]), progress=False))")
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", code, "tiny.mp", json.dumps(weights), str(flag)],
                              env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for flag in ready]
    deadline = time.monotonic() + 120
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # both are now inside fetch_checkpoint: one downloading, one waiting for the lock
    fake_hub.gate.set()
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    paths = {out.strip() for out, _ in outputs}
    assert paths == {str(cache.checkpoint_path("tiny.mp"))}
    assert fake_hub.count("GET", "w.pkl") == 1
    assert same_weights(cache.checkpoint_path("tiny.mp"), tiny)
    leftovers = {p.name for p in cache.weights_dir("tiny.mp").iterdir()}
    assert leftovers == {".lock", "w.pkl", "tiny.mp.safetensors"}


def test_zoo_mirrors_folder_is_tried_first(tmp_path, monkeypatch, refused_url):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "w.safetensors").write_bytes(CKPT_BYTES)
    monkeypatch.setenv("ZOO_MIRRORS", str(mirror))
    path = fetch_checkpoint("tiny.local", entry=entry(plain_source(f"{refused_url}/w.safetensors", sha256=SHA)),
                            progress=False)
    assert path.read_bytes() == CKPT_BYTES
