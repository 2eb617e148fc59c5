"""The package's shape: modules small enough to read, and no import circle (at the top or inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "localregions"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = ["localregions", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


NAMES = {_module_name(p): p for p in MODULES}


def _imported_modules(path: Path) -> set[str]:
    """The package's modules ``path`` imports anywhere in it (function-level imports too), resolved to modules."""
    tree = ast.parse(path.read_text())
    package = _module_name(path).split(".") if path.name == "__init__.py" else _module_name(path).split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] if node.level else [])
            module = ".".join(part for part in (base, node.module or "") if part)
            candidates = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in candidates:
            while name and name not in NAMES:
                name = name.rpartition(".")[0]
            if name and name != _module_name(path):
                found.add(name)
    return found


def test_no_module_of_the_package_is_over_500_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in MODULES if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these by job: {long}"


def test_no_import_circle():
    graph = {name: _imported_modules(path) for name, path in NAMES.items()}
    # A package's __init__ may import its own modules, and they the package's siblings: not a circle of jobs.
    for name in graph:
        graph[name] = {m for m in graph[name] if not (name.startswith(m + ".") and NAMES[m].name == "__init__.py")}
    circles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                circles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert circles == [], f"import circles: {circles}"
