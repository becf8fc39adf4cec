"""The flows' admin pages: the list (published version, draft, who changed it last), and the
editor of one flow: its YAML in a code editor (or uploaded), saved as a draft and checked,
each problem at its line and node, the picture beside it with the erroring nodes outlined;
publish with a comment, the versions with their diffs, roll back.

Drafts, checks, versions and diffs are ivr.services.flow_admin's (imported when first used:
the same service the JSON API calls); every change is an audit row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy.orm as so
from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from ivr.auth import audit
from ivr.console import bp
from ivr.console.admin import admin_user
from ivr.console.graph_svg import flow_svg
from ivr.console.signin import ADMINS, require
from ivr.db import get_session
from ivr.services import flow_admin

MAX_UPLOAD = 200_000  # characters: the service's own limit on a flow's YAML


def _found(name: str) -> Any:
    try:
        return flow_admin.get_flow(get_session(), name)
    except flow_admin.NotFound:
        abort(404)


def _picture(name: str, text: str, problems: list[Any]) -> Markup:
    # Our own SVG, every label escaped in graph_svg: safe to put in the page as markup.
    nodes = [p.node for p in problems if getattr(p, "node", None)]
    return Markup(flow_svg(name, text, nodes))  # noqa: S704


def _editor(
    name: str, *, status: int = 200, text: str | None = None, **extra: Any
) -> ResponseReturnValue:
    db = get_session()
    detail = _found(name)
    draft = detail.draft
    if text is None:
        text = draft.yaml if draft is not None else detail.yaml
    problems = list(extra.pop("problems", None) or (draft.problems if draft is not None else []))
    try:
        history = flow_admin.versions(db, name)
    except flow_admin.NotFound:
        history = []
    page = render_template(
        "console/admin/flow.html",
        name=name,
        detail=detail,
        text=text,
        problems=problems,
        picture=_picture(name, text, problems),
        versions=history,
        base_version=draft.base_version if draft is not None else detail.published_version,
        draft_revision=draft.revision if draft is not None else "",
        **extra,
    )
    return page, status


@bp.route("/admin/flows")
@require(*ADMINS)
def admin_flows() -> ResponseReturnValue:
    """Every flow: its published version, whether a draft waits, who changed it last."""
    flows = flow_admin.list_flows(get_session())
    return render_template("console/admin/flows.html", flows=flows)


@bp.route("/admin/flows/<name>")
@require(*ADMINS)
def admin_flow(name: str) -> ResponseReturnValue:
    """One flow in the editor: its draft (else the published YAML), problems and picture."""
    return _editor(name)


def _sent_text() -> str | None:
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        raw: bytes = upload.read(MAX_UPLOAD * 4 + 1)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return request.form.get("yaml", "").replace("\r\n", "\n")


@bp.route("/admin/flows/<name>/draft", methods=["POST"])
@require(*ADMINS)
def admin_save_flow(name: str) -> ResponseReturnValue:
    """Save the editor's text (or an uploaded file) as the flow's draft, and check it."""
    db = get_session()
    text = _sent_text()
    if text is None:
        return _editor(name, status=422, error="The file is not UTF-8 text: nothing was saved.")
    try:
        base = int(request.form.get("base_version", ""))
    except ValueError:
        base = -1
    user = admin_user()
    try:
        problems = flow_admin.save_draft(
            db, name, text, base, user.name, seen=request.form.get("draft_revision", "")
        )
    except flow_admin.StaleDraft as exc:
        db.rollback()
        return _editor(name, status=409, text=text, error=f"Not saved: {exc}. Your text is below.")
    except ValueError as exc:
        db.rollback()
        return _editor(name, status=422, text=text, error=f"Not saved: {exc}.")
    except flow_admin.NotFound:
        db.rollback()
        abort(404)
    audit(db, user, "save_draft", "flow", name)
    db.commit()
    if problems:
        flash(f"Draft saved with {len(problems)} problem(s) to fix before it can be published.")
    else:
        flash("Draft saved: no problems found.")
    return redirect(url_for("console.admin_flow", name=name))


@bp.route("/admin/flows/<name>/publish", methods=["POST"])
@require(*ADMINS)
def admin_publish_flow(name: str) -> ResponseReturnValue:
    """Publish the draft as a new version, with the comment; refused while it has problems."""
    db = get_session()
    comment = " ".join(request.form.get("comment", "").split())[:500]
    user = admin_user()
    try:
        version = flow_admin.publish(db, name, comment, user.name)
    except flow_admin.DraftInvalid as exc:
        db.rollback()
        return _editor(
            name,
            status=422,
            problems=exc.problems,
            error="Not published: the draft has problems (below). Callers hear what they heard.",
        )
    except (flow_admin.NoDraft, flow_admin.StaleDraft) as exc:
        db.rollback()
        return _editor(name, status=409, error=f"Not published: {exc}.")
    audit(db, user, "publish", "flow", f"{name}@{version}")
    db.commit()
    flash(f"Published as version {version}: new calls hear it within seconds.")
    return redirect(url_for("console.admin_flow", name=name))


@bp.route("/admin/flows/<name>/diff")
@require(*ADMINS)
def admin_flow_diff(name: str) -> ResponseReturnValue:
    """The unified diff of the flow between two versions."""
    back = url_for("console.admin_flow", name=name)
    return diff_page(flow_admin.diff, name, f"Flow {name}", back)


def diff_page(
    diff: Callable[[so.Session, str, int, int], str], name: str, title: str, back: str
) -> ResponseReturnValue:
    """The diff page of a flow or a language's prompts between versions `?a=` and `?b=`
    (404 for a version or a name that is none)."""
    try:
        a, b = int(request.args.get("a", "")), int(request.args.get("b", ""))
        text = diff(get_session(), name, a, b)
    except (ValueError, flow_admin.NotFound):
        abort(404)
    lines = [(line[:1], line.rstrip("\n")) for line in text.splitlines(keepends=True)]
    return render_template(
        "console/admin/flow_diff.html", name=title, back=back, a=a, b=b, lines=lines
    )


@bp.route("/admin/flows/<name>/rollback", methods=["POST"])
@require(*ADMINS)
def admin_rollback_flow(name: str) -> ResponseReturnValue:
    """Publish the flow as it was in an earlier version, as a new version."""
    db = get_session()
    try:
        old = int(request.form.get("version", ""))
    except ValueError:
        abort(404)
    user = admin_user()
    try:
        version = flow_admin.rollback(db, name, old, user.name)
    except flow_admin.NotFound:
        db.rollback()
        abort(404)
    except (flow_admin.DraftInvalid, flow_admin.StaleDraft) as exc:
        db.rollback()
        return _editor(name, status=409, error=f"Not rolled back: {exc}.")
    audit(db, user, "rollback", "flow", f"{name}@{version}")
    db.commit()
    flash(f"Version {old} is published again, as version {version}.")
    return redirect(url_for("console.admin_flow", name=name))
