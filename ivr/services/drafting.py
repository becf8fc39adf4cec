"""What admins' drafts of flows and prompts share: the drafts table, the history of each
part (a flow, a language's prompts) across bundle versions, and publishing a bundle with
one part replaced (see `ivr.services.flow_admin`).

Like every service: a Session first, nothing from Flask, never a commit.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.orm as so
import yaml

from ivr.engine.problems import Problem
from ivr.store.models import FlowDraft, FlowVersion, utcnow

if TYPE_CHECKING:
    from ivr.versions import FlowLibrary

FLOW, PROMPTS = "flow", "prompts"
FLOW_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
MAX_TEXT = 200_000  # characters of one flow's YAML


class NotFound(KeyError):
    """No flow (or language, or version) by that name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class StaleDraft(Exception):
    """The draft was edited from a version that is no longer the published one (409)."""

    def __init__(self, name: str, base_version: int, published_version: int) -> None:
        super().__init__(
            f"{name} was published as version {published_version} since this draft was "
            f"started from version {base_version}: reload it and apply the change again"
        )
        self.base_version = base_version
        self.published_version = published_version


class DraftChanged(StaleDraft):
    """Another save changed the draft since this text was opened from it (409): a second
    admin's save never overwrites the first's unseen."""

    def __init__(self, name: str, draft: FlowDraft) -> None:
        Exception.__init__(
            self,
            f"the draft of {name} was saved by {draft.updated_by or 'someone'} at "
            f"{draft.updated_at:%H:%M:%S} UTC since you opened it: reload it and apply your "
            "change again",
        )
        self.base_version = self.published_version = draft.base_version


def revision(draft: FlowDraft | None) -> str:
    """A draft's revision as the editor saw it ("" for no draft): changes with every save."""
    if draft is None:
        return ""
    return f"{draft.id}.{int(draft.updated_at.timestamp() * 1_000_000)}"


