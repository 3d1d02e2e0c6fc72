"""Pretrained weights by name: look up, download, verify, convert once and cache (``zoo-hub``)."""
from zoo._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(("checkpoint_path", "is_cached", "zoo_home"), "zoo.hub.cache"),
    **dict.fromkeys(("ChecksumError", "ConversionError", "DownloadError", "HubError", "OfflineError"),
                    "zoo.hub.errors"),
    "fetch_checkpoint": "zoo.hub.fetch",
    "get_weights": "zoo.hub.lookup",
    **dict.fromkeys(("register_weights", "unregister_weights"), "zoo.weights"),
    "is_offline": "zoo.hub.hf"})

__all__ = [
    "fetch_checkpoint", "get_weights", "register_weights", "unregister_weights", "is_offline",
    "checkpoint_path", "is_cached", "zoo_home",
    "HubError", "DownloadError", "OfflineError", "ChecksumError", "ConversionError",
]
