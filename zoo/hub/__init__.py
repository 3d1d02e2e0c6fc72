"""Pretrained weights by name: download, verify, convert once and cache (``zoo-hub``)."""
from zoo._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(("checkpoint_path", "is_cached", "zoo_home"), "zoo.hub.cache"),
    **dict.fromkeys(("ChecksumError", "ConversionError", "DownloadError", "HubError", "OfflineError"),
                    "zoo.hub.errors"),
    **dict.fromkeys(("fetch_checkpoint", "lookup_entry", "register_weights", "unregister_weights"),
                    "zoo.hub.fetch"),
    "is_offline": "zoo.hub.hf"})

__all__ = [
    "fetch_checkpoint", "register_weights", "unregister_weights", "lookup_entry", "is_offline",
    "checkpoint_path", "is_cached", "zoo_home",
    "HubError", "DownloadError", "OfflineError", "ChecksumError", "ConversionError",
]