class DraftInvalid(Exception):
    """The draft has problems; nothing was published (422)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s); nothing was published")
        self.problems = problems


class NoDraft(LookupError):
    """There is no draft to publish."""


@dataclass(frozen=True)
class FlowSummary:
    name: str
    published_version: int  # 0: only a draft, never published
    has_draft: bool
    updated_at: dt.datetime | None
    updated_by: str | None


@dataclass(frozen=True)
class DraftInfo:
    yaml: str
    base_version: int
    problems: list[Problem]
    updated_at: dt.datetime
    updated_by: str | None
    revision: str = ""  # send it back on save: a save made since is then refused


@dataclass(frozen=True)
class FlowDetail:
    name: str
    published_version: int
    yaml: str  # the published flow's YAML ("" when it was never published)
    draft: DraftInfo | None


@dataclass(frozen=True)
class PromptDraftInfo:
    texts: dict[str, Any]  # dotted key -> text (or list of words)
    base_version: int
    problems: list[Problem]
    updated_at: dt.datetime
    updated_by: str | None


@dataclass(frozen=True)
class PromptsDetail:
    language: str
    published_version: int
    texts: dict[str, Any]
    draft: PromptDraftInfo | None


@dataclass(frozen=True)
class VersionInfo:
    version: int
    author: str | None
    time: dt.datetime
    comment: str | None
    checksum: str  # of this flow's (or language's) content in that version
    changed: bool = True  # False: a version in which this part stayed as it was


# --- the history of one part (a flow or a language) across bundle versions -------------

# A version's parts' digests, by the version (id, checksum and time: a version never changes).
_DIGESTS: dict[str, dict[str, str]] = {}
_KEEP_DIGESTS = 4096


def part_key(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _digests_of(row: FlowVersion) -> dict[str, str]:
    # A flow's text counts: a changed comment is a change an admin made and may roll back.
    sources = row.content.get("sources") or {}
    out = {
        part_key(FLOW, n): _digest({"d": d, "s": sources.get(n)})
        for n, d in row.content["flows"].items()
    }
    for lang, table in (row.prompts or {}).items():
        out[part_key(PROMPTS, lang)] = _digest({"d": table})
    return out


@dataclass
class _History:
    rows: list[Any] = field(default_factory=list)  # (id, checksum, by, at, note) oldest first
    digests: dict[int, dict[str, str]] = field(default_factory=dict)

    def changes(self, part: str) -> list[tuple[Any, bool]]:
        """Every version, oldest first, with whether `part` changed in it."""
        out, before = [], None
        for row in self.rows:
            now = self.digests[row.id].get(part)
            out.append((row, now is not None and now != before))
            before = now
        return out

    def published(self, part: str) -> int:
        """The newest version in which `part` changed; 0 if it is not in the newest."""
        changes = self.changes(part)
        if not changes or self.digests[changes[-1][0].id].get(part) is None:
            return 0
        return max(int(row.id) for row, changed in changes if changed)


def load_history(session: so.Session) -> _History:
    rows = session.execute(
        sa.select(
            FlowVersion.id,
            FlowVersion.checksum,
            FlowVersion.created_by,
            FlowVersion.created_at,
            FlowVersion.note,
        ).order_by(FlowVersion.id)
    ).all()
    if len(_DIGESTS) > _KEEP_DIGESTS:
        _DIGESTS.clear()
    by_id = {r.id: _DIGESTS[_key(r)] for r in rows if _key(r) in _DIGESTS}
    missing = [r.id for r in rows if r.id not in by_id]
    for start in range(0, len(missing), 20):
        for version in session.scalars(
            sa.select(FlowVersion).where(FlowVersion.id.in_(missing[start : start + 20]))
        ):
            by_id[version.id] = _DIGESTS[_key(version)] = _digests_of(version)
    return _History(list(rows), by_id)


def _key(row: Any) -> str:
    return f"{row.id}:{row.checksum}:{row.created_at.isoformat()}"


def newest_row(session: so.Session) -> FlowVersion:
    row = session.scalars(sa.select(FlowVersion).order_by(FlowVersion.id.desc()).limit(1)).first()
    if row is None:
        raise NotFound("no published version; run `ivr seed`")
    return row


def version_row(session: so.Session, version: int) -> FlowVersion:
    row = session.get(FlowVersion, version) if 0 < version < 2**31 else None
    if row is None:
        raise NotFound(f"no version {version}")
    return row


def draft_of(session: so.Session, kind: str, name: str) -> FlowDraft | None:
    return session.scalars(
        sa.select(FlowDraft).where(FlowDraft.kind == kind, FlowDraft.name == name)
    ).first()


def problems_of(raw: Iterable[Mapping[str, Any]]) -> list[Problem]:
    return [Problem(**p) for p in raw]


def library_or_app(library: FlowLibrary | None) -> FlowLibrary:
    if library is not None:
        return library
    from ivr.db import get_library  # the request's app; scripts pass their own

    return get_library()


# --- bundles -------------------------------------------------------------------------


def bundle_of(row: FlowVersion, library: FlowLibrary) -> dict[str, Any]:
    """A version's content, every part (a copy to change); old versions borrow the files'."""
    content = json.loads(json.dumps(row.content))
    return {
        "flows": content["flows"],
        "files": content.get("files") or {},
        "sources": content.get("sources") or {},
        "prompts": json.loads(json.dumps(row.prompts))
        if row.prompts is not None
        else library.prompt_tables(),
        "criteria": row.criteria if row.criteria is not None else library.criteria_table(),
    }


def publish_bundle(
    session: so.Session, library: FlowLibrary, content: dict[str, Any], comment: str, by: str
) -> int:
    checked = library.check(content)
    if checked.published is None:
        raise DraftInvalid(checked.problems)
    version = FlowVersion(
        source="admin",
        checksum=checked.published.checksum,
        content={k: content[k] for k in ("flows", "files", "sources")},
        prompts=content["prompts"],
        criteria=content["criteria"],
        created_by=by[:80],
        note=(comment or "").strip()[:200] or None,
    )
    session.add(version)
    session.flush()
    version_id: int = version.id
    return version_id


def flow_yaml(row: FlowVersion, name: str) -> str:
    """A flow's YAML in a version: the text it was published from, else its document."""
    source = (row.content.get("sources") or {}).get(name)
    if isinstance(source, str):
        return source
    doc = row.content["flows"].get(name)
    if doc is None:
        raise NotFound(f"no flow {name!r} in version {row.id}")
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def check_base(session: so.Session, kind: str, name: str, base_version: int) -> int:
    published = load_history(session).published(part_key(kind, name))
    if base_version != published:
        raise StaleDraft(name, base_version, published)
    return published


def store_draft(
    session: so.Session,
    kind: str,
    name: str,
    text: str,
    base: int,
    problems: list[Problem],
    by: str,
    *,
    seen: str | None = None,
) -> None:
    """Keep `text` as the draft; `seen` (the revision the editor opened, "" for none) makes
    the save refused (DraftChanged) when another save came in between."""
    draft = draft_of(session, kind, name)
    if seen is not None and seen != revision(draft):
        if draft is None:
            raise DraftChanged(name, FlowDraft(base_version=base, updated_at=utcnow()))
        raise DraftChanged(name, draft)
    if draft is None:
        draft = FlowDraft(kind=kind, name=name)
        session.add(draft)
    draft.text, draft.base_version = text, base
    draft.problems = [p.as_dict() for p in problems]
    draft.updated_at, draft.updated_by = utcnow(), by[:80]
    session.flush()


def versions_of(session: so.Session, part: str, all_versions: bool) -> list[VersionInfo]:
    history = load_history(session)
    out = []
    for row, changed in reversed(history.changes(part)):
        digest = history.digests[row.id].get(part)
        if digest is None or not (changed or all_versions):
            continue
        out.append(VersionInfo(row.id, row.created_by, row.created_at, row.note, digest, changed))
    return out


def unified_diff(a: str, b: str, a_name: str, b_name: str) -> str:
    lines = difflib.unified_diff(
        a.splitlines(keepends=True), b.splitlines(keepends=True), a_name, b_name
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
