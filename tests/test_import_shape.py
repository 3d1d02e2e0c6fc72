"""The package's imports run one way: no import loop (function-level imports included) and no import from a
lower layer to a higher one, between modules and between packages. Static: the source is parsed with ``ast``,
nothing is imported.

Layers, bottom to top: core -> data -> data preparation -> the test protocol (``zoo.protocol``: its records,
their resolution into a run's settings, the shared options) -> convert -> hub -> factory (``create_model``) ->
evaluate -> feature extraction, train -> the ``zoo`` package's public API (``zoo/__init__.py``) -> the console
scripts. A module may import its own layer and the layers below it, so library modules import the module that
defines what they use (``zoo.checkpoint``, ``zoo.factory``), never the ``zoo`` facade.

One level up, where the architecture is read (docs/architecture.md), each subpackage (``zoo.data`` with
``zoo.data.prepare``, ``zoo.models``, ``zoo.hub``...) is one node, a top-level module of ``zoo`` is a node of its
own and the console scripts sit on top: no package imports one that imports it back (lazy imports included).
"""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# installed name -> folder (pyproject.toml's package-dir)
PACKAGES = {"zoo": ROOT / "zoo", "zoo.convert": ROOT / "convert", "zoo.evaluate": ROOT / "evaluate"}
# rank of each layer; layers of one rank are peers (neither may import the other's modules: see the loop test)
LAYERS = {"core": 0, "data": 1, "prepare": 2, "protocol": 3, "convert": 4, "hub": 5, "factory": 6, "evaluate": 7,
          "extract": 8, "train": 8, "api": 9, "scripts": 10}
PREFIXES = (("zoo.data.prepare", "prepare"), ("zoo.data", "data"), ("zoo.protocol", "protocol"),
            ("zoo.convert", "convert"), ("zoo.hub", "hub"), ("zoo.evaluate", "evaluate"), ("zoo.extract", "extract"),
            ("zoo.train", "train"))


def console_scripts() -> set[str]:
    """Modules of pyproject.toml's [project.scripts], plus the demo program."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r'^\S+\s*=\s*"([\w.]+):\w+"', section, re.MULTILINE)) | {"zoo.demo"}


SCRIPTS = console_scripts()
# modules whose layer is not the one of their folder
PLACED = {"zoo": "api", "zoo.factory": "factory",
          "zoo.models.factory": "factory"}   # old import path of zoo.factory.create_model, kept for users
# modules left out of the package graph, with the reason
PACKAGE_EXEMPT = {"zoo.models.factory": "old import path of zoo.factory.create_model kept for users' code: it only "
                                        "re-exports, and no module of the package imports it"}


def module_files() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the installed package."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if name.split(".")[1:2] in (["convert"], ["evaluate"]) and folder == PACKAGES["zoo"]:
                continue  # zoo/convert or zoo/evaluate would be shadowed by the top-level folders
            found[name] = path
    return found


def layer_of(name: str) -> str:
    if name in SCRIPTS or name.endswith(".__main__"):
        return "scripts"
    if name in PLACED:
        return PLACED[name]
    for prefix, layer in PREFIXES:
        if name == prefix or name.startswith(prefix + "."):
            return layer
    return "core"


def imports_of(name: str, path: Path, modules: set[str]) -> dict[str, int]:
    """Modules of the package that ``name`` imports anywhere in its file (line of the first import)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        while target and target not in modules:   # an attribute of a module: the module
            target = target.rpartition(".")[0]
        if target and target != name:
            found.setdefault(target, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "zoo":
                    add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if source.split(".")[0] != "zoo":
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                add(submodule if submodule in modules else source, node.lineno)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, int]]:
    files = module_files()
    return {name: imports_of(name, path, set(files)) for name, path in files.items()}


def test_the_walk_sees_the_package(graph):
    assert {"zoo.train.cli", "zoo.evaluate.cli", "zoo.convert.cli", "zoo.hub.cli", "zoo.data.prepare.cli"} <= SCRIPTS
    assert {"zoo", "zoo.weights", "zoo.convert.pipelines", "zoo.hub.fetch", "zoo.evaluate.runner",
            "zoo.train.loop", "zoo.data.datasets"} <= set(graph)
    assert "zoo.checkpoint" in graph["zoo.convert.pipelines"]


def test_no_import_goes_up_a_layer(graph):
    wrong = [f"{name} ({layer_of(name)}) imports {target} ({layer_of(target)}) at line {line}"
             for name, targets in sorted(graph.items()) for target, line in sorted(targets.items())
             if LAYERS[layer_of(target)] > LAYERS[layer_of(name)]
             or (LAYERS[layer_of(target)] == LAYERS[layer_of(name)] and layer_of(target) != layer_of(name))]
    assert not wrong, "imports from a lower layer to a higher one:\n  " + "\n  ".join(wrong)


