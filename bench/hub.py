"""Hub download throughput on loopback: zoo.hub.download (resume-capable, verified) vs a bare urllib copy.

Serves a random file from 127.0.0.1 with the standard library, downloads it with both and prints MB/s and
the RATIO (zoo / baseline; ~1.0 means the resume, progress and sha256 layers cost nothing measurable).
Also times a cached ``fetch_checkpoint`` call (no request, no hashing). ``--mb`` sets the file size.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


def serve(folder: Path) -> http.server.ThreadingHTTPServer:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=64, help="file size in MiB")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["ZOO_HOME"] = str(tmp / "home")
        from zoo.hub import fetch_checkpoint
        from zoo.hub.download import download
        from zoo.hub.verify import check_file, sha256_file

        (tmp / "srv").mkdir()
        (tmp / "srv" / "w.bin").write_bytes(os.urandom(args.mb << 20))
        sha = sha256_file(tmp / "srv" / "w.bin")
        server = serve(tmp / "srv")
        url = f"http://127.0.0.1:{server.server_address[1]}/w.bin"

        def baseline():
            with urllib.request.urlopen(url) as response, open(tmp / "base.bin", "wb") as fh:
                shutil.copyfileobj(response, fh, 1 << 16)
            sha256_file(tmp / "base.bin")  # the same work as verification, for a fair comparison

        def ours():
            (tmp / "ours.bin").unlink(missing_ok=True)
            download(url, tmp / "ours.bin", progress=False, check=lambda p: check_file(p, sha256=sha))

        t_base, t_ours = best_of(args.repeats, baseline), best_of(args.repeats, ours)
        mb = args.mb * 1.048576
        print(f"download+sha256 {args.mb} MiB: baseline urllib {mb / t_base:.0f} MB/s, "
              f"zoo.hub.download {mb / t_ours:.0f} MB/s, RATIO zoo/baseline time {t_ours / t_base:.2f}")

        import zoo

        model = zoo.create_model("r3d_18", num_classes=3, channel_multiplier=1 / 16)
        zoo.save_checkpoint(model, tmp / "srv" / "tiny.safetensors")
        entry = {"arch": "r3d_18", "num_classes": 3, "sources": [
            {"format": "safetensors", "url": url.replace("w.bin", "tiny.safetensors"), "sha256": None}]}
        t_first = best_of(1, lambda: fetch_checkpoint("bench.tiny", entry=entry, progress=False))
        t_cached = best_of(100, lambda: fetch_checkpoint("bench.tiny", entry=entry, progress=False))
        print(f"fetch_checkpoint: first call {t_first * 1e3:.1f} ms, cached call {t_cached * 1e6:.0f} us "
              f"(RATIO first/cached {t_first / t_cached:.0f})")
        server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
