"""Help-desk tickets: the caller's problem written down before a person picks up."""

from __future__ import annotations

import secrets

import sqlalchemy.orm as so

from ivr.services import calls
from ivr.services.orders import assign_unique
from ivr.store.models import Ticket

KINDS = ("data_issue", "navigation")
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
        status="open",
    )
    sandbox = calls.is_sandbox(session, call_sid)
    assign_unique(session, ticket, "number", TICKET_DIGITS, secrets.randbelow, sandbox=sandbox)
    return ticket
