"""The layering of docs/architecture.md: pure layers never import the I/O shell or asyncio,
and no module imports one above it."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "pyinetd"

# module -> pyinetd modules it may import (prefix match on the dotted name)
ALLOWED = {
    "errors": set(),
    "model": {"errors"},
    "config": {"model", "errors", "config"},
    "limits": {"model", "errors"},
    "access": {"model", "errors"},
    "reload": {"model", "errors"},
    "builtins": {"model", "errors", "builtins"},
    "net": {"model", "errors"},
    "spawn": {"model", "errors"},
    "logsetup": set(),
    "proctitle": set(),
    "daemon": {"errors"},
    "signals": set(),
}
PURE = {"errors", "model", "config", "limits", "access", "reload"}
IO_MODULES = {"asyncio", "subprocess", "socket", "selectors"}
# Lookups in the services and host databases go through `socket` without doing socket I/O;
# they sit behind the resolver's Protocol so the parser itself stays pure.
LOOKUPS = {"config/resolve.py": {"socket"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    # Imports only for the type checker create no runtime dependency.
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "pyinetd":
                names.update(f"pyinetd.{a.name}" for a in node.names)
            else:
                names.add(node.module)
    return names


def _top(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    return rel.parts[0]


def test_layers_hold() -> None:
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        top = _top(path)
        if top not in ALLOWED:
            continue
        for name in _imports(path):
            if name.startswith("pyinetd."):
                dep = name.split(".")[1]
                if dep != top and dep not in ALLOWED[top]:
                    problems.append(f"{path.name}: {top} imports {name}")
            elif (
                top in PURE
                and name.split(".")[0] in IO_MODULES
                and name not in LOOKUPS.get(str(path.relative_to(SRC)), set())
            ):
                problems.append(f"{path.name}: pure layer {top} imports {name}")
    assert problems == []


def test_every_module_has_a_docstring() -> None:
    missing = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if p.name != "__main__.py" and ast.get_docstring(ast.parse(p.read_text())) is None
    ]
    assert missing == []
