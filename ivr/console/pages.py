"""The console's pages: the queue view (live). The clinicians' worklist is
ivr/console/review.py, the supervisor's page supervisor.py, the admin pages admin.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask import jsonify, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue

from ivr.auth import audit, audit_reads
from ivr.console import bp
from ivr.console.signin import AGENTS, current_user, home_for, require
from ivr.db import get_session
from ivr.services import agents
from ivr.services.queues import OPEN
from ivr.store.models import Call, Plan, utcnow

LANGUAGES = {"en-US": "English", "es-US": "Spanish"}
POLL_MS = 1000  # the queue view asks for news every second: a new caller shows within 2 s

# Slots the page shows in a column of their own (the plan).
SHOWN_ELSEWHERE = {"plan", "plan_name"}


def _label(slot: str) -> str:
    return slot.replace("_", " ").capitalize()


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items() if not str(k).startswith("_"))
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _plans() -> dict[str, str]:
    return {p.code: p.name for p in get_session().scalars(sa.select(Plan))}


def _answers(call: Call | None) -> list[dict[str, Any]]:
    """What the caller said, in the order they said it (agents.call_context), as text; a
    free-text answer they skipped says so."""
    if call is None:
        return []
    slots = call.slots or {}
    said = agents.call_context(call)
    out: list[dict[str, Any]] = []
    for key, value in slots.items():
        if key.endswith("_skipped"):
            base = key.removesuffix("_skipped")
            if value is True and base in slots and base not in SHOWN_ELSEWHERE:
                out.append({"label": _label(base), "value": "skipped", "unsure": False})
            continue
        if key in SHOWN_ELSEWHERE or key not in said or slots.get(f"{key}_skipped") is True:
            continue
        heard = said[key]
        out.append(
            {
                "label": _label(key),
                "value": _text(heard["value"]),
                "unsure": bool(heard["low_confidence"]),
            }
        )
    return out


def _item(
    *,
    kind: str,
    call: Call | None,
    sid: str,
    queue: str,
    language: str,
    since: dt.datetime,
    now: dt.datetime,
    plans: dict[str, str],
    callback_id: int | None = None,
) -> dict[str, Any]:
    plan = call.plan if call is not None else None
    reason = agents.reason_in_words(call.transfer_reason) if call is not None else None
    return {
        "kind": kind,
        "sid": sid,
        "queue": queue,
        "plan": plans.get(plan or "", plan or "") or "not given",
        "reason": reason or "asked for a person",
        "language": LANGUAGES.get(language, language),
        "since": since.isoformat(),
        "waiting_seconds": max(0, int((now - since).total_seconds())),
        "answers": _answers(call),
        "longest": False,
        "callback_id": callback_id,
    }


def _queue_items() -> list[dict[str, Any]]:
    """Calls on hold (not yet taken by an agent) and callbacks still to make, longest wait
    first: the agents' API's own reads (ivr.services.agents)."""
    db = get_session()
    now = utcnow()
    plans = _plans()
    items = [
        _item(
            kind="call",
            call=call,
            sid=call.sid,
            queue=call.queue or "",
            language=call.language,
            since=call.enqueued_at or now,
            now=now,
            plans=plans,
        )
        for call in agents.waiting_calls(db)
    ]
    for cb in agents.list_callbacks(db):
        if cb.status != OPEN:  # one an agent is dialing now is no longer waiting
            continue
        items.append(
            _item(
                kind="callback",
                call=agents.call_of(db, cb.call_sid),
                sid=cb.call_sid,
                queue=cb.queue,
                language=cb.language,
                since=cb.place_at,
                now=now,
                plans=plans,
                callback_id=cb.id,
            )
        )
    items.sort(key=lambda i: (dt.datetime.fromisoformat(i["since"]), i["kind"], i["sid"]))
    if items:
        items[0]["longest"] = True
    return items


@bp.route("/")
def index() -> ResponseReturnValue:
    user = current_user()
    return redirect(home_for(user) if user is not None else url_for("console.sign_in"))


@bp.route("/queues")
@require(*AGENTS)
def queues() -> ResponseReturnValue:
    db = get_session()
    user = current_user()
    items = _queue_items()
    open_call = agents.open_call_of(db, user.id) if user is not None else None
    audit(db, user, "view", "queues", "all")
    audit_reads(db, user, "call", (i["sid"] for i in items if i["kind"] == "call"))
    db.commit()
    return render_template(
        "console/queues.html",
        items=items,
        open_call=open_call,
        poll_ms=POLL_MS,
        agent_phone=session.get("agent_phone"),
    )


@bp.route("/queues.json")
@require(*AGENTS)
def queues_json() -> ResponseReturnValue:
    db = get_session()
    items = _queue_items()
    audit_reads(db, current_user(), "call", (i["sid"] for i in items if i["kind"] == "call"))
    db.commit()
    return jsonify(items=items)
