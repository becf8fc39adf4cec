"""An order's life after submission: status, extension, cancel, change of provider, review.

One function per business act, called alike by the phone flow, the console, the API and
the CLI. Each locks the order row, checks the act is allowed in the order's status, changes
it and writes an order_events row (before and after) in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.services import validity
from ivr.services.orders import (
    REFERENCE_DIGITS,
    SANDBOX,
    OrderError,
    Random,
    assign_unique,
    effective_status,
    issue_number,
    record_event,
    snapshot,
)
from ivr.store.models import Order, OrderStatus, Provider, utcnow

EXTENSION_WINDOW_DAYS = 14
REVIEW_BUSINESS_DAYS = 2
COPIED_ON_EXTENSION = (
    "plan",
    "member_id",
    "member_dob",
    "ordering_npi",
    "exam_code",
    "diagnosis_codes",
    "facility_npi",
    "symptoms",
    "symptoms_confidence",
    "clinical_history",
    "clinical_history_confidence",
    "criteria_rule",
    "criteria_answers",
    "source",
)


class Actor:
    """Who acts: a call (by sid) or a person (by user id)."""

    def __init__(self, *, call_sid: str | None = None, user_id: int | None = None) -> None:
        self.call_sid = call_sid
        self.user_id = user_id


def _log(
    session: so.Session,
    order: Order,
    kind: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    actor: Actor,
) -> None:
    record_event(
        session, order, kind, before, after, call_sid=actor.call_sid, user_id=actor.user_id
    )


def refused_by(status: OrderStatus) -> str:
    """The error code naming the status that refuses an act: `is_draft`,
    `is_pending_review`, or `already_<status>` (approved, denied, cancelled, expired,
    extended)."""
    if status in (OrderStatus.DRAFT, OrderStatus.PENDING_REVIEW):
        return f"is_{status.value}"
    return f"already_{status.value}"


REFUSAL_CODES = frozenset(refused_by(s) for s in OrderStatus)


def _changeable(session: so.Session, order: Order, now: dt.datetime, refusal: str) -> Order:
    """Lock an approved or pended order whose study is not done yet, or refuse (`refusal`)."""
    order = lock(session, order)
    status = effective_status(order, now)
    if status not in CANCELLABLE:
        raise OrderError(refused_by(status), refusal.format(status=status.value))
    if order.performed_at is not None:
        raise OrderError("performed", "the study was already performed")
    return order


def _pended(session: so.Session, order: Order, verb: str) -> Order:
    """Lock a pended order for a clinician's decision, or refuse."""
    order = lock(session, order)
    if order.status != OrderStatus.PENDING_REVIEW:
        raise OrderError(refused_by(order.status), f"only a pended order can be {verb}")
    return order


