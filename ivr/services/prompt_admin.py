"""Admins' drafts of one language's prompts: checked on save (a text keeps its placeholders
and uses no new ones, and everything `ivr check-flows` checks), published as a bundle
version, diffed and rolled back. Reached through `ivr.services.flow_admin`.

Like every service: a Session first, nothing from Flask, never a commit.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.orm as so
import yaml

from ivr.engine.problems import Problem
from ivr.engine.prompts import flatten
from ivr.services.drafting import (
    LANGUAGE,
    PROMPTS,
    DraftInvalid,
    NoDraft,
    NotFound,
    PromptDraftInfo,
    PromptsDetail,
    VersionInfo,
    bundle_of,
    check_base,
    draft_of,
    library_or_app,
    load_history,
    newest_row,
    part_key,
    problems_of,
    publish_bundle,
    store_draft,
    unified_diff,
    version_row,
    versions_of,
)
from ivr.store.models import FlowDraft, FlowVersion

if TYPE_CHECKING:
    from ivr.versions import FlowLibrary


def flat_prompts(table: Mapping[str, Any]) -> dict[str, Any]:
    """A language's prompts by dotted key (`main.menu.prompt`)."""
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
    newest = newest_row(session)
    content = bundle_of(newest, library)
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
    newest = newest_row(session)
    tables = newest.prompts
    if tables is None:
        tables = library_or_app(library).prompt_tables()
    drafted = session.scalars(sa.select(FlowDraft.name).where(FlowDraft.kind == PROMPTS))
    return sorted(set(tables) | set(drafted))


def get_prompts(
    session: so.Session, lang: str, *, library: FlowLibrary | None = None
) -> PromptsDetail:
    """One language's published prompts (dotted key -> text) and its draft, if any."""
    library = library_or_app(library)
    draft = draft_of(session, PROMPTS, lang)
    try:
        texts = _prompt_text(newest_row(session), lang, library)
    except NotFound:
        if draft is None:
            raise
        texts = {}
    info = None
    if draft is not None:
        info = PromptDraftInfo(
            yaml.safe_load(draft.text) or {},
            draft.base_version,
            problems_of(draft.problems),
            draft.updated_at,
            draft.updated_by,
        )
    return PromptsDetail(
        lang, load_history(session).published(part_key(PROMPTS, lang)), texts, info
    )


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
    library = library_or_app(library)
    if not LANGUAGE.match(lang):
        raise NotFound(f"{lang!r} is not a language")
    check_base(session, PROMPTS, lang, base_version)
    draft = draft_of(session, PROMPTS, lang)
    if draft is not None and draft.base_version == base_version:
        texts = dict(yaml.safe_load(draft.text) or {})
    else:
        try:
            texts = _prompt_text(newest_row(session), lang, library)
        except NotFound:
            texts = {}
    for key, text in changes.items():
        if text is None:
            texts.pop(key, None)
        else:
            texts[str(key)] = text
    problems, _ = _prompt_check(session, lang, texts, library)
    store_draft(session, PROMPTS, lang, _prompts_yaml(texts), base_version, problems, by)
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
    library = library_or_app(library)
    draft = draft_of(session, PROMPTS, lang)
    if draft is None:
        raise NoDraft(f"prompts {lang!r} have no draft to publish")
    check_base(session, PROMPTS, lang, draft.base_version)
    problems, content = _prompt_check(
        session, lang, dict(yaml.safe_load(draft.text) or {}), library
    )
    if problems:
        raise DraftInvalid(problems)
    version = publish_bundle(session, library, content, comment, by)
    session.delete(draft)
    session.flush()
    return version


def prompt_versions(
    session: so.Session, lang: str, *, all_versions: bool = False
) -> list[VersionInfo]:
    """The versions in which `lang`'s prompts changed, newest first."""
    found = versions_of(session, part_key(PROMPTS, lang), all_versions)
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
    library = library_or_app(library)
    a = _prompts_yaml(_prompt_text(version_row(session, version_a), lang, library))
    b = _prompts_yaml(_prompt_text(version_row(session, version_b), lang, library))
    return unified_diff(a, b, f"prompts/{lang}@{version_a}", f"prompts/{lang}@{version_b}")


def rollback_prompts(
    session: so.Session,
    lang: str,
    version: int,
    by: str,
    *,
    library: FlowLibrary | None = None,
) -> int:
    """Publish `lang`'s prompts as they were in `version`, as a new version (its id)."""
    library = library_or_app(library)
    old = version_row(session, version)
    if old.prompts is None or lang not in old.prompts:
        raise NotFound(f"no prompts in {lang!r} in version {version}")
    content = bundle_of(newest_row(session), library)
    content["prompts"][lang] = json.loads(json.dumps(old.prompts[lang]))
    return publish_bundle(
        session, library, content, f"rollback of {lang} prompts to version {version}", by
    )
