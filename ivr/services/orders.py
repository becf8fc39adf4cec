"""Orders: drafts saved as the caller answers, submission, order and reference numbers.

One function per business act, called alike by the phone flow, the console and the API.
Functions take a Session first, never commit, and write an order_events row per change.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.match.ids import luhn_check_digit, luhn_valid
from ivr.services import calls, validity
from ivr.store.models import Order, OrderEvent, OrderStatus, utcnow

ORDER_NUMBER_DIGITS = 9  # 8 random digits + a Luhn check digit
REFERENCE_DIGITS = 10  # 9 random digits + a Luhn check digit
# Orders and tickets of an admin's sandbox call ("Try it"): numbers no real one can have.
SANDBOX = "sandbox"
SANDBOX_PREFIX = "SBX"
SANDBOX_DIGITS = 9

# Slots of the phone flow -> order columns.
SLOT_FIELDS = {
    "plan": "plan",
    "member_id": "member_id",
    "ordering_npi": "ordering_npi",
    "exam": "exam_code",
    "facility": "facility_npi",
    "symptoms": "symptoms",
    "symptoms_confidence": "symptoms_confidence",
    "clinical_history": "clinical_history",
    "clinical_history_confidence": "clinical_history_confidence",
}

# Free-text answers a caller may skip by keypad: the order says they were left for the
# clinician (never blank, so a reviewer knows nothing was lost), and why.
SKIPPABLE = {"symptoms": "symptoms", "clinical_history": "clinical_history"}
LEFT_FOR_REVIEW = "Not given by phone: left for clinical review."

Random = Callable[[int], int]  # randbelow


class OrderError(ValueError):
    """A business rule refused the act; `code` says which (for 409/422 answers)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def random_number(digits: int, randbelow: Random) -> str:
    """`digits` digits, the last a Luhn check digit, the first 1-9 (no lost leading zero)."""
    payload = str(1 + randbelow(9)) + "".join(str(randbelow(10)) for _ in range(digits - 2))
    return payload + luhn_check_digit(payload)


def is_order_number(text: str) -> bool:
    """Shape and check digit of an order number: catches a mistyped digit before lookup."""
    return len(text) == ORDER_NUMBER_DIGITS and luhn_valid(text)


def is_reference_number(text: str) -> bool:
    return len(text) == REFERENCE_DIGITS and luhn_valid(text)


def assign_unique(
    session: so.Session,
    row: Any,
    attr: str,
    digits: int,
    randbelow: Random,
    *,
    sandbox: bool = False,
) -> str:
    """Give `row` (an order, a ticket) a random number nobody has, even concurrently.

    The unique index decides: a number another call took first (committed or not) fails
    the flush inside a savepoint, and we draw again. A `sandbox` number (an admin trying
    the line) is SBX and 9 digits: never a real number, and none a keypad can type.
    """
    column = getattr(type(row), attr)
    for _ in range(20):
        if sandbox:
            candidate = SANDBOX_PREFIX + random_number(SANDBOX_DIGITS, randbelow)
        else:
            candidate = random_number(digits, randbelow)
        if session.scalar(sa.select(sa.func.count()).where(column == candidate)):
            continue
        try:
            with session.begin_nested():
                setattr(row, attr, candidate)
                session.add(row)
                session.flush()
        except sa.exc.IntegrityError:
            continue
        return candidate
    raise RuntimeError(f"no unused {attr} in 20 draws")


def find(session: so.Session, number: str) -> Order | None:
    """An order by its order number or its reference number."""
    number = number.strip()
    return session.scalars(
        sa.select(Order).where(
            sa.or_(Order.order_number == number, Order.reference_number == number)
        )
    ).first()


def draft_for_call(session: so.Session, call_sid: str, reference_number: str) -> Order | None:
    """The call's draft with that reference number, while it is a draft."""
    return session.scalars(
        sa.select(Order).where(
            Order.call_sid == call_sid,
            Order.reference_number == reference_number,
            Order.status == OrderStatus.DRAFT,
        )
    ).first()


