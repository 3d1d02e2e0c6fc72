"""torch.hub entry points: one per model name, e.g.

    torch.hub.load("OWNER/REPO", "ir_csn_152", weights="ir_csn_152.ig65m_ft_kinetics400")
    torch.hub.load("OWNER/REPO", "r2plus1d_18", num_classes=10, channel_multiplier=0.25)

    torch.hub.load("OWNER/REPO", "r2plus1d_18", weights="hf-hub:my-org/r2plus1d-ucf101")

``weights`` is a name from ``zoo-hub list`` (downloaded, verified, converted and cached on first use), an
``hf-hub:ORG/REPO[@REVISION]`` name (a repo written by ``zoo-hub push``, through huggingface_hub's cache)
or a path to a zoo checkpoint; other keyword arguments go to ``zoo.create_model``.
"""
import importlib.util as _importlib_util
import os as _os
import sys as _sys

dependencies = ["torch", "safetensors", "huggingface_hub", "filelock", "platformdirs", "tqdm", "numpy"]

_ROOT = _os.path.dirname(_os.path.abspath(__file__))


def _alias_package(name, folder):
    """Make ``folder`` importable as ``name`` in a plain checkout (pip maps it via package-dir)."""
    if _importlib_util.find_spec(name) is not None:
        return
    spec = _importlib_util.spec_from_file_location(name, _os.path.join(_ROOT, folder, "__init__.py"),
                                                  submodule_search_locations=[_os.path.join(_ROOT, folder)])
    module = _importlib_util.module_from_spec(spec)
    _sys.modules[name] = module
    spec.loader.exec_module(module)


import zoo as _zoo  # noqa: E402

for _name, _folder in (("zoo.convert", "convert"), ("zoo.evaluate", "evaluate")):
    _alias_package(_name, _folder)


def _entry_point(arch):
    def load(weights=None, num_classes=None, **options):
        return _zoo.create_model(arch, num_classes=num_classes, weights=weights, **options)

    load.__name__ = load.__qualname__ = arch
    load.__doc__ = (f"{arch} (zoo.create_model). weights: a name from `zoo-hub list --family ...`, an "
                    f"hf-hub:ORG/REPO[@REVISION] name or a checkpoint path; num_classes and builder options as "
                    f"keyword arguments.")
    return load


for _arch in _zoo.list_models():
    globals()[_arch] = _entry_point(_arch)

del _arch, _name, _folder
