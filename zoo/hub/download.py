"""Plain-URL downloads: mirrors tried in order, resume with HTTP Range, tqdm progress bar; the size limits of every
hub download (plain URLs and Hugging Face files alike).

The file is written to ``<dest>.part``; a dropped connection resumes from the bytes already there
(also across runs), and ``dest`` only appears once the file is complete and ``check`` accepted it.
"""
from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Iterable

from zoo.progress import progress_bar

from zoo.hub.errors import DownloadError

USER_AGENT = "video-model-zoo (+zoo-hub)"
#: the most a download may send when the registry states neither its size nor the model's parameter count
DEFAULT_DOWNLOAD_LIMIT = 4 << 30
#: the most a small text file of a model repo (config.json, the README.md model card) may have
SMALL_FILE_LIMIT = 8 << 20
CHUNK = 1 << 20
_TRANSIENT = (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionError, socket.timeout,
              TimeoutError)


def normalise_url(url: str) -> str:
    """Turn share-page URLs into direct-file URLs (Dropbox ``dl=0`` / missing ``dl`` -> ``dl=1``)."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname and parts.hostname.endswith("dropbox.com"):
        query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "dl"] + [("dl", "1")]
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    return url


def download(urls: str | Iterable[str], dest: str | os.PathLike, *, progress: bool = True,
             check: Callable[[Path], object] | None = None, timeout: float = 30.0, retries: int = 3,
             max_bytes: int | None = None) -> Path:
    """Download the first URL of ``urls`` that works into ``dest`` and return ``dest``.

    Each mirror gets ``retries`` resumed attempts after a dropped connection. ``check(part_path)``
    runs on the complete file before it is renamed to ``dest`` (it raises to reject the file, e.g.
    :class:`~zoo.hub.errors.ChecksumError`, which is not retried on other mirrors). A URL may also be a
    local path or ``file://`` URL (offline mirror). A source that sends more than ``max_bytes`` is cut off and
    its partial file removed (an endless response never fills the disk). Raises :class:`DownloadError` naming
    every URL tried.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    if not urls:
        raise DownloadError(f"no URL to download {Path(dest).name} from")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures = []
    for url in urls:
        try:
            _fetch_one(normalise_url(url), part, progress=progress, timeout=timeout, retries=retries, label=dest.name,
                       max_bytes=max_bytes)
        except DownloadError as err:
            failures.append(f"{url}: {err}")
            continue
        if check is not None:
            check(part)  # deletes the part and raises on mismatch
        os.replace(part, dest)
        return dest
    raise DownloadError(f"could not download {dest.name}: " + "; ".join(failures))


def download_limit(source: dict, entry: dict | None = None) -> int:
    """The most bytes a download of ``source`` may send: its registry size (``file_size_mb``) plus a quarter and
    16 MiB; else 16 bytes per published parameter (fp64, or fp32 with SGD momentum) plus 64 MiB; else
    :data:`DEFAULT_DOWNLOAD_LIMIT`."""
    size_mb = source.get("file_size_mb")
    if isinstance(size_mb, (int, float)) and not isinstance(size_mb, bool) and 0 < size_mb < 1e6:
        return int(size_mb * 1.25 * (1 << 20)) + (16 << 20)
    params_m = (entry or {}).get("params_m")
    if isinstance(params_m, (int, float)) and not isinstance(params_m, bool) and 0 < params_m < 1e5:
        return int(params_m * 1e6 * 16) + (64 << 20)
    return DEFAULT_DOWNLOAD_LIMIT


def oversize_message(what: str, size: int, max_bytes: int, *, declared: int | None = None,
                     started: bool = True) -> str:
    """One line on a download cut off at its size limit: ``size`` bytes sent (or announced, when not ``started``)
    where ``declared`` (the size the server stated) or else ``max_bytes`` (zoo's limit) was the most allowed."""
    if not started:
        return (f"{what}: the server announces {size:,} bytes, more than the {max_bytes:,} zoo allows for this "
                "file; nothing was downloaded")
    if declared is not None and declared < max_bytes:
        return (f"{what}: the server sent more than the {declared:,} bytes it announced ({size:,} so far); stopped "
                "and removed the partial file")
    return (f"{what}: the server sent more than {max_bytes:,} bytes ({size:,} so far), more than zoo allows for "
            "this file; stopped and removed the partial file")


