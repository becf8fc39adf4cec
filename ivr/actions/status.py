"""Existing orders by phone: find, verify the caller, read the status, and act on it.

Registered by name for `flows/status.yaml`. Nothing about an order is put in the slots
(and so nothing is read aloud) until the caller has proved a relationship to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy.orm as so

from ivr.actions.registry import Facts, action
from ivr.engine import ActionResult
from ivr.match.spoken import parse_date
from ivr.services import lifecycle, orders, validity
from ivr.services.catalogs import exam_said
from ivr.store.models import ExamType, Order, OrderStatus, Provider, utcnow

CANCEL_REASONS = {
    "no_longer_needed": "No longer needed",
    "scheduled_elsewhere": "Scheduled under another order",
    "duplicate": "Duplicate request",
    "entered_in_error": "Entered in error",
    "other": "Other",
}

# What the lifecycle's refusals can say (`OrderError.code`), for the outcome declarations.
_NOT_CHANGEABLE = {
    lifecycle.refused_by(s) for s in OrderStatus if s not in lifecycle.CANCELLABLE
} | {"performed"}
STATUSES = {s.value for s in OrderStatus}
# An approved order looked up by its request's reference number: its order number is new.
APPROVED_NUMBER = "approved_number"
EXTEND = {"ok", "performed", "too_early"} | {
    lifecycle.refused_by(s)
    for s in OrderStatus
    if s not in (OrderStatus.APPROVED, OrderStatus.EXPIRED)
}
CANCEL = {"ok"} | _NOT_CHANGEABLE
CHANGE = {"ok", "unknown_facility", "not_in_network", "same_facility"} | _NOT_CHANGEABLE


def _order(session: so.Session, slots: Mapping[str, Any], *, verified: bool = True) -> Order | None:
    if verified and slots.get("verified") is not True:
        return None
    ref = slots.get("order_ref")
    return orders.find(session, str(ref)) if ref else None


def _actor(facts: Facts) -> lifecycle.Actor:
    return lifecycle.Actor(call_sid=facts.call_sid or None)


def _window(facts: Facts) -> int:
    return facts.extension_window_days or lifecycle.EXTENSION_WINDOW_DAYS


@action(
    "find_order", outcomes={"ok", "bad_check_digit", "not_found"}, fills={"order_ref", "verified"}
)
def find_order(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """The number's check digit, then the lookup; says nothing about the order yet."""
    number = str(params.get("value") or "")
    if not (orders.is_order_number(number) or orders.is_reference_number(number)):
        return ActionResult("bad_check_digit")
    order = orders.find(session, number)
    if order is None or order.status.value == "draft":
        return ActionResult("not_found")
    return ActionResult("ok", {"order_ref": order.reference_number, "verified": False})


