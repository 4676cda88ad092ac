"""The architecture stays as ARCHITECTURE.md draws it: no import cycle between edgec's modules
(imports inside functions count; those under ``if TYPE_CHECKING:`` do not) nor between its
packages, layers that import only downwards, and no module over 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "edgec"

# Bottom to top. A module may import its own layer's modules (without a cycle) and lower
# layers' modules, never a higher layer's (ARCHITECTURE.md).
LAYERS = [
    ("errors", "resources", "version", "outdir", "protocol", "metrics"),
    ("ir",),
    ("ops",),
    (
        "frontend",
        "interp",
        "data",
        "artifact",
        "options",
        "targets",
        "target_uart",
        "linux_targets",
        "reports",
    ),
    ("passes", "quantize", "analysis"),
    ("compress",),
    ("backends.c", "backends.tvm"),
    ("compiler", "support"),
    ("firmware",),
    ("harness",),
    ("tune",),
    ("cli_common",),
    ("cli_build", "cli_tune"),
    ("cli", "__main__", ""),  # "" is the package's lazy __init__
]
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node, skipping ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if _type_checking(node):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def _resolve(name: str) -> str | None:
    """The edgec module an import names (``edgec.x.y`` or its nearest package)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = graph.setdefault(name, set())
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                # ``from pkg import sub`` imports the module pkg.sub; ``from mod import name``
                # imports mod
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                    for a in node.names
                ]
            for target in targets:
                if target.startswith("edgec") and (found := _resolve(target)) not in (None, name):
                    edges.add(found)
    return graph


def package_of(module: str) -> str:
    """``edgec.backends.c.lower`` → ``backends.c``; ``edgec.ops.integer.linear`` → ``ops``."""
    parts = module.split(".")[1:]
    if parts[:1] == ["backends"] and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0] if parts else ""


def layer_of(module: str) -> int:
    package = package_of(module)
    for index, names in enumerate(LAYERS):
        if package in names:
            return index
    raise AssertionError(f"{module} belongs to no layer: add its package to LAYERS")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_cycle_between_modules():
    assert cycles(import_graph()) == []


def test_no_cycle_between_packages():
    packages: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        edges = packages.setdefault(package_of(module), set())
        edges |= {package_of(t) for t in targets} - {package_of(module)}
    assert cycles(packages) == []


def test_layers_import_only_downwards():
    upward = [
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        for target in targets
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_backends_import_neither_each_other_nor_the_orchestrator():
    graph = import_graph()
    for module, targets in graph.items():
        if package_of(module).startswith("backends."):
            own = package_of(module)
            assert not {t for t in targets if package_of(t).startswith("backends.")} - {
                t for t in targets if package_of(t) == own
            }, module
            assert not {t for t in targets if package_of(t) == "compiler"}, module


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module):
    lines = MODULES[module].read_text().count("\n")
    assert lines <= MAX_LINES, f"{module}: {lines} lines (split it by family or responsibility)"


def test_manifest_json_is_named_in_one_module():
    naming = [m for m, p in MODULES.items() if "manifest.json" in p.read_text()]
    assert naming == ["edgec.artifact"]
