"""The locks install what pyproject.toml declares, and the code imports only what it declares."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;\\]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        match = PIN.match(line.strip())
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def lock(name: str) -> dict[str, str]:
    return pins((ROOT / name).read_text().splitlines())


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_every_direct_dependency_is_pinned_exactly_and_locked_at_that_version():
    declared = project()["dependencies"]
    direct = pins(declared)
    assert len(direct) == len(declared), "every dependency in pyproject.toml is pinned with =="
    runtime = lock("requirements.txt")
    assert {name: runtime.get(name) for name in direct} == direct


def test_the_dev_lock_holds_the_runtime_lock_at_the_same_versions():
    runtime, dev = lock("requirements.txt"), lock("requirements-dev.txt")
    assert {name: dev.get(name) for name in runtime} == runtime
    extras = pins(project()["optional-dependencies"]["dev"])
    assert {name: dev.get(name) for name in extras} == extras


def test_every_locked_package_carries_a_hash():
    for name in ("requirements.txt", "requirements-dev.txt"):
        text = (ROOT / name).read_text()
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n\n", 1)[-1].strip())
        for block in blocks:
            if PIN.match(block):
                assert "--hash=sha256:" in block, f"{name}: {block.splitlines()[0]}"


def test_every_third_party_import_in_ivr_is_a_declared_dependency():
    declared = set(pins(project()["dependencies"]))
    distributions = packages_distributions()
    missing = set()
    for path in (ROOT / "ivr").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "ivr" or top in sys.stdlib_module_names:
                    continue
                dists = {canonical(d) for d in distributions.get(top, [top])}
                if not dists & declared:
                    missing.add(f"{path.relative_to(ROOT)}: {top}")
    assert not missing, sorted(missing)
