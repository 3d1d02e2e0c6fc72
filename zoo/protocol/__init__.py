"""The test protocol, in the core of the package: below the hub, which reads and writes its records, and above
:mod:`zoo.data`, whose test views it resolves. Torch-free to import.

* :mod:`zoo.protocol.records` -- how a model is tested (:class:`TestProtocol`), the evaluator's defaults
  (:data:`DEFAULT_PROTOCOL`), a registry protocol by name and the one behind a weights entry.
* :mod:`zoo.protocol.settings` -- resolving it, with a checkpoint's metadata, a weights entry and the command
  line, into the settings of a run (:class:`EvalSettings`: the view spec, mean/std, classes, their sources).
* :mod:`zoo.protocol.options` -- the test-view options the tools share.
"""
from zoo._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(("TestProtocol", "DEFAULT_PROTOCOL", "get_protocol", "resolve_protocol"), "zoo.protocol.records"),
    **dict.fromkeys(("EvalSettings", "OVERRIDE_KEYS", "resolve_settings", "parse_resize", "check_head",
                     "check_classes"), "zoo.protocol.settings"),
    **dict.fromkeys(("add_protocol_arguments", "add_pixel_rule_arguments", "resize_type", "protocol_overrides"),
                    "zoo.protocol.options")})

__all__ = ["TestProtocol", "DEFAULT_PROTOCOL", "get_protocol", "resolve_protocol", "EvalSettings", "OVERRIDE_KEYS",
           "resolve_settings", "parse_resize", "check_head", "check_classes", "add_protocol_arguments",
           "add_pixel_rule_arguments", "resize_type", "protocol_overrides"]
