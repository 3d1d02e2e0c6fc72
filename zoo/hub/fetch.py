"""``fetch_checkpoint(name)``: download, verify, convert once and cache pretrained weights by name."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Mapping

from zoo._io import atomic_path
from zoo.checkpoint import read_checkpoint_meta
from zoo.hub import cache
from zoo.hub.download import download, download_limit
from zoo.hub.errors import ChecksumError, ConversionError, DownloadError, HubError, OfflineError
from zoo.hub.hf import hf_download, is_offline
from zoo.hub.hf_repo import hub_checkpoint, is_hf_name
from zoo.hub.lookup import get_weights
from zoo.convert.pipelines import minidb_to_safetensors, pickle_to_safetensors, torchvision_to_safetensors
from zoo.hub.verify import HashLock, check_file
from zoo.records import WeightsEntry

# Legacy format -> converter (each: fn(in_path, out_path, arch=..., options=..., **meta) -> Path).
CONVERTERS = {"c2_pickle": pickle_to_safetensors, "c2_minidb": minidb_to_safetensors,
              "pth": torchvision_to_safetensors}


def fetch_command(name: str) -> str:
    """The shell command that downloads ``name`` into the cache."""
    return f"zoo-hub download {name}"


def fetch_checkpoint(name: str, *, offline: bool | None = None, progress: bool = True,
                     entry: Mapping[str, Any] | None = None) -> Path:
    """Return the cached safetensors checkpoint of weights ``name``, fetching it first if needed.

    Sources of the registry entry (or ``entry``, overriding the registry) are tried in order: Hugging
    Face sources through huggingface_hub, plain URLs with resume and mirrors. Each file is verified
    (sha256, torch.hub name prefix, local hash lock file), converted once to our checkpoint format and
    cached next to the original. A cached checkpoint is returned without any network request. Several
    processes may call this at once (file lock). Offline (``offline=True``, ``ZOO_OFFLINE=1`` or
    ``HF_HUB_OFFLINE=1``) only cached files are used. An ``hf-hub:ORG/REPO[@REVISION]`` name is the verified
    ``model.safetensors`` of that repo in huggingface_hub's own cache (:mod:`zoo.hub.hf_repo`).
    """
    if is_hf_name(name):   # the one hook of hf-hub names into checkpoint look-ups
        return hub_checkpoint(name, offline=offline, progress=progress)
    entry = get_weights(name) if entry is None else WeightsEntry.from_dict(entry, name)
    ckpt = cache.checkpoint_path(name)
    if ckpt.is_file():
        return ckpt
    offline = is_offline() if offline is None else offline
    sources = entry.get("sources") or []
    if not sources:
        raise HubError(f"weights {name} have no download source in the registry")
    with cache.name_lock(name):
        if ckpt.is_file():  # another process finished it while we waited
            return ckpt
        failures: list[HubError] = []
        for source in sources:
            try:
                original, sha256 = _obtain(name, source, offline=offline, progress=progress, entry=entry)
                _convert(name, entry, source, original, sha256, ckpt)
                return ckpt
            except HubError as err:
                failures.append(err)
    if all(isinstance(err, OfflineError) for err in failures):
        raise OfflineError(
            f"weights {name} are not cached and offline mode is on (ZOO_OFFLINE / HF_HUB_OFFLINE). Missing: "
            f"{ckpt}; sources not cached: " + "; ".join(str(err) for err in failures)
            + f". Fetch them with network access: `{fetch_command(name)}`")
    if len(failures) == 1:
        raise failures[0]
    raise DownloadError(f"could not fetch weights {name} from any of its {len(failures)} sources: "
                        + "; ".join(f"[{type(err).__name__}] {err}" for err in failures))


def source_urls(source: dict) -> list[str]:
    """Download URLs of a plain source in order: ``$ZOO_MIRRORS`` folders/URLs, ``url``, ``mirrors``."""
    filename = source.get("filename") or source["url"].rsplit("/", 1)[-1]
    mirrors = [m for m in re.split(r"[,\s]+", os.environ.get("ZOO_MIRRORS", "")) if m]
    urls = [f"{m.rstrip('/')}/{filename}" for m in mirrors]
    primary = source.get("url")
    urls += primary if isinstance(primary, list) else [primary] if primary else []
    return urls + list(source.get("mirrors", []))


def _hash_key(source: dict) -> str:
    if source.get("hf_repo_id"):
        return f"hf:{source['hf_repo_id']}/{source['hf_filename']}@{source.get('hf_revision') or 'main'}"
    return source.get("filename") or source["url"].rsplit("/", 1)[-1]


def _obtain(name: str, source: dict, *, offline: bool, progress: bool, entry: dict | None = None) -> tuple[Path, str]:
    """Local path and sha256 of the verified original file of ``source`` (downloaded if needed)."""
    lock = HashLock(cache.hash_lock_path())
    expected = dict(sha256=source.get("sha256"), locked=lock.get(_hash_key(source)), lock_file=lock.path)
    if source.get("hf_repo_id"):
        path = hf_download(source["hf_repo_id"], source["hf_filename"], revision=source.get("hf_revision"),
                           offline=offline, progress=progress, max_bytes=download_limit(source, entry))
        blob = path.resolve()
        try:
            return path, check_file(blob, filename=source["hf_filename"], **expected)
        except ChecksumError:
            path.unlink(missing_ok=True)
            raise
    filename = source.get("filename") or source["url"].rsplit("/", 1)[-1]
    dest = cache.original_path(name, filename)
    if dest.is_file():
        return dest, check_file(dest, filename=filename, **expected)
    if offline:
        raise OfflineError(f"{dest} (from {source.get('url')})")
    hashes: list[str] = []
    download(source_urls(source), dest, progress=progress, max_bytes=download_limit(source, entry),
             check=lambda part: hashes.append(check_file(part, filename=filename, **expected)))
    return dest, hashes[0]


def _convert(name: str, entry: WeightsEntry, source: dict, original: Path, actual: str, ckpt: Path) -> None:
    """Write ``ckpt`` from ``original`` (atomically, checked against the entry); record a first-seen hash."""
    fmt = source.get("format")
    meta: dict[str, Any] = entry.checkpoint_meta()
    meta["provenance"].update(url=source.get("url") or source.get("hf_repo_id"), sha256=actual)
    sha256 = source.get("sha256")
    lock = HashLock(cache.hash_lock_path())
    try:
        with atomic_path(ckpt) as tmp:
            if fmt == "safetensors":
                shutil.copyfile(original, tmp)
            elif fmt in CONVERTERS:
                CONVERTERS[fmt](original, tmp, arch=entry["arch"], options=entry.get("options") or None, **meta)
            else:
                raise ConversionError(f"weights {name}: unknown source format {fmt!r} for {original.name} "
                                      f"(expected one of {sorted([*CONVERTERS, 'safetensors'])})")
            _check_converted(name, entry, tmp)
    except Exception as err:
        deleted = not source.get("hf_repo_id")
        if deleted:   # never keep what did not convert: every later run (offline too) would trip over it again
            original.unlink(missing_ok=True)
        if isinstance(err, HubError):
            raise
        raise ConversionError(f"converting {original.name} ({fmt}) for weights {name} failed: {err}"
                              + ("; the download was deleted" if deleted else "")) from err
    if not sha256:
        lock.record(_hash_key(source), actual, url=source.get("url"))


def _check_converted(name: str, entry: dict, path: Path) -> None:
    """The converted checkpoint must be a zoo checkpoint of the entry's architecture and class count."""
    meta = read_checkpoint_meta(path)
    for key in ("arch", "num_classes"):
        if entry.get(key) is not None and meta.get(key) != entry[key]:
            raise ConversionError(f"weights {name}: the converted checkpoint has {key}={meta.get(key)!r}, "
                                  f"the registry says {entry[key]!r}")
