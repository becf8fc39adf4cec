"""Publishing: flows, prompts and criteria checked together and stored as one version.

Nothing becomes current unless the exact content every process will load has compiled and
every node's prompts have rendered in every language, so a publish cannot take the line
down. `ivr check-flows` runs the same checks on the files.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.engine import Bundle, FlowError, Prompts
from ivr.engine.graph import PROMPT_FIELDS, Node, problem
from ivr.store.models import FlowVersion
from ivr.versions import (
    FlowLibrary,
    Published,
    checksum,
    criteria_of,
    prompts_of,
    read_criteria,
    read_flow_files,
    read_prompt_tables,
)

# Sample values a prompt is rendered with; the format specs (`digits`, `groups`, `date`) need
# something shaped like what a call would hold.
_SAMPLE = "2026-01-02"


def read_files(library: FlowLibrary) -> dict[str, Any]:
    """The bundle on disk, exactly as a version would store it (JSON in, JSON out)."""
    docs, files = read_flow_files(library.flows_dir)
    content = {
        "flows": docs,
        "files": files,
        # Each flow's YAML text: what admins see and problems are placed in by line.
        "sources": {
            name: (library.flows_dir.parent / file).read_text(encoding="utf-8")
            for name, file in files.items()
        },
        "prompts": read_prompt_tables(library.prompts_dir),
        "criteria": read_criteria(library.data_dir),
    }
    # The store keeps JSON: `1:` becomes "1", dates become text. Check what will be loaded.
    loaded: dict[str, Any] = json.loads(json.dumps(content, default=str))
    return loaded


def bundle_checksum(content: Mapping[str, Any]) -> str:
    """One checksum over flows, prompts and criteria together, and the flows' YAML text
    when it is kept (a changed comment is a change an admin can see and roll back)."""
    return checksum(
        {k: content[k] for k in ("flows", "prompts", "criteria", "sources") if k in content}
    )


def verify(library: FlowLibrary, content: Mapping[str, Any]) -> Published:
    """Check, load and render a bundle; FlowError names every problem (flow, node, key,
    language). What it returns is what every process will serve once it is published."""
    problems: list[str] = []
    prompts = prompts_of(content["prompts"])
    try:
        criteria = criteria_of(content["criteria"])
    except FlowError as exc:
        problems += exc.problems
    try:
        bundle = library.compile(content["flows"], content["files"], prompts)
    except FlowError as exc:
        problems += exc.problems
    else:
        problems += rendering_problems(bundle, prompts)
    if problems:
        raise FlowError(problems)
    return Published(0, bundle_checksum(content), bundle, prompts, criteria)


def publish_files(
    session: so.Session, library: FlowLibrary, *, by: str = "files", force: bool = False
) -> FlowVersion | None:
    """Publish flows/, prompts/ and the criteria as a new version unless they equal the last
    version published from files.

    Admin-published versions stay current until the files themselves change.
    """
    content = read_files(library)
    published = verify(library, content)
    last_from_files = session.scalars(
        sa.select(FlowVersion)
        .where(FlowVersion.source == "files")
        .order_by(FlowVersion.id.desc())
        .limit(1)
    ).first()
    if not force and last_from_files is not None and last_from_files.checksum == published.checksum:
        return None
    version = FlowVersion(
        source="files",
        checksum=published.checksum,
        content={k: content[k] for k in ("flows", "files", "sources")},
        prompts=content["prompts"],
        criteria=content["criteria"],
        created_by=by,
        note="published from flows/, prompts/ and data/criteria.yaml",
    )
    session.add(version)
    session.flush()
    return version


def _prompt_keys(node: Node) -> Iterator[tuple[str, str]]:
    for field in PROMPT_FIELDS:
        if isinstance(node.spec.get(field), str):
            yield field, node.spec[field]
    invalid = node.spec.get("invalid")
    if isinstance(invalid, str):
        yield "invalid", invalid
    elif isinstance(invalid, Mapping):
        yield from ((f"invalid.{k}", v) for k, v in invalid.items() if isinstance(v, str))


def rendering_problems(bundle: Bundle, prompts: Mapping[str, Prompts]) -> list[str]:
    """Render every node's prompts in every language with sample values: a text that still
    holds a brace, or says nothing, would be said wrongly to a caller. (A placeholder that
    nothing fills is the flow checker's: `ivr.engine.fillable`.)"""
    problems: list[str] = []
    for node in bundle.nodes.values():
        file = bundle.files.get(node.flow, f"flows/{node.flow}.yaml")
        for field, key in _prompt_keys(node):
            for language, table in sorted(prompts.items()):
                if key not in table:
                    continue  # the compiler names a key missing in a language
                text = table.text(key)
                try:
                    used = [n for _, n, _, _ in string.Formatter().parse(text) if n]
                except ValueError:
                    continue  # the compiler names a malformed prompt
                said = table.render(key, dict.fromkeys(used, _SAMPLE))
                if text.strip() and (not said or "{" in said or "}" in said):
                    where = f"prompt '{key}' in {language}"
                    problems.append(problem(file, node.id, field, f"{where} cannot be rendered"))
    return problems
