"""Order numbers and the order store: check digits, uniqueness under concurrency, drafts."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from ivr.match.ids import luhn_valid
from ivr.services import orders
from ivr.store.models import Order, OrderEvent, OrderStatus

ZONE = "America/New_York"  # the line's zone in the tests (IVR_TIMEZONE)

COMPLETE = {
    "plan": "SUMMIT",
    "member_id": "100200300",
    "member_dob": "1960-03-05",
    "ordering_npi": "1234567893",
    "exam": "72148",
    "diagnosis": "M54.50",
    "facility": "2297655682",
    "symptoms": "low back pain for eight weeks",
    "symptoms_confidence": 0.91,
    "clinical_history": "physical therapy",
}


def repeating(*values: int) -> Any:
    """A randbelow that replays the same draws: every caller gets the same first number."""
    state: dict[str, Iterator[int]] = {}

    def randbelow(n: int) -> int:
        it = state.setdefault("it", iter(values * 1000))
        return next(it) % n

    return randbelow


@given(st.integers(min_value=0, max_value=2**32))
def test_order_numbers_are_nine_digits_with_a_check_digit(seed: int) -> None:
    digits = iter(str(seed).zfill(12) * 3)
    number = orders.random_number(orders.ORDER_NUMBER_DIGITS, lambda n: int(next(digits)) % n)
    assert len(number) == 9 and number[0] != "0"
    assert orders.is_order_number(number)
    for i in range(9):
        for d in "0123456789":
            if d != number[i]:
                typo = number[:i] + d + number[i + 1 :]
                assert not orders.is_order_number(typo), typo


def test_reference_numbers_are_ten_digits(app: Flask, session: Any) -> None:
    with app.app_context():
        from ivr.db import get_session

        s = get_session()
        draft = orders.save_draft(s, call_sid="CAref", slots={"plan": "SUMMIT"})
        s.commit()
        assert orders.is_reference_number(draft.reference_number)
        assert not orders.is_order_number(draft.reference_number)


def _submit_in(
    app: Flask, sid: str, randbelow: Any, barrier: threading.Barrier, out: dict[str, str]
) -> None:
    with app.app_context():
        from ivr.db import get_session

        s = get_session()
        draft = orders.save_draft(s, call_sid=sid, slots=COMPLETE, randbelow=randbelow)
        s.commit()
        barrier.wait(timeout=20)
        orders.submit(
            s,
            draft,
            outcome="approved",
            rule_id=None,
            reason=None,
            zone=ZONE,
            randbelow=randbelow,
            call_sid=sid,
        )
        s.commit()
        out[sid] = str(draft.order_number)


def test_two_concurrent_calls_never_get_the_same_order_number(make_app: Any, session: Any) -> None:
    """Both calls draw the same first number; the unique index makes the second redraw."""
    apps = [make_app(), make_app()]
    barrier = threading.Barrier(2)
    out: dict[str, str] = {}
    threads = [
        threading.Thread(
            target=_submit_in,
            args=(app, f"CAconc{i}", repeating(4, 1, 7, 2, 2, 9, 1, 0, 3, 5, 8), barrier, out),
        )
        for i, app in enumerate(apps)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(out) == 2
    first, second = out.values()
    assert first != second
    assert all(orders.is_order_number(n) for n in (first, second))
    session.rollback()
    stored = session.scalars(
        sa.select(Order.order_number).where(Order.status == OrderStatus.APPROVED)
    ).all()
    assert sorted(stored) == sorted([first, second])


def test_submit_issues_a_number_valid_sixty_days_and_records_it(app: Flask) -> None:
    now = dt.datetime(2026, 11, 28, 15, 0, tzinfo=dt.UTC)
    with app.app_context():
        from ivr.db import get_session

        s = get_session()
        draft = orders.save_draft(s, call_sid="CAsixty", slots=COMPLETE)
        orders.submit(s, draft, outcome="approved", rule_id=None, reason=None, zone=ZONE, now=now)
        s.commit()
        assert draft.status == OrderStatus.APPROVED
        assert luhn_valid(str(draft.order_number))
        # Issued November 28 (10:00 in New York): valid through the end of January 27 there,
        # not 60 times 24 hours from the instant of issue.
        assert draft.expires_at == dt.datetime(2027, 1, 28, 5, 0, tzinfo=dt.UTC)
        kinds = s.scalars(
            sa.select(OrderEvent.kind)
            .where(OrderEvent.order_id == draft.id)
            .order_by(OrderEvent.id)
        ).all()
        assert kinds == ["created", "updated", "submitted"]
        with pytest.raises(orders.OrderError, match="already approved"):
            orders.submit(s, draft, outcome="approved", rule_id=None, reason=None, zone=ZONE)


def test_submit_refuses_an_incomplete_draft(app: Flask) -> None:
    with app.app_context():
        from ivr.db import get_session

        s = get_session()
        draft = orders.save_draft(s, call_sid="CAhalf", slots={"plan": "SUMMIT"})
        with pytest.raises(orders.OrderError) as info:
            orders.submit(s, draft, outcome="approved", rule_id=None, reason=None, zone=ZONE)
        assert info.value.code == "incomplete"
        assert "member_id" in str(info.value) and "diagnosis_codes" in str(info.value)
        assert draft.order_number is None


def test_pended_order_keeps_no_order_number(app: Flask) -> None:
    with app.app_context():
        from ivr.db import get_session

        s = get_session()
        draft = orders.save_draft(s, call_sid="CApend", slots=COMPLETE)
        orders.submit(s, draft, outcome="pending_review", rule_id="r", reason="too soon", zone=ZONE)
        s.commit()
        assert (draft.status, draft.order_number, draft.decision_reason) == (
            OrderStatus.PENDING_REVIEW,
            None,
            "too soon",
        )
        assert orders.find(s, draft.reference_number) is draft
