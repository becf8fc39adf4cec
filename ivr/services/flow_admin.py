"""Admins change the line: drafts of one flow or one language's prompts, checked on save,
published as a new bundle version, diffed and rolled back.

A published version stays a whole bundle (`FlowVersion`: flows, prompts and criteria under
one checksum). Publishing one flow (or one language's prompts) makes a new version: the
newest published bundle with that part replaced, checked by `ivr.publishing.verify` (compiled,
every node rendered in every language) before it becomes current. A flow's
`published_version` is the newest version in which that flow changed; a draft saved on an
older one is refused (`StaleDraft`), so the second of two admins cannot overwrite the first's
publish unseen. An invalid draft is kept: work is not lost.

Like every service: a Session first, nothing from Flask, never a commit.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.orm as so
import yaml

from ivr.engine.problems import Problem, yaml_problem
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


def _part(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _digests_of(row: FlowVersion) -> dict[str, str]:
    # A flow's text counts: a changed comment is a change an admin made and may roll back.
    sources = row.content.get("sources") or {}
    out = {
        _part(FLOW, n): _digest({"d": d, "s": sources.get(n)})
        for n, d in row.content["flows"].items()
    }
    for lang, table in (row.prompts or {}).items():
        out[_part(PROMPTS, lang)] = _digest({"d": table})
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


def _history(session: so.Session) -> _History:
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


def _newest(session: so.Session) -> FlowVersion:
    row = session.scalars(sa.select(FlowVersion).order_by(FlowVersion.id.desc()).limit(1)).first()
    if row is None:
        raise NotFound("no published version; run `ivr seed`")
    return row


def _version(session: so.Session, version: int) -> FlowVersion:
    row = session.get(FlowVersion, version) if 0 < version < 2**31 else None
    if row is None:
        raise NotFound(f"no version {version}")
    return row


def _draft(session: so.Session, kind: str, name: str) -> FlowDraft | None:
    return session.scalars(
        sa.select(FlowDraft).where(FlowDraft.kind == kind, FlowDraft.name == name)
    ).first()


def _problems(raw: Iterable[Mapping[str, Any]]) -> list[Problem]:
    return [Problem(**p) for p in raw]


def _library(library: FlowLibrary | None) -> FlowLibrary:
    if library is not None:
        return library
    from ivr.db import get_library  # the request's app; scripts pass their own

    return get_library()


# --- bundles -------------------------------------------------------------------------


def _bundle_of(row: FlowVersion, library: FlowLibrary) -> dict[str, Any]:
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


def _publish(
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


# --- flows ---------------------------------------------------------------------------


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
    library = _library(library)
    if content is None:
        if session is None:
            raise ValueError("validate_yaml needs the bundle's content or a session")
        content = _bundle_of(_newest(session), library)
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
    history = _history(session)
    newest = _newest(session)
    drafts = {
        d.name: d for d in session.scalars(sa.select(FlowDraft).where(FlowDraft.kind == FLOW))
    }
    by_id = {r.id: r for r in history.rows}
    out = []
    for name in sorted(set(newest.content["flows"]) | set(drafts)):
        published = history.published(_part(FLOW, name))
        draft = drafts.get(name)
        row = by_id.get(published)
        at, who = (row.created_at, row.created_by) if row else (None, None)
        if draft is not None and (at is None or draft.updated_at > at):
            at, who = draft.updated_at, draft.updated_by
        out.append(FlowSummary(name, published, draft is not None, at, who))
    return out


def get_flow(session: so.Session, name: str) -> FlowDetail:
    """The published YAML of a flow and its draft, if any; NotFound for neither."""
    newest = _newest(session)
    draft = _draft(session, FLOW, name)
    if name not in newest.content["flows"] and draft is None:
        raise NotFound(f"no flow {name!r}")
    published = _history(session).published(_part(FLOW, name))
    text = flow_yaml(newest, name) if name in newest.content["flows"] else ""
    info = None
    if draft is not None:
        info = DraftInfo(
            draft.text,
            draft.base_version,
            _problems(draft.problems),
            draft.updated_at,
            draft.updated_by,
        )
    return FlowDetail(name, published, text, info)


def published_version(session: so.Session, name: str) -> int:
    """The newest version in which flow `name` changed (0: never published)."""
    return _history(session).published(_part(FLOW, name))


def flow_text(session: so.Session, name: str, version: int | None = None) -> str:
    """Flow `name`'s YAML as published (or in `version`); NotFound when it has none."""
    row = _newest(session) if version is None else _version(session, version)
    return flow_yaml(row, name)


