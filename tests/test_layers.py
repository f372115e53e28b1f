"""The package's layers import only downward, and no module-level import circle exists.

Reads every module of ``modelpack/`` with ``ast`` (nothing is imported) and checks each import,
at module level and inside functions alike, against the layer table below: a function-level
import hides an upward arrow from the import-time order, not from the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "modelpack"

# Layer of each module or subpackage (the longest matching prefix wins), and what it may import.
LAYERS: dict[str, str] = {
    "modelpack": "facade",  # __init__: the lazy public API
    "modelpack.__main__": "cli",
    "modelpack.errors": "spine",
    "modelpack.config": "spine",
    "modelpack.progress": "spine",
    "modelpack.names": "spine",
    "modelpack.uri": "spine",
    "modelpack.digest": "spine",
    "modelpack.contents": "spine",
    "modelpack._fs": "spine",
    "modelpack._text": "spine",
    "modelpack._json": "spine",
    "modelpack._html": "spine",
    "modelpack.schema": "schema",
    "modelpack.safety": "safety",
    "modelpack.provenance": "provenance",
    "modelpack.package": "package",
    "modelpack.registry": "registry",
    "modelpack.serving": "serving",
    "modelpack.mlflow_runs": "mlflow_runs",
    "modelpack.target": "facade",
    "modelpack.api": "facade",
    "modelpack.model": "facade",
    "modelpack.registry_api": "facade",
    "modelpack.pyfunc_loader": "facade",
    "modelpack.render": "cli",
    "modelpack.cli": "cli",
}
MAY_IMPORT: dict[str, set[str]] = {
    "spine": {"spine"},
    "schema": {"spine", "schema"},
    "safety": {"spine", "safety"},
    "provenance": {"spine", "schema", "provenance"},
    "package": {"spine", "schema", "safety", "provenance", "package"},
    "registry": {"spine", "schema", "provenance", "package", "registry"},
    "serving": {"spine", "schema", "safety", "package", "serving"},
    "mlflow_runs": {"spine", "package", "mlflow_runs"},
    "facade": {
        "spine",
        "schema",
        "safety",
        "provenance",
        "package",
        "registry",
        "serving",
        "mlflow_runs",
        "facade",
    },
    "cli": {
        "spine",
        "schema",
        "safety",
        "provenance",
        "package",
        "registry",
        "serving",
        "mlflow_runs",
        "facade",
        "cli",
    },
}
PRESENTATION = ("typer", "rich", "click")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import in the file."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    target = child.module or ""
                # ``from pkg import sub`` imports the submodule when there is one.
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    found.append((sub if _is_module(sub) else target, child.lineno, top))
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                continue  # type-only imports draw no run-time arrow
            visit(child, top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    visit(ast.parse(path.read_text(encoding="utf-8")), True)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def _is_module(dotted: str) -> bool:
    if not dotted.startswith("modelpack"):
        return False
    rel = Path(*dotted.split("."))
    return (REPO_ROOT / rel).with_suffix(".py").is_file() or (REPO_ROOT / rel / "__init__.py").is_file()


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_layer_table_covers_every_module() -> None:
    for path in _sources():
        module = _module_name(path)
        assert any(module == p or module.startswith(p + ".") for p in LAYERS), module


def _upward(module: str, imports: list[tuple[str, int, bool]]) -> list[str]:
    layer = _layer(module)
    return [
        f"{module}:{line} ({layer}) imports {target} ({_layer(target)})"
        for target, line, _top in imports
        if target.startswith("modelpack.") and _layer(target) not in MAY_IMPORT[layer]
    ]


def _graph() -> dict[str, set[str]]:
    """Module-level imports between modelpack modules, with the package ``__init__``s they run."""
    graph: dict[str, set[str]] = {}
    for path in _sources():
        module = _module_name(path)
        edges = graph.setdefault(module, set())
        for target, _line, top in _imports(path):
            if not top or not target.startswith("modelpack."):
                continue
            chain = [target]
            parent = target.rpartition(".")[0]
            while parent != "modelpack":
                chain.append(parent)
                parent = parent.rpartition(".")[0]
            # A module's own packages are already running when it imports a sibling.
            edges.update(t for t in chain if t != module and not module.startswith(t + "."))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def walk(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt, [*trail, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            walk(start, [start])
    return cycles


def test_layers_import_only_downward() -> None:
    upward = [line for path in _sources() for line in _upward(_module_name(path), _imports(path))]
    assert upward == []


def test_nothing_below_the_cli_imports_typer_or_rich() -> None:
    offenders = []
    for path in _sources():
        module = _module_name(path)
        if _layer(module) == "cli":
            continue
        for target, line, _top in _imports(path):
            if target.split(".")[0] in PRESENTATION:
                offenders.append(f"{module}:{line} imports {target}")
    assert offenders == []


def test_no_import_circle_at_module_level() -> None:
    assert _cycles(_graph()) == []


def test_the_checks_find_what_they_look_for() -> None:
    # A function-level import counts as much as a module-level one.
    hidden = [("modelpack.registry.store", 3, False)]
    assert _upward("modelpack.schema.signature", hidden) == [
        "modelpack.schema.signature:3 (schema) imports modelpack.registry.store (registry)"
    ]
    assert _upward("modelpack.registry.store", [("modelpack.schema.compat", 1, True)]) == []
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
