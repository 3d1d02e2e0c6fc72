"""``hf-hub:ORG/REPO[@REVISION]`` weights names: a folder written by ``zoo-hub push``, loaded back by name.

The repo's ``config.json`` and ``model.safetensors`` come through huggingface_hub: its cache (``HF_HUB_CACHE`` /
``HF_HOME``), its offline mode (``HF_HUB_OFFLINE``; ``ZOO_OFFLINE`` too) and its token (``HF_TOKEN`` or
``hf auth login``), each file under a size cap (config.json and the card 8 MiB, the weights what the model
config.json describes can need). ``config.json`` says how to build the model; the tensors are checked
against it (names and shapes, on the ``meta`` device) and against the checkpoint's own header before the name
is used. :func:`hub_entry` turns the config into a ``weights.json``-shaped entry (preprocessing, classes,
metrics and the uploader's test protocol record), so every tool that takes a weights name treats the repo as
it treats a registry entry; :func:`hub_checkpoint` is the verified checkpoint file in the cache.

Every problem with what the name points at is one line (:class:`~zoo.hub.errors.RepoError`, a ValueError:
the tools exit with status 2); a network failure is a :class:`~zoo.hub.errors.DownloadError`.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.hub.errors import DownloadError, RepoError

PREFIX = "hf-hub:"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
#: the checkpoint header must agree with config.json on these
_MODEL_KEYS = ("arch", "num_classes", "options")


def is_hf_name(name: Any) -> bool:
    """True for an ``hf-hub:`` weights name."""
    return isinstance(name, str) and name.startswith(PREFIX)


@dataclass(frozen=True)
class HfName:
    """A parsed ``hf-hub:ORG/REPO[@REVISION]`` (revision ``None`` = the repo's default branch)."""

    repo_id: str
    revision: str | None = None

    @classmethod
    def parse(cls, text: str) -> "HfName":
        """The parts of ``text``; RepoError for a malformed name."""
        from huggingface_hub.errors import HFValidationError
        from huggingface_hub.utils import validate_repo_id

        if not is_hf_name(text):
            raise RepoError(f"{text!r} is not an hf-hub name (expected {PREFIX}ORG/REPO[@REVISION])")
        repo_id, _, revision = text[len(PREFIX):].partition("@")
        try:
            if repo_id.count("/") != 1:
                raise HFValidationError("expected ORG/REPO")
            validate_repo_id(repo_id)
        except HFValidationError as err:
            raise RepoError(f"{text}: not a Hugging Face model repo id ({err}); expected "
                            f"{PREFIX}ORG/REPO[@REVISION]") from None
        if "@" in text[len(PREFIX):] and not revision:
            raise RepoError(f"{text}: empty revision after '@'")
        return cls(repo_id, revision or None)

    def __str__(self) -> str:
        return PREFIX + self.repo_id + (f"@{self.revision}" if self.revision else "")


@dataclass(frozen=True)
class HubModel:
    """A downloaded and verified model repo: its snapshot folder (one commit) and its config."""

    name: HfName
    folder: Path
    config: dict

    @property
    def checkpoint(self) -> Path:
        """The zoo checkpoint (``model.safetensors``) in huggingface_hub's cache."""
        return self.folder / WEIGHTS_FILE

    @property
    def commit(self) -> str:
        """The commit the snapshot folder holds."""
        return self.folder.name


_resolved: dict[tuple, HubModel] = {}


def resolve(name: str, *, offline: bool | None = None, progress: bool = True) -> HubModel:
    """Download (or find in the cache) and verify the repo ``name`` names; cached for the process."""
    from zoo.hub.hf import hf_cache_dir, hf_endpoint, is_offline

    parsed = HfName.parse(name)
    offline = is_offline() if offline is None else offline
    key = (parsed, hf_cache_dir(), hf_endpoint(), offline)
    known = _resolved.get(key)
    if known is not None and known.checkpoint.is_file():
        return known
    folder = _snapshot(parsed, offline=offline, progress=progress)
    config = read_config(parsed, folder)
    check_tensors(parsed, folder, config)
    _resolved[key] = model = HubModel(parsed, folder, config)
    return model


def hub_checkpoint(name: str, *, offline: bool | None = None, progress: bool = True) -> Path:
    """The verified ``model.safetensors`` of ``name`` in huggingface_hub's cache."""
    return resolve(name, offline=offline, progress=progress).checkpoint


def hub_entry(name: str) -> dict:
    """A ``weights.json``-shaped entry of ``name`` built from its config.json (``name`` included)."""
    model = resolve(name)
    config = model.config
    entry = {"name": str(model.name), "arch": config["architecture"], "num_classes": config["num_classes"],
             "options": dict(config.get("options") or {}), "modality": config.get("modality") or "rgb",
             **{k: v for k, v in (config.get("preprocessing") or {}).items() if v is not None},
             "classes": config.get("classes"), "label_set": config.get("label_set"),
             "pretrain": config.get("pretrain"), "finetune": config.get("finetune"),
             "metrics": list(config.get("metrics") or []),
             "sources": [{"format": "safetensors", "hf_repo_id": model.name.repo_id, "hf_revision": model.commit,
                          "hf_filename": WEIGHTS_FILE}]}
    if config.get("protocol"):
        entry["protocol"] = dict(config["protocol"])
    return entry


def _snapshot(name: HfName, *, offline: bool, progress: bool) -> Path:
    """The snapshot folder (one commit) with config.json, the card and model.safetensors, as far as the repo has them.

    Offline, huggingface_hub's cache answers. Online, a dry run of ``snapshot_download`` lists the commit's files,
    and each comes through :func:`~zoo.hub.hf.capped_download`: config.json and the card at most
    :data:`~zoo.hub.download.SMALL_FILE_LIMIT`, model.safetensors at most :func:`weights_limit` of the model
    config.json describes (checked before the weights are asked for).
    """
    import huggingface_hub
    from huggingface_hub import errors as hf_errors

    from zoo.hub.download import SMALL_FILE_LIMIT
    from zoo.hub.hf import LIBRARY_NAME, capped_download, hf_cache_dir, hf_endpoint, progress_class

    listing = dict(cache_dir=hf_cache_dir(), endpoint=hf_endpoint(), library_name=LIBRARY_NAME,
                   allow_patterns=[CONFIG_FILE, WEIGHTS_FILE, CARD_FILE], tqdm_class=progress_class(progress))
    with _hub_errors(name, offline):
        if offline:
            return Path(huggingface_hub.snapshot_download(name.repo_id, revision=name.revision, local_files_only=True,
                                                          **listing))
        try:
            plan = huggingface_hub.snapshot_download(name.repo_id, revision=name.revision, dry_run=True, **listing)
        except hf_errors.DryRunError as err:   # the Hub did not answer: its refusal, or else the cache
            cause = err.__cause__
            if isinstance(cause, hf_errors.RepositoryNotFoundError) or getattr(
                    getattr(cause, "response", None), "status_code", None) == 401:
                raise cause from None
            try:
                return Path(huggingface_hub.snapshot_download(name.repo_id, revision=name.revision,
                                                              local_files_only=True, **listing))
            except hf_errors.LocalEntryNotFoundError as missing:
                raise missing from cause
        if not plan:   # none of the files: nothing downloads, and the folder names the commit in read_config's error
            return Path(huggingface_hub.snapshot_download(name.repo_id, revision=name.revision, **listing))
        files = {info.filename: info for info in plan}
        folder = Path(plan[0].local_path).parent
        for filename in (CONFIG_FILE, CARD_FILE, WEIGHTS_FILE):
            if filename in files:
                limit = weights_limit(name, read_config(name, folder)) if filename == WEIGHTS_FILE else SMALL_FILE_LIMIT
                capped_download(name.repo_id, filename, revision=files[filename].commit_hash, max_bytes=limit,
                                progress=progress)
    return folder


@contextlib.contextmanager
def _hub_errors(name: HfName, offline: bool):
    """huggingface_hub's errors as one line naming ``name``: RepoError for what the name points at, DownloadError
    for the network."""
    from huggingface_hub import errors as hf_errors

    from zoo.hub.hf import first_line, hf_cache_dir, hf_endpoint

    try:
        yield
    except hf_errors.GatedRepoError as err:
        raise RepoError(f"{name}: the repo is gated: accept its terms on the Hub and log in (`hf auth login` or "
                        "HF_TOKEN)") from err
    except hf_errors.RepositoryNotFoundError as err:
        raise RepoError(f"{name}: no Hugging Face model repo {name.repo_id} at {hf_endpoint()} (or it is private "
                        "and no valid token was given: HF_TOKEN or `hf auth login`)") from err
    except hf_errors.RevisionNotFoundError as err:
        raise RepoError(f"{name}: repo {name.repo_id} has no revision {name.revision!r}") from err
    except hf_errors.LocalEntryNotFoundError as err:
        if offline or isinstance(err.__cause__, hf_errors.OfflineModeIsEnabled):
            raise RepoError(_not_cached(name)) from err
        raise DownloadError(f"{name}: could not reach {hf_endpoint()} and the repo is not in the Hugging Face "
                            f"cache {hf_cache_dir()}: {first_line(err.__cause__ or err)}") from err
    except hf_errors.HfHubHTTPError as err:
        raise DownloadError(f"{name}: downloading from {hf_endpoint()} failed: {first_line(err)}") from err
    except OSError as err:
        raise DownloadError(f"{name}: downloading from {hf_endpoint()} failed: {first_line(err)}") from err


def _not_cached(name: HfName) -> str:
    """Why an offline look-up failed: the repo, or only the revision, is missing from the cache."""
    from zoo.hub.hf import hf_cache_dir

    cached = _cached_revisions(name.repo_id)
    where = f"the Hugging Face cache {hf_cache_dir()}"
    if cached is None:
        return (f"{name}: repo {name.repo_id} is not in {where} and offline mode is on (HF_HUB_OFFLINE / "
                "ZOO_OFFLINE); check the name, or download it once with network access")
    return (f"{name}: revision {name.revision or 'main'!r} of {name.repo_id} is not in {where} (cached: "
            f"{', '.join(cached) or 'nothing'}) and offline mode is on")


def _cached_revisions(repo_id: str) -> list[str] | None:
    """Branch/tag names and commits of ``repo_id`` in huggingface_hub's cache (None: repo not cached)."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    from zoo.hub.hf import hf_cache_dir

    try:
        info = scan_cache_dir(hf_cache_dir())
    except CacheNotFound:
        return None
    for repo in info.repos:
        if repo.repo_type == "model" and repo.repo_id == repo_id:
            refs = sorted(set().union(*(r.refs for r in repo.revisions)))
            return refs + sorted(r.commit_hash[:12] for r in repo.revisions)
    return None


def read_config(name: HfName, folder: Path) -> dict:
    """The repo's config.json, checked: architecture, num_classes, options and preprocessing are usable."""
    from zoo._io import read_json_object
    from zoo.models import resolve_name
    from zoo.protocol.records import TestProtocol
    from zoo.records import Preprocessing

    path = folder / CONFIG_FILE
    if not path.is_file():
        raise RepoError(f"{name}: the repo has no {CONFIG_FILE} (commit {folder.name}); push it with "
                        "`zoo-hub push`, which writes one")
    try:
        config = read_json_object(path, "model config")
    except ValueError as err:
        raise RepoError(f"{name}: {err}") from None
    where = f"{name}: {CONFIG_FILE}"
    arch, classes, options = config.get("architecture"), config.get("num_classes"), config.get("options") or {}
    if not isinstance(arch, str):
        raise RepoError(f"{where}: no \"architecture\" (a zoo model name such as r2plus1d_34)")
    try:
        resolve_name(arch)
    except ValueError as err:
        raise RepoError(f"{where}: {err}") from None
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise RepoError(f"{where}: \"num_classes\" must be a positive integer, not {classes!r}")
    if not isinstance(options, dict):
        raise RepoError(f"{where}: \"options\" must be an object, not {options!r}")
    prep = config.get("preprocessing") or {}
    if not isinstance(prep, dict):
        raise RepoError(f"{where}: \"preprocessing\" must be an object")
    try:
        Preprocessing.from_dict({**prep, "classes": config.get("classes"), "label_set": config.get("label_set")},
                                where)
    except ValueError as err:
        raise RepoError(str(err)) from None
    if config.get("classes") is not None and len(config["classes"]) != classes:
        raise RepoError(f"{where}: {len(config['classes'])} class names for {classes} classes")
    protocol = config.get("protocol")
    if protocol is not None:
        if not isinstance(protocol, dict):
            raise RepoError(f"{where}: \"protocol\" must be an object (a test protocol record)")
        try:
            TestProtocol.from_dict(protocol)
        except (TypeError, ValueError) as err:
            raise RepoError(f"{where}: {err}") from None
    return config


def check_tensors(name: HfName, folder: Path, config: dict) -> None:
    """model.safetensors must hold exactly the tensors (names and shapes) of the model config.json describes,
    and its zoo header must describe the same model; RepoError in one line otherwise."""
    import torch
    from safetensors import SafetensorError, safe_open

    from zoo.checkpoint import WeightMismatchError, check_weights, read_checkpoint_meta
    from zoo.hub.hf import first_line

    path = folder / WEIGHTS_FILE
    if not path.is_file():
        raise RepoError(f"{name}: the repo has no {WEIGHTS_FILE} (commit {folder.name})")
    try:
        with safe_open(str(path), framework="pt") as fh:
            shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise RepoError(f"{name}: {WEIGHTS_FILE} is not a readable safetensors file ({first_line(err)})") from None
    arch, classes = config["architecture"], config["num_classes"]
    model = _described_model(name, config)
    given = {k: torch.empty(shape, device="meta") for k, shape in shapes.items()}
    try:
        check_weights(model.state_dict(), given, f"{name}")
    except WeightMismatchError as err:
        raise RepoError(f"{name}: {CONFIG_FILE} ({arch}, {classes} classes) does not match the tensors of "
                        f"{WEIGHTS_FILE}: {_mismatch_summary(err)}") from None
    try:
        meta = read_checkpoint_meta(path)
    except ValueError as err:
        raise RepoError(f"{name}: {first_line(err)}") from None
    described = {"arch": arch, "num_classes": classes, "options": {**model.zoo_config["options"]}}
    header = {"arch": meta.get("arch"), "num_classes": meta.get("num_classes"),
              "options": {**model.zoo_config["options"], **(meta.get("options") or {})}}
    differ = [k for k in _MODEL_KEYS if described[k] != header[k]]
    if differ:
        raise RepoError(f"{name}: {CONFIG_FILE} and the header of {WEIGHTS_FILE} describe different models ("
                        + "; ".join(f"{k}: {described[k]!r} vs {header[k]!r}" for k in differ) + ")")


def weights_limit(name: HfName, config: dict) -> int:
    """The most bytes the repo's model.safetensors may have: 16 per parameter of the model config.json describes,
    plus 64 MiB (:func:`~zoo.hub.download.download_limit`); a real file holds 4 (fp32) or 8 (fp64) per parameter."""
    from zoo.hub.download import download_limit

    params = sum(t.numel() for t in _described_model(name, config).state_dict().values())
    return download_limit({}, {"params_m": params / 1e6})


def _described_model(name: HfName, config: dict):
    """The model config.json describes, on the ``meta`` device (no memory); RepoError when it describes none."""
    from zoo.models import build_meta_model

    try:
        return build_meta_model(config["architecture"], config["num_classes"], **(config.get("options") or {}))
    except (TypeError, ValueError) as err:
        raise RepoError(f"{name}: {CONFIG_FILE} does not describe a model: {err}") from None


def _mismatch_summary(err, shown: int = 3) -> str:
    parts = [f"{k} is {tuple(a)} in the file, {tuple(b)} by the config" for k, a, b in err.mismatched[:shown]]
    if err.missing:
        parts.append(f"{len(err.missing)} missing (e.g. {err.missing[0]})")
    if err.unexpected:
        parts.append(f"{len(err.unexpected)} unexpected (e.g. {err.unexpected[0]})")
    more = len(err.mismatched) - shown
    return "; ".join(parts) + (f"; {more} more of the wrong shape" if more > 0 else "")


__all__ = ["PREFIX", "HfName", "HubModel", "is_hf_name", "resolve", "hub_checkpoint", "hub_entry", "read_config",
           "check_tensors"]