def _check_base(session: so.Session, kind: str, name: str, base_version: int) -> int:
    published = _history(session).published(_part(kind, name))
    if base_version != published:
        raise StaleDraft(name, base_version, published)
    return published


def save_draft(
    session: so.Session,
    name: str,
    yaml_text: str,
    base_version: int,
    by: str,
    *,
    library: FlowLibrary | None = None,
) -> list[Problem]:
    """Keep `yaml_text` as the draft of flow `name` (a new flow: base_version 0) and return
    its problems; StaleDraft when `base_version` is not the flow's published version."""
    if not FLOW_NAME.match(name):
        raise NotFound(f"{name!r} is not a flow name (lower-case letters, digits, _)")
    if len(yaml_text) > MAX_TEXT:
        raise ValueError(f"a flow's YAML is at most {MAX_TEXT} characters")
    _check_base(session, FLOW, name, base_version)
    problems = validate_yaml(name, yaml_text, library=library, session=session)
    _store_draft(session, FLOW, name, yaml_text, base_version, problems, by)
    return problems


def _store_draft(
    session: so.Session,
    kind: str,
    name: str,
    text: str,
    base: int,
    problems: list[Problem],
    by: str,
) -> None:
    draft = _draft(session, kind, name)
    if draft is None:
        draft = FlowDraft(kind=kind, name=name)
        session.add(draft)
    draft.text, draft.base_version = text, base
    draft.problems = [p.as_dict() for p in problems]
    draft.updated_at, draft.updated_by = utcnow(), by[:80]
    session.flush()


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
    library = _library(library)
    draft = _draft(session, FLOW, name)
    if draft is None:
        raise NoDraft(f"flow {name!r} has no draft to publish")
    _check_base(session, FLOW, name, draft.base_version)
    problems = validate_yaml(name, draft.text, library=library, session=session)
    if problems:
        raise DraftInvalid(problems)
    content = _bundle_of(_newest(session), library)
    content["flows"][name] = library.parse(draft.text)
    content["files"].setdefault(name, f"flows/{name}.yaml")
    content["sources"][name] = draft.text
    version = _publish(session, library, content, comment, by)
    session.delete(draft)
    session.flush()
    return version


def _versions(session: so.Session, part: str, all_versions: bool) -> list[VersionInfo]:
    history = _history(session)
    out = []
    for row, changed in reversed(history.changes(part)):
        digest = history.digests[row.id].get(part)
        if digest is None or not (changed or all_versions):
            continue
        out.append(VersionInfo(row.id, row.created_by, row.created_at, row.note, digest, changed))
    return out


def versions(session: so.Session, name: str, *, all_versions: bool = False) -> list[VersionInfo]:
    """The versions in which flow `name` changed, newest first (with `all_versions`, every
    version holding it, `changed` telling which)."""
    found = _versions(session, _part(FLOW, name), all_versions)
    if not found:
        raise NotFound(f"no flow {name!r}")
    return found


