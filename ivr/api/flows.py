"""JSON API: admins draft, check, publish and roll back flows and prompts (admin only).

Every change is an audit row; a refused one (409 stale, 422 invalid) too, with its status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, g, jsonify, request

from ivr.api import bp
from ivr.api.common import invalid, json_object, problem
from ivr.auth import audit, require_role
from ivr.db import get_session
from ivr.engine.problems import Problem
from ivr.services import flow_admin as admin
from ivr.store.models import Role

Reply = Response | tuple[Response, int]


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _problems(problems: list[Problem]) -> list[dict[str, Any]]:
    return [
        {"line": p.line, "node": p.node, "field": p.field, "message": p.message, "file": p.file}
        for p in problems
    ]


def _versions(found: list[admin.VersionInfo]) -> Response:
    return jsonify(
        items=[
            {
                "version": v.version,
                "author": v.author,
                "time": _when(v.time),
                "comment": v.comment,
                "checksum": v.checksum,
            }
            for v in found
        ]
    )


def _int_field(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        return None
    return value


def _refused(kind: str, name: str, action: str, status: int, body: Reply) -> Reply:
    """Roll back what the request did, then record that it was refused."""
    session = get_session()
    session.rollback()
    audit(session, g.user, action, kind, name, status=status)
    session.commit()
    return body


def _stale(kind: str, name: str, action: str, exc: admin.StaleDraft) -> Reply:
    body = jsonify(
        error="stale",
        message=str(exc),
        base_version=exc.base_version,
        published_version=exc.published_version,
    )
    return _refused(kind, name, action, 409, (body, 409))


def _invalid_draft(kind: str, name: str, action: str, exc: admin.DraftInvalid) -> Reply:
    body = jsonify(error="invalid", message=str(exc), problems=_problems(exc.problems))
    return _refused(kind, name, action, 422, (body, 422))


def _not_found(exc: LookupError) -> Reply:
    get_session().rollback()
    return problem(404, "not_found", str(exc))


def _comment(body: dict[str, Any]) -> str | None:
    comment = body.get("comment", "")
    return comment.strip()[:200] if isinstance(comment, str) else None


def _publish(kind: str, name: str, publish: Callable[..., int]) -> Reply:
    """Publish a flow's or a language's draft: 201 {version}; 409 no draft or stale; 422
    with its problems (nothing changes for callers)."""
    body = json_object()
    comment = _comment(body) if body is not None else None
    if comment is None:
        return invalid("comment", "comment must be a text")
    session = get_session()
    try:
        version = publish(session, name, comment, g.user.name)
    except admin.NoDraft as exc:
        return _refused(kind, name, "publish", 409, problem(409, "no_draft", str(exc)))
    except admin.StaleDraft as exc:
        return _stale(kind, name, "publish", exc)
    except admin.DraftInvalid as exc:
        return _invalid_draft(kind, name, "publish", exc)
    audit(session, g.user, "publish", kind, f"{name}@{version}")
    session.commit()
    return jsonify(version=version), 201


def _history(name: str, versions: Callable[..., list[admin.VersionInfo]]) -> Reply:
    try:
        return _versions(versions(get_session(), name))
    except admin.NotFound as exc:
        return _not_found(exc)


def _diff(name: str, diff: Callable[..., str]) -> Reply:
    a, b = request.args.get("from", ""), request.args.get("to", "")
    if not (a.isdigit() and b.isdigit()):
        return invalid("from", "from and to must be version numbers")
    try:
        text = diff(get_session(), name, int(a), int(b))
    except admin.NotFound as exc:
        return _not_found(exc)
    return Response(text, mimetype="text/plain")


def _rollback(kind: str, name: str, rollback: Callable[..., int]) -> Reply:
    body = json_object()
    version = _int_field(body, "version") if body is not None else None
    if version is None:
        return invalid("version", "version must be a published version number")
    session = get_session()
    try:
        new = rollback(session, name, version, g.user.name)
    except admin.NotFound as exc:
        return _not_found(exc)
    except admin.DraftInvalid as exc:
        return _invalid_draft(kind, name, "rollback", exc)
    audit(session, g.user, "rollback", kind, f"{name}@{new}")
    session.commit()
    return jsonify(version=new), 201


# --- flows -----------------------------------------------------------------------------


@bp.get("/flows")
@require_role(Role.ADMIN)
def list_flows() -> Reply:
    """List the flows: published version, whether a draft exists, who changed it last."""
    found = admin.list_flows(get_session())
    return jsonify(
        items=[
            {
                "name": f.name,
                "published_version": f.published_version,
                "has_draft": f.has_draft,
                "updated_at": _when(f.updated_at),
                "updated_by": f.updated_by,
            }
            for f in found
        ]
    )


@bp.get("/flows/<name>")
@require_role(Role.ADMIN)
def get_flow(name: str) -> Reply:
    """Show a flow's published YAML and its draft (with its problems), if any."""
    try:
        flow = admin.get_flow(get_session(), name)
    except admin.NotFound as exc:
        return _not_found(exc)
    draft = flow.draft
    return jsonify(
        name=flow.name,
        published_version=flow.published_version,
        yaml=flow.yaml,
        draft=None
        if draft is None
        else {
            "yaml": draft.yaml,
            "base_version": draft.base_version,
            "problems": _problems(draft.problems),
            "updated_at": _when(draft.updated_at),
            "updated_by": draft.updated_by,
            "revision": draft.revision,
        },
    )