def test_no_import_loop(graph):
    cycles = _cycles(graph)
    assert not cycles, "modules that import each other (directly or through others):\n  " + "\n  ".join(
        ", ".join(c) for c in cycles)


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_checks_see_function_level_imports(tmp_path):
    fake = tmp_path / "fake.py"
    fake.write_text("def later():\n    from zoo.train import loop\n    import zoo.hub.fetch as f\n")
    found = imports_of("zoo.convert.fake", fake, {"zoo.train.loop", "zoo.train", "zoo.hub.fetch", "zoo.hub"})
    assert found == {"zoo.train.loop": 2, "zoo.hub.fetch": 3}
    assert LAYERS[layer_of("zoo.train.loop")] > LAYERS[layer_of("zoo.convert.fake")]
    assert _cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]


# ------------------------------------------------------------------------------------------------ packages
def package_of(name: str) -> str:
    """The node of ``name`` in the package graph: ``scripts`` for console-script modules, the subpackage of
    ``zoo`` for a module inside one (``zoo.data.prepare.cli`` -> ``zoo.data``), else the module itself."""
    if layer_of(name) in ("scripts", "api"):
        return layer_of(name)
    parts = name.split(".")
    return ".".join(parts[:2])


def package_graph(graph: dict[str, dict[str, int]]) -> dict[str, dict[str, str]]:
    """Package -> {package it imports: one module import behind that edge, as ``module -> module:line``}."""
    packages: dict[str, dict[str, str]] = {}
    for name, targets in sorted(graph.items()):
        if name in PACKAGE_EXEMPT:
            continue
        source = packages.setdefault(package_of(name), {})
        for target, line in sorted(targets.items()):
            if package_of(target) != package_of(name):
                source.setdefault(package_of(target), f"{name} -> {target}:{line}")
    return packages


def test_the_package_graph_sees_the_packages(graph):
    packages = package_graph(graph)
    assert {"zoo.data", "zoo.models", "zoo.hub", "zoo.convert", "zoo.evaluate", "zoo.extract", "zoo.train",
            "zoo.protocol", "zoo.weights", "zoo.cli", "scripts", "api"} <= set(packages)
    assert "zoo.data.prepare" not in packages and "zoo.protocol" in packages["zoo.extract"]


def test_the_protocol_is_core_below_the_hub(graph):
    """One package holds the test protocol's record, its resolution and the shared options; the hub, evaluate and
    extract import it (train may: it reads only the weights' records), and it imports none of them nor anything
    above it: below it are only the data layer's views and the core."""
    packages = package_graph(graph)
    assert {"zoo.protocol.records", "zoo.protocol.settings", "zoo.protocol.options"} <= set(graph)
    assert all("zoo.protocol" in packages[p] for p in ("zoo.hub", "zoo.evaluate", "zoo.extract"))
    assert LAYERS["data"] < LAYERS["protocol"] < LAYERS["hub"]
    reached, todo = set(), ["zoo.protocol"]
    while todo:
        for target in packages.get(todo.pop(), {}):
            if target not in reached:
                reached.add(target)
                todo.append(target)
    assert not reached & {"zoo.hub", "zoo.factory", "zoo.evaluate", "zoo.extract", "zoo.train", "zoo.protocol"}
    assert set(PACKAGE_EXEMPT) <= set(graph)


def test_packages_import_downhill(graph):
    packages = package_graph(graph)
    cycles = _cycles(packages)
    assert not cycles, "packages that import each other (directly or through others; one import each):\n  " + \
        "\n  ".join(", ".join(f"{p} [{packages[p][q]}]" for p in c for q in c if q in packages[p]) for c in cycles)


def test_a_planted_upward_import_fails_the_package_check(graph, tmp_path):
    """A lazy import from a core module up into a package that imports it: a loop between packages."""
    planted = tmp_path / "weights.py"
    planted.write_text((PACKAGES["zoo"] / "weights.py").read_text(encoding="utf-8")
                       + "\n\ndef planted():\n    from zoo.hub.fetch import fetch_checkpoint\n")
    found = imports_of("zoo.weights", planted, set(graph))
    assert "zoo.hub.fetch" in found
    cycles = _cycles(package_graph({**graph, "zoo.weights": found}))
    assert any({"zoo.hub", "zoo.weights"} <= set(c) for c in cycles)
    assert not _cycles(package_graph(graph))


def test_library_code_does_not_import_the_command_line_convention(graph):
    """``zoo.cli`` is the tools' argparse convention; library code raises ``zoo.errors.UsageError`` and draws
    ``zoo.progress`` bars, and the protocol's shared options use the argument types of ``zoo.argtypes``."""
    users = sorted(name for name, targets in graph.items() if "zoo.cli" in targets and layer_of(name) != "scripts")
    assert users == [], users
    assert "zoo.argtypes" in graph["zoo.protocol.options"]
