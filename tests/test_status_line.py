"""Existing orders by phone: find, verify, hear the status, extend, cancel, change provider."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask

from ivr.services import lifecycle, orders, validity
from ivr.simulate import Caller, SimulatedCall
from ivr.store.models import Call, Order, OrderEvent, OrderStatus, utcnow
from tests.said import said

ZONE = "America/New_York"  # the line's zone in the tests (IVR_TIMEZONE)

NPI = "1234567893"  # Dr. Alan Whitfield, the ordering physician of these orders
DOB = "03051960"
IN_NETWORK = "2297655682"  # St. Brigid Hospital Radiology: Summit
COMPLETE = {
    "plan": "SUMMIT",
    "member_id": "100200300",
    "member_dob": "1960-03-05",
    "ordering_npi": NPI,
    "exam": "72148",
    "diagnosis": "M54.50",
    "facility": IN_NETWORK,
    "symptoms": "low back pain",
    "clinical_history": "physical therapy",
}


def approved_read(language: str = "en-US") -> str:
    """How the line opens the status of an approved order, up to its first value."""
    return said("status.approved", language).split("{")[0]


APPROVED_READ = approved_read()


def groups(number: str) -> str:
    """How the line reads a number: threes, and a last group of four rather than a lone digit."""
    chunks = [number[i : i + 3] for i in range(0, len(number), 3)]
    if len(chunks[-1]) == 1:
        chunks[-2:] = [chunks[-2] + chunks[-1]]
    return ", ".join(" ".join(chunk) for chunk in chunks)


@pytest.fixture
def make_order(app: Flask) -> Callable[..., Order]:
    """An order in the store: approved (expiring in `days`), pended, denied or cancelled."""
    counter = iter(range(1000))

    def make(
        status: str = "approved",
        days: int | None = 40,
        issued: dt.datetime | None = None,
        **fields: Any,
    ) -> Order:
        """`days`: whole days left after today (None: as issued); `issued`: when submitted."""
        from ivr.db import get_session

        with app.app_context():
            s = get_session()
            draft = orders.save_draft(s, call_sid=f"CAseed{next(counter)}", slots=COMPLETE)
            outcome = "approved" if status != "pending_review" and status != "denied" else "x"
            orders.submit(
                s, draft, outcome=outcome, rule_id=None, reason=None, zone=ZONE, now=issued
            )
            if status == "approved" and days is not None:
                assert draft.issued_at is not None
                today = validity.local_day(utcnow(), ZONE)
                draft.expires_at = validity.day_ends(today + dt.timedelta(days=days), ZONE)
            elif status == "denied":
                lifecycle.deny(s, draft, lifecycle.Actor(), reason="not medically necessary")
            elif status == "cancelled":
                lifecycle.cancel(s, draft, lifecycle.Actor(), reason="duplicate")
            for name, value in fields.items():
                setattr(draft, name, value)
            s.commit()
            s.refresh(draft)
            s.expunge(draft)
            return draft

    return make


def to_status(caller: Caller, number: str, proof: str = NPI) -> SimulatedCall:
    call = caller.dial().press("1").press("2")
    assert call.text == said("status.number.ask")
    return call.press(number + "#").press(proof + "#")


def stored(session: Any, order: Order) -> Order:
    session.rollback()
    return session.get(Order, order.id)


def test_approved_order_read_in_plain_words(caller: Caller, make_order: Any) -> None:
    order = make_order("approved", days=40)
    call = to_status(caller, order.order_number)
    text = call.text
    # Not the number the caller just entered: the exam, the place and how long it is valid.
    assert groups(order.order_number) not in text
    assert f"{APPROVED_READ}MRI of the lower spine without contrast, at" in text
    assert "(" not in text  # no aside read aloud
    assert "St. Brigid Hospital Radiology" in text
    assert "40 days from today" in text
    assert call.heard[-1] == said("status.menu.approved")


def test_each_status_question_ends_on_pound_or_on_its_last_key(
    caller: Caller, make_order: Any
) -> None:
    """Order or reference number (9 or 10) and proof (NPI 10 or date 8) end on `#`, and say
    so; the status menu and a new facility NPI end on their last key."""
    order = make_order("approved", days=40)
    call = caller.dial().press("1").press("2")
    for _ in range(2):  # the order number, then the proof
        assert call.text.endswith("then press pound."), call.heard
        assert call.gather is not None and call.gather.get("numDigits") is None
        assert call.gather.get("finishOnKey") == "#"
        call.press((order.order_number if _ == 0 else NPI) + "#")
    assert APPROVED_READ in call.text
    assert call.gather is not None and call.gather.get("numDigits") == "1"
    call.press("3")  # change the imaging provider
    assert call.gather is not None and call.gather.get("numDigits") == "10"


def test_proof_by_date_of_birth_and_speech(caller: Caller, make_order: Any) -> None:
    order = make_order("approved")
    call = caller.dial().say("summit").say("existing order")
    call.say(" ".join(order.order_number)).say("zero three zero five one nine six zero")
    assert APPROVED_READ in call.text


def test_a_mistyped_number_is_caught_before_any_lookup(
    caller: Caller, make_order: Any, session: Any
) -> None:
    order = make_order("approved")
    typo = order.order_number[:-1] + str((int(order.order_number[-1]) + 1) % 10)
    call = caller.dial().press("1").press("2").press(typo + "#")
    assert call.heard[0] == "That number doesn't look right; a digit may be off. Please try again."
    call.press(order.order_number + "#")
    assert call.text == said("status.proof.ask")


def test_unknown_numbers_then_a_person_and_nothing_read(caller: Caller, session: Any) -> None:
    unknown = orders.random_number(9, lambda n: 1)  # valid check digit, never issued
    call = caller.dial().press("1").press("2")
    call.press(unknown + "#")
    assert call.heard[0] == "I couldn't find that number."
    call.press("12345#").press(unknown + "#")
    assert call.enqueued == "orders"


def test_three_failed_proofs_transfer_and_reveal_nothing(
    caller: Caller, make_order: Any, session: Any
) -> None:
    order = make_order("approved")
    call = caller.dial().press("1").press("2").press(order.order_number + "#")
    for wrong in ("1558598797", "01011990"):
        call.press(wrong + "#")
        assert call.heard[0] == "That doesn't match the order."
    call.press("12311999#")
    assert call.enqueued == "orders"
    heard = " ".join(call.transcript)
    assert "MRI" not in heard and "St. Brigid" not in heard and "approved" not in heard.lower()
    session.rollback()
    row = session.scalars(sa.select(Call).where(Call.sid == call.sid)).one()
    assert row.transfer_reason == "caller_not_verified: invalid at status.ask_proof"


def test_pended_request_by_reference_number(caller: Caller, make_order: Any) -> None:
    order = make_order("pending_review")
    call = to_status(caller, order.reference_number, proof=DOB)
    assert "request" in call.text and groups(order.reference_number) not in call.text
    assert "waiting for clinical review" in call.text and "2 business days" in call.text


def test_a_clinicians_decision_is_heard_on_the_next_call(
    app: Flask, caller: Caller, make_order: Any
) -> None:
    order = make_order("pending_review")
    with app.app_context():
        from ivr.db import get_session

        s = get_session()
        lifecycle.approve(s, s.get(Order, order.id), lifecycle.Actor(user_id=None), zone=ZONE)
        s.commit()
        number = s.get(Order, order.id).order_number
    call = to_status(caller, order.reference_number)
    # The caller entered the reference number: the new order number is read, twice.
    assert call.text.count(groups(number)) == 2 and "is approved" in call.text
    call.press("4")
    assert call.heard[0].startswith(f"Order {groups(number)}, valid through ")


def test_denied_offers_peer_to_peer(caller: Caller, make_order: Any) -> None:
    order = make_order("denied")
    call = to_status(caller, order.reference_number)
    assert "was denied after clinical review" in call.text
    assert "peer-to-peer" in call.text
    call.press("1")
    assert call.enqueued == "clinical"


def test_cancelled_and_extended_statuses(caller: Caller, make_order: Any, app: Flask) -> None:
    cancelled = make_order("cancelled")
    call = to_status(caller, cancelled.order_number)
    assert "was cancelled on" in call.text
    old = make_order("approved", days=3)
    with app.app_context():
        from ivr.db import get_session

        s = get_session()
        new = lifecycle.extend(s, s.get(Order, old.id), lifecycle.Actor(), zone=ZONE)
        s.commit()
        new_number = new.order_number
    call = to_status(caller, old.order_number)
    assert f"The new order number is {groups(new_number)}" in call.text


@pytest.mark.parametrize("days", [3, -5])
def test_extension_by_phone(caller: Caller, make_order: Any, session: Any, days: int) -> None:
    order = make_order("approved", days=days)
    call = to_status(caller, order.order_number)
    assert ("expired at the end of" in call.text) == (days < 0)
    call.press("1")
    heard = call.text
    match = re.search(r"new order number is ((?:\d[ ,]*){9})\.", heard)
    assert match, heard
    new_number = re.sub(r"\D", "", match.group(1))
    assert heard.count(groups(new_number)) == 2
    assert orders.is_order_number(new_number)
    replay = call.replay()
    assert replay.body == call.replies[-2].body
    session.rollback()
    assert stored(session, order).status == OrderStatus.EXTENDED
    new = session.scalars(sa.select(Order).where(Order.replaces_id == order.id)).all()
    assert [n.order_number for n in new] == [new_number]
    # Valid through the end of the 60th day after today, in the line's zone (was: 59 or 60
    # whole days of 24 hours from the instant of the extension).
    today = validity.local_day(utcnow(), ZONE)
    assert new[0].expires_at == validity.day_ends(today + dt.timedelta(days=60), ZONE)
    assert call.heard[-1] == said("status.extend.menu")
    call.press("1")
    assert call.heard[0] == f"Your new order number is {groups(new_number)}."
    call.press("9")
    assert call.reply.hung_up


def spoken(day: dt.date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def at(monkeypatch: pytest.MonkeyPatch, when: dt.datetime) -> None:
    """The status line's clock reads `when`."""
    monkeypatch.setattr("ivr.actions.status.utcnow", lambda: when.astimezone(dt.UTC))


