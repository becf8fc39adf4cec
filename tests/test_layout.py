"""Where things go: the business acts stand on the store alone, and no package imports in a
circle. Read from the source and from a fresh interpreter, never from the app."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IVR = ROOT / "ivr"

# What a business act (a module of ivr.services) may load of ivr besides the bare package:
# the store, the matchers, the criteria, the engine's plain types, the settings, the rule for
# safe text (ivr.safetext: no control characters, itself importing nothing). Never a web
# door (voice, api), the flow actions that call it, the CLI, or the flow versions.
BUSINESS_ACTS_STAND_ON = (
    "ivr.config",
    "ivr.services",
    "ivr.store",
    "ivr.match",
    "ivr.criteria",
    "ivr.engine",
    "ivr.safetext",
)

LOADED_BY_EACH = """
import importlib, json, pkgutil, sys
import ivr.services
loaded = {}
for info in sorted(pkgutil.iter_modules(ivr.services.__path__), key=lambda i: i.name):
    before = set(sys.modules)
    name = "ivr.services." + info.name
    importlib.import_module(name)
    loaded[name] = sorted(set(sys.modules) - before)
print(json.dumps(loaded))
"""


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def loaded_by_business_acts() -> dict[str, list[str]]:
    """Each business-act module -> the modules importing it loaded first (in a new process)."""
    loaded: dict[str, list[str]] = json.loads(_python(LOADED_BY_EACH))
    return loaded


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_there_are_business_acts_to_check(loaded_by_business_acts: dict[str, list[str]]) -> None:
    assert {"ivr.services.orders", "ivr.services.portal", "ivr.services.messaging"} <= set(
        loaded_by_business_acts
    )


def test_business_acts_import_nothing_above_the_store(
    loaded_by_business_acts: dict[str, list[str]],
) -> None:
    above = {
        act: [m for m in loaded if m.startswith("ivr.") and not _within(m, BUSINESS_ACTS_STAND_ON)]
        for act, loaded in loaded_by_business_acts.items()
    }
    assert {act: mods for act, mods in above.items() if mods} == {}


def test_business_acts_import_no_flask(loaded_by_business_acts: dict[str, list[str]]) -> None:
    web = {
        act: [m for m in loaded if m.split(".")[0] in ("flask", "werkzeug")]
        for act, loaded in loaded_by_business_acts.items()
    }
    assert {act: mods for act, mods in web.items() if mods} == {}


# --- no import cycles ------------------------------------------------------------------------


def _modules() -> dict[str, Path]:
    found = {}
    for path in IVR.rglob("*.py"):
        if "migrations" in path.parts:  # Alembic loads these by path, never by import
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.Module) -> Iterator[str]:
    """Every module name an import anywhere in the file may load (in functions too: a lazy
    import is still a dependency), except under `if TYPE_CHECKING:`."""
    hidden = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _type_checking(node)
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """ivr's modules -> the ivr modules they import. A package importing its own submodules
    is the package putting itself together (the app factory, a blueprint and its routes),
    not a dependency: those edges are left out."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target in _imported(ast.parse(path.read_text(), str(path))):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not target.startswith(name + "."):
                graph[name].add(target)
    return graph


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same between ivr's packages and top-level modules (`ivr.services`, `ivr.voice`)."""

    def unit(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for source, targets in graph.items():
        if source == "ivr":
            continue
        packages.setdefault(unit(source), set()).update(
            unit(t) for t in targets if t != "ivr" and unit(t) != unit(source)
        )
    return packages


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each set of nodes that reach one another (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_two_modules_of_ivr_import_each_other() -> None:
    assert cycles(import_graph()) == []


def test_no_two_packages_of_ivr_import_each_other() -> None:
    assert cycles(package_graph(import_graph())) == []


def test_the_cycle_check_sees_lazy_imports_and_not_type_checking_ones() -> None:
    code = (
        "if TYPE_CHECKING:\n    from ivr.engine import runtime\n"
        "def retry_due():\n    from ivr.services import portal\n"
    )
    assert set(_imported(ast.parse(code))) == {"ivr.services", "ivr.services.portal"}
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
