"""Packaging: one distribution installing zoo, zoo.convert (convert/) and zoo.evaluate (evaluate/)."""
from __future__ import annotations

import importlib
import os
import tomllib
from pathlib import Path

import pytest

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


# ------------------------------------------------------------------------------------------ the ONNX runtimes
RUNTIMES = {"onnxruntime", "onnxruntime-gpu"}


def _stub_wheel(folder: Path, name: str, version: str, requires: list[str]) -> None:
    """A wheel with ``name``'s real metadata (version, requirements) and no files: enough for pip's resolver."""
    import re
    import zipfile

    norm = re.sub(r"[-_.]+", "_", name).lower()
    extras = sorted(set(re.findall(r'extra == "([^"]+)"', "\n".join(requires))))
    meta = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            + "".join(f"Requires-Dist: {r}\n" for r in requires) + "".join(f"Provides-Extra: {e}\n" for e in extras))
    info = f"{norm}-{version}.dist-info"
    with zipfile.ZipFile(folder / f"{norm}-{version}-py3-none-any.whl", "w") as whl:
        whl.writestr(f"{info}/METADATA", meta)
        whl.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: stub\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{info}/RECORD", "")


def _resolve(command: str, wheels: Path, tmp_path: Path) -> set[str]:
    """The distributions pip's resolver would install for ``pip install ...`` into an empty environment,
    offline: every requirement is found among ``wheels``; the project's own metadata is built from this tree."""
    import json
    import shlex
    import subprocess
    import sys

    words = shlex.split(command)
    assert words[:2] == ["pip", "install"], command
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull          # this machine's indexes, find-links and constraints stay out
    # --no-build-isolation: this tree's metadata is built with the setuptools installed here (torch needs >= 77)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-index",
                           "--find-links", str(wheels), "--no-build-isolation", "--quiet", "--report", str(report),
                           *words[2:]], cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    """Stub wheels of everything installed here (the real names, versions and requirements), and of
    onnxruntime-gpu at the pinned version with the requirements of the onnxruntime wheel of the same release."""
    import importlib.metadata as md

    folder = tmp_path_factory.mktemp("wheels")
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name.lower() not in ("video-model-zoo", "pip"):
            _stub_wheel(folder, name, dist.version, dist.requires or [])
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert pins["onnxruntime-gpu"] == pins["onnxruntime"] == md.version("onnxruntime")
    _stub_wheel(folder, "onnxruntime-gpu", pins["onnxruntime-gpu"], md.requires("onnxruntime"))
    return folder


def test_readme_gpu_install_leaves_exactly_one_onnxruntime(mirror, tmp_path):
    readme = (ROOT / "README.md").read_text().splitlines()
    lines = [line.split("#")[0].strip() for line in readme if line.startswith("pip install") and "[gpu]" in line]
    assert lines == ["pip install '.[gpu]'"]
    assert _resolve(lines[0], mirror, tmp_path) & RUNTIMES == {"onnxruntime-gpu"}


def test_dev_install_has_the_cpu_runtime_and_the_core_has_none(mirror, tmp_path):
    assert _resolve("pip install '.[dev]'", mirror, tmp_path) & RUNTIMES == {"onnxruntime"}
    core = " ".join(PYPROJECT["project"]["dependencies"])
    assert "onnxruntime" not in core
    assert any("onnxruntime-gpu" in r for r in PYPROJECT["project"]["optional-dependencies"]["gpu"])
