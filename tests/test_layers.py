"""The layers' import rules: arrows point down only (README, "Where things are").

- `idp/web` (the Quart blueprints) never imports `idp.store`: it calls use cases, which app.py
  hands each blueprint (no global `services()` lookup, so no import of `idp.services` either).
- The use cases (`idp/signin`, `idp/nox`, `idp/admin`) and the protocol code (`idp/oauth`) never
  import a web framework, and the protocol code reaches storage only through its ports.
- `idp.store` imports nothing above it.
- The sandbox plays NOX: it talks to us over HTTP only, so nothing it imports, however
  indirectly, is our store.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "idp"
WEB_FRAMEWORKS = ("quart", "werkzeug", "hypercorn")
ABOVE_STORE = ("idp.web", "idp.signin", "idp.nox", "idp.oauth", "idp.admin", "idp.cli", "idp.app")

# (package, forbidden import prefixes, whether the rule follows imports transitively)
RULES: list[tuple[str, tuple[str, ...], bool]] = [
    ("idp.web", ("idp.store", "idp.services"), False),
    ("idp.oauth", (*WEB_FRAMEWORKS, "idp.store", "idp.web"), False),
    ("idp.signin", (*WEB_FRAMEWORKS, "idp.web"), False),
    ("idp.nox", (*WEB_FRAMEWORKS, "idp.web"), False),
    ("idp.admin", (*WEB_FRAMEWORKS, "idp.web"), False),
    ("idp.store", ABOVE_STORE, False),
    ("idp.sandbox", ("idp.store",), True),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool = False) -> Iterator[str]:
    """Every module `source` imports, anywhere in it (functions included), absolute."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            yield name
            yield from (f"{name}.{alias.name}" for alias in node.names)


def all_imports() -> dict[str, set[str]]:
    return {
        module_name(path): set(
            imports_of(path.read_text(), module_name(path), path.name == "__init__.py")
        )
        for path in PACKAGE.rglob("*.py")
    }


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """The modules of ours that `start` imports, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for name in graph.get(todo.pop(), ()):
            for module in graph:
                if within(name, module) and module not in seen:
                    seen.add(module)
                    todo.append(module)
    return seen


def violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for package, forbidden, transitive in RULES:
        for module in sorted(m for m in graph if within(m, package)):
            names = reachable(graph, module) if transitive else graph[module]
            for name in sorted(names):
                if any(within(name, prefix) for prefix in forbidden):
                    found.append(f"{module} imports {name}")
    return found


def test_layers_keep_their_rules() -> None:
    assert violations(all_imports()) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"idp.web.x": {"idp.store.users"}}, ["idp.web.x imports idp.store.users"]),
        ({"idp.oauth.x": {"quart.Response"}}, ["idp.oauth.x imports quart.Response"]),
        (
            {"idp.sandbox.a": {"idp.demo"}, "idp.demo": {"idp.store"}, "idp.store": set()},
            ["idp.sandbox.a imports idp.store"],
        ),
        ({"idp.web.x": {"idp.signin.window"}, "idp.signin.window": {"idp.store"}}, []),
    ],
)
def test_the_check_finds_what_it_should(graph: dict[str, set[str]], expected: list[str]) -> None:
    assert violations(graph) == expected


def test_relative_imports_are_resolved() -> None:
    assert "idp.store.users" in set(imports_of("from ..store import users", "idp.web.x"))
