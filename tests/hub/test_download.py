"""Plain-URL downloads: resume after a dropped connection, mirrors, clear errors, verification."""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from zoo.hub import cache
from zoo.hub.download import download, normalise_url
from zoo.hub.errors import ChecksumError, DownloadError
from zoo.hub.verify import HashLock, check_file, hash_prefix_from_name

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


def test_download_resumes_after_dropped_connection(fake_hub, tmp_path):
    url = fake_hub.add_file("files/w.bin", DATA)
    fake_hub.drop_after["/files/w.bin"] = 100_000
    dest = download(url, tmp_path / "w.bin", progress=False)
    assert dest.read_bytes() == DATA
    ranges = [rng for method, path, rng in fake_hub.requests if path == "/files/w.bin"]
    assert ranges[0] is None
    assert ranges[1] is not None and ranges[1].startswith("bytes=")
    resumed_at = int(ranges[1].split("=")[1].rstrip("-"))
    assert 0 < resumed_at <= 100_000  # the bytes already received were not fetched again
    assert not (tmp_path / "w.bin.part").exists()


def test_leftover_part_file_resumes_across_runs(fake_hub, tmp_path):
    url = fake_hub.add_file("w.bin", DATA)
    (tmp_path / "w.bin.part").write_bytes(DATA[:123_456])
    dest = download(url, tmp_path / "w.bin", progress=False)
    assert dest.read_bytes() == DATA
    assert fake_hub.requests[-1][2] == "bytes=123456-"


def test_mirrors_are_tried_in_order(fake_hub, tmp_path, refused_url):
    good = fake_hub.add_file("mirror2/w.bin", DATA)
    urls = [f"{refused_url}/w.bin", fake_hub.url("mirror1/w.bin"), good]
    assert download(urls, tmp_path / "w.bin", progress=False).read_bytes() == DATA
    assert [p for _, p, _ in fake_hub.requests] == ["/mirror1/w.bin", "/mirror2/w.bin"]


def test_local_folder_mirror(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(DATA)
    assert download(str(src), tmp_path / "out" / "w.bin", progress=False).read_bytes() == DATA


def test_404_and_connection_refused_are_named(fake_hub, tmp_path, refused_url):
    with pytest.raises(DownloadError) as info:
        download([fake_hub.url("missing.bin"), f"{refused_url}/w.bin"], tmp_path / "w.bin", progress=False)
    message = str(info.value)
    assert "missing.bin: HTTP 404" in message
    assert "connection refused" in message and refused_url in message
    assert not (tmp_path / "w.bin").exists()


def test_failed_check_deletes_the_download(fake_hub, tmp_path):
    url = fake_hub.add_file("w.bin", DATA)
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as info:
        download(url, tmp_path / "w.bin", progress=False, check=lambda p: check_file(p, sha256=wrong))
    assert wrong in str(info.value) and SHA in str(info.value) and "w.bin" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_hash_prefix_in_torch_hub_names(tmp_path):
    assert hash_prefix_from_name("r3d_18-b3b3357e.pth") == "b3b3357e"
    assert hash_prefix_from_name("irCSN_152_ft_kinetics_from_ig65m_f126851907.pkl") is None
    good = tmp_path / f"w-{SHA[:8]}.pth"
    good.write_bytes(DATA)
    assert check_file(good) == SHA
    bad = tmp_path / "w-deadbeef.pth"
    bad.write_bytes(DATA)
    with pytest.raises(ChecksumError, match="deadbeef"):
        check_file(bad)
    assert not bad.exists()
    empty = tmp_path / "empty.bin"                # zero bytes cannot be memory-mapped: still hashed
    empty.write_bytes(b"")
    assert check_file(empty) == hashlib.sha256(b"").hexdigest()


def test_hash_lock_keeps_the_first_seen_hash(tmp_path):
    lock = HashLock(tmp_path / "lock.json")
    assert lock.get("a.pkl") is None
    assert lock.record("a.pkl", SHA, url="http://x/a.pkl") == SHA
    assert lock.record("a.pkl", "1" * 64) == SHA  # later downloads do not overwrite it
    assert json.loads((tmp_path / "lock.json").read_text())["files"]["a.pkl"]["sha256"] == SHA
    (tmp_path / "lock.json").write_text("{not json")
    with pytest.raises(ValueError, match="lock.json"):
        lock.get("a.pkl")


def test_dropbox_share_links_become_direct():
    assert normalise_url("https://www.dropbox.com/s/abc/x.pkl?dl=0") == "https://www.dropbox.com/s/abc/x.pkl?dl=1"
    assert normalise_url("https://www.dropbox.com/s/abc/x.pkl").endswith("?dl=1")
    assert normalise_url("https://github.com/a/b/x.pth") == "https://github.com/a/b/x.pth"


def test_safe_local_names():
    assert cache.safe_filename("r2plus1d_34_clip8_ft_kinetics_from_ig65m_ f128022400.pkl") == \
        "r2plus1d_34_clip8_ft_kinetics_from_ig65m_f128022400.pkl"
    assert cache.safe_filename("../../etc/passwd") == "passwd"
