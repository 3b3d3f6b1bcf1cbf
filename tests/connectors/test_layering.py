"""connectors/ stands below the hub: it imports `core` and third-party libraries, never `bot`, and its modules
import each other without cycles (read from the import statements, so a lazy import inside a function counts)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "connectors"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Every connectors module → the absolute modules it imports."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                assert node.level == 0, f"{path}: use absolute imports"
                found.add(node.module)
        graph[module_name(path)] = found
    return graph


def test_connectors_never_import_the_hub() -> None:
    offenders = {m: sorted(i for i in found if i == "bot" or i.startswith("bot."))
                 for m, found in imports().items()}
    assert {m: i for m, i in offenders.items() if i} == {}


def test_connectors_modules_import_each_other_without_cycles() -> None:
    graph = imports()
    inner = {m: {i for i in found if i in graph and i != m} for m, found in graph.items()}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, "import cycle: " + " -> ".join(path[path.index(module):] + [module])
        if module in done:
            return
        for target in inner[module]:
            visit(target, [*path, module])
        done.add(module)

    for module in inner:
        visit(module, [])
