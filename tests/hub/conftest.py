"""Fixtures for hub tests: a fake hub on 127.0.0.1, an isolated cache, and a loopback-only network guard."""
from __future__ import annotations

import ipaddress
import os
import socket

import pytest

# huggingface_hub reads this at import: without it, building request headers fetches an "agent
# harnesses" registry from the default endpoint (huggingface.co).
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from fakehub import FakeHub  # noqa: E402

_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(host) -> bool:
    if host in ("localhost", None):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Fail any attempt to resolve or connect to a non-loopback address during a hub test."""
    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise AssertionError(f"hub test tried to contact {address}")
        return _real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host.decode() if isinstance(host, bytes) else host):
            raise AssertionError(f"hub test tried to resolve {host}")
        return _real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)


@pytest.fixture
def fake_hub():
    hub = FakeHub().start()
    yield hub
    hub.stop()


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every hub test gets its own ZOO_HOME and Hugging Face cache, online, with no mirrors."""
    for var in ("ZOO_OFFLINE", "HF_HUB_OFFLINE", "ZOO_MIRRORS", "HF_TOKEN", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo_home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    return tmp_path


@pytest.fixture
def refused_url():
    """A loopback URL on which nothing listens (connection refused).

    The port stays bound (without ``listen``) for the whole test, so no other process can take it meanwhile:
    a connection to a bound, non-listening TCP socket is refused.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def no_hf_backoff(monkeypatch):
    """huggingface_hub retries a refused connection 5 times with 1-8 s pauses: skip the pauses."""
    import time

    from huggingface_hub.utils import _http

    class _Clock:
        def __getattr__(self, name):
            return getattr(time, name)

        @staticmethod
        def sleep(seconds):
            pauses.append(seconds)

    pauses: list[float] = []
    monkeypatch.setattr(_http, "time", _Clock())
    return pauses


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """A tiny r3d_18 (3 classes) as a zoo checkpoint and as a Caffe2 pickle written by our converter."""
    import types

    import zoo
    from zoo.convert.pipelines import safetensors_to_pickle

    folder = tmp_path_factory.mktemp("tiny")
    model = zoo.create_model("r3d_18", num_classes=3, channel_multiplier=1 / 16)
    ckpt = zoo.save_checkpoint(model, folder / "tiny.safetensors", clip_len=4, crop_size=32)
    pkl = safetensors_to_pickle(ckpt, folder / "tiny.pkl")
    return types.SimpleNamespace(model=model, ckpt_bytes=ckpt.read_bytes(), pickle_bytes=pkl.read_bytes(),
                                 arch="r3d_18", num_classes=3)