def _too_large(part: Path, size: int, max_bytes: int, started: bool = True) -> DownloadError:
    part.unlink(missing_ok=True)
    return DownloadError(oversize_message(part.name.removesuffix(".part"), size, max_bytes, started=started))


def _fetch_one(url: str, part: Path, *, progress: bool, timeout: float, retries: int, label: str,
               max_bytes: int | None = None) -> None:
    local = _local_source(url)
    if local is not None:
        if not local.is_file():
            raise DownloadError(f"no such file {local}")
        if max_bytes is not None and local.stat().st_size > max_bytes:
            raise _too_large(part, local.stat().st_size, max_bytes, started=False)
        shutil.copyfile(local, part)
        return
    attempt = 0
    while True:
        try:
            if _http_to_part(url, part, progress=progress, timeout=timeout, label=label, max_bytes=max_bytes):
                return
        except _TRANSIENT as err:
            attempt += 1
            if attempt > retries:
                raise DownloadError(f"connection lost after {part.stat().st_size if part.exists() else 0} bytes "
                                    f"({retries} resumed attempts failed: {err!r})") from err


def _http_to_part(url: str, part: Path, *, progress: bool, timeout: float, label: str,
                  max_bytes: int | None = None) -> bool:
    """One HTTP request appending to ``part``; True when the file is complete."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: complete if the server's size matches
            total = _total_from_content_range(err.headers.get("Content-Range"))
            if total == have:
                return True
            part.unlink()
            return False
        raise DownloadError(f"HTTP {err.code} {err.reason}") from err
    except urllib.error.URLError as err:
        reason = err.reason
        text = "connection refused" if isinstance(reason, ConnectionRefusedError) else str(reason)
        raise DownloadError(f"{text} ({urllib.parse.urlsplit(url).netloc})") from err
    with response:
        if response.status == 206:
            start = _start_from_content_range(response.headers.get("Content-Range"))
            if start != have:
                raise DownloadError(f"server resumed at byte {start}, expected {have}")
            mode, total = "ab", _total_from_content_range(response.headers.get("Content-Range"))
        else:  # 200: the server ignored Range (or there was none) -> start over
            have, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
        if max_bytes is not None and total is not None and total > max_bytes:
            raise _too_large(part, total, max_bytes, started=False)
        written = have
        with open(part, mode) as fh, progress_bar(total=total, initial=have, unit="B", unit_scale=True,
                                                  unit_divisor=1024, desc=label, enabled=progress,
                                                  leave=False) as bar:
            while chunk := response.read(CHUNK):
                written += len(chunk)
                if max_bytes is not None and written > max_bytes:
                    fh.close()
                    raise _too_large(part, written, max_bytes)
                fh.write(chunk)
                bar.update(len(chunk))
        if total is not None and part.stat().st_size != total:
            raise http.client.IncompleteRead(b"", total - part.stat().st_size)
    return True


def _local_source(url: str) -> Path | None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        return Path(urllib.request.url2pathname(parts.path))
    if parts.scheme in ("", ) or (len(parts.scheme) == 1 and os.name == "nt"):
        return Path(url)
    return None


def _start_from_content_range(value: str | None) -> int | None:
    with contextlib.suppress(AttributeError, ValueError, IndexError):
        return int(value.split()[1].split("-")[0])
    return None


def _total_from_content_range(value: str | None) -> int | None:
    with contextlib.suppress(AttributeError, ValueError, IndexError):
        total = value.rsplit("/", 1)[1]
        return None if total == "*" else int(total)
    return None

