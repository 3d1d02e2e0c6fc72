"""Put an exported model folder into huggingface_hub's own cache layout, as a download would leave it.

``HF_HUB_CACHE/models--ORG--REPO/blobs/<sha256>`` hold the bytes, ``snapshots/<commit>/<file>`` are relative
symlinks to them and ``refs/<branch or tag>`` hold the commit. Imported by name by the hf-hub tests.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def place_in_hf_cache(folder: Path, cache: Path, repo_id: str, commit: str = COMMIT,
                      refs: tuple[str, ...] = ("main",), skip: tuple[str, ...] = ()) -> Path:
    """The snapshot folder of ``repo_id`` at ``commit`` holding ``folder``'s files (less ``skip``)."""
    repo = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    for sub in (repo / "blobs", repo / "refs", snapshot):
        sub.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(folder).iterdir()):
        if path.name in skip:
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        shutil.copyfile(path, repo / "blobs" / digest)
        os.symlink(os.path.join("..", "..", "blobs", digest), snapshot / path.name)
    for ref in refs:
        (repo / "refs" / ref).write_text(commit)
    return snapshot
