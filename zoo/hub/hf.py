"""Hugging Face Hub sources through ``huggingface_hub.hf_hub_download`` (its cache, tokens, offline mode).

``HF_ENDPOINT`` and ``HF_HUB_CACHE``/``HF_HOME`` are read at call time (huggingface_hub reads them only
once, at import), so a changed environment takes effect without re-importing.
"""
from __future__ import annotations

import os
from pathlib import Path

import huggingface_hub
from huggingface_hub import constants as hf_constants
from huggingface_hub import errors as hf_errors
from tqdm.auto import tqdm

from zoo.hub.errors import DownloadError, OfflineError

LIBRARY_NAME = "video-model-zoo"


class _SilentTqdm(tqdm):
    def __init__(self, *args, **kwargs):
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


def progress_class(progress: bool):
    """The ``tqdm_class`` argument of huggingface_hub's downloads: its own bars, or none."""
    return None if progress else _SilentTqdm


_TRUE = {"1", "true", "yes", "on"}


def is_offline() -> bool:
    """True when ``ZOO_OFFLINE`` or ``HF_HUB_OFFLINE`` (read now) or huggingface_hub's offline mode is on."""
    env = (os.environ.get(var, "").strip().lower() for var in ("ZOO_OFFLINE", "HF_HUB_OFFLINE"))
    return any(value in _TRUE for value in env) or bool(hf_constants.HF_HUB_OFFLINE)


def hf_endpoint() -> str:
    """The Hub endpoint: ``$HF_ENDPOINT`` now, else huggingface_hub's configured one."""
    return (os.environ.get("HF_ENDPOINT") or hf_constants.ENDPOINT).rstrip("/")


def hf_cache_dir() -> str:
    """huggingface_hub's cache folder as the environment says now."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return hf_constants.HF_HUB_CACHE


def hf_download(repo_id: str, filename: str, *, revision: str | None = None, offline: bool = False,
                progress: bool = True) -> Path:
    """Download (or find in the cache when ``offline``) ``filename`` of model repo ``repo_id``.

    Raises :class:`OfflineError` when offline and not cached, :class:`DownloadError` otherwise.
    """
    where = f"{repo_id}/{filename}" + (f"@{revision}" if revision else "")
    try:
        path = huggingface_hub.hf_hub_download(
            repo_id, filename, revision=revision, endpoint=hf_endpoint(), cache_dir=hf_cache_dir(),
            local_files_only=offline, library_name=LIBRARY_NAME,
            tqdm_class=progress_class(progress))
    except hf_errors.RemoteEntryNotFoundError as err:
        raise DownloadError(f"{filename} not found in Hugging Face repo {repo_id} ({hf_endpoint()})") from err
    except hf_errors.RevisionNotFoundError as err:
        raise DownloadError(f"revision {revision!r} not found in Hugging Face repo {repo_id}") from err
    except hf_errors.GatedRepoError as err:
        raise DownloadError(f"Hugging Face repo {repo_id} is gated: accept its terms and log in "
                            f"(`hf auth login` or HF_TOKEN)") from err
    except hf_errors.RepositoryNotFoundError as err:
        raise DownloadError(f"Hugging Face repo {repo_id} not found at {hf_endpoint()} "
                            f"(or it is private and no valid token was given)") from err
    except hf_errors.LocalEntryNotFoundError as err:
        if offline or hf_constants.HF_HUB_OFFLINE:
            raise OfflineError(f"{where} is not in the Hugging Face cache {hf_cache_dir()} and offline mode "
                               f"is on") from err
        raise DownloadError(f"could not reach {hf_endpoint()} to download {where}: "
                            f"{_root_cause(err)}") from err
    except hf_errors.HfHubHTTPError as err:
        raise DownloadError(f"downloading {where} from {hf_endpoint()} failed: {err}") from err
    except OSError as err:  # connection errors raised while streaming the file
        raise DownloadError(f"downloading {where} from {hf_endpoint()} failed: {_root_cause(err)}") from err
    return Path(path)


def _root_cause(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    text = str(err) or type(err).__name__
    return "connection refused" if "refused" in text.lower() or isinstance(err, ConnectionRefusedError) else text
