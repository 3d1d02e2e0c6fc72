"""Packaging: one distribution installing zoo, zoo.convert (convert/) and zoo.evaluate (evaluate/)."""
from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import zoo

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _source_dir(package: str) -> Path:
    """Where setuptools takes ``package`` from, given the package-dir mapping."""
    mapping = SETUPTOOLS["package-dir"]
    parts = package.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in mapping:
            return ROOT / mapping[prefix] / Path(*parts[i:])
    return ROOT / Path(*parts)


def test_every_package_folder_is_listed():
    listed = set(SETUPTOOLS["packages"])
    found = set()
    for top, name in (("zoo", "zoo"), ("convert", "zoo.convert"), ("evaluate", "zoo.evaluate")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            found.add(".".join([name, *rel.parts]))
    assert found == listed


def test_convert_and_evaluate_import_as_zoo_subpackages():
    for package in SETUPTOOLS["packages"]:
        module = importlib.import_module(package)
        assert Path(module.__file__).resolve().parent == _source_dir(package).resolve()


def test_console_scripts_point_at_callables():
    for script, target in PYPROJECT["project"]["scripts"].items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), script


def test_core_does_not_need_torchvision():
    import sys
    assert "torchvision" not in sys.modules
    assert zoo.create_model("r3d_10", channel_multiplier=0.125) is not None


def test_weights_registry_ships_as_package_data():
    assert (ROOT / "zoo" / "weights.json").resolve() == (ROOT / "weights.json").resolve()
    assert "weights.json" in SETUPTOOLS.get("package-data", {}).get("zoo", [])


def test_constraints_pin_torch_and_exclude_the_broken_release():
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert pins["torch"] == "2.13.0"
    assert "!=2.9.0" in next(d for d in PYPROJECT["project"]["dependencies"] if d.startswith("torch"))