NEW_YORK = ZoneInfo(ZONE)


def test_on_the_day_of_issue_an_order_has_sixty_days(caller: Caller, make_order: Any) -> None:
    order = make_order("approved", days=None)
    today = validity.local_day(utcnow(), ZONE)
    text = to_status(caller, order.order_number).text
    through = today + dt.timedelta(days=60)
    assert f"valid through {spoken(through)}: 60 days from today." in text


@pytest.mark.parametrize(
    "issued",
    [
        dt.datetime(2026, 11, 28, 23, 30, tzinfo=NEW_YORK),  # late evening in New York
        dt.datetime(2026, 11, 29, 0, 30, tzinfo=dt.UTC),  # still November 28 in New York
    ],
    ids=["23:30-new-york", "00:30-utc"],
)
def test_validity_counts_the_lines_days(
    caller: Caller, make_order: Any, monkeypatch: pytest.MonkeyPatch, issued: dt.datetime
) -> None:
    order = make_order("approved", days=None, issued=issued)
    # Issued November 28 in New York: valid through January 27, the end of that day.
    assert order.expires_at == dt.datetime(2027, 1, 28, 0, 0, tzinfo=NEW_YORK)
    at(monkeypatch, dt.datetime(2026, 11, 28, 23, 50, tzinfo=NEW_YORK))
    text = to_status(caller, order.order_number).text
    assert "valid through January 27, 2027: 60 days from today." in text
    at(monkeypatch, dt.datetime(2027, 1, 13, 23, 59, tzinfo=NEW_YORK))
    call = to_status(caller, order.order_number).press("1")
    assert call.heard[0] == (
        "An order can be extended only in its last 14 days, from January 14, 2027."
    )
    at(monkeypatch, dt.datetime(2027, 1, 27, 23, 59, tzinfo=NEW_YORK))
    text = to_status(caller, order.order_number).text
    assert "valid through January 27, 2027: 0 days from today." in text
    at(monkeypatch, dt.datetime(2027, 1, 28, 0, 0, tzinfo=NEW_YORK))
    text = to_status(caller, order.order_number).text
    assert "expired at the end of January 27, 2027." in text


