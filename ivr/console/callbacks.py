"""Callbacks from the console: dial one from the queue view (the agent's phone first, then
the caller, into one conference: the same service acts as POST /api/v1/callbacks/<id>/dial),
then say how the try went (reached, no answer, left a message) from the call's page. Three
tries without reaching the caller close it as not reached (ivr.services.agents)."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from ivr.auth import audit
from ivr.console import bp
from ivr.console.calls import PHONE_KEY, _user, refused_message
from ivr.console.signin import AGENTS, require
from ivr.db import get_session
from ivr.hold import callback_pickup
from ivr.services import agents
from ivr.services.agents import CALLBACK_TRIES, NOT_REACHED, AgentError


@bp.post("/callbacks/<int:callback_id>/dial")
@require(*AGENTS)
def dial_callback(callback_id: int) -> ResponseReturnValue:
    """Call the agent, then the caller, into one conference (as the API's dial)."""
    user = _user()
    db = get_session()
    phone = session.get(PHONE_KEY)
    try:
        callback = agents.start_callback(db, callback_id, user_id=user.id, agent_phone=phone)
    except AgentError as exc:
        db.rollback()
        flash(refused_message(exc), "error")
        return redirect(url_for("console.queues"))
    audit(db, user, "dial", "callback", str(callback_id))
    db.commit()  # the callback is ours before anyone is dialed
    connection = agents.connect_started_callback(
        db,
        callback,
        agents.e164(phone) or "",
        user_id=user.id,
        config=current_app.config,
        http_client=current_app.extensions.get("ivr.twilio_http"),
        pickup=callback_pickup(db, callback.call_sid),
    )
    db.commit()
    if connection.connected:
        flash("Your phone rings first, then the caller's.", "note")
    elif current_app.config.get("TWILIO_ACCOUNT_SID"):
        flash("Twilio could not place the calls: the callback is back in the line.", "error")
        return redirect(url_for("console.queues"))
    else:
        flash("Not dialed (no Twilio account is set): call the caller yourself.", "note")
    return redirect(url_for("console.call_page", sid=callback.call_sid))


@bp.post("/callbacks/<int:callback_id>/complete")
@require(*AGENTS)
def complete_callback(callback_id: int) -> ResponseReturnValue:
    """How the try went: reached (go on with the call), no answer or left a message."""
    user = _user()
    db = get_session()
    outcome = request.form.get("outcome", "")
    try:
        callback = agents.complete_callback(db, callback_id, user_id=user.id, outcome=outcome)
    except AgentError as exc:
        db.rollback()
        flash(str(exc)[:1].upper() + str(exc)[1:], "error")
        return redirect(url_for("console.queues"))
    audit(db, user, "complete", "callback", str(callback_id))
    db.commit()
    if outcome == "reached":
        flash("Reached: go on with the call, then wrap it up.", "note")
        return redirect(url_for("console.call_page", sid=callback.call_sid))
    if callback.outcome == NOT_REACHED:
        flash(f"Not reached after {CALLBACK_TRIES} tries: the callback is closed.", "note")
    else:
        flash(
            f"Try {callback.tries} of {CALLBACK_TRIES}: the callback is back in the line.", "note"
        )
    return redirect(url_for("console.queues"))
