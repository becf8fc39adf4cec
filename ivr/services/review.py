"""The clinicians' worklist (pended requests, oldest first, with all a reviewer needs) and
who is at work on the agents' side (for the supervisor's page). Read-only; no Flask here.
The review acts themselves are ivr.services.lifecycle.approve / deny."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.services import agents, drafts, orders
from ivr.services.orders import SANDBOX
from ivr.store.models import (
    AuditEntry,
    Call,
    Callback,
    ExamType,
    Order,
    OrderStatus,
    Plan,
    Role,
    User,
    utcnow,
)

AGENT_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
FINAL_CALL_STATUSES = ("completed", "busy", "failed", "no-answer", "canceled")


def _answer_words(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def _criteria(session: so.Session, order: Order) -> list[dict[str, str]]:
    """The criteria answers as question and answer, in the rule's order of questions (an
    answer to a question no longer in the rule is shown by its id)."""
    given = dict(order.criteria_answers or {})
    if not given:
        return []
    rule = None
    if order.criteria_rule:
        rules = drafts.criteria_for(session, order).rules
        rule = next((r for r in rules if r.id == order.criteria_rule), None)
    out: list[dict[str, str]] = []
    if rule is not None:
        for question in rule.questions:
            if question.id in given:
                out.append(
                    {"question": question.text(), "answer": _answer_words(given.pop(question.id))}
                )
    for qid, value in given.items():
        out.append({"question": qid.replace("_", " "), "answer": _answer_words(value)})
    return out


def _free_text(order: Order, column: str) -> dict[str, Any]:
    value = getattr(order, column)
    left = value == orders.LEFT_FOR_REVIEW
    return {
        "text": None if left else value,
        "left_for_review": left,
        "confidence": getattr(order, f"{column}_confidence"),
    }


def pended_view(session: so.Session, order: Order, now: dt.datetime) -> dict[str, Any]:
    """One pended request as a clinician reads it."""
    names = orders.display_names(session, order)
    plan = session.get(Plan, order.plan) if order.plan else None
    exam = session.get(ExamType, order.exam_code) if order.exam_code else None
    since = order.submitted_at or order.created_at
    return {
        "reference_number": order.reference_number,
        "submitted_at": since,
        "waiting_hours": max(0, int((now - since).total_seconds() // 3600)),
        "plan": plan.name if plan is not None else (order.plan or "not given"),
        "exam_code": order.exam_code,
        "exam_written": names["exam_description"],
        "exam_spoken": exam.spoken if exam is not None and exam.spoken else None,
        "patient": names["patient_name"] or "not on file",
        "physician": names["ordering_physician_name"] or "not on file",
        "physician_npi": order.ordering_npi,
        "facility": names["facility_name"] or "not on file",
        "diagnoses": list(order.diagnosis_codes or []),
        "reason": order.decision_reason or "no reason recorded",
        "criteria": _criteria(session, order),
        "symptoms": _free_text(order, "symptoms"),
        "history": _free_text(order, "clinical_history"),
        "source": order.source,
    }


def worklist(session: so.Session, *, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every pended request, oldest first."""
    now = now or utcnow()
    pended = session.scalars(
        sa.select(Order)
        .where(Order.status == OrderStatus.PENDING_REVIEW, Order.source != SANDBOX)
        .order_by(sa.func.coalesce(Order.submitted_at, Order.created_at), Order.id)
    )
    return [pended_view(session, o, now) for o in pended]


# --- the agents at work (supervisor) ------------------------------------------------------


def _handling(session: so.Session, user_ids: Sequence[int], now: dt.datetime) -> dict[int, Any]:
    """What each agent has in hand: accepted calls not wrapped up, callbacks being dialed."""
    out: dict[int, list[dict[str, Any]]] = {uid: [] for uid in user_ids}
    if not user_ids:
        return out
    callbacks = list(
        session.scalars(
            sa.select(Callback).where(Callback.agent_id.in_(user_ids), Callback.status == "dialing")
        )
    )
    dialing = {cb.call_sid for cb in callbacks}  # shown once, as the callback being dialed
    calls = session.scalars(
        sa.select(Call)
        .where(Call.accepted_by.in_(user_ids), agents.unfinished())
        .order_by(Call.accepted_at, Call.id)
    )
    for call in calls:
        if call.sid in dialing:
            continue
        on_call = call.status not in FINAL_CALL_STATUSES
        since = call.accepted_at or call.started_at
        out[call.accepted_by or 0].append(
            {
                "kind": "call",
                "sid": call.sid,
                "queue": call.queue or "",
                "state": "on the call" if on_call else "wrapping up",
                "seconds": max(0, int((now - since).total_seconds())),
            }
        )
    for cb in callbacks:
        since = cb.last_try_at or cb.place_at
        out[cb.agent_id or 0].append(
            {
                "kind": "callback",
                "sid": cb.call_sid,
                "queue": cb.queue,
                "state": "calling back",
                "seconds": max(0, int((now - since).total_seconds())),
            }
        )
    return out


def agents_signed_in(
    session: so.Session, *, session_hours: int, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Agents, supervisors and admins signed in to the console now (signed in within the
    session's lifetime and not signed out since), with their last action and what each is
    handling; then anyone else handling a call (signed in with an API token)."""
    now = now or utcnow()
    since = now - dt.timedelta(hours=session_hours)
    users = list(
        session.scalars(
            sa.select(User)
            .where(User.role.in_(AGENT_ROLES), User.active.is_(True))
            .order_by(User.name)
        )
    )
    ids = [u.id for u in users]
    last_seen: dict[int, dt.datetime] = {}
    signed_out: dict[int, dt.datetime] = {}
    if ids:
        rows = session.execute(
            sa.select(AuditEntry.user_id, AuditEntry.action, sa.func.max(AuditEntry.at))
            .where(AuditEntry.user_id.in_(ids), AuditEntry.at >= since)
            .group_by(AuditEntry.user_id, AuditEntry.action)
        )
        for uid, action, at in rows:
            if uid is None or at is None:
                continue
            at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
            if action == "sign_out":
                signed_out[uid] = max(at, signed_out.get(uid, at))
            last_seen[uid] = max(at, last_seen.get(uid, at))
    handling = _handling(session, ids, now)
    out = []
    for user in users:
        signed_in_at = user.last_sign_in_at
        if signed_in_at is not None and signed_in_at.tzinfo is None:
            signed_in_at = signed_in_at.replace(tzinfo=dt.UTC)
        in_console = (
            signed_in_at is not None
            and signed_in_at >= since
            and not (user.id in signed_out and signed_out[user.id] >= signed_in_at)
        )
        if not in_console and not handling[user.id]:
            continue
        seen = last_seen.get(user.id, signed_in_at)
        out.append(
            {
                "id": user.id,
                "name": user.name,
                "role": user.role.value,
                "signed_in": in_console,
                "signed_in_at": signed_in_at.isoformat() if in_console and signed_in_at else None,
                "idle_seconds": max(0, int((now - seen).total_seconds())) if seen else None,
                "handling": handling[user.id],
            }
        )
    return out
