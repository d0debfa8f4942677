"""The shape of the `harness` package: no import cycles, no private names across modules, small units.

Read statically (with `ast`), so a lazy import inside a function counts as much
as one at the top of a module: both make one module depend on another.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "harness"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _trees() -> dict[str, ast.Module]:
    return {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


TREES = _trees()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _imports(module: str) -> set[str]:
    """The harness modules ``module`` imports (anywhere in it), as dotted names present in the package."""
    found: set[str] = set()
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module and name != "harness":
                found.add(name)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _cycle_through(start: str) -> list[str] | None:
    """A shortest import cycle from ``start`` back to it, or None."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target in sorted(GRAPH[module]):
                if target == start:
                    return paths[module] + [start]
                if target not in paths:
                    paths[target] = paths[module] + [target]
                    following.append(target)
        frontier = following
    return None


def _is_package_edge(importer: str, imported: str) -> bool:
    """A package's ``__init__`` importing its own submodules (its export layer) is not a dependency cycle."""
    return MODULES[importer].name == "__init__.py" and imported.startswith(importer + ".")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_on_no_import_cycle(module: str) -> None:
    cycle = _cycle_through(module)
    if cycle is not None and any(_is_package_edge(a, b) for a, b in zip(cycle, cycle[1:])):
        cycle = None
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_no_private_name_of_another(module: str) -> None:
    private = []
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.ImportFrom) and _resolve(module, node).startswith("harness"):
            private += [f"{_resolve(module, node)}.{a.name}" for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
    assert not private, f"{module} imports private names: {', '.join(private)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_at_most_600_lines(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{MODULES[module]} has {lines} lines"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_functions_are_at_most_80_lines(module: str) -> None:
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(TREES[module])
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{module}: " + ", ".join(long)
