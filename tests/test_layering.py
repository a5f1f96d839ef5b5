"""Data flows one way: the CLI and the built-in plugins sit on the core, never the other way round.

Core modules import nothing from ``agybatch.builtin`` (plugins, which ``-p no:NAME``
can block) or ``agybatch.cli`` (one front end); the built-in plugins import
nothing from the CLI, and the CLI nothing from the plugins, so blocking a
plugin means the same thing in every command.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import agybatch

PACKAGE = Path(agybatch.__file__).parent


def imported_modules(source: str, package: str) -> set:
    """Absolute names of the agybatch modules ``source`` (a module of ``package``) imports, at the
    top level or inside functions."""
    tree = ast.parse(source)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "agybatch" or name.startswith("agybatch.")}


def layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    if parts[0] in ("builtin", "cli"):
        return parts[0]
    return "entry point" if parts == ("__main__.py",) else "core"


FORBIDDEN = {"core": ("agybatch.builtin", "agybatch.cli"), "builtin": ("agybatch.cli",), "cli": ("agybatch.builtin",)}
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if layer(p) in FORBIDDEN)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path):
    package = ".".join(("agybatch", *path.relative_to(PACKAGE).parent.parts))
    bad = sorted(name for name in imported_modules(path.read_text(), package)
                 if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer(path)]))
    assert bad == [], f"{layer(path)} module imports {bad}"


def test_the_check_sees_a_forbidden_import():
    """The walker finds imports inside functions and relative ones (so the test above can fail)."""
    source = "def f():\n    from ..builtin import durations\n    import agybatch.cli.main\n"
    assert {"agybatch.builtin.durations", "agybatch.cli.main"} <= imported_modules(source, "agybatch.report")
