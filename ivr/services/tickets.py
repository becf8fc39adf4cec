"""Help-desk tickets: the caller's problem written down before a person picks up."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.match.ids import luhn_check_digit
from ivr.store.models import Ticket

KINDS = ("data_issue", "navigation")


def _number() -> str:
    draw = secrets.randbelow
    payload = str(1 + draw(9)) + "".join(str(draw(10)) for _ in range(6))
    return payload + luhn_check_digit(payload)


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
    for _ in range(20):
        number = _number()
        if session.scalar(sa.select(sa.func.count()).where(Ticket.number == number)) == 0:
            break
    ticket = Ticket(
        number=number,
        kind=kind,
        plan=plan,
        username=(username or None) and username[:80],
        description=(description or None) and description[:2000],
        description_confidence=confidence,
        call_sid=call_sid,
        status="open",
    )
    session.add(ticket)
    session.flush()
    return ticket


def for_call(session: so.Session, call_sid: str) -> list[Ticket]:
    return list(session.scalars(sa.select(Ticket).where(Ticket.call_sid == call_sid)))