@action("verify_relationship", outcomes={"ok", "no_match"}, fills={"verified"})
def verify_relationship(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """The ordering physician's NPI or the patient's date of birth must match the order."""
    order = _order(session, slots, verified=False)
    proof = str(params.get("value") or "")
    if order is None:
        return ActionResult("no_match")
    if len(proof) == 10 and proof == order.ordering_npi:
        return ActionResult("ok", {"verified": True})
    if len(proof) == 8 and order.member_dob is not None and parse_date(proof) == order.member_dob:
        return ActionResult("ok", {"verified": True})
    return ActionResult("no_match")


def _on(value: dt.datetime | None, zone: str) -> str | None:
    """The line's calendar day of an instant, as the prompts' `:date` reads it."""
    return validity.local_day(value, zone).isoformat() if value is not None else None


def _through(expires: dt.datetime | None, zone: str) -> str | None:
    """The last day an order is valid on (its `expires_at` is the instant that day ends)."""
    return validity.last_day(expires, zone).isoformat() if expires is not None else None


@action(
    "order_status",
    outcomes=STATUSES | {APPROVED_NUMBER},
    fills={
        "order_state",
        "display_number",
        "order_number",
        "reference_number",
        "exam_name",
        "facility_name",
        "issued_on",
        "expires_on",
        "days_left",
        "cancelled_on",
        "review_days",
        "window_days",
        "can_extend",
        "extend_from",
        "replaced_by",
    },
)
def order_status(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """Everything the status prompts read, for a verified caller; outcome = the status
    (`approved_number` when the caller entered the reference number of a request approved
    since, whose order number they have not heard)."""
    order = _order(session, slots)
    if order is None:
        return ActionResult("error")
    now, zone = utcnow(), facts.timezone
    status = orders.effective_status(order, now)
    exam = session.get(ExamType, order.exam_code or "")
    facility = session.get(Provider, order.facility_npi or "")
    out: dict[str, Any] = {
        "order_state": status.value,
        "display_number": order.order_number or order.reference_number,
        "order_number": order.order_number,
        "reference_number": order.reference_number,
        "exam_name": exam_said(exam, facts.language) if exam else order.exam_code,
        "facility_name": facility.said if facility else order.facility_npi,
        "issued_on": _on(order.issued_at, zone),
        "expires_on": _through(order.expires_at, zone),
        "days_left": lifecycle.days_left(order, zone, now),
        "cancelled_on": _on(order.cancelled_at, zone),
        "review_days": lifecycle.REVIEW_BUSINESS_DAYS,
        "window_days": _window(facts),
        "can_extend": lifecycle.can_extend(order, now, zone, _window(facts)) == "ok",
    }
    if order.expires_at is not None:
        opens = validity.window_opens(order.expires_at, _window(facts), zone)
        out["extend_from"] = opens.isoformat()
    replaced = lifecycle.replacement(session, order)
    out["replaced_by"] = replaced.order_number if replaced is not None else None
    entered = str(slots.get("lookup_number") or "")
    if status == OrderStatus.APPROVED and order.order_number and entered != order.order_number:
        return ActionResult(APPROVED_NUMBER, out)
    return ActionResult(status.value, out)


@action("extend_order", outcomes=EXTEND, fills={"new_order_number", "new_expires_on"})
def extend_order(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    order = _order(session, slots)
    if order is None:
        return ActionResult("error")
    try:
        new = lifecycle.extend(
            session, order, _actor(facts), zone=facts.timezone, window_days=_window(facts)
        )
    except orders.OrderError as exc:
        return ActionResult(exc.code)
    through = _through(new.expires_at, facts.timezone)
    return ActionResult("ok", {"new_order_number": new.order_number, "new_expires_on": through})


@action("cancel_order", outcomes=CANCEL, fills={"order_state", "cancelled_on"})
def cancel_order(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    order = _order(session, slots)
    reason = CANCEL_REASONS.get(str(slots.get("cancel_reason") or ""))
    if order is None or reason is None:
        return ActionResult("error")
    try:
        lifecycle.cancel(session, order, _actor(facts), reason=reason)
    except orders.OrderError as exc:
        return ActionResult(exc.code)
    # What "hear it again" after the cancellation says.
    cancelled_on = _on(order.cancelled_at, facts.timezone)
    return ActionResult("ok", {"order_state": "cancelled", "cancelled_on": cancelled_on})


@action(
    "check_new_facility",
    outcomes={"ok", "unknown_facility", "not_in_network", "same_facility"},
    fills={"new_facility_name"},
)
def check_new_facility(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """The new imaging provider is a facility in network for the order's plan."""
    order = _order(session, slots)
    npi = str(params.get("value") or "")
    if order is None:
        return ActionResult("error")
    problem = lifecycle.facility_problem(session, order, npi)
    facility = session.get(Provider, npi)
    name = {"new_facility_name": facility.said} if facility is not None else {}
    return ActionResult(problem or "ok", name)


@action("change_provider_order", outcomes=CHANGE, fills={"facility_name"})
def change_provider_order(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    order = _order(session, slots)
    if order is None or not slots.get("new_facility"):
        return ActionResult("error")
    try:
        lifecycle.change_provider(
            session, order, _actor(facts), facility_npi=str(slots["new_facility"])
        )
    except orders.OrderError as exc:
        return ActionResult(exc.code)
    return ActionResult("ok", {"facility_name": slots.get("new_facility_name")})
