"""Calls and their turns in the store: start, lock, record a turn, record Twilio's status."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.engine import Turn
from ivr.store.models import Call, CallEvent, utcnow

RAW_INPUT_LIMIT = 500
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
KNOWN_STATUSES = FINAL_STATUSES | {"queued", "initiated", "ringing", "in-progress"}


CALLS = cast(sa.Table, Call.__table__)
EVENTS = cast(sa.Table, CallEvent.__table__)


@dataclass(frozen=True)
class CallRow:
    """What a turn needs of the call row: read with one Core statement, not the ORM.

    The webhook is the hot path (every turn of every call), so it reads and writes the
    call with plain statements; pages and the API use the `Call` model.
    """

    id: int
    sid: str
    from_number: str | None
    plan: str | None
    language: str
    flow_version_id: int
    node: str
    slots: dict[str, Any]
    attempts: int
    turn: int
    scratch: dict[str, Any]
    stack: tuple[str, ...] = ()


# Built once: a statement object reused with bound parameters skips SQLAlchemy's per-call
# construction and cache-key work, which cost more than the queries themselves.
_READ = sa.select(*[CALLS.c[name] for name in CallRow.__dataclass_fields__]).where(
    CALLS.c.sid == sa.bindparam("sid")
)
_LOCK = _READ.with_for_update()
# The SET clause comes from the parameters given; `_turn` guards against a lost update.
_UPDATE = sa.update(CALLS).where(
    CALLS.c.id == sa.bindparam("_id"), CALLS.c.turn == sa.bindparam("_turn")
)
_INSERT_EVENT = sa.insert(EVENTS)


def lock_call(session: so.Session, sid: str) -> CallRow | None:
    """The call row, this request's alone until it commits: FOR UPDATE on PostgreSQL; on
    SQLite the writer's transaction already holds the database's write lock."""
    return _call_row(session, _LOCK, sid)


def read_call(session: so.Session, sid: str) -> CallRow | None:
    """The call row as it is now, without locking it."""
    return _call_row(session, _READ, sid)


def _call_row(session: so.Session, statement: sa.Select[Any], sid: str) -> CallRow | None:
    row = session.connection().execute(statement, {"sid": sid}).first()
    if row is None:
        return None
    values = row._asdict()
    values["slots"] = dict(values["slots"] or {})
    values["scratch"] = dict(values["scratch"] or {})
    values["stack"] = tuple(values["stack"] or ())
    return CallRow(**values)


def start_call(
    session: so.Session,
    *,
    sid: str,
    from_number: str | None,
    to_number: str | None,
    flow_version_id: int,
    node: str,
    language: str,
    sandbox: bool = False,
) -> CallRow:
    """Write a new call's row, before its first turn (turn -1: none played yet); a
    `sandbox` call is an admin trying the line (see `is_sandbox`)."""
    now = utcnow()
    result = session.connection().execute(
        sa.insert(CALLS).values(
            sid=sid,
            from_number=from_number,
            to_number=to_number,
            flow_version_id=flow_version_id,
            node=node,
            language=language,
            slots={},
            attempts=0,
            turn=-1,
            status="in-progress",
            started_at=now,
            updated_at=now,
            sandbox=sandbox,
        )
    )
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row
    call_id = int(key[0])
    return CallRow(call_id, sid, from_number, None, language, flow_version_id, node, {}, 0, -1, {})


def is_sandbox(session: so.Session, sid: str | None) -> bool:
    """Whether `sid` is an admin's sandbox call: its orders and tickets get SBX numbers
    (never a real one), its texts are never sent, and it is never listed or counted."""
    if not sid:
        return False
    return bool(session.scalar(sa.select(Call.sandbox).where(Call.sid == sid)))


def recorded_turn(session: so.Session, call: CallRow, number: int) -> CallEvent | None:
    return session.scalars(
        sa.select(CallEvent).where(CallEvent.call_id == call.id, CallEvent.turn == number)
    ).first()


def record_turn(
    session: so.Session,
    call: CallRow,
    number: int,
    turn: Turn,
    twiml: str,
    latency_ms: int,
    *,
    enqueued: bool = True,
) -> bool:
    """Save the call's new state and the turn's event row in the request's transaction.

    A transfer is `enqueued` unless the queue was closed (the caller heard its hours).
    False, and nothing written, when the call is no longer at the turn `call` was read at
    (another request for the same call got there first).
    """
    state = turn.state
    now = utcnow()
    changes: dict[str, Any] = {
        "node": state.node,
        "slots": dict(state.slots),
        "scratch": dict(state.scratch),
        "attempts": state.attempts,
        "stack": list(state.stack),
        "language": state.language,
        "turn": number,
        "updated_at": now,
    }
    if isinstance(state.slots.get("plan"), str):
        changes["plan"] = state.slots["plan"]
    if turn.transfer is not None:
        changes["queue"] = turn.transfer.queue
        changes["transfer_reason"] = turn.transfer.reason[:120]
        changes["outcome"] = "transferred" if enqueued else "after_hours"
        if enqueued:
            changes["enqueued_at"] = now
    elif turn.hangup:
        changes["outcome"] = "self_service"
    conn = session.connection()
    if conn.execute(_UPDATE, {"_id": call.id, "_turn": call.turn, **changes}).rowcount != 1:
        return False
    ev = turn.event
    conn.execute(
        _INSERT_EVENT,
        dict(
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
            created_at=now,
        ),
    )
    return True


def record_status(
    session: so.Session, sid: str, status: str, duration: int | None, at: dt.datetime | None = None
) -> bool:
    """Apply one of Twilio's status callbacks; unknown calls are ignored (False)."""
    call = session.scalars(sa.select(Call).where(Call.sid == sid).with_for_update()).first()
    if call is None:
        return False
    call.status = status
    if duration is not None:
        call.duration_s = duration
    if status in FINAL_STATUSES and call.ended_at is None:
        call.ended_at = at or utcnow()
    return True