def snapshot(order: Order, fields: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(order, name)
        out[name] = value.isoformat() if isinstance(value, dt.date | dt.datetime) else value
    return out


def record_event(
    session: so.Session,
    order: Order,
    kind: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    call_sid: str | None = None,
    user_id: int | None = None,
) -> None:
    session.add(
        OrderEvent(
            order_id=order.id,
            kind=kind,
            before=before,
            after=after,
            call_sid=call_sid,
            user_id=user_id,
            at=utcnow(),
        )
    )


def save_draft(
    session: so.Session,
    *,
    call_sid: str,
    slots: Mapping[str, Any],
    randbelow: Random = secrets.randbelow,
) -> Order:
    """Create or update the call's draft from what the caller has answered so far.

    The draft is the one the slots name (`reference_number`, filled by the first save): a
    call that leaves a request for the main menu and starts another keeps the first as it was
    saved, and the second is a draft of its own.
    """
    reference = slots.get("reference_number")
    order = draft_for_call(session, call_sid, str(reference)) if reference else None
    if order is None:
        sandbox = calls.is_sandbox(session, call_sid)
        order = Order(
            status=OrderStatus.DRAFT,
            source=SANDBOX if sandbox else "phone",
            call_sid=call_sid,
            diagnosis_codes=[],
            criteria_answers={},
        )
        assign_unique(
            session, order, "reference_number", REFERENCE_DIGITS, randbelow, sandbox=sandbox
        )
        record_event(session, order, "created", None, {"status": "draft"}, call_sid=call_sid)
    changes = _changes_from_slots(order, slots)
    if changes:
        before = snapshot(order, list(changes))
        for name, value in changes.items():
            setattr(order, name, value)
        record_event(
            session, order, "updated", before, snapshot(order, list(changes)), call_sid=call_sid
        )
    session.flush()
    return order


def _changes_from_slots(order: Order, slots: Mapping[str, Any]) -> dict[str, Any]:
    wanted: dict[str, Any] = {}
    for slot, column in SLOT_FIELDS.items():
        if slot in slots and slots[slot] is not None:
            wanted[column] = slots[slot]
    for slot, column in SKIPPABLE.items():
        if slots.get(f"{slot}_skipped"):
            wanted[column] = LEFT_FOR_REVIEW
            wanted[f"{column}_confidence"] = None
    if slots.get("member_dob"):
        try:
            wanted["member_dob"] = dt.date.fromisoformat(str(slots["member_dob"]))
        except ValueError:
            pass
    if slots.get("diagnosis"):
        # A second complaint the caller agreed to add comes after the first.
        added = slots.get("diagnosis_added")
        wanted["diagnosis_codes"] = [str(slots["diagnosis"])] + (
            [str(added)] if added and added != slots["diagnosis"] else []
        )
    answers = slots.get("criteria_answers")
    if isinstance(answers, Mapping) and slots.get("criteria_rule"):
        # The answers to the rule that applies now; a changed exam brings other questions.
        wanted["criteria_answers"] = dict(answers.get(str(slots["criteria_rule"])) or {})
    return {k: v for k, v in wanted.items() if getattr(order, k) != v}


REQUIRED = ("plan", "member_id", "member_dob", "ordering_npi", "exam_code", "facility_npi")


def submit(
    session: so.Session,
    order: Order,
    *,
    outcome: str,
    rule_id: str | None,
    reason: str | None,
    zone: str,
    now: dt.datetime | None = None,
    call_sid: str | None = None,
    user_id: int | None = None,
    randbelow: Random = secrets.randbelow,
) -> Order:
    """Submit a draft: issue an order number (approved) or pend it for clinical review.

    `zone` is the line's time zone: an order number is valid through the end of the 60th
    day after its local day of issue.
    """
    if order.status != OrderStatus.DRAFT:
        raise OrderError("not_a_draft", f"the request is already {order.status.value}")
    missing = [name for name in REQUIRED if not getattr(order, name)]
    if not order.diagnosis_codes:
        missing.append("diagnosis_codes")
    if missing:
        raise OrderError("incomplete", "missing: " + ", ".join(missing))
    now = now or utcnow()
    before = snapshot(order, ["status", "order_number"])
    session.flush()
    if outcome == "approved":
        # The number first: a savepoint retried for it must not take other changes along.
        issue_number(session, order, now, zone, randbelow)
    else:
        order.status = OrderStatus.PENDING_REVIEW
    order.submitted_at = now
    order.criteria_rule = rule_id
    # Why it was pended; an approved order carries no reason.
    order.decision_reason = reason if order.status == OrderStatus.PENDING_REVIEW else None
    session.flush()
    record_event(
        session,
        order,
        "submitted",
        before,
        snapshot(order, ["status", "order_number", "expires_at"]),
        call_sid=call_sid,
        user_id=user_id,
    )
    return order


def issue_number(
    session: so.Session, order: Order, now: dt.datetime, zone: str, randbelow: Random
) -> None:
    """Approve `order`: a new order number, issued `now`, valid 60 days in the line's zone."""
    sandbox = order.source == SANDBOX
    assign_unique(session, order, "order_number", ORDER_NUMBER_DIGITS, randbelow, sandbox=sandbox)
    order.status = OrderStatus.APPROVED
    order.issued_at = now
    order.expires_at = validity.expires_at(now, zone)


def left_for_review(order: Order) -> list[str]:
    """The free-text answers the caller skipped, left for the clinician."""
    return [column for column in SKIPPABLE.values() if getattr(order, column) == LEFT_FOR_REVIEW]


def effective_status(order: Order, now: dt.datetime | None = None) -> OrderStatus:
    """The status a caller should hear: an approved order past its expiry is expired."""
    now = now or utcnow()
    if order.status == OrderStatus.APPROVED and order.expires_at and order.expires_at <= now:
        return OrderStatus.EXPIRED
    return order.status


def display_names(session: so.Session, order: Order) -> dict[str, str | None]:
    """The names an agent reads out: the patient, the exam, the ordering physician and the
    facility (None where the draft has no such answer yet or it is not on file)."""
    from ivr.store.models import ExamType, Member, Provider

    patient = None
    if order.plan and order.member_id:
        member = session.scalars(
            sa.select(Member).where(
                Member.plan_code == order.plan, Member.member_id == order.member_id
            )
        ).first()
        if member is not None:
            patient = f"{member.first_name} {member.last_name}"
    exam = session.get(ExamType, order.exam_code) if order.exam_code else None
    doctor = session.get(Provider, order.ordering_npi) if order.ordering_npi else None
    facility = session.get(Provider, order.facility_npi) if order.facility_npi else None
    return {
        "patient_name": patient,
        "exam_description": exam.description if exam is not None else None,
        "ordering_physician_name": doctor.name if doctor is not None else None,
        "facility_name": facility.name if facility is not None else None,
    }