@bp.put("/flows/<name>/draft")
@require_role(Role.ADMIN)
def save_flow_draft(name: str) -> Reply:
    """Keep a flow's draft and answer its problems (an invalid draft is kept too)."""
    body = json_object()
    if body is None:
        return invalid("body", "the body must be a JSON object")
    text, base = body.get("yaml"), _int_field(body, "base_version")
    if not isinstance(text, str):
        return invalid("yaml", "yaml must be the flow's YAML text")
    if base is None:
        return invalid("base_version", "base_version must be the version the draft was made from")
    seen = body.get("draft_revision")
    if seen is not None and not isinstance(seen, str):
        return invalid("draft_revision", "draft_revision must be the draft's revision text")
    session = get_session()
    try:
        problems = admin.save_draft(session, name, text, base, g.user.name, seen=seen)
    except admin.NotFound as exc:
        return _not_found(exc)
    except admin.StaleDraft as exc:
        return _stale("flow", name, "save_draft", exc)
    except ValueError as exc:
        session.rollback()
        return invalid("yaml", str(exc))
    audit(session, g.user, "save_draft", "flow", name)
    session.commit()
    return jsonify(problems=_problems(problems))


@bp.post("/flows/<name>/publish")
@require_role(Role.ADMIN)
def publish_flow(name: str) -> Reply:
    """Publish a flow's draft as a new version: 201 {version}; 422 with its problems."""
    return _publish("flow", name, admin.publish)


@bp.get("/flows/<name>/versions")
@require_role(Role.ADMIN)
def flow_versions(name: str) -> Reply:
    """List the versions in which a flow changed, newest first."""
    return _history(name, admin.versions)


@bp.get("/flows/<name>/diff")
@require_role(Role.ADMIN)
def flow_diff(name: str) -> Reply:
    """A unified diff of a flow between `?from=` and `?to=` versions (text/plain)."""
    return _diff(name, admin.diff)


@bp.post("/flows/<name>/rollback")
@require_role(Role.ADMIN)
def rollback_flow(name: str) -> Reply:
    """Publish a flow as it was in `{"version"}`, as a new version: 201 {version}."""
    return _rollback("flow", name, admin.rollback)


@bp.get("/prompts")
@require_role(Role.ADMIN)
def list_prompts() -> Reply:
    """List the languages: published version and whether a draft exists."""
    session = get_session()
    items = []
    for language in admin.languages(session):
        found = admin.get_prompts(session, language)
        items.append(
            {
                "language": language,
                "published_version": found.published_version,
                "has_draft": found.draft is not None,
            }
        )
    return jsonify(items=items)


@bp.get("/prompts/<lang>")
@require_role(Role.ADMIN)
def get_prompts(lang: str) -> Reply:
    """Show a language's published prompts (`texts`: key -> text) and its draft, if any."""
    try:
        found = admin.get_prompts(get_session(), lang)
    except admin.NotFound as exc:
        return _not_found(exc)
    draft = found.draft
    return jsonify(
        language=found.language,
        published_version=found.published_version,
        texts=found.texts,
        draft=None
        if draft is None
        else {
            "texts": draft.texts,
            "base_version": draft.base_version,
            "problems": _problems(draft.problems),
            "updated_at": _when(draft.updated_at),
            "updated_by": draft.updated_by,
        },
    )


@bp.put("/prompts/<lang>/draft")
@require_role(Role.ADMIN)
def save_prompts_draft(lang: str) -> Reply:
    """Change prompts in a language's draft: `{"texts": {key: text|null}, "base_version"}`."""
    body = json_object()
    if body is None:
        return invalid("body", "the body must be a JSON object")
    texts, base = body.get("texts"), _int_field(body, "base_version")
    if not isinstance(texts, dict) or not texts:
        return invalid("texts", "texts must map prompt keys to their new texts")
    if base is None:
        return invalid("base_version", "base_version must be the version the draft was made from")
    session = get_session()
    try:
        problems = admin.save_prompt_draft(session, lang, texts, base, g.user.name)
    except admin.NotFound as exc:
        return _not_found(exc)
    except admin.StaleDraft as exc:
        return _stale("prompts", lang, "save_draft", exc)
    audit(session, g.user, "save_draft", "prompts", lang)
    session.commit()
    return jsonify(problems=_problems(problems))


@bp.post("/prompts/<lang>/publish")
@require_role(Role.ADMIN)
def publish_prompts(lang: str) -> Reply:
    """Publish a language's prompt draft as a new version: 201 {version}; 422 problems."""
    return _publish("prompts", lang, admin.publish_prompts)


@bp.get("/prompts/<lang>/versions")
@require_role(Role.ADMIN)
def prompts_versions(lang: str) -> Reply:
    """List the versions in which a language's prompts changed, newest first."""
    return _history(lang, admin.prompt_versions)


@bp.get("/prompts/<lang>/diff")
@require_role(Role.ADMIN)
def prompts_diff(lang: str) -> Reply:
    """A unified diff of a language's prompts between `?from=` and `?to=` (text/plain)."""
    return _diff(lang, admin.prompt_diff)


@bp.post("/prompts/<lang>/rollback")
@require_role(Role.ADMIN)
def rollback_prompts(lang: str) -> Reply:
    """Publish a language's prompts as they were in `{"version"}`: 201 {version}."""
    return _rollback("prompts", lang, admin.rollback_prompts)
