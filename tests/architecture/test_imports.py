"""The package's import structure, read from the source with ``ast``: no cycles, nothing imports upward."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[2] / "src"
PACKAGE = "meterkit"

#: what the layers may not import (prefixes of module names)
FORBIDDEN = {
    "meterkit.iec62056_21": (
        "meterkit.meter",
        "meterkit.transport",
        "meterkit.security",
        "meterkit.client",
        "meterkit.cli",
        "meterkit.headend",
        "meterkit.storage",
        "meterkit.analytics",
        "meterkit.host",
    ),
    "meterkit.security": (
        "meterkit.iec62056_21",
        "meterkit.meter",
        "meterkit.transport",
        "meterkit.cli",
        "meterkit.storage",  # its state goes through security.state.SecurityStore
    ),
    "meterkit.storage": ("meterkit.meter", "meterkit.security", "meterkit.iec62056_21", "meterkit.transport"),
    "meterkit.meter": ("meterkit.transport", "meterkit.cli", "meterkit.client", "meterkit.host", "meterkit.analytics"),
    "meterkit.transport": ("meterkit.meter", "meterkit.cli", "meterkit.host"),
    "meterkit.host": ("meterkit.cli",),
    "meterkit.loadprofile": ("meterkit.analytics", "meterkit.meter", "meterkit.cli", "meterkit.host"),
    "meterkit.analytics": ("meterkit.meter", "meterkit.cli", "meterkit.host", "meterkit.transport"),
    "meterkit.fleet": ("meterkit.cli", "meterkit.host", "meterkit.collector"),
    "meterkit.collector": ("meterkit.cli", "meterkit.host", "meterkit.meter", "meterkit.fleet"),
    "meterkit.headend": ("meterkit.meter", "meterkit.host", "meterkit.faces", "meterkit.cli"),
    "meterkit.mqtt_access": ("meterkit.meter", "meterkit.host", "meterkit.faces", "meterkit.headend", "meterkit.cli"),
}
#: known upward imports, each to be removed (this list may only shrink; it is empty now and should stay so)
KNOWN: frozenset[tuple[str, str]] = frozenset()


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every meterkit module ``path`` imports (also inside functions and TYPE_CHECKING blocks)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:  # ``from . import x`` may name a module
                sub = f"{target}.{alias.name}"
                found.add(sub if _exists(sub) else target)
    return found


def _exists(module: str) -> bool:
    path = SRC.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.joinpath(PACKAGE).rglob("*.py")}
    return {name: {t for t in _imports(path) if t in modules and t != name} for name, path in modules.items()}


def _without_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Package ``__init__`` re-exports are not dependencies of their own modules: drop edges into a package's
    ``__init__`` from modules of that package, and edges from an ``__init__`` to its own modules."""
    out: dict[str, set[str]] = {}
    for name, targets in graph.items():
        out[name] = {
            t for t in targets if not (name.startswith(t + ".") or (t.startswith(name + ".") and _exists_init(name)))
        }
    return out


def _exists_init(module: str) -> bool:
    return (SRC.joinpath(*module.split(".")) / "__init__.py").exists()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_is_read_from_the_source() -> None:
    graph = _graph()
    assert "meterkit.meter.virtual" in graph["meterkit.cli.serve"] or any(
        "meterkit.meter" in t for t in graph["meterkit.cli.serve"]
    )
    assert "meterkit.meter.catalogue" in graph["meterkit.meter.session"]


def test_no_import_cycles() -> None:
    assert _cycles(_without_packages(_graph())) == []


def test_the_session_does_not_import_the_virtual_meter() -> None:
    assert "meterkit.meter.virtual" not in _graph()["meterkit.meter.session"]


def test_nothing_imports_upward() -> None:
    graph = _graph()
    upward = sorted(
        (name, target)
        for name, targets in graph.items()
        for layer, banned in FORBIDDEN.items()
        if name == layer or name.startswith(layer + ".")
        for target in targets
        if any(target == b or target.startswith(b + ".") for b in banned)
    )
    assert [edge for edge in upward if edge not in KNOWN] == []
    assert sorted(KNOWN - set(upward)) == [], "an allowed exception is gone: remove it from KNOWN"
