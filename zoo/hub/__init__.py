"""Pretrained weights by name: download, verify, convert once and cache (``zoo-hub``)."""
from zoo.hub.cache import checkpoint_path, is_cached, zoo_home
from zoo.hub.errors import ChecksumError, ConversionError, DownloadError, HubError, OfflineError
from zoo.hub.fetch import fetch_checkpoint, is_offline, lookup_entry, register_weights, unregister_weights

__all__ = [
    "fetch_checkpoint", "register_weights", "unregister_weights", "lookup_entry", "is_offline",
    "checkpoint_path", "is_cached", "zoo_home",
    "HubError", "DownloadError", "OfflineError", "ChecksumError", "ConversionError",
]
