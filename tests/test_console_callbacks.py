"""Callbacks from the console (ivr/console/callbacks.py): the queue view's Dial button calls
the agent, then the caller, into one conference (the same service acts as the API's dial;
Twilio's REST requests asserted at the client's HTTP-client hook), the call's page records
how the try went, and three tries without reaching the caller close it. One call per agent
until wrap-up, in the API and the console alike."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from ivr.simulate import Caller, FlaskTransport, SimulatedCall
from ivr.store.models import Call, Callback, CallEvent
from tests.conftest import AUTH_TOKEN, bearer
from tests.said import said
from tests.test_agent_api import (
    AGENT_PHONE,
    CALLER_ID,
    CALLS_URL,
    FROM,
    FakeTwilio,
    asked_for_a_person,
    conference_of,
    line,  # noqa: F401  (fixture)
    make_token,
    twilio,  # noqa: F401  (fixture)
)
from tests.test_console import csrf_of, make_user, sign_in
from tests.test_console_calls import _fields, value_of
from tests.test_intake import LAKESIDE, answer, start_intake


@pytest.fixture
def desk(line: Flask) -> FlaskClient:  # noqa: F811
    """Ana at the console of the line with Twilio configured, her phone remembered."""
    client = line.test_client()
    make_user(line.test_cli_runner(), "ana", "agent")
    assert sign_in(client, "ana").status_code == 302
    token = csrf_of(client.get("/console/queues").get_data(as_text=True))
    client.post("/console/phone", data={"agent_phone": AGENT_PHONE, "csrf_token": token})
    return client


def phone_of(app: Flask) -> Caller:
    return Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN)


def asked_for_a_callback(app: Flask) -> SimulatedCall:
    call = asked_for_a_person(phone_of(app))
    offer = call.wait(position=1, waited=125)
    assert offer.gather is not None
    call.press("1")
    call.press("1")  # at the caller id
    assert call.leave_queue("leave", 130).hung_up
    return call


def post(client: FlaskClient, page_url: str, action: str, **form: str) -> Any:
    token = csrf_of(client.get(page_url).get_data(as_text=True))
    return client.post(action, data={**form, "csrf_token": token})


def the_callback(app: Flask) -> Callback:
    with app.extensions["ivr.store"].read_sessionmaker() as s:
        row: Callback = s.scalars(sa.select(Callback)).one()
        s.expunge(row)
        return row


def test_dial_a_callback_from_the_queue_view_then_record_each_try(
    line: Flask,  # noqa: F811
    desk: FlaskClient,
    twilio: FakeTwilio,  # noqa: F811
    session: Any,
) -> None:
    call = asked_for_a_callback(line)
    callback = the_callback(line)
    queues = desk.get("/console/queues").get_data(as_text=True)
    dial_action = f"/console/callbacks/{callback.id}/dial"
    assert re.search(
        rf'<tr data-sid="{call.sid}" data-kind="callback"'
        rf'.*?action="{dial_action}".*?>Dial</button>',
        queues,
        re.S,
    )
    assert desk.get("/console/queues.json").get_json()["items"][0]["callback_id"] == callback.id

    for tries in (1, 2, 3):
        dialed = post(desk, "/console/queues", dial_action)
        assert dialed.headers["Location"].endswith(f"/console/calls/{call.sid}")
        # The agent's phone rings first, then the caller's, both into the call's conference.
        to_agent, to_caller = twilio.requests[-2:]
        assert (to_agent["url"], to_agent["data"]["To"], to_agent["data"]["From"]) == (
            CALLS_URL,
            AGENT_PHONE,
            FROM,
        )
        assert (to_caller["url"], to_caller["data"]["To"]) == (CALLS_URL, CALLER_ID)
        room = f"ivr-{call.sid}"
        assert conference_of(str(to_agent["data"]["Twiml"]))[0] == room
        assert conference_of(str(to_caller["data"]["Twiml"]))[0] == room
        page = desk.get(f"/console/calls/{call.sid}").get_data(as_text=True)
        assert f"How did try {tries} of 3 go?" in page
        assert 'name="outcome" value="left_message"' in page
        # Gone from the line while it is dialed: nobody else can take it.
        assert call.sid not in desk.get("/console/queues.json").get_data(as_text=True)
        outcome = "left_message" if tries == 2 else "no_answer"
        done = post(
            desk,
            f"/console/calls/{call.sid}",
            f"/console/callbacks/{callback.id}/complete",
            outcome=outcome,
        )
        assert done.headers["Location"].endswith("/console/queues")
        shown = desk.get("/console/queues").get_data(as_text=True)
        if tries < 3:
            assert f"Try {tries} of 3: the callback is back in the line." in shown
            assert f'action="{dial_action}"' in shown
            assert 'id="open-call"' not in shown  # an unanswered callback is not in hand
        else:
            assert "Not reached after 3 tries: the callback is closed." in shown
            assert f'action="{dial_action}"' not in shown

    row = the_callback(line)
    assert (row.status, row.outcome, row.tries) == ("done", "not_reached", 3)
    session.rollback()
    sid_row = session.scalars(sa.select(Call).where(Call.sid == call.sid)).one()
    acts = session.scalars(
        sa.select(CallEvent)
        .where(CallEvent.call_id == sid_row.id, CallEvent.input_kind == "agent")
        .order_by(CallEvent.turn)
    ).all()
    assert [e.outcome for e in acts] == [
        "callback_dialed",
        "connected",
        "callback_no_answer",
    ] * 1 + ["callback_dialed", "connected", "callback_left_message"] + [
        "callback_dialed",
        "connected",
        "callback_no_answer",
    ]
    assert {e.user_id for e in acts} == {sid_row.accepted_by} and sid_row.accepted_by


def test_a_reached_callback_goes_on_to_the_calls_page_and_wrap_up(
    line: Flask,  # noqa: F811
    desk: FlaskClient,
    twilio: FakeTwilio,  # noqa: F811
) -> None:
    call = asked_for_a_callback(line)
    callback = the_callback(line)
    post(desk, "/console/queues", f"/console/callbacks/{callback.id}/dial")
    # The supervisor sees Ana calling back, once.
    boss = line.test_client()
    make_user(line.test_cli_runner(), "sam", "supervisor")
    assert sign_in(boss, "sam").status_code == 302
    board = boss.get("/console/supervisor.json").get_json()
    [ana] = [a for a in board["agents"] if a["name"] == "ana"]
    assert [(h["sid"], h["state"]) for h in ana["handling"]] == [(call.sid, "calling back")]
    reached = post(
        desk,
        f"/console/calls/{call.sid}",
        f"/console/callbacks/{callback.id}/complete",
        outcome="reached",
    )
    assert reached.headers["Location"].endswith(f"/console/calls/{call.sid}")
    page = desk.get(reached.headers["Location"]).get_data(as_text=True)
    assert "Reached: go on with the call, then wrap it up." in page
    assert "reached (1 of 3 tries)" in page
    # In hand until wrapped up: the queue view says so, with the way back to it.
    queues = desk.get("/console/queues").get_data(as_text=True)
    assert re.search(
        rf'id="open-call">Your open call: <a href="/console/calls/{call.sid}">', queues
    )
    wrapped = post(
        desk,
        f"/console/calls/{call.sid}",
        f"/console/calls/{call.sid}/wrap-up",
        disposition="callback_scheduled",
    )
    assert wrapped.status_code == 302
    assert 'id="open-call"' not in desk.get("/console/queues").get_data(as_text=True)
    assert (the_callback(line).status, the_callback(line).outcome) == ("done", "reached")


def test_one_call_per_agent_until_wrap_up(
    line: Flask,  # noqa: F811
    desk: FlaskClient,
    twilio: FakeTwilio,  # noqa: F811
) -> None:
    """An agent with a call not wrapped up can't take another: the API says which call
    (409), the console says so and links to it; wrapped up, the next one is theirs."""
    first = asked_for_a_person(phone_of(line))
    second = asked_for_a_person(phone_of(line))
    api = line.test_client()
    bo = bearer(make_token(line, "agent"))
    taken = api.post(
        f"/api/v1/calls/{first.sid}/accept", json={"agent_phone": "+16145550178"}, headers=bo
    )
    assert taken.status_code == 200
    refused = api.post(
        f"/api/v1/calls/{second.sid}/accept", json={"agent_phone": "+16145550178"}, headers=bo
    )
    assert refused.status_code == 409
    assert refused.get_json() == {
        "error": "open_call",
        "message": f"Wrap up your open call {first.sid} before taking another.",
        "open_call": first.sid,
    }

    # Ana in the console: the second call is hers; a third is refused with the way back.
    third = asked_for_a_person(phone_of(line))
    assert post(desk, "/console/queues", f"/console/calls/{second.sid}/accept").status_code == 302
    again = post(desk, "/console/queues", f"/console/calls/{third.sid}/accept")
    assert again.headers["Location"].endswith("/console/queues")
    queues = desk.get("/console/queues").get_data(as_text=True)
    assert "Wrap up your open call before you take another." in queues
    assert f'<a href="/console/calls/{second.sid}">' in queues
    # The third call still waits for someone else.
    with line.extensions["ivr.store"].read_sessionmaker() as s:
        assert s.scalars(sa.select(Call.accepted_by).where(Call.sid == third.sid)).one() is None

    done = api.post(
        f"/api/v1/calls/{first.sid}/wrap-up", json={"disposition": "no_action"}, headers=bo
    )
    assert done.status_code == 200
    assert (
        api.post(
            f"/api/v1/calls/{third.sid}/accept", json={"agent_phone": "+16145550178"}, headers=bo
        ).status_code
        == 200
    )


def test_whole_call_press_0_wait_take_a_callback_then_an_agent_finishes_the_order(
    line: Flask,  # noqa: F811
    desk: FlaskClient,
    twilio: FakeTwilio,  # noqa: F811
    session: Any,
) -> None:
    """Done means: a caller presses 0 mid-intake, waits hearing their position and the wait,
    is offered a callback after the configured time and takes it; an agent sees them in the
    queue with the draft and what they said, calls back, finishes the draft, reads the order
    number and wraps up."""
    call = answer(start_intake(phone_of(line)), stop="diagnosis").press("0")
    assert call.enqueued == "orders", call.heard
    held = call.wait(position=2, waited=30, average=240)
    assert held.heard == [said("queue.position", position=2), said("queue.estimate", minutes=4)]
    assert held.gather is None  # no offer before the configured time
    offer = call.wait(position=1, waited=125)
    assert offer.gather is not None
    assert [s.text for s in offer.gather.iter("Say")] == [said("queue.offer")]
    call.press("1")
    assert call.heard == [said("queue.callback.confirm_number", last4="0143")]
    call.press("1")
    assert call.leave_queue("leave", 130).hung_up

    # The agent's queue view: the callback, with the plan, the reason and the answers.
    queues = desk.get("/console/queues").get_data(as_text=True)
    row = re.search(rf'<tr data-sid="{call.sid}" data-kind="callback".*?</tr>', queues, re.S)
    assert row is not None
    assert "Summit Health Plan" in row.group(0) and "100200300" in row.group(0)
    callback = the_callback(line)
    post(desk, "/console/queues", f"/console/callbacks/{callback.id}/dial")
    assert [(r["url"], r["data"]["To"]) for r in twilio.requests] == [
        (CALLS_URL, AGENT_PHONE),
        (CALLS_URL, CALLER_ID),
    ]
    page_url = f"/console/calls/{call.sid}"
    post(desk, page_url, f"/console/callbacks/{callback.id}/complete", outcome="reached")

    page = desk.get(page_url).get_data(as_text=True)
    assert value_of(page, "member_id") == "100200300"  # the draft, prefilled
    assert value_of(page, "exam_code") == "70450"
    done = post(
        desk,
        page_url,
        f"{page_url}/order",
        **{
            **_fields(page),
            "facility_npi": LAKESIDE,
            "diagnosis_codes": "R51.9",
            "symptoms": "Headaches for a week",
            "submit": "1",
        },
    )
    assert done.status_code == 302, done.get_data(as_text=True)
    shown = desk.get(page_url).get_data(as_text=True)
    number = re.search(r'<p class="big" id="order-number">(\d+)</p>', shown)
    assert number is not None
    wrapped = post(desk, page_url, f"{page_url}/wrap-up", disposition="order_issued", notes="ok")
    assert wrapped.status_code == 302

    session.rollback()
    held_row = session.scalars(sa.select(Call).where(Call.sid == call.sid)).one()
    assert held_row.disposition == "order_issued"
    acts = session.scalars(
        sa.select(CallEvent.outcome).where(
            CallEvent.call_id == held_row.id, CallEvent.input_kind == "agent"
        )
    ).all()
    assert acts == ["callback_dialed", "connected", "callback_reached", "wrap_up"]
    assert the_callback(line).outcome == "reached"