def lock(session: so.Session, order: Order) -> Order:
    """Re-read the order FOR UPDATE, so two people acting at once take turns."""
    locked = session.scalars(
        sa.select(Order)
        .where(Order.id == order.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return locked


def days_left(order: Order, zone: str, now: dt.datetime | None = None) -> int | None:
    """Whole days the order stays valid after today: 60 on its day of issue, 0 on its last."""
    if order.expires_at is None:
        return None
    return validity.days_left(order.expires_at, now or utcnow(), zone)


def replacement(session: so.Session, order: Order) -> Order | None:
    """The order that extended this one, if any."""
    return session.scalars(sa.select(Order).where(Order.replaces_id == order.id)).first()


def can_extend(
    order: Order, now: dt.datetime, zone: str, window_days: int = EXTENSION_WINDOW_DAYS
) -> str:
    """'ok' or why not: an approved order, expired or in its last `window_days` days (the
    line's calendar days, the last valid day counted), not performed."""
    status = effective_status(order, now)
    if status not in (OrderStatus.APPROVED, OrderStatus.EXPIRED):
        return refused_by(status)
    if order.performed_at is not None:
        return "performed"
    assert order.expires_at is not None
    if not validity.in_window(order.expires_at, now, window_days, zone):
        return "too_early"
    return "ok"


def extend(
    session: so.Session,
    order: Order,
    actor: Actor,
    *,
    zone: str,
    now: dt.datetime | None = None,
    window_days: int = EXTENSION_WINDOW_DAYS,
    randbelow: Random = secrets.randbelow,
) -> Order:
    """Issue a new order number valid 60 days from today, linked to the old one."""
    now = now or utcnow()
    order = lock(session, order)
    why = can_extend(order, now, zone, window_days)
    if why != "ok":
        status = effective_status(order, now).value.replace("_", " ")
        raise OrderError(why, _EXTEND_REFUSALS.get(why, f"a {status} order can't be extended"))
    new = Order(**{name: getattr(order, name) for name in COPIED_ON_EXTENSION})
    new.status = OrderStatus.DRAFT
    new.call_sid = actor.call_sid
    new.replaces_id = order.id
    new.submitted_at = now
    assign_unique(session, new, "reference_number", REFERENCE_DIGITS, randbelow)
    issue_number(session, new, now, zone, randbelow)
    assert new.expires_at is not None
    before = snapshot(order, ["status"])
    order.status = OrderStatus.EXTENDED
    session.flush()
    _log(
        session,
        order,
        "extended",
        before,
        {"status": "extended", "replaced_by": new.order_number},
        actor,
    )
    _log(
        session,
        new,
        "created",
        None,
        {
            "status": "approved",
            "replaces": order.order_number,
            "order_number": new.order_number,
            "expires_at": new.expires_at.isoformat(),
        },
        actor,
    )
    return new


_EXTEND_REFUSALS = {
    "performed": "the study was already performed",
    "too_early": "an extension is possible only in the last days before expiry",
}

CANCELLABLE = (OrderStatus.APPROVED, OrderStatus.PENDING_REVIEW)
# The statuses `search` can filter on: every one but a draft.
# Drafts are listed only when asked for (`status=draft`): the ones an agent may finish.
LISTED_STATUSES = tuple(s.value for s in OrderStatus)


def cancel(
    session: so.Session, order: Order, actor: Actor, *, reason: str, now: dt.datetime | None = None
) -> Order:
    """Cancel an approved or pended order, with a reason; it can't be extended after."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 200:
        raise OrderError("invalid_reason", "a reason of 1 to 200 characters is required")
    now = now or utcnow()
    order = _changeable(session, order, now, "a {status} order can't be cancelled")
    before = snapshot(order, ["status", "cancel_reason"])
    order.status = OrderStatus.CANCELLED
    order.cancel_reason = reason
    order.cancelled_at = now
    session.flush()
    _log(
        session,
        order,
        "cancelled",
        before,
        snapshot(order, ["status", "cancel_reason"]),
        actor,
    )
    return order


def facility_problem(session: so.Session, order: Order, facility_npi: str) -> str | None:
    """Why `facility_npi` can't serve this order, or None."""
    facility = session.get(Provider, facility_npi)
    if facility is None or facility.role != "facility":
        return "unknown_facility"
    if order.plan not in (facility.plans or []):
        return "not_in_network"
    if facility_npi == order.facility_npi:
        return "same_facility"
    return None


def change_provider(
    session: so.Session,
    order: Order,
    actor: Actor,
    *,
    facility_npi: str,
    now: dt.datetime | None = None,
) -> Order:
    """Move the study to another in-network facility; the order keeps its number."""
    now = now or utcnow()
    order = _changeable(session, order, now, "the provider of a {status} order can't be changed")
    problem = facility_problem(session, order, facility_npi)
    if problem is not None:
        raise OrderError(problem, _FACILITY_PROBLEMS[problem])
    before = snapshot(order, ["facility_npi"])
    order.facility_npi = facility_npi
    session.flush()
    _log(
        session,
        order,
        "provider_changed",
        before,
        snapshot(order, ["facility_npi"]),
        actor,
    )
    return order


_FACILITY_PROBLEMS = {
    "unknown_facility": "no imaging facility has that NPI",
    "not_in_network": "that facility is not in network for the order's plan",
    "same_facility": "the order is already at that facility",
}


def approve(
    session: so.Session,
    order: Order,
    actor: Actor,
    *,
    zone: str,
    note: str | None = None,
    now: dt.datetime | None = None,
    randbelow: Random = secrets.randbelow,
) -> Order:
    """A clinician approves a pended order: an order number valid 60 days from today.

    The pend reason goes (it stays in the history, in this event's `before`); the
    clinician's optional `note` (up to 2000 characters) is kept in the event's `after`.
    """
    note = (note or "").strip() or None
    if note is not None and len(note) > 2000:
        raise OrderError("invalid_reason", "an approval note is at most 2000 characters")
    now = now or utcnow()
    order = _pended(session, order, "approved")
    before = snapshot(order, ["status", "order_number", "decision_reason"])
    issue_number(session, order, now, zone, randbelow)
    order.decision_reason = None
    order.reviewed_at = now
    order.reviewed_by = actor.user_id
    session.flush()
    after = snapshot(order, ["status", "order_number", "expires_at", "decision_reason"])
    if note is not None:
        after["note"] = note
    _log(session, order, "approved", before, after, actor)
    return order


def deny(
    session: so.Session, order: Order, actor: Actor, *, reason: str, now: dt.datetime | None = None
) -> Order:
    """A clinician denies a pended order; the reason is required."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 2000:
        raise OrderError("invalid_reason", "a denial needs a reason (1 to 2000 characters)")
    now = now or utcnow()
    order = _pended(session, order, "denied")
    before = snapshot(order, ["status", "decision_reason"])
    order.status = OrderStatus.DENIED
    order.decision_reason = reason
    order.reviewed_at = now
    order.reviewed_by = actor.user_id
    session.flush()
    _log(
        session,
        order,
        "denied",
        before,
        snapshot(order, ["status", "decision_reason"]),
        actor,
    )
    return order


def search(
    session: so.Session,
    *,
    member_id: str | None = None,
    ordering_npi: str | None = None,
    status: str | None = None,
    plan: str | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> Sequence[Order]:
    """Orders matching every given filter, newest first, `limit` at a time after `after_id`.

    Drafts only with `status="draft"`."""
    query = sa.select(Order).where(Order.source != SANDBOX)  # an admin's try: not an order
    if status != OrderStatus.DRAFT.value:
        query = query.where(Order.status != OrderStatus.DRAFT)
    filters: dict[str, Any] = {"member_id": member_id, "ordering_npi": ordering_npi, "plan": plan}
    for name, value in filters.items():
        if value:
            query = query.where(getattr(Order, name) == value)
    if status:
        now = utcnow()
        if status == OrderStatus.EXPIRED.value:
            query = query.where(Order.status == OrderStatus.APPROVED, Order.expires_at <= now)
        elif status == OrderStatus.APPROVED.value:
            query = query.where(Order.status == OrderStatus.APPROVED, Order.expires_at > now)
        else:
            query = query.where(Order.status == OrderStatus(status))
    if after_id is not None:
        query = query.where(Order.id < after_id)
    return session.scalars(query.order_by(Order.id.desc()).limit(limit)).all()
