"""Per-video metadata index (frame times, fps, duration, size, decodable or not), built in parallel and cached.

The cache lives under the user cache dir (``platformdirs.user_cache_dir("video-model-zoo")/index``, or
``$ZOO_CACHE_DIR/index``) as one JSON file per video folder and option set, so any subset of a dataset (a
split, a list file) finds what ``zoo-prepare index`` built for the whole of it. Each entry remembers the
file's size and modification time; a changed or new file is re-probed, entries of deleted files are
dropped, the rest is reused. A file lock lets several processes (DDP ranks) share one build.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Union

from filelock import FileLock
from zoo.progress import progress_bar

from zoo._io import atomic_write_text
from zoo.paths import data_cache_root
from zoo.data.errors import VideoError, VideoWarning, warning_kind
from zoo.data.parallel import imap_unordered
from zoo.data.decode import check_decoding
from zoo.data.probe import VideoInfo, probe_video

IndexEntry = Union[VideoInfo, VideoError]
CACHE_VERSION = 5  # 2: display rotation, repeated frames and warnings; 3: frame order, mirror, truncated;
# 4, 5: "no change" packets at the end (5: they are frames showing the last picture)


def default_cache_dir() -> Path:
    """``$ZOO_CACHE_DIR/index`` if set, else the platform's user cache dir for video-model-zoo."""
    return data_cache_root() / "index"


def probe_entry(path: str, decode: bool = False) -> IndexEntry:
    """Probe one video (and, with ``decode``, decode every frame); errors are returned, not raised.

    Packets that fail to decode do not make a video unusable (the frames at their times show the previous
    picture, as in a player): they add a ``decode_errors`` warning; only a video with no decodable frame is
    an error.
    """
    try:
        info = probe_video(path)
        if decode:
            report = check_decoding(path)
            if not report.decoded:
                detail = report.errors[0] if report.errors else "the decoder gave no frame"
                raise VideoError(path, "undecodable", f"no frame decodes ({detail})")
            pictures = info.num_frames - len(info.repeated)  # "no change" packets may give no picture of their own
            warning = report.warning(path)
            if warning is None and report.decoded + len(report.no_change_pts) < pictures:
                warning = VideoWarning(path, "decode_errors", f"{pictures - report.decoded} of {pictures} frames "
                                                              "gave no picture")
            if warning is not None:
                info.warnings.append(str(warning))
        return info
    except VideoError as err:
        return err
    except Exception as err:  # any other library failure still means "not usable"
        return VideoError(path, "undecodable", f"{type(err).__name__}: {err}")


def _probe_task(args):
    path, decode = args
    return path, probe_entry(path, decode)


def build_index(paths: Iterable[str | os.PathLike], workers: int | None = None, decode: bool = False,
                progress: bool = False) -> dict[str, IndexEntry]:
    """Probe ``paths`` in ``workers`` processes (default: all cores); maps each path to VideoInfo or VideoError."""
    paths = [str(p) for p in paths]
    workers = workers or os.cpu_count() or 1
    result: dict[str, IndexEntry] = {}
    tasks = [(p, decode) for p in paths]
    with progress_bar(total=len(tasks), desc="index", unit="video", enabled=progress) as bar:
        for path, entry in imap_unordered(_probe_task, tasks, workers, chunksize=4):
            result[path] = entry
            bar.update()
    return {p: result[p] for p in paths}


def _file_stamp(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _encode_entry(entry: IndexEntry, stamp) -> dict:
    if isinstance(entry, VideoError):
        return {"stamp": stamp, "error": entry.reason, "detail": entry.detail}
    return {"stamp": stamp, "info": entry.to_dict()}


def _decode_entry(path: str, record: dict) -> IndexEntry:
    if "error" in record:
        return VideoError(path, record["error"], record.get("detail", ""))
    return VideoInfo.from_dict(record["info"])


def shard_file(folder: str, cache_dir: str | os.PathLike | None = None, options: dict | None = None) -> Path:
    """Cache file holding the entries of the videos directly inside ``folder`` for an option set."""
    key = json.dumps({"folder": folder, "options": options or {}, "version": CACHE_VERSION}, sort_keys=True)
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(folder).name)[:40] or "root"
    return Path(cache_dir or default_cache_dir(), f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json")


def load_or_build_index(samples: Iterable, cache_dir: str | os.PathLike | None = None, workers: int | None = None,
                        decode: bool = False, options: dict | None = None,
                        progress: bool = False) -> dict[str, IndexEntry]:
    """Index ``samples`` (paths or objects with ``.path``) using the cache; probes only new or changed files.

    ``options`` (anything that changes what is stored) become part of the cache key. Returns
    ``{str(path): VideoInfo | VideoError}`` in the order of ``samples`` (duplicates collapsed).
    """
    given = {str(getattr(s, "path", s)): None for s in samples}
    for name in given:
        given[name] = os.path.abspath(name)
    paths = list(dict.fromkeys(given.values()))
    key_options = dict(options or {}, decode=bool(decode))
    by_folder: dict[str, list[str]] = {}
    for p in paths:
        by_folder.setdefault(os.path.dirname(p), []).append(p)
    shards = {folder: shard_file(folder, cache_dir, key_options) for folder in by_folder}
    root = Path(cache_dir or default_cache_dir())
    root.mkdir(parents=True, exist_ok=True)
    lock_key = hashlib.sha256("\n".join(sorted(str(f) for f in shards.values())).encode()).hexdigest()[:16]
    entries: dict[str, dict] = {}
    with FileLock(str(root / f".build-{lock_key}.lock")):
        records = {folder: _read_cache(shard) for folder, shard in shards.items()}
        stamps = {p: _file_stamp(p) for p in paths}
        stale = [p for p in paths if records[os.path.dirname(p)].get(p, {}).get("stamp") != stamps[p]]
        fresh = build_index(stale, workers=workers, decode=decode, progress=progress) if stale else {}
        for p, entry in fresh.items():
            records[os.path.dirname(p)][p] = _encode_entry(entry, stamps[p])
        for folder in {os.path.dirname(p) for p in stale}:
            with FileLock(str(shards[folder]) + ".lock"):
                merged = {**_read_cache(shards[folder]), **records[folder]}
                merged = {p: r for p, r in merged.items() if p in stamps or os.path.exists(p)}
                atomic_write_text(shards[folder], json.dumps({"version": CACHE_VERSION, "entries": merged}))
        for folder, folder_paths in by_folder.items():
            entries.update({p: records[folder][p] for p in folder_paths})
    return {name: _decode_entry(name, entries[p]) for name, p in given.items()}


def _read_cache(path: Path) -> dict:
    """Entries of a cache file; a missing, corrupt or old-version file counts as empty."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def find_problems(index: dict[str, IndexEntry], min_frames: int = 1) -> list[tuple[str, str, str]]:
    """``(path, reason, detail)`` for every refused video: errors, and fewer than ``min_frames`` frames."""
    problems = []
    for path, entry in index.items():
        if isinstance(entry, VideoError):
            problems.append((path, entry.reason, entry.detail))
        elif entry.num_frames < min_frames:
            problems.append((path, "too_short", f"{entry.num_frames} frames, need {min_frames}"))
    return problems


def find_warnings(index: dict[str, IndexEntry]) -> list[tuple[str, str, str]]:
    """``(path, kind, detail)`` for every warning of an accepted video (see :class:`VideoWarning`)."""
    found = []
    for path, entry in index.items():
        if isinstance(entry, VideoInfo):
            for text in entry.warnings:
                kind = warning_kind(text)
                found.append((path, kind, text[len(kind):].lstrip(": ")))
    return found
