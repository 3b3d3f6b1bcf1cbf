"""The import graph of the whole project, read from the source (every import, module-level or inside a
function; imports under `if TYPE_CHECKING:` are annotations only and do not count):

- `core/` is the shared layer: it imports none of the project's other packages;
- `actions/`, `kb_index/`, `encoders/`, `connectors/` and `nlu_components/` never import the hub (`bot/`);
- nothing but the tools, benchmarks and tests imports `tools/`;
- `encoders/` and `nlu_components/` run in Rasa's Python 3.10 runtime too (pydantic v1 there): of `core/` they
  use only its standard-library modules; `encoders/` never imports `kb_index/`;
- no import cycles, not even between two modules that import each other inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

from core.settings import PROJECT_ROOT

PACKAGES = ("core", "bot", "connectors", "actions", "kb_index", "encoders", "nlu_components", "tools")
STDLIB_ONLY_CORE = {"core", "core.contracts", "core.languages"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = PROJECT_ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    return skip


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
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


def _violations(rule: "callable") -> dict[str, list[str]]:  # type: ignore[valid-type]
    found = {module: sorted(i for i in imports if rule(module, i)) for module, imports in _graph().items()}
    return {module: bad for module, bad in found.items() if bad}


def test_core_imports_nothing_of_the_project() -> None:
    assert _violations(lambda m, i: _top(m) == "core" and _top(i) in PACKAGES and _top(i) != "core") == {}


def test_only_the_hub_imports_the_hub() -> None:
    assert _violations(lambda m, i: _top(m) in ("core", "connectors", "actions", "kb_index", "encoders",
                                                 "nlu_components") and _top(i) == "bot") == {}


def test_the_tools_are_kept_apart_from_the_product() -> None:
    assert _violations(lambda m, i: _top(m) != "tools" and _top(i) == "tools") == {}


def test_the_rasa_runtime_packages_use_only_stdlib_parts_of_core_and_encoders_not_kb_index() -> None:
    assert _violations(lambda m, i: _top(m) in ("encoders", "nlu_components") and _top(i) == "core"
                       and i not in STDLIB_ONLY_CORE) == {}
    assert _violations(lambda m, i: _top(m) == "encoders" and _top(i) == "kb_index") == {}


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
