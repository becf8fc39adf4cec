"""The flow checker as admins meet it: each problem at its line, node and field, on a corpus
of broken flows (one per kind of problem), the same check as `ivr check-flows`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from flask.testing import FlaskCliRunner

from ivr.config import ROOT
from ivr.engine.problems import Lines, parse_problem
from ivr.services.flow_admin import validate_yaml
from ivr.store.models import FlowDraft
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


# --- the command line: check-flows, flows export and import --------------------------------


def test_check_flows_names_the_line_of_each_problem(runner: FlaskCliRunner, tmp_path: Path) -> None:
    flows = Path(shutil.copytree(ROOT / "flows", tmp_path / "flows"))
    main = flows / "main.yaml"
    text = main.read_text(encoding="utf-8").replace("next: select_plan}", "next: select_plann}", 1)
    main.write_text(text, encoding="utf-8")
    line = next(i for i, x in enumerate(text.splitlines(), 1) if "select_plann" in x)
    result = runner.invoke(args=["check-flows", "--dir", str(flows)])
    assert result.exit_code == 1
    assert (
        f"flows/main.yaml: node 'main.greeting' field 'next': names unknown node "
        f"'main.select_plann' (line {line})"
    ) in result.output


def test_export_writes_the_published_yaml_and_import_makes_a_draft(
    runner: FlaskCliRunner, tmp_path: Path, session: Any
) -> None:
    exported = runner.invoke(args=["flows", "export", "main"])
    assert exported.exit_code == 0
    assert exported.output == (ROOT / "flows" / "main.yaml").read_text(encoding="utf-8")
    target = tmp_path / "main.yaml"
    assert (
        runner.invoke(
            args=["flows", "export", "main", "--version", "1", "-o", str(target)]
        ).exit_code
        == 0
    )
    assert target.read_text(encoding="utf-8") == exported.output

    target.write_text(exported.output.replace("next: select_plan}", "next: nowhere}", 1))
    imported = runner.invoke(args=["flows", "import", str(target), "--by", "dana"])
    assert imported.exit_code == 1  # saved, with its problems by line
    line = next(i for i, x in enumerate(target.read_text().splitlines(), 1) if "nowhere" in x)
    assert (
        f"flows/main.yaml:{line}: node 'greeting' field 'next': names unknown node 'main.nowhere'"
        in imported.output
    )
    session.rollback()
    draft = session.scalars(sa.select(FlowDraft)).one()
    assert (draft.name, draft.base_version, draft.updated_by) == ("main", 1, "dana")
    assert "next: nowhere}" in draft.text

    target.write_text(exported.output)
    fixed = runner.invoke(args=["flows", "import", str(target)])
    assert fixed.exit_code == 0 and "no problems" in fixed.output

    missing = runner.invoke(args=["flows", "export", "nope"])
    assert missing.exit_code != 0 and "no flow 'nope'" in missing.output
