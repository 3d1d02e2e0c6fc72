"""Hugging Face Hub sources through ``huggingface_hub.hf_hub_download`` (its cache, tokens, offline mode).

``HF_ENDPOINT`` and ``HF_HUB_CACHE``/``HF_HOME`` are read at call time (huggingface_hub reads them only
once, at import), so a changed environment takes effect without re-importing.

Every download is capped (:func:`capped_download`): huggingface_hub checks a file's size only once the whole
body is on disk, so an endless response would fill it. A dry run first asks the Hub for the file's size and
refuses one over zoo's limit; the download itself runs with a ``tqdm_class`` that counts the bytes as
huggingface_hub streams them (it reports each chunk before writing it) and stops at the announced size or the
limit, whichever is smaller. huggingface_hub then removes its temporary file, and nothing enters its cache.
"""
from __future__ import annotations

import os
from pathlib import Path

import huggingface_hub
from huggingface_hub import constants as hf_constants
from huggingface_hub import errors as hf_errors
from huggingface_hub.utils import tqdm as hf_tqdm
from tqdm.auto import tqdm

from zoo.hub.download import oversize_message
from zoo.hub.errors import DownloadError, OfflineError

LIBRARY_NAME = "video-model-zoo"


class _SilentTqdm(tqdm):
    def __init__(self, *args, **kwargs):
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


def progress_class(progress: bool):
    """The ``tqdm_class`` argument of huggingface_hub's downloads: its own bars, or none."""
    return None if progress else _SilentTqdm


def size_guard(what: str, max_bytes: int, progress: bool = True) -> type:
    """A ``tqdm_class`` for one huggingface_hub download that raises :class:`DownloadError` (naming ``what``) when
    the response announces more than ``max_bytes``, or sends more than it announced or than ``max_bytes``."""
    base = hf_tqdm if progress else _SilentTqdm

    class SizeGuard(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.received = kwargs.get("initial") or 0
            self.declared = kwargs.get("total")
            if self.declared is not None and self.declared > max_bytes:
                self.close()
                raise DownloadError(oversize_message(what, self.declared, max_bytes, started=False))

        def update(self, n=1):
            self.received += n or 0
            if self.received > min(max_bytes, self.declared or max_bytes):
                raise DownloadError(oversize_message(what, self.received, max_bytes, declared=self.declared))
            return super().update(n)

    return SizeGuard


def capped_download(repo_id: str, filename: str, *, max_bytes: int, revision: str | None = None,
                    progress: bool = True) -> Path:
    """``filename`` of model repo ``repo_id`` through huggingface_hub's cache, never more than ``max_bytes``: a file
    the Hub announces larger is refused before anything is written, a response that sends more than it announced
    (or than ``max_bytes``) is stopped and its partial file removed (:class:`DownloadError`, one line naming
    ``repo_id/filename``). huggingface_hub's own errors pass through."""
    what = f"{repo_id}/{filename}" + (f"@{revision}" if revision else "")
    where = dict(revision=revision, endpoint=hf_endpoint(), cache_dir=hf_cache_dir(), library_name=LIBRARY_NAME)
    plan = huggingface_hub.hf_hub_download(repo_id, filename, dry_run=True, **where)
    if not plan.will_download:
        return Path(plan.local_path)
    if plan.file_size is not None and plan.file_size > max_bytes:
        raise DownloadError(oversize_message(what, plan.file_size, max_bytes, started=False))
    return Path(huggingface_hub.hf_hub_download(repo_id, filename, tqdm_class=size_guard(what, max_bytes, progress),
                                                **where))


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


def hf_download(repo_id: str, filename: str, *, max_bytes: int, revision: str | None = None, offline: bool = False,
                progress: bool = True) -> Path:
    """Download (at most ``max_bytes``: :func:`capped_download`) or find in the cache when ``offline``
    ``filename`` of model repo ``repo_id``.

    Raises :class:`OfflineError` when offline and not cached, :class:`DownloadError` otherwise.
    """
    where = f"{repo_id}/{filename}" + (f"@{revision}" if revision else "")
    try:
        if offline:
            path = huggingface_hub.hf_hub_download(repo_id, filename, revision=revision, cache_dir=hf_cache_dir(),
                                                   local_files_only=True)
        else:
            path = capped_download(repo_id, filename, max_bytes=max_bytes, revision=revision, progress=progress)
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
        raise DownloadError(f"downloading {where} from {hf_endpoint()} failed: {first_line(err)}") from err
    except OSError as err:  # connection errors raised while streaming the file
        raise DownloadError(f"downloading {where} from {hf_endpoint()} failed: {_root_cause(err)}") from err
    return Path(path)


def first_line(err: BaseException) -> str:
    """The first line of an error's text (huggingface_hub's run over several), or its class name."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _root_cause(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    text = first_line(err)
    return "connection refused" if "refused" in text.lower() or isinstance(err, ConnectionRefusedError) else text
