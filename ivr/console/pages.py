"""The console's pages: the queue view (live), and the doors of the pages still to come."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import jsonify, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue

from ivr.auth import audit
from ivr.console import bp
from ivr.console.signin import ADMINS, AGENTS, CLINICIANS, current_user, home_for, require
from ivr.db import get_session
from ivr.services.waiting import Waiting, waiting_now
from ivr.store.models import Plan

LANGUAGES = {"en-US": "English", "es-US": "Spanish"}
# A spoken answer heard with less confidence than this is marked "unsure" for the agent.
UNSURE_BELOW = 0.6
POLL_MS = 1000  # the queue view asks for news every second: a new caller shows within 2 s


def _label(slot: str) -> str:
    return slot.replace("_", " ").capitalize()


def _plans() -> dict[str, str]:
    return {p.code: p.name for p in get_session().scalars(sa.select(Plan))}


def _item(w: Waiting, plans: dict[str, str], longest: bool) -> dict[str, Any]:
    return {
        "kind": w.kind,
        "sid": w.sid,
        "queue": w.queue,
        "plan": plans.get(w.plan or "", w.plan or "") or "not given",
        "reason": (w.reason or "asked for a person").replace("_", " "),
        "language": LANGUAGES.get(w.language, w.language),
        "since": w.since.isoformat(),
        "waiting_seconds": w.waiting_seconds,
        "answers": [
            {
                "label": _label(a.slot),
                "value": a.text,
                "unsure": a.confidence is not None and a.confidence < UNSURE_BELOW,
            }
            for a in w.answers
        ],
        "longest": longest,
    }


def _queue_items() -> list[dict[str, Any]]:
    waiting = waiting_now(get_session())
    plans = _plans()
    return [_item(w, plans, i == 0) for i, w in enumerate(waiting)]


@bp.route("/")
def index() -> ResponseReturnValue:
    user = current_user()
    return redirect(home_for(user) if user is not None else url_for("console.sign_in"))


@bp.route("/queues")
@require(*AGENTS)
def queues() -> ResponseReturnValue:
    db = get_session()
    items = _queue_items()
    audit(db, current_user(), "view", "queues", "all")
    db.commit()
    return render_template(
        "console/queues.html",
        items=items,
        poll_ms=POLL_MS,
        agent_phone=session.get("agent_phone"),
    )


@bp.route("/queues.json")
@require(*AGENTS)
def queues_json() -> ResponseReturnValue:
    return jsonify(items=_queue_items())


@bp.route("/review")
@require(*CLINICIANS)
def review() -> ResponseReturnValue:
    return render_template(
        "console/placeholder.html",
        title="Review worklist",
        message="The clinicians' worklist of pended requests is not built yet.",
    )


@bp.route("/admin")
@require(*ADMINS)
def admin() -> ResponseReturnValue:
    return render_template(
        "console/placeholder.html",
        title="Administration",
        message="The admin pages are not built yet.",
    )
