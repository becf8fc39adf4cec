"""Admins change the line: drafts of one flow or one language's prompts, checked on save,
published as a new bundle version, diffed and rolled back.

A published version stays a whole bundle (`FlowVersion`: flows, prompts and criteria under
one checksum). Publishing one flow (or one language's prompts) makes a new version: the
newest published bundle with that part replaced, checked by `FlowLibrary.verify` (compiled,
every node rendered in every language) before it becomes current. A flow's
`published_version` is the newest version in which that flow changed; a draft saved on an
older one is refused (`StaleDraft`), so the second of two admins cannot overwrite the first's
publish unseen. An invalid draft is kept: work is not lost.

The prompts' half lives in `ivr.services.prompt_admin` and what both share in
`ivr.services.drafting`; everything is reached from here.

Like every service: a Session first, nothing from Flask, never a commit.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import sqlalchemy as sa
import sqlalchemy.orm as so
import yaml

from ivr.engine.problems import Problem, yaml_problem
from ivr.services.drafting import (
    FLOW,
    FLOW_NAME,
    MAX_TEXT,
    DraftChanged,
    DraftInfo,
    DraftInvalid,
    FlowDetail,
    FlowSummary,
    NoDraft,
    NotFound,
    PromptDraftInfo,
    PromptsDetail,
    StaleDraft,
    VersionInfo,
    bundle_of,
    check_base,
    draft_of,
    flow_yaml,
    library_or_app,
    load_history,
    newest_row,
    part_key,
    problems_of,
    publish_bundle,
    revision,
    store_draft,
    unified_diff,
    version_row,
    versions_of,
)
from ivr.services.prompt_admin import (
    get_prompts,
    languages,
    prompt_diff,
    prompt_problems,
    prompt_versions,
    publish_prompts,
    rollback_prompts,
    save_prompt_draft,
)
from ivr.store.models import FlowDraft

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ivr.versions import FlowLibrary

__all__ = [
    "DraftChanged",
    "DraftInfo",
    "DraftInvalid",
    "FlowDetail",
    "FlowSummary",
    "NoDraft",
    "NotFound",
    "Problem",
    "PromptDraftInfo",
    "PromptsDetail",
    "StaleDraft",
    "VersionInfo",
    "diff",
    "flow_text",
    "get_flow",
    "get_prompts",
    "languages",
    "list_flows",
    "prompt_diff",
    "prompt_problems",
    "prompt_versions",
    "publish",
    "publish_prompts",
    "published_version",
    "rollback",
    "rollback_prompts",
    "save_draft",
    "save_prompt_draft",
    "validate_yaml",
    "versions",
]


def validate_yaml(
    name: str,
    yaml_text: str,
    *,
    library: FlowLibrary | None = None,
    content: Mapping[str, Any] | None = None,
    session: so.Session | None = None,
) -> list[Problem]:
    """The problems of flow `name` written as `yaml_text`, checked with the rest of the
    bundle (`content`, or the newest published one through `session`): the checks of
    `ivr check-flows`, each at its line, node and field."""
    library = library_or_app(library)
    if content is None:
        if session is None:
            raise ValueError("validate_yaml needs the bundle's content or a session")
        content = bundle_of(newest_row(session), library)
    file = (content.get("files") or {}).get(name) or f"flows/{name}.yaml"
    try:
        doc = library.parse(yaml_text)
    except yaml.YAMLError as exc:
        return [yaml_problem(file, exc)]
    changed = {
        **content,
        "flows": {**content["flows"], name: doc},
        "files": {**(content.get("files") or {}), name: file},
        "sources": {**(content.get("sources") or {}), name: yaml_text},
    }
    return library.check(changed).problems


def list_flows(session: so.Session) -> list[FlowSummary]:
    """Every flow of the newest version and every drafted one, by name."""
    history = load_history(session)
    newest = newest_row(session)
    drafts = {
        d.name: d for d in session.scalars(sa.select(FlowDraft).where(FlowDraft.kind == FLOW))
    }
    by_id = {r.id: r for r in history.rows}
    out = []
    for name in sorted(set(newest.content["flows"]) | set(drafts)):
        published = history.published(part_key(FLOW, name))
        draft = drafts.get(name)
        row = by_id.get(published)
        at, who = (row.created_at, row.created_by) if row else (None, None)
        if draft is not None and (at is None or draft.updated_at > at):
            at, who = draft.updated_at, draft.updated_by
        out.append(FlowSummary(name, published, draft is not None, at, who))
    return out


def get_flow(session: so.Session, name: str) -> FlowDetail:
    """The published YAML of a flow and its draft, if any; NotFound for neither."""
    newest = newest_row(session)
    draft = draft_of(session, FLOW, name)
    if name not in newest.content["flows"] and draft is None:
        raise NotFound(f"no flow {name!r}")
    published = load_history(session).published(part_key(FLOW, name))
    text = flow_yaml(newest, name) if name in newest.content["flows"] else ""
    info = None
    if draft is not None:
        info = DraftInfo(
            draft.text,
            draft.base_version,
            problems_of(draft.problems),
            draft.updated_at,
            draft.updated_by,
            revision(draft),
        )
    return FlowDetail(name, published, text, info)


def published_version(session: so.Session, name: str) -> int:
    """The newest version in which flow `name` changed (0: never published)."""
    return load_history(session).published(part_key(FLOW, name))


def flow_text(session: so.Session, name: str, version: int | None = None) -> str:
    """Flow `name`'s YAML as published (or in `version`); NotFound when it has none."""
    row = newest_row(session) if version is None else version_row(session, version)
    return flow_yaml(row, name)


