"""JSON API for call-center agents: the queues, taking a waiting call, wrapping it up, and
callbacks. Each route is a thin door onto ivr.services.agents (the console uses the same)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, abort, current_app, g, jsonify, request

from ivr.api import bp
from ivr.api.common import MAX_LIMIT, json_object, page_limit, problem
from ivr.api.orders import decode_cursor, encode_cursor
from ivr.auth import audit, audit_reads, require_role
from ivr.config import get_settings
from ivr.db import get_session
from ivr.hold import callback_pickup, pickup
from ivr.services import agents
from ivr.services.agents import AgentError
from ivr.store.models import Role
from ivr.webhooks import library

AGENTS = (Role.ADMIN, Role.SUPERVISOR, Role.AGENT)


def refused(exc: AgentError) -> tuple[Response, int]:
    body: dict[str, Any] = {"error": exc.code, "message": str(exc)}
    if exc.field:
        body["field"] = exc.field
    if exc.open_call:
        body["open_call"] = exc.open_call
    return jsonify(body), exc.status


def _body() -> dict[str, Any] | None:
    return json_object() if request.get_data(cache=True).strip() else {}


def _twilio() -> tuple[dict[str, Any], Any]:
    return current_app.config, current_app.extensions.get("ivr.twilio_http")


@bp.get("/queues")
@require_role(*AGENTS)
def list_queues() -> Response:
    """`{"items": [{"name", "open", "waiting", "longest_wait_seconds", "callbacks_open"}]}`."""
    session = get_session()
    items = agents.queue_summaries(
        session, library().queue_table, override=get_settings().hours_override
    )
    audit(session, g.user, "list", "queue", "all")
    session.commit()
    return jsonify(items=items)


@bp.get("/queues/<name>")
@require_role(*AGENTS)
def get_queue(name: str) -> Response:
    """Who waits in the queue (with what they said), its callbacks and today's numbers."""
    queue = library().queue_table.get(name)
    if queue is None:
        abort(404, description="No queue with that name.")
    session = get_session()
    settings = get_settings()
    view = agents.queue_detail(
        session, queue, zone=settings.timezone, override=settings.hours_override
    )
    audit(session, g.user, "read", "queue", name)
    audit_reads(session, g.user, "call", (w["call_sid"] for w in view["waiting"]))
    session.commit()
    return jsonify(view)


@bp.get("/calls")
@require_role(*AGENTS)
def list_calls() -> Response | tuple[Response, int]:
    """Calls newest first: `?status=in-progress|queued|completed`, `?since=` (ISO 8601),
    `?limit=` and `?cursor=` (the `next` of the page before)."""
    args = request.args
    limit = page_limit()
    if limit is None:
        return problem(422, "invalid_limit", f"limit must be a whole number, 1 to {MAX_LIMIT}.")
    status = args.get("status") or None
    if status is not None and status not in agents.CALL_STATUSES:
        message = "status must be one of: " + ", ".join(agents.CALL_STATUSES) + "."
        return problem(422, "invalid_status", message)
    since = None
    if args.get("since"):
        try:
            since = dt.datetime.fromisoformat(args["since"].strip().replace(" ", "+"))
        except ValueError:
            since = None
        if since is None:
            return problem(422, "invalid_since", "since must be an ISO 8601 date and time.")
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
    after_id = None
    if "cursor" in args:
        after_id = decode_cursor(args["cursor"].strip())
        if after_id is None:
            return problem(422, "invalid_cursor", "cursor must be the `next` of a page.")
    session = get_session()
    found = agents.list_calls(
        session, status=status, since=since, after_id=after_id, limit=limit + 1
    )
    page, more = found[:limit], len(found) > limit
    items = [agents.call_summary(session, c) for c in page]
    audit(session, g.user, "search", "call", status or "all")
    audit_reads(session, g.user, "call", (c.sid for c in page))
    session.commit()
    return jsonify(items=items, next=encode_cursor(page[-1].id) if more else None)