def test_too_early_to_extend(caller: Caller, make_order: Any, session: Any) -> None:
    order = make_order("approved", days=40)
    call = to_status(caller, order.order_number).press("1")
    assert call.heard[0].startswith("An order can be extended only in its last 14 days, from ")
    assert call.heard[-1] == said("status.menu.approved")
    assert stored(session, order).status == OrderStatus.APPROVED


def test_a_performed_study_cannot_be_extended(caller: Caller, make_order: Any) -> None:
    order = make_order("approved", days=2, performed_at=utcnow())
    call = to_status(caller, order.order_number).press("1")
    assert call.heard[0] == "This study was already performed, so the order can't be extended."


def test_cancel_with_a_reason(caller: Caller, make_order: Any, session: Any) -> None:
    order = make_order("approved")
    call = to_status(caller, order.order_number).press("2")
    assert "Why cancel?" in call.text
    call.press("3")
    assert "To cancel" in call.text and "press 1" in call.text
    call.press("1")
    assert call.heard == [said("status.cancel.done"), said("status.menu.closed")]
    row = stored(session, order)
    assert (row.status, row.cancel_reason) == (OrderStatus.CANCELLED, "Duplicate request")
    kinds = session.scalars(
        sa.select(OrderEvent.kind).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
    ).all()
    assert kinds[-1] == "cancelled"


