"""The supervisor's page: every queue with its live numbers (waiting, longest wait, callbacks
open, today's entered / answered / abandoned) and the agents signed in with what each is
handling. The page asks /console/supervisor.json every second (ivr/static/supervisor.js),
so it is never more than 2 s behind; the numbers are the agents' API's own reads."""

from __future__ import annotations

from typing import Any

from flask import jsonify, render_template
from flask.typing import ResponseReturnValue

from ivr.auth import audit
from ivr.config import get_settings
from ivr.console import bp
from ivr.console.signin import SUPERVISORS, current_user, require
from ivr.db import get_session
from ivr.services import agents, review
from ivr.store.models import utcnow
from ivr.webhooks import library

POLL_MS = 1000


def _board() -> dict[str, Any]:
    db = get_session()
    settings = get_settings()
    now = utcnow()
    table = library().queue_table
    queues = agents.queue_summaries(db, table, override=settings.hours_override, now=now)
    for queue in queues:
        queue["today"] = agents.today_counts(db, queue["name"], zone=settings.timezone, now=now)
    people = review.agents_signed_in(db, session_hours=settings.session_hours, now=now)
    return {"queues": queues, "agents": people, "at": now.isoformat()}


@bp.route("/supervisor")
@require(*SUPERVISORS)
def supervisor() -> ResponseReturnValue:
    db = get_session()
    board = _board()
    audit(db, current_user(), "view", "supervisor", "all")
    db.commit()
    return render_template("console/supervisor.html", board=board, poll_ms=POLL_MS)


@bp.route("/supervisor.json")
@require(*SUPERVISORS)
def supervisor_json() -> ResponseReturnValue:
    return jsonify(_board())
