"""A local HTTP server for hub tests: Hugging Face resolve and model-API endpoints, plain files with Range.

Bound to 127.0.0.1 only. Records every request, can drop a connection after N bytes once, can hold response
bodies back until a gate opens (so that concurrent downloads overlap), and can lie about a Hugging Face file:
announce another size than it sends, or send it without end.
"""
from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
import urllib.parse

COMMIT = hashlib.sha1(b"fake-hub-commit").hexdigest()
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
# repo info and file listing, as snapshot_download asks for them
_API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<kind>revision|tree)/(?P<rev>[^/]+)(?:/.*)?$")
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")
#: where an endless body ends after all, so that a client without a size cap cannot fill the disk
ENDLESS_STOP = 256 << 20


class FakeHub:
    """State of the fake server; start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(self):
        self.plain: dict[str, bytes] = {}      # URL path -> content
        self.hf: dict[tuple[str, str], bytes] = {}  # (repo_id, filename) -> content
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.drop_after: dict[str, int] = {}   # URL path -> bytes sent before dropping (once)
        self.gate: threading.Event | None = None  # when set: bodies wait until the event is set
        # (repo_id, filename) -> the size HEAD and the listing announce (None: no size); GET sends the real bytes,
        # chunked, without a Content-Length
        self.announce: dict[tuple[str, str], int | None] = {}
        self.endless: set[tuple[str, str]] = set()  # (repo_id, filename): GET sends the file, then zeros without end
        self.body_bytes: dict[str, int] = {}   # URL path -> body bytes the client took of its lying responses
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)   # notified when a lying response has ended
        self._server = None

    # -- set-up ------------------------------------------------------------------------------
    def add_file(self, path: str, data: bytes) -> str:
        self.plain["/" + path.lstrip("/")] = data
        return self.url(path)

    def add_hf_file(self, repo_id: str, filename: str, data: bytes) -> None:
        self.hf[(repo_id, filename)] = data

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def count(self, method: str | None = None, path_part: str = "") -> int:
        with self._lock:
            return sum(1 for m, p, _ in self.requests if (method is None or m == method) and path_part in p)

    def body_sent(self, path: str, timeout: float = 60) -> int:
        """Body bytes of the lying response to ``path``, once it has ended (the client took or refused them)."""
        with self._answered:
            self._answered.wait_for(lambda: path in self.body_bytes, timeout)
            return self.body_bytes[path]

    def start(self) -> "FakeHub":
        hub = self

        class Handler(_Handler):
            state = hub

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    state: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        state = self.state
        path = self.path.split("?", 1)[0]
        with state._lock:
            state.requests.append((self.command, path, self.headers.get("Range")))
        headers: dict[str, str] = {}
        api = _API.match(path)
        if api:
            return self._api(api["repo"], api["kind"], urllib.parse.unquote(api["rev"]))
        match = _RESOLVE.match(path)
        if match:
            repo, rev, filename = match["repo"], match["rev"], match["file"]
            if not any(r == repo for r, _ in state.hf):
                return self._error(404, "RepoNotFound", f"Repository {repo} not found")
            if rev not in ("main", COMMIT):
                return self._error(404, "RevisionNotFound", f"Revision {rev} not found")
            data = state.hf.get((repo, filename))
            if data is None:
                return self._error(404, "EntryNotFound", f"{filename} does not exist", commit=True)
            headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}
            if (repo, filename) in state.announce or (repo, filename) in state.endless:
                return self._lie(path, data, headers, state.announce.get((repo, filename), len(data)),
                                 endless=(repo, filename) in state.endless, head=head)
        else:
            data = state.plain.get(path)
            if data is None:
                return self._error(404, None, "not found")
        start = 0
        rng = _RANGE.match(self.headers.get("Range", "") or "")
        if rng and not head:
            start = int(rng[1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if head:
            return
        if state.gate is not None:
            state.gate.wait(60)
        with state._lock:
            cut = state.drop_after.pop(path, None)
        if cut is not None:  # send part of the body, then drop the connection
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)

    def _lie(self, path: str, data: bytes, headers: dict, announced: int | None, endless: bool, head: bool) -> None:
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        if head and announced is not None:
            self.send_header("Content-Length", str(announced))
        elif not head:
            self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if head:
            return
        self.close_connection = True
        sent = 0
        try:
            for chunk in _chunks(data, endless):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                if sent >= ENDLESS_STOP:
                    break
            self.wfile.write(b"0\r\n\r\n")
        except OSError:   # the client hung up: what a capped download does
            pass
        with self.state._answered:
            self.state.body_bytes[path] = self.state.body_bytes.get(path, 0) + sent
            self.state._answered.notify_all()

    def _api(self, repo: str, kind: str, rev: str) -> None:
        files = {name: data for (r, name), data in self.state.hf.items() if r == repo}
        if not files:
            return self._error(404, "RepoNotFound", f"Repository {repo} not found")
        if rev not in ("main", COMMIT):
            return self._error(404, "RevisionNotFound", f"Revision {rev} not found")
        if kind == "revision":
            document = {"id": repo, "sha": COMMIT, "siblings": [{"rfilename": name} for name in sorted(files)]}
        else:
            document = [{"type": "file", "path": name, "size": self.state.announce.get((repo, name), len(data)) or 0,
                         "oid": hashlib.sha1(data).hexdigest()} for name, data in sorted(files.items())]
        body = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, code: int, error_code: str | None, message: str, commit: bool = False) -> None:
        body = message.encode()
        self.send_response(code)
        if error_code:
            self.send_header("X-Error-Code", error_code)
            self.send_header("X-Error-Message", message)
        if commit:
            self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _chunks(data: bytes, endless: bool, size: int = 1 << 16):
    """The file in pieces, then (``endless``) zeros without end."""
    for start in range(0, len(data), size):
        yield data[start:start + size]
    while endless:
        yield bytes(size)