def test_keeping_the_order_changes_nothing(caller: Caller, make_order: Any, session: Any) -> None:
    order = make_order("pending_review")
    call = to_status(caller, order.reference_number).press("2").press("1").press("2")
    assert "waiting for clinical review" in call.text
    assert stored(session, order).status == OrderStatus.PENDING_REVIEW


def test_change_of_imaging_provider(caller: Caller, make_order: Any, session: Any) -> None:
    import csv

    with open("data/providers.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    other = next(
        r
        for r in rows
        if r["role"] == "facility" and "SUMMIT" in r["plans"] and r["npi"] != IN_NETWORK
    )
    outside = next(r for r in rows if r["role"] == "facility" and "SUMMIT" not in r["plans"])
    order = make_order("approved")
    call = to_status(caller, order.order_number).press("3")
    call.press(outside["npi"])
    assert (
        call.heard[0] == f"{outside['name']} isn't in network for this patient's plan. "
        "Please choose another."
    )
    call.press(other["npi"])
    assert call.heard == [said("status.provider.confirm", new_facility_name=other["name"])]
    call.press("1")
    # One sentence confirms the change, then the menu: the status is not read again.
    assert call.heard == [
        said("status.provider.done", facility_name=other["name"]),
        said("status.menu.approved"),
    ]
    row = stored(session, order)
    assert (row.facility_npi, row.order_number) == (other["npi"], order.order_number)
    event = session.scalars(
        sa.select(OrderEvent).where(
            OrderEvent.order_id == order.id, OrderEvent.kind == "provider_changed"
        )
    ).one()
    assert (event.before, event.after) == (
        {"facility_npi": IN_NETWORK},
        {"facility_npi": other["npi"]},
    )
    assert event.call_sid == call.sid


def test_extend_by_speech(caller: Caller, make_order: Any) -> None:
    order = make_order("approved", days=5)
    call = to_status(caller, order.order_number).say("I'd like an extension")
    assert "Your new order number is" in call.text


@pytest.mark.parametrize(
    "spoken", ["March fifth nineteen sixty", "March 5th, 1960", "three five nineteen sixty"]
)
def test_a_spoken_date_of_birth_the_intake_takes_is_taken_as_proof(
    caller: Caller, make_order: Any, spoken: str
) -> None:
    order = make_order("approved")
    call = caller.dial().press("1").press("2").press(order.order_number + "#").say(spoken)
    assert APPROVED_READ in call.text


def test_a_date_the_line_cannot_read_is_said_so_not_a_mismatch(
    caller: Caller, make_order: Any
) -> None:
    order = make_order("approved")
    call = caller.dial().press("1").press("2").press(order.order_number + "#")
    call.say("March fifth")
    assert call.heard[0] == (
        "I didn't understand that date. Please enter it as 8 digits: month, day and year."
    )
    call.press("12345#")
    assert call.heard[0] == (
        "I didn't understand that. Please enter the ordering physician's 10-digit NPI, "
        "or the patient's date of birth as 8 digits: month, day and year."
    )
    call.say("March fifth nineteen sixty")
    assert APPROVED_READ in call.text


def test_a_spoken_date_in_spanish_is_taken_or_said_unreadable(
    make_app: Callable[..., Flask], make_order: Any
) -> None:
    from ivr.simulate import FlaskTransport
    from tests.conftest import AUTH_TOKEN

    order = make_order("approved")
    app = make_app(IVR_DEFAULT_LANGUAGE="es-US")
    call = Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN).dial()
    call.press("1").press("2").press(order.order_number + "#").say("marzo")
    assert call.heard[0] == "No entendí la fecha. Por favor márquela con 8 dígitos: mes, día y año."
    call.say("5 de marzo de 1960")
    assert approved_read("es-US") in call.text


APPROVED_MENU = said("status.menu.approved")
PENDING_MENU = said("status.menu.pending")


@pytest.mark.parametrize(
    ("status", "back", "menu"),
    [("approved", "9", APPROVED_MENU), ("pending_review", "go back", PENDING_MENU)],
)
def test_going_back_from_the_cancel_reason_cancels_nothing(
    caller: Caller, make_order: Any, session: Any, status: str, back: str, menu: str
) -> None:
    order = make_order(status)
    number = order.order_number if status == "approved" else order.reference_number
    call = to_status(caller, number).press("2")
    assert call.heard[-1].endswith("Another reason, 5. To go back, press 9.")
    call.press(back) if back.isdigit() else call.say(back)
    assert call.heard == [menu]
    assert stored(session, order).status == OrderStatus(status)
    call.press("4")  # and the menu works as before
    assert "To cancel" in call.text


