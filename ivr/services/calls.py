"""Calls and their turns in the store: start, lock, record a turn, record Twilio's status."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.engine import Turn
from ivr.store.models import Call, CallEvent, utcnow

RAW_INPUT_LIMIT = 500
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
KNOWN_STATUSES = FINAL_STATUSES | {"queued", "initiated", "ringing", "in-progress"}


def lock_call(session: so.Session, sid: str) -> Call | None:
    """The call row, locked for this turn (FOR UPDATE on PostgreSQL)."""
    return session.scalars(sa.select(Call).where(Call.sid == sid).with_for_update()).first()


def start_call(
    session: so.Session,
    *,
    sid: str,
    from_number: str | None,
    to_number: str | None,
    flow_version_id: int,
    node: str,
    language: str,
) -> Call:
    call = Call(
        sid=sid,
        from_number=from_number,
        to_number=to_number,
        flow_version_id=flow_version_id,
        node=node,
        language=language,
        slots={},
        attempts=0,
        turn=-1,
    )
    session.add(call)
    session.flush()
    return call


def recorded_turn(session: so.Session, call: Call, number: int) -> CallEvent | None:
    return session.scalars(
        sa.select(CallEvent).where(CallEvent.call_id == call.id, CallEvent.turn == number)
    ).first()


def record_turn(
    session: so.Session, call: Call, number: int, turn: Turn, twiml: str, latency_ms: int
) -> CallEvent:
    """Save the call's new state and the turn's event row in the request's transaction."""
    state = turn.state
    call.node = state.node
    call.slots = dict(state.slots)
    call.attempts = state.attempts
    call.turn = number
    if isinstance(state.slots.get("plan"), str):
        call.plan = state.slots["plan"]
    if turn.transfer is not None:
        call.queue = turn.transfer.queue
        call.transfer_reason = turn.transfer.reason[:120]
        call.outcome = "transferred"
    elif turn.hangup:
        call.outcome = "self_service"
    ev = turn.event
    event = CallEvent(
        call_id=call.id,
        turn=number,
        node=ev.node,
        next_node=state.node,
        input_kind=ev.input_kind,
        raw_input=(ev.raw or None) and ev.raw[:RAW_INPUT_LIMIT],
        matched=(ev.matched or None) and ev.matched[:200],
        confidence=ev.confidence,
        outcome=ev.outcome,
        latency_ms=latency_ms,
        twiml=twiml,
    )
    session.add(event)
    session.flush()
    return event


def record_status(
    session: so.Session, sid: str, status: str, duration: int | None, at: dt.datetime | None = None
) -> Call | None:
    """Apply one of Twilio's status callbacks; unknown calls are ignored."""
    call = lock_call(session, sid)
    if call is None:
        return None
    call.status = status
    if duration is not None:
        call.duration_s = duration
    if status in FINAL_STATUSES and call.ended_at is None:
        call.ended_at = at or utcnow()
    return call


def call_to_dict(call: Call, *, with_events: bool = True) -> dict[str, Any]:
    """The call as the API shows it."""
    out: dict[str, Any] = {
        "sid": call.sid,
        "from": call.from_number,
        "to": call.to_number,
        "plan": call.plan,
        "language": call.language,
        "status": call.status,
        "outcome": call.outcome,
        "node": call.node,
        "queue": call.queue,
        "transfer_reason": call.transfer_reason,
        "slots": {k: v for k, v in (call.slots or {}).items() if not k.startswith("_")},
        "flow_version": call.flow_version_id,
        "started_at": _iso(call.started_at),
        "ended_at": _iso(call.ended_at),
        "duration": call.duration_s,
        "turns": max(call.turn + 1, 0),
    }
    if with_events:
        out["events"] = [
            {
                "turn": e.turn,
                "node": e.node,
                "next_node": e.next_node,
                "input_kind": e.input_kind,
                "raw_input": e.raw_input,
                "matched": e.matched,
                "confidence": e.confidence,
                "outcome": e.outcome,
                "latency_ms": e.latency_ms,
                "at": _iso(e.created_at),
            }
            for e in call.events
        ]
    return out


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
