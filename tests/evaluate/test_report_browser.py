"""report.html in a real browser: headless chromium renders it (styled, script allowed by the page's
Content-Security-Policy), the screenshot is not blank, and the page makes no network request.

Requests are read from chromium's own network log (``--log-net-log``): a request the page makes carries the
page's ``file://`` network isolation key, while chromium's own background traffic does not. A page with an
external image is rendered too, to show that such a request is seen (served by a local server that counts it).
.ci/run installs Debian's chromium when it is missing."""
from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from report_helpers import parse_page
from zoo.evaluate.cli import main as zoo_test
from zoo.evaluate.run_report import REPORT_FILE

HEADER_BLUE = (0x1F, 0x3B, 0x5A)   # header background in page.css


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("no chromium on PATH: install Debian's chromium (.ci/run does it when missing)")


def run_chromium(page: Path, work: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless chromium on ``page`` with a fresh profile, its network log in ``work/net.json``."""
    work.mkdir(parents=True, exist_ok=True)
    command = [chromium(), "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-default-apps", "--disable-extensions", f"--user-data-dir={work / 'profile'}",
               f"--log-net-log={work / 'net.json'}", "--enable-logging=stderr", "--v=0", *args,
               page.resolve().as_uri()]
    if os.geteuid() == 0:
        command.insert(2, "--no-sandbox")   # chromium refuses to run as root with its sandbox
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def page_requests(net_log: Path) -> list[str]:
    """URLs of the requests made on behalf of a ``file://`` page (its network isolation key)."""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] == start and "file://" in params.get("network_isolation_key", "") + \
                params.get("site_for_cookies", ""):
            urls.append(params["url"])
    return urls


@pytest.fixture(scope="module")
def report(known_dataset, tiny_checkpoint, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "out"
    assert zoo_test(["--checkpoint", str(tiny_checkpoint), "--data-path", str(known_dataset), "--workers", "0",
                     "--clips", "2", "--output", str(out), "--no-progress"]) == 0
    return out / REPORT_FILE


def test_page_references_nothing_outside_itself(report):
    text = report.read_text()
    page = parse_page(text)
    meta = [e for e in page.find_all("meta") if e.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert len(meta) == 1 and meta[0].attrs["content"].startswith("default-src 'none'; img-src data:;")
    links = [(e.tag, k, v) for e in page.iter() for k, v in e.attrs.items() if k in ("src", "href", "action")]
    assert links and all(v.startswith("data:image/png;base64,") or v.startswith("#") for _, _, v in links), \
        [link for link in links if not link[2].startswith(("data:", "#"))]
    assert not re.search(r"url\(|@import|https?://", "".join(e.text for e in page.find_all("style")))


def test_chromium_renders_the_page_without_any_request(report, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    result = run_chromium(report, tmp_path / "shot", "--window-size=1280,1600", f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(np.int64)
    assert pixels.shape[:2] == (1600, 1280)
    assert pixels.std() > 20                                          # not one flat colour
    assert (np.abs(pixels - 255).sum(axis=2) > 30).mean() > 0.05      # more than a few marks on white
    # the inline style sheet applied (allowed by its hash): the header's blue fills the band above its title
    assert (np.abs(pixels[:12] - HEADER_BLUE).sum(axis=2) < 12).mean() > 0.95
    assert "Content Security Policy" not in result.stderr
    assert page_requests(tmp_path / "shot/net.json") == []

    dom = run_chromium(report, tmp_path / "dom", "--dump-dom").stdout
    assert 'data-script="ready"' in dom        # the inline sort script ran (allowed by its hash)
    assert page_requests(tmp_path / "dom/net.json") == []


def test_a_request_the_page_makes_is_seen(tmp_path):
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/pixel.png"
        page = tmp_path / "leaky.html"
        page.write_text(f'<!DOCTYPE html><html><body><p>leaky</p><img src="{url}"></body></html>')
        run_chromium(page, tmp_path / "leaky", "--dump-dom")
    finally:
        server.shutdown()
        server.server_close()
    assert hits == ["/pixel.png"]
    assert page_requests(tmp_path / "leaky/net.json") == [url]
