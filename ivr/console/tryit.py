"""Try the line (admins): a phone in the page (keypad, words, silence) on a sandbox call
(ivr.sandbox), showing what the caller hears and the node the call is at. It runs the
published flows, or with "drafts" the admins' drafts of flows and prompts in their place.
Plain forms, no script: every key is a button the keyboard reaches."""

from __future__ import annotations

import importlib
from typing import Any

import yaml
from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ivr import sandbox
from ivr.auth import audit
from ivr.console import bp
from ivr.console.admin import admin_user
from ivr.console.signin import ADMINS, require
from ivr.db import get_session
from ivr.engine import FlowError, Input
from ivr.safetext import clean
from ivr.services.calls import RAW_INPUT_LIMIT
from ivr.versions import Published

KEYPAD = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#")
DIGITS = set("0123456789*#")


def flow_admin() -> Any:
    """The drafts' service (ivr.services.flow_admin), imported when first needed; None while
    this build has none."""
    try:
        return importlib.import_module("ivr.services.flow_admin")
    except ImportError:
        return None


def drafts_available() -> bool:
    return flow_admin() is not None


def draft_content() -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Every flow draft's YAML and every language's prompt draft (dotted key -> text)."""
    service = flow_admin()
    db = get_session()
    flows: dict[str, str] = {}
    for summary in service.list_flows(db):
        if summary.has_draft:
            draft = service.get_flow(db, summary.name).draft
            if draft is not None:
                flows[summary.name] = draft.yaml
    prompts: dict[str, dict[str, Any]] = {}
    for language in service.languages(db):
        detail = service.get_prompts(db, language)
        if detail.draft is not None:
            prompts[language] = dict(detail.draft.texts)  # the whole table, as drafted
    return flows, prompts


def _version(use_drafts: bool) -> Published:
    db = get_session()
    if not use_drafts or not drafts_available():
        return sandbox.bundle_for(db)
    flows, prompts = draft_content()
    return sandbox.bundle_for(db, flows, prompts)


def _refused(message: str, use_drafts: bool) -> ResponseReturnValue:
    page = render_template(
        "console/admin/try.html",
        steps=[],
        sid=None,
        error=message,
        drafts=use_drafts,
        can_draft=drafts_available(),
        keypad=KEYPAD,
    )
    return page, 422


@bp.route("/admin/try")
@require(*ADMINS)
def admin_try() -> ResponseReturnValue:
    """The phone, before a call: start one on the published flows or the drafts."""
    return render_template(
        "console/admin/try.html",
        steps=[],
        sid=None,
        drafts=request.args.get("drafts") == "1",
        can_draft=drafts_available(),
        keypad=KEYPAD,
    )


@bp.route("/admin/try", methods=["POST"])
@require(*ADMINS)
def admin_try_start() -> ResponseReturnValue:
    """Place a sandbox call and hear its first turn."""
    db = get_session()
    use_drafts = request.form.get("drafts") == "1"
    try:
        version = _version(use_drafts)
    except (FlowError, yaml.YAMLError):
        db.rollback()
        return _refused(
            "The drafts have problems, so they cannot be tried: fix them in the editor first.",
            use_drafts,
        )
    sid = sandbox.start(db, version)
    audit(db, admin_user(), "try", "flows", "drafts" if use_drafts else "published")
    db.commit()
    return redirect(url_for("console.admin_try_call", sid=sid, drafts=int(use_drafts)))


def _input(form: Any) -> Input | None:
    if "silence" in form:
        return Input("none")
    if "speech" in form:
        words = clean(form.get("speech", ""))[:RAW_INPUT_LIMIT]
        return Input("speech", speech=words, confidence=0.92) if words else None
    digits = "".join(form.get("digits", "").split())
    if digits and len(digits) <= 64 and set(digits) <= DIGITS:
        return Input("dtmf", digits=digits)
    return None


@bp.route("/admin/try/<sid>")
@require(*ADMINS)
def admin_try_call(sid: str) -> ResponseReturnValue:
    """The sandbox call so far: what the caller said and heard, turn by turn."""
    db = get_session()
    try:
        steps = sandbox.steps(db, sid)
    except sandbox.NotSandbox:
        abort(404)
    return render_template(
        "console/admin/try.html",
        steps=steps,
        sid=sid,
        ended=sandbox.ended(db, sid),
        transfer=sandbox.transfer_of(db, sid),
        drafts=request.args.get("drafts") == "1",
        can_draft=drafts_available(),
        keypad=KEYPAD,
        error=request.args.get("error"),
    )


@bp.route("/admin/try/<sid>", methods=["POST"])
@require(*ADMINS)
def admin_try_turn(sid: str) -> ResponseReturnValue:
    """Send a key, some words or silence to the sandbox call."""
    db = get_session()
    use_drafts = request.form.get("drafts") == "1"
    inp = _input(request.form)
    back: dict[str, Any] = {"sid": sid, "drafts": int(use_drafts), "_anchor": "phone"}
    if inp is None:
        db.rollback()
        return redirect(url_for("console.admin_try_call", error="nothing", **back))
    try:
        version = _version(use_drafts)
        sandbox.take_turn(db, sid, inp, version)
    except sandbox.NotSandbox:
        db.rollback()
        abort(404)
    except (FlowError, yaml.YAMLError):
        db.rollback()
        return redirect(url_for("console.admin_try_call", error="drafts", **back))
    db.commit()
    return redirect(url_for("console.admin_try_call", **back))
