"""The import graph of kb_index/ and encoders/: one-way dependencies, read from the source (every import,
module-level or inside a function).

- neither imports the hub, the channels, the actions or the NLU components;
- encoders/ never imports kb_index/, and of core/ only `core.contracts` (encoders/ runs in Rasa's Python 3.10
  runtime, where pydantic is v1);
- no cycles, not even between two modules that import each other inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

from core.settings import PROJECT_ROOT

PACKAGES = ("kb_index", "encoders")
APP_PACKAGES = ("bot", "connectors", "actions", "nlu_components")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = PROJECT_ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:  # `from pkg import mod` depends on pkg.mod, `from pkg import name` on pkg
                found.add(f"{node.module}.{alias.name}" if _is_module(f"{node.module}.{alias.name}") else node.module)
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            graph[_module_name(path)] = _imports(path)
    return graph


def _top(name: str) -> str:
    return name.split(".")[0]


def test_neither_package_imports_the_applications() -> None:
    bad = {module: sorted(i for i in imports if _top(i) in APP_PACKAGES) for module, imports in _graph().items()}
    assert {module: found for module, found in bad.items() if found} == {}


def test_encoders_import_neither_kb_index_nor_pydantic_parts_of_core() -> None:
    bad = {module: sorted(i for i in imports if _top(i) == "kb_index" or (_top(i) == "core" and i != "core.contracts"))
           for module, imports in _graph().items() if _top(module) == "encoders"}
    assert {module: found for module, found in bad.items() if found} == {}


def test_no_import_cycles() -> None:
    graph = _graph()
    edges = {module: {i for i in imports if i in graph and i != module} for module, imports in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges[module]):
            if state.get(target) == "open":  # on the current path: a cycle back to it
                cycles.append([*trail[trail.index(target):], module, target])
            elif target not in state:
                visit(target, trail + [module])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [])
    assert cycles == []