def test_hear_it_again_repeats_only_the_number_and_date(caller: Caller, make_order: Any) -> None:
    """Issue 10: 4 at the status menu says the fact a caller writes down, not the paragraph."""
    order = make_order("approved", days=40)
    call = to_status(caller, order.order_number)
    status = call.heard[0]
    call.press("4")
    through = validity.local_day(utcnow(), ZONE) + dt.timedelta(days=40)
    assert call.heard == [
        f"Order {groups(order.order_number)}, valid through {spoken(through)}: 40 days from today.",
        said("status.menu.approved"),
    ]
    assert status not in call.text and "St. Brigid" not in call.text
    call.say("repeat")  # by speech too, as often as asked
    assert call.heard[0].startswith(f"Order {groups(order.order_number)}, valid through ")


@pytest.mark.parametrize(
    ("status", "days", "menu"),
    [
        ("approved", -5, "status.menu.expired"),
        ("pending_review", None, "status.menu.pending"),
        ("cancelled", None, "status.menu.closed"),
    ],
)
def test_hear_it_again_at_each_status_says_one_fact(
    caller: Caller, make_order: Any, status: str, days: int | None, menu: str
) -> None:
    order = make_order(status, days=days)
    number = order.reference_number if status == "pending_review" else order.order_number
    call = to_status(caller, number)
    assert call.heard[-1] == said(menu)
    call.press("4")
    [fact, again] = call.heard
    assert again == said(menu)
    if days is not None:  # expired
        day = validity.local_day(utcnow(), ZONE) + dt.timedelta(days=days)
        assert fact == f"It expired at the end of {spoken(day)}."
    elif status == "pending_review":
        assert fact == said("status.again.pending", review_days=2)
    else:
        day = validity.local_day(utcnow(), ZONE)
        assert fact == f"It was cancelled on {spoken(day)}."
    assert "MRI" not in fact


def test_after_cancelling_hear_it_again_says_the_day(
    caller: Caller, make_order: Any, session: Any
) -> None:
    order = make_order("approved")
    call = to_status(caller, order.order_number).press("2").press("1").press("1")
    assert call.heard == [said("status.cancel.done"), said("status.menu.closed")]
    call.press("4")
    today = validity.local_day(utcnow(), ZONE)
    assert call.heard == [f"It was cancelled on {spoken(today)}.", said("status.menu.closed")]
    assert stored(session, order).status == OrderStatus.CANCELLED


def test_an_extended_order_repeats_only_its_new_number(
    caller: Caller, make_order: Any, app: Flask
) -> None:
    old = make_order("approved", days=3)
    with app.app_context():
        from ivr.db import get_session

        s = get_session()
        new = lifecycle.extend(s, s.get(Order, old.id), lifecycle.Actor(), zone=ZONE)
        s.commit()
        new_number = new.order_number
    call = to_status(caller, old.order_number)
    assert call.heard[-1] == said("status.menu.extended")
    call.press("4")
    assert call.heard == [
        f"The new order number is {groups(new_number)}.",
        said("status.menu.extended"),
    ]


@pytest.mark.parametrize("status", ["approved", "pending_review"])
def test_a_provider_change_is_confirmed_in_one_sentence(
    caller: Caller, make_order: Any, session: Any, status: str
) -> None:
    """Issue 10: after the change, one sentence and the status's menu; nothing read again."""
    order = make_order(status)
    number = order.order_number if status == "approved" else order.reference_number
    other = "2358850222"  # Lakeside Diagnostic Imaging: in network for Summit
    call = to_status(caller, number).press("3").press(other)
    name = call.heard[0].removeprefix("Move this order to ").split("?")[0]
    call.press("1")
    menu = "status.menu.approved" if status == "approved" else "status.menu.pending"
    assert call.heard == [said("status.provider.done", facility_name=name), said(menu)]
    assert "MRI" not in call.text and "valid through" not in call.text
    assert stored(session, order).facility_npi == other
    call.press("9")
    assert call.reply.hung_up


def test_hear_it_again_in_spanish(make_app: Callable[..., Flask], make_order: Any) -> None:
    from ivr.simulate import FlaskTransport
    from tests.conftest import AUTH_TOKEN

    order = make_order("approved", days=40)
    app = make_app(IVR_DEFAULT_LANGUAGE="es-US")
    call = Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN).dial()
    call.press("1").press("2").press(order.order_number + "#").press(NPI + "#").press("4")
    assert call.heard[0].startswith(f"Orden {groups(order.order_number)}, válida hasta el ")
    assert call.heard[-1] == said("status.menu.approved", "es-US")
