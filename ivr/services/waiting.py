"""Who is waiting for a person now: the calls on hold and the open callbacks, in the
order of service, with what each caller already said. Read-only; no Flask here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.services.queues import OPEN
from ivr.store.models import Call, Callback, utcnow


@dataclass(frozen=True)
class Answer:
    slot: str
    text: str
    confidence: float | None = None  # the recognizer's, for a spoken answer


# Slots that repeat what the page shows elsewhere (the plan column).
SHOWN_ELSEWHERE = {"plan", "plan_name"}


@dataclass(frozen=True)
class Waiting:
    kind: str  # "call" (on hold) or "callback"
    sid: str
    queue: str
    plan: str | None
    reason: str | None
    language: str
    since: dt.datetime
    waiting_seconds: int
    answers: list[Answer] = field(default_factory=list)
    callback_id: int | None = None


def _answers(call: Call | None) -> list[Answer]:
    """The caller's answers by slot, as text; a slot's `_confidence` and `_skipped` notes
    go with it, and the services' own `_` slots are left out."""
    if call is None:
        return []
    slots = call.slots or {}
    out: list[Answer] = []
    for key, value in slots.items():
        if key.startswith("_") or key in SHOWN_ELSEWHERE:
            continue
        if key.endswith(("_confidence", "_skipped")) and key.rsplit("_", 1)[0] in slots:
            continue
        if slots.get(f"{key}_skipped") is True:
            out.append(Answer(key, "skipped"))
            continue
        if value is None or value == "":
            continue
        confidence = slots.get(f"{key}_confidence")
        text = value if isinstance(value, str) else _text(value)
        heard = None
        if isinstance(confidence, int | float) and not isinstance(confidence, bool):
            heard = float(confidence)
        out.append(Answer(key, text, heard))
    return out


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items() if not str(k).startswith("_"))
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value)


def waiting_now(
    session: so.Session, *, queue: str | None = None, now: dt.datetime | None = None
) -> list[Waiting]:
    """Calls on hold (joined a queue, not left it, not ended) and open callbacks, longest
    wait first."""
    now = now or utcnow()
    calls = sa.select(Call).where(
        Call.enqueued_at.is_not(None),
        Call.dequeued_at.is_(None),
        Call.status == "in-progress",
    )
    if queue is not None:
        calls = calls.where(Call.queue == queue)
    items: list[Waiting] = []
    for call in session.scalars(calls.order_by(Call.enqueued_at, Call.id)):
        since = call.enqueued_at or now
        items.append(
            Waiting(
                kind="call",
                sid=call.sid,
                queue=call.queue or "",
                plan=call.plan,
                reason=call.transfer_reason,
                language=call.language,
                since=since,
                waiting_seconds=max(0, int((now - since).total_seconds())),
                answers=_answers(call),
            )
        )
    callbacks = sa.select(Callback).where(Callback.status == OPEN)
    if queue is not None:
        callbacks = callbacks.where(Callback.queue == queue)
    rows = list(session.scalars(callbacks.order_by(Callback.place_at, Callback.id)))
    sids = [c.call_sid for c in rows]
    by_sid = (
        {c.sid: c for c in session.scalars(sa.select(Call).where(Call.sid.in_(sids)))}
        if sids
        else {}
    )
    for cb in rows:
        origin = by_sid.get(cb.call_sid)
        items.append(
            Waiting(
                kind="callback",
                sid=cb.call_sid,
                queue=cb.queue,
                plan=origin.plan if origin is not None else None,
                reason=origin.transfer_reason if origin is not None else None,
                language=cb.language,
                since=cb.place_at,
                waiting_seconds=max(0, int((now - cb.place_at).total_seconds())),
                answers=_answers(origin),
                callback_id=cb.id,
            )
        )
    items.sort(key=lambda w: (w.since, w.kind, w.sid))
    return items