@bp.post("/calls/<sid>/accept")
@require_role(*AGENTS)
def accept_call(sid: str) -> Response | tuple[Response, int]:
    """Take a waiting call: `{"agent_phone": E.164}`. 200 `{"call_sid", "accepted_by",
    "accepted_at", "connected", ...}`; 409 when it is taken or no longer waiting."""
    body = _body()
    if body is None:
        return problem(422, "invalid_body", "the body must be a JSON object")
    session = get_session()
    try:
        call = agents.accept(session, sid, user_id=g.user.id, agent_phone=body.get("agent_phone"))
    except AgentError as exc:
        session.rollback()
        return refused(exc)
    audit(session, g.user, "accept", "call", sid)
    session.commit()  # the call is ours before anyone is dialed
    config, http_client = _twilio()
    connection = agents.connect_accepted(
        session,
        call,
        user_id=g.user.id,
        config=config,
        http_client=http_client,
        pickup=pickup(session, call),
    )
    session.commit()
    return jsonify(
        call_sid=call.sid,
        accepted_by=call.accepted_by,
        accepted_at=call.accepted_at.isoformat() if call.accepted_at else None,
        connected=connection.connected,
        conference=connection.conference,
        agent_call_sid=connection.agent_call_sid,
        error=connection.error,
        draft_order=agents.draft_of(session, call.sid),
    )


@bp.post("/calls/<sid>/wrap-up")
@require_role(*AGENTS)
def wrap_up_call(sid: str) -> Response | tuple[Response, int]:
    """`{"disposition": one of DISPOSITIONS, "notes": "..."}`: 422 without a good one."""
    body = _body()
    if body is None:
        return problem(422, "invalid_body", "the body must be a JSON object")
    session = get_session()
    try:
        call = agents.wrap_up(
            session,
            sid,
            user_id=g.user.id,
            disposition=body.get("disposition"),
            notes=body.get("notes"),
        )
    except AgentError as exc:
        session.rollback()
        return refused(exc)
    audit(session, g.user, "wrap_up", "call", sid)
    session.commit()
    return jsonify(
        call_sid=call.sid,
        disposition=call.disposition,
        notes=call.wrap_notes,
        wrapped_at=call.wrapped_at.isoformat() if call.wrapped_at else None,
    )


@bp.get("/callbacks")
@require_role(*AGENTS)
def list_callbacks() -> Response | tuple[Response, int]:
    """`?status=open` (default: in their place in line) or `done`."""
    status = request.args.get("status", "open")
    if status not in ("open", "done"):
        return problem(422, "invalid_status", "status must be open or done.")
    session = get_session()
    items = [
        agents.callback_view(session, c) for c in agents.list_callbacks(session, status=status)
    ]
    audit(session, g.user, "list", "callback", status)
    session.commit()
    return jsonify(items=items)


@bp.post("/callbacks/<int:callback_id>/dial")
@require_role(*AGENTS)
def dial_callback(callback_id: int) -> Response | tuple[Response, int]:
    """`{"agent_phone"}`: call the agent, then the caller, into one conference."""
    body = _body()
    if body is None:
        return problem(422, "invalid_body", "the body must be a JSON object")
    session = get_session()
    try:
        callback = agents.start_callback(
            session, callback_id, user_id=g.user.id, agent_phone=body.get("agent_phone")
        )
    except AgentError as exc:
        session.rollback()
        return refused(exc)
    audit(session, g.user, "dial", "callback", str(callback_id))
    session.commit()
    config, http_client = _twilio()
    connection = agents.connect_started_callback(
        session,
        callback,
        agents.e164(body.get("agent_phone")) or "",
        user_id=g.user.id,
        config=config,
        http_client=http_client,
        pickup=callback_pickup(session, callback.call_sid),
    )
    view = agents.callback_view(session, callback)
    session.commit()
    return jsonify(
        {
            **view,
            "connected": connection.connected,
            "conference": connection.conference,
            "agent_call_sid": connection.agent_call_sid,
            "caller_call_sid": connection.caller_call_sid,
            "error": connection.error,
        }
    )


@bp.post("/callbacks/<int:callback_id>/complete")
@require_role(*AGENTS)
def complete_callback(callback_id: int) -> Response | tuple[Response, int]:
    """`{"outcome": "reached"|"no_answer"|"left_message"}`; 3 tries not reached close it."""
    body = _body()
    if body is None:
        return problem(422, "invalid_body", "the body must be a JSON object")
    session = get_session()
    try:
        callback = agents.complete_callback(
            session, callback_id, user_id=g.user.id, outcome=body.get("outcome")
        )
    except AgentError as exc:
        session.rollback()
        return refused(exc)
    audit(session, g.user, "complete", "callback", str(callback_id))
    view = agents.callback_view(session, callback)
    session.commit()
    return jsonify(view)
