"""Help-desk tickets: the caller's problem written down before a person picks up."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.services import calls
from ivr.services.orders import assign_unique
from ivr.store.models import Ticket

KINDS = ("data_issue", "navigation")
OPEN, CLOSED = "open", "closed"
TICKET_DIGITS = 8


def open_ticket(
    session: so.Session,
    *,
    kind: str,
    plan: str | None,
    username: str | None,
    description: str | None,
    confidence: float | None,
    call_sid: str | None,
) -> Ticket:
    """Create a ticket with an 8-digit number (the last a check digit)."""
    if kind not in KINDS:
        raise ValueError(f"unknown ticket kind {kind!r}")
    ticket = Ticket(
        kind=kind,
        plan=plan,
        username=(username or None) and username[:80],
        description=(description or None) and description[:2000],
        description_confidence=confidence,
        call_sid=call_sid,
        status=OPEN,
    )
    sandbox = calls.is_sandbox(session, call_sid)
    assign_unique(session, ticket, "number", TICKET_DIGITS, secrets.randbelow, sandbox=sandbox)
    return ticket


def of_call(session: so.Session, call_sid: str) -> list[Ticket]:
    """The tickets a call wrote down, oldest first."""
    return list(
        session.scalars(sa.select(Ticket).where(Ticket.call_sid == call_sid).order_by(Ticket.id))
    )


def close_ticket(session: so.Session, ticket: Ticket) -> bool:
    """Close an open ticket; False when it was closed already (nothing changes). Who closed
    it is the caller's act to record (an agent's call event)."""
    if ticket.status == CLOSED:
        return False
    ticket.status = CLOSED
    session.flush()
    return True
