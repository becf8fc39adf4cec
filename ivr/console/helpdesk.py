"""The help desk's acts from the agent's call page: a portal password reset (the code texted
through the outbox by the same service the phone uses, ivr.services.portal) and closing the
help-desk ticket the call wrote down. Each is a call event with the agent's user id."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound

from ivr.auth import audit
from ivr.console import bp
from ivr.console.calls import _call, _user
from ivr.console.signin import AGENTS, require
from ivr.db import get_session
from ivr.services import agents, portal, tickets
from ivr.store.models import Ticket, utcnow

# What the agent reads after a reset, by the service's outcome (the phone's refusals).
RESET_MESSAGES = {
    portal.CODE_SENT: (
        "A reset code is on its way to the mobile on file for {username}: the caller enters "
        "it on the portal's password reset page within 10 minutes.",
        "note",
    ),
    portal.ACCOUNT_LOCKED: (
        "The account {username} is locked: its password can't be reset here.",
        "error",
    ),
    portal.LOCKED_OUT: (
        "Resets for {username} are locked for an hour after failed identifications.",
        "error",
    ),
    portal.RATE_LIMITED: ("{username} has had 3 resets in the last 24 hours already.", "error"),
    portal.NO_MOBILE: ("{username} has no mobile on file to text a code to.", "error"),
}
USERNAME_LIMIT = 80


@bp.post("/calls/<sid>/password-reset")
@require(*AGENTS)
def password_reset(sid: str) -> ResponseReturnValue:
    """Text a reset code to the portal account's mobile on file (queued in the outbox)."""
    user = _user()
    db = get_session()
    call = _call(db, sid)
    username = request.form.get("username", "").strip()[:USERNAME_LIMIT]
    account = portal.get_by_username(db, username) if username else None
    if account is None:
        flash("No portal account with that username.", "error")
        return redirect(url_for("console.call_page", sid=sid))
    outcome = portal.start_reset(
        db,
        account,
        call_sid=call.sid,
        now=utcnow(),
        language=call.language,
        caller=call.from_number,
    )
    # The plain code dies here, as on the phone: the outbox worker sends a fresh one.
    agents.record_act(
        db, call, "password_reset", f"account {account.id}: {outcome.outcome}", user_id=user.id
    )
    audit(db, user, "password_reset", "portal_account", str(account.id))
    db.commit()
    text, category = RESET_MESSAGES.get(
        outcome.outcome, ("The reset was refused ({outcome}).", "error")
    )
    flash(text.format(username=account.username, outcome=outcome.outcome), category)
    return redirect(url_for("console.call_page", sid=sid))


@bp.post("/calls/<sid>/tickets/<number>/close")
@require(*AGENTS)
def close_ticket(sid: str, number: str) -> ResponseReturnValue:
    """Close the help-desk ticket this call wrote down."""
    user = _user()
    db = get_session()
    call = _call(db, sid)
    ticket = next((t for t in tickets.of_call(db, call.sid) if t.number == number), None)
    if ticket is None:
        raise NotFound()
    if tickets.close_ticket(db, ticket):
        agents.record_act(db, call, "ticket_closed", f"ticket {ticket.number}", user_id=user.id)
        audit(db, user, "close", "ticket", ticket.number)
        db.commit()
        flash(f"Ticket {ticket.number} is closed.", "note")
    else:
        flash(f"Ticket {ticket.number} was closed already.", "note")
    return redirect(url_for("console.call_page", sid=sid))


def tickets_of(sid: str) -> list[Ticket]:
    return tickets.of_call(get_session(), sid)
