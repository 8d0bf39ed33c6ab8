"""Dependencies run one way (STYLE.md): common <- events <- reports <- notifications, and beside notifications, over
reports, the schedules and the GraphQL API (graphapi). A module that imports against
that direction, anywhere in it (a function's own import too), fails here, as does an import cycle between modules."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Each package, and the project packages it must never import.
FORBIDDEN = {
    "common": {"events", "reports", "notifications", "schedules", "graphapi", "reportsite"},
    "events": {"reports", "notifications", "schedules", "graphapi", "reportsite"},
    "reports": {"notifications", "schedules", "graphapi", "reportsite"},
    "notifications": {"schedules", "graphapi", "reportsite"},
    "schedules": {"notifications", "graphapi", "reportsite"},
    "graphapi": {"notifications", "schedules", "reportsite"},
}


def _modules(package: str) -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(path: Path, *, module_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_lower_layer_imports_nothing_from_the_layers_above_it(package):
    offending = []
    for module, path in _modules(package).items():
        for name in _imports(path):
            if name.split(".")[0] in FORBIDDEN[package]:
                offending.append(f"{module} imports {name}")
    assert offending == []


def test_the_check_sees_a_forbidden_import(tmp_path):
    # The check itself: a module of reports that imports notifications is caught.
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from notifications.webhooks import services\n")
    assert {name.split(".")[0] for name in _imports(module)} & FORBIDDEN["reports"] == {"notifications"}


def test_no_two_modules_import_each_other_at_load_time():
    project = {}
    for package in ("common", "events", "reports", "notifications", "schedules", "graphapi", "reportsite"):
        project.update(_modules(package))
    graph = {
        module: {name for name in _imports(path, module_level_only=True) if name in project and name != module}
        for module, path in project.items()
    }
    cycles = []
    for module, targets in graph.items():
        for target in targets:
            # A cycle through a package's __init__ re-export would show here too; there are none.
            if module in _reachable(graph, target):
                cycles.append(f"{module} -> {target}")
    assert cycles == []


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, pending = set(), [start]
    while pending:
        module = pending.pop()
        for target in graph.get(module, ()):
            if target not in seen:
                seen.add(target)
                pending.append(target)
    return seen