def _diff(a: str, b: str, a_name: str, b_name: str) -> str:
    lines = difflib.unified_diff(
        a.splitlines(keepends=True), b.splitlines(keepends=True), a_name, b_name
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def diff(session: so.Session, name: str, version_a: int, version_b: int) -> str:
    """A unified diff of flow `name` from `version_a` to `version_b` ("" when the same)."""
    a = flow_yaml(_version(session, version_a), name)
    b = flow_yaml(_version(session, version_b), name)
    return _diff(a, b, f"{name}@{version_a}", f"{name}@{version_b}")


def rollback(
    session: so.Session,
    name: str,
    version: int,
    by: str,
    *,
    library: FlowLibrary | None = None,
) -> int:
    """Publish flow `name` as it was in `version`, as a new version (its id)."""
    library = _library(library)
    old = _version(session, version)
    if name not in old.content["flows"]:
        raise NotFound(f"no flow {name!r} in version {version}")
    content = _bundle_of(_newest(session), library)
    content["flows"][name] = json.loads(json.dumps(old.content["flows"][name]))
    content["files"][name] = (old.content.get("files") or {}).get(name) or f"flows/{name}.yaml"
    content["sources"][name] = flow_yaml(old, name)
    return _publish(session, library, content, f"rollback of {name} to version {version}", by)


# --- prompts -------------------------------------------------------------------------


def flat_prompts(table: Mapping[str, Any]) -> dict[str, Any]:
    from ivr.engine.prompts import flatten

    return flatten(table)


def _nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        here = out
        for part in parts[:-1]:
            nxt = here.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ValueError(f"prompt {key!r} is below {part!r}, which is a text")
            here = nxt
        if isinstance(here.get(parts[-1]), dict):
            raise ValueError(f"prompt {key!r} holds other prompts")
        here[parts[-1]] = value
    return out


def _prompt_text(row: FlowVersion, language: str, library: FlowLibrary) -> dict[str, Any]:
    tables = row.prompts if row.prompts is not None else library.prompt_tables()
    if language not in tables:
        raise NotFound(f"no prompts in {language!r}")
    return flat_prompts(tables[language])


def _prompts_yaml(texts: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(sorted(texts.items())), allow_unicode=True, width=1000)


def _names(text: Any) -> set[str] | None:
    if not isinstance(text, str):
        return set()
    try:
        return {n for _, n, _, _ in string.Formatter().parse(text) if n}
    except ValueError:
        return None


def prompt_problems(
    language: str,
    texts: Mapping[str, Any],
    published: Mapping[str, Mapping[str, Any]],
) -> list[Problem]:
    """A language's texts against every language's published ones: a text keeps each
    placeholder it had and uses none the key never had (in any language)."""
    file = f"prompts/{language}.yaml"
    problems = []
    own = published.get(language, {})
    for key, text in sorted(texts.items()):
        if not (
            isinstance(text, str)
            or (isinstance(text, list) and all(isinstance(w, str) for w in text))
        ):
            problems.append(Problem(None, None, key, "must be a text or a list of words", file))
            continue
        names = _names(text)
        if names is None:
            problems.append(Problem(None, None, key, "has an unmatched { or }", file))
            continue
        if key in own:
            for lost in sorted((_names(own[key]) or set()) - names):
                problems.append(
                    Problem(None, None, key, f"loses the placeholder {{{lost}}} it had", file)
                )
        known = set().union(*((_names(t.get(key)) or set()) for t in published.values()))
        if any(key in t for t in published.values()):
            for unknown in sorted(names - known):
                problems.append(
                    Problem(None, None, key, f"{{{unknown}}} is not a placeholder of {key}", file)
                )
    return problems


def _prompt_check(
    session: so.Session, language: str, texts: dict[str, Any], library: FlowLibrary
) -> tuple[list[Problem], dict[str, Any]]:
    newest = _newest(session)
    content = _bundle_of(newest, library)
    published = {lang: flat_prompts(t) for lang, t in content["prompts"].items()}
    problems = prompt_problems(language, texts, published)
    try:
        content["prompts"][language] = _nested(texts)
    except ValueError as exc:
        return [*problems, Problem(None, None, None, str(exc), f"prompts/{language}.yaml")], content
    if not problems:
        problems = library.check(content).problems
    return problems, content


def languages(session: so.Session, *, library: FlowLibrary | None = None) -> list[str]:
    """The languages of the newest version and every drafted one."""
    newest = _newest(session)
    tables = newest.prompts
    if tables is None:
        tables = _library(library).prompt_tables()
    drafted = session.scalars(sa.select(FlowDraft.name).where(FlowDraft.kind == PROMPTS))
    return sorted(set(tables) | set(drafted))


def get_prompts(
    session: so.Session, lang: str, *, library: FlowLibrary | None = None
) -> PromptsDetail:
    """One language's published prompts (dotted key -> text) and its draft, if any."""
    library = _library(library)
    draft = _draft(session, PROMPTS, lang)
    try:
        texts = _prompt_text(_newest(session), lang, library)
    except NotFound:
        if draft is None:
            raise
        texts = {}
    info = None
    if draft is not None:
        info = PromptDraftInfo(
            yaml.safe_load(draft.text) or {},
            draft.base_version,
            _problems(draft.problems),
            draft.updated_at,
            draft.updated_by,
        )
    return PromptsDetail(lang, _history(session).published(_part(PROMPTS, lang)), texts, info)


def save_prompt_draft(
    session: so.Session,
    lang: str,
    changes: Mapping[str, Any],
    base_version: int,
    by: str,
    *,
    library: FlowLibrary | None = None,
) -> list[Problem]:
    """Change some prompts of `lang` (dotted key -> text; None removes the key) in its draft
    (made from the published texts when there is none) and return the draft's problems."""
    library = _library(library)
    if not LANGUAGE.match(lang):
        raise NotFound(f"{lang!r} is not a language")
    _check_base(session, PROMPTS, lang, base_version)
    draft = _draft(session, PROMPTS, lang)
    if draft is not None and draft.base_version == base_version:
        texts = dict(yaml.safe_load(draft.text) or {})
    else:
        try:
            texts = _prompt_text(_newest(session), lang, library)
        except NotFound:
            texts = {}
    for key, text in changes.items():
        if text is None:
            texts.pop(key, None)
        else:
            texts[str(key)] = text
    problems, _ = _prompt_check(session, lang, texts, library)
    _store_draft(session, PROMPTS, lang, _prompts_yaml(texts), base_version, problems, by)
    return problems


def publish_prompts(
    session: so.Session,
    lang: str,
    comment: str,
    by: str,
    *,
    library: FlowLibrary | None = None,
) -> int:
    """Publish `lang`'s prompt draft as a new version (its id); like `publish`."""
    library = _library(library)
    draft = _draft(session, PROMPTS, lang)
    if draft is None:
        raise NoDraft(f"prompts {lang!r} have no draft to publish")
    _check_base(session, PROMPTS, lang, draft.base_version)
    problems, content = _prompt_check(
        session, lang, dict(yaml.safe_load(draft.text) or {}), library
    )
    if problems:
        raise DraftInvalid(problems)
    version = _publish(session, library, content, comment, by)
    session.delete(draft)
    session.flush()
    return version


def prompt_versions(
    session: so.Session, lang: str, *, all_versions: bool = False
) -> list[VersionInfo]:
    """The versions in which `lang`'s prompts changed, newest first."""
    found = _versions(session, _part(PROMPTS, lang), all_versions)
    if not found:
        raise NotFound(f"no prompts in {lang!r}")
    return found


def prompt_diff(
    session: so.Session,
    lang: str,
    version_a: int,
    version_b: int,
    *,
    library: FlowLibrary | None = None,
) -> str:
    """A unified diff of `lang`'s prompts (one `key: text` a line) between two versions."""
    library = _library(library)
    a = _prompts_yaml(_prompt_text(_version(session, version_a), lang, library))
    b = _prompts_yaml(_prompt_text(_version(session, version_b), lang, library))
    return _diff(a, b, f"prompts/{lang}@{version_a}", f"prompts/{lang}@{version_b}")


def rollback_prompts(
    session: so.Session,
    lang: str,
    version: int,
    by: str,
    *,
    library: FlowLibrary | None = None,
) -> int:
    """Publish `lang`'s prompts as they were in `version`, as a new version (its id)."""
    library = _library(library)
    old = _version(session, version)
    if old.prompts is None or lang not in old.prompts:
        raise NotFound(f"no prompts in {lang!r} in version {version}")
    content = _bundle_of(_newest(session), library)
    content["prompts"][lang] = json.loads(json.dumps(old.prompts[lang]))
    return _publish(
        session, library, content, f"rollback of {lang} prompts to version {version}", by
    )