def save_draft(
    session: so.Session,
    name: str,
    yaml_text: str,
    base_version: int,
    by: str,
    *,
    library: FlowLibrary | None = None,
    seen: str | None = None,
) -> list[Problem]:
    """Keep `yaml_text` as the draft of flow `name` (a new flow: base_version 0) and return
    its problems; StaleDraft when `base_version` is not the flow's published version, and
    DraftChanged (a StaleDraft) when `seen`, the draft revision the text was opened from
    ("" for none), is no longer the draft's: two admins never overwrite each other."""
    if not FLOW_NAME.match(name):
        raise NotFound(f"{name!r} is not a flow name (lower-case letters, digits, _)")
    if len(yaml_text) > MAX_TEXT:
        raise ValueError(f"a flow's YAML is at most {MAX_TEXT} characters")
    check_base(session, FLOW, name, base_version)
    problems = validate_yaml(name, yaml_text, library=library, session=session)
    store_draft(session, FLOW, name, yaml_text, base_version, problems, by, seen=seen)
    return problems


def publish(
    session: so.Session,
    name: str,
    comment: str,
    by: str,
    *,
    library: FlowLibrary | None = None,
) -> int:
    """Publish flow `name`'s draft as a new version (its id); DraftInvalid, NoDraft or
    StaleDraft leave everything as it was."""
    library = library_or_app(library)
    draft = draft_of(session, FLOW, name)
    if draft is None:
        raise NoDraft(f"flow {name!r} has no draft to publish")
    check_base(session, FLOW, name, draft.base_version)
    problems = validate_yaml(name, draft.text, library=library, session=session)
    if problems:
        raise DraftInvalid(problems)
    content = bundle_of(newest_row(session), library)
    content["flows"][name] = library.parse(draft.text)
    content["files"].setdefault(name, f"flows/{name}.yaml")
    content["sources"][name] = draft.text
    version = publish_bundle(session, library, content, comment, by)
    session.delete(draft)
    session.flush()
    return version


def versions(session: so.Session, name: str, *, all_versions: bool = False) -> list[VersionInfo]:
    """The versions in which flow `name` changed, newest first (with `all_versions`, every
    version holding it, `changed` telling which)."""
    found = versions_of(session, part_key(FLOW, name), all_versions)
    if not found:
        raise NotFound(f"no flow {name!r}")
    return found


def diff(session: so.Session, name: str, version_a: int, version_b: int) -> str:
    """A unified diff of flow `name` from `version_a` to `version_b` ("" when the same)."""
    a = flow_yaml(version_row(session, version_a), name)
    b = flow_yaml(version_row(session, version_b), name)
    return unified_diff(a, b, f"{name}@{version_a}", f"{name}@{version_b}")


def rollback(
    session: so.Session,
    name: str,
    version: int,
    by: str,
    *,
    library: FlowLibrary | None = None,
) -> int:
    """Publish flow `name` as it was in `version`, as a new version (its id)."""
    library = library_or_app(library)
    old = version_row(session, version)
    if name not in old.content["flows"]:
        raise NotFound(f"no flow {name!r} in version {version}")
    content = bundle_of(newest_row(session), library)
    content["flows"][name] = json.loads(json.dumps(old.content["flows"][name]))
    content["files"][name] = (old.content.get("files") or {}).get(name) or f"flows/{name}.yaml"
    content["sources"][name] = flow_yaml(old, name)
    return publish_bundle(session, library, content, f"rollback of {name} to version {version}", by)
