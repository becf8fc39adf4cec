"""The flow checker as admins meet it: each problem at its line, node and field, on a corpus
of broken flows (one per kind of problem), the same check as `ivr check-flows`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ivr.config import ROOT
from ivr.flowcheck import Lines, parse_problem
from ivr.services.flow_admin import validate_yaml
from ivr.versions import FlowLibrary, read_criteria

CORPUS = ROOT / "tests" / "data" / "broken_flows"
BROKEN = sorted(p for p in CORPUS.glob("*.yaml") if p.stem not in ("prompts", "valid"))
EXPECT = re.compile(r"^# expect: line (\d+), node (\S+), field (\S+): (.+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def library() -> FlowLibrary:
    return FlowLibrary(ROOT / "flows", ROOT / "prompts", ROOT / "data")


@pytest.fixture(scope="module")
def content() -> dict[str, Any]:
    """A bundle of no flows yet, with the corpus's prompts in English and Spanish."""
    return {
        "flows": {},
        "files": {},
        "sources": {},
        "prompts": yaml.safe_load((CORPUS / "prompts.yaml").read_text(encoding="utf-8")),
        "criteria": read_criteria(ROOT / "data"),
    }


def test_the_flow_the_corpus_breaks_has_no_problems(
    library: FlowLibrary, content: dict[str, Any]
) -> None:
    text = (CORPUS / "valid.yaml").read_text(encoding="utf-8")
    assert validate_yaml("main", text, library=library, content=content) == []


def test_every_kind_of_problem_has_a_broken_flow() -> None:
    kinds = {p.stem for p in BROKEN}
    assert kinds >= {
        "syntax_error",
        "schema_error",
        "unknown_kind",
        "unknown_field",
        "dangling_next",
        "unreachable_node",
        "dead_end",
        "missing_prompt",
        "unknown_action",
        "unknown_catalog",
        "unknown_queue",
        "unknown_slot",
        "unfillable_placeholder",
        "menu_missing_option",
    }


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_a_broken_flow_is_reported_at_its_line_and_node(
    path: Path, library: FlowLibrary, content: dict[str, Any]
) -> None:
    text = path.read_text(encoding="utf-8")
    expected = EXPECT.search(text)
    assert expected, f"{path.name} needs an '# expect:' line"
    line, node, fld, message = expected.groups()
    problems = validate_yaml("main", text, library=library, content=content)
    assert problems, f"{path.name} passed the checks"
    found = [
        p
        for p in problems
        if p.line == int(line)
        and p.node == (None if node == "-" else node)
        and p.field == (None if fld == "-" else fld)
        and message in p.message
    ]
    assert found, problems
    assert all(p.file == "flows/main.yaml" for p in problems)
    # The line is where an admin would look: the node's key, or the field's under it.
    written = text.splitlines()[int(line) - 1].strip()
    if node != "-" and fld == "-":
        assert written.startswith(f"{node}:")
    elif fld != "-" and fld.split(".")[-1] in written:
        assert written.startswith(fld.split(".")[-1])


def test_problems_the_checkers_write_come_apart_into_file_node_field_and_message() -> None:
    p = parse_problem("flows/main.yaml: node 'main.menu' field 'options.1': needs a next node")
    assert (p.file, p.node, p.field, p.message) == (
        "flows/main.yaml",
        "main.menu",
        "options.1",
        "needs a next node",
    )
    p = parse_problem("prompts/es-US.yaml: missing key 'system.no_input' the engine needs")
    assert (p.file, p.node, p.field) == ("prompts/es-US.yaml", None, None)


def test_a_field_below_a_node_is_found_at_its_own_line() -> None:
    text = (CORPUS / "valid.yaml").read_text(encoding="utf-8")
    lines = Lines(text)

    def at(node: str | None, fld: str | None) -> str:
        found = lines.find(node, fld)
        assert found is not None
        return text.splitlines()[found - 1].strip()

    assert at("menu", "options.2.next").startswith('"2"')
    assert at("menu", None) == "menu:"
    assert at("menu", "attempts") == "menu:"  # not written: the node
    assert at(None, "defaults.on_fail") == "on_fail: agent"
    assert lines.find("nowhere", "prompt") is None
