"""The agent's call page in the console (ivr/console/calls.py): accept a waiting call from the
queue view, read what the caller said and heard (inert), fix the draft with the phone's checks,
submit it for an order number read to the caller, and wrap up. The same services as the JSON
API (tests/test_agent_api.py); the browser's side is tests/test_console_browser.py."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from ivr.simulate import Caller, SimulatedCall
from ivr.store.models import Call, CallEvent, Order, OrderEvent, OrderStatus
from tests.test_agent_api import asked_for_a_person
from tests.test_api_orders import OUT_OF_NETWORK, in_window
from tests.test_console import HOSTILE, csrf_of, make_user, on_hold_saying, sign_in
from tests.test_intake import LAKESIDE, LINCOLN_PARK

AGENT_PHONE = "+16145550177"


@pytest.fixture
def agent(client: FlaskClient, runner: FlaskCliRunner) -> FlaskClient:
    """Ana, signed in, her phone remembered."""
    make_user(runner, "ana", "agent")
    assert sign_in(client, "ana").status_code == 302
    remember_phone(client, AGENT_PHONE)
    return client


def remember_phone(client: FlaskClient, phone: str) -> Any:
    token = csrf_of(client.get("/console/queues").get_data(as_text=True))
    return client.post("/console/phone", data={"agent_phone": phone, "csrf_token": token})


def accept(client: FlaskClient, sid: str) -> Any:
    page = client.get("/console/queues").get_data(as_text=True)
    assert f'action="/console/calls/{sid}/accept"' in page  # the Accept button of its row
    return client.post(f"/console/calls/{sid}/accept", data={"csrf_token": csrf_of(page)})


def post_form(client: FlaskClient, sid: str, path: str, **form: str) -> Any:
    token = csrf_of(client.get(f"/console/calls/{sid}").get_data(as_text=True))
    return client.post(f"/console/calls/{sid}/{path}", data={**form, "csrf_token": token})


def value_of(page: str, name: str) -> str:
    found = re.search(rf'<input id="f-{name}" name="{name}" value="([^"]*)"', page)
    assert found, name
    return html.unescape(found.group(1))


def test_an_agent_accepts_fixes_a_field_submits_and_reads_the_order_number(
    app: Flask, agent: FlaskClient, caller: Caller, session: Any
) -> None:
    call = asked_for_a_person(caller)
    accepted = accept(agent, call.sid)
    assert accepted.status_code == 302
    assert accepted.headers["Location"].endswith(f"/console/calls/{call.sid}")

    page = agent.get(f"/console/calls/{call.sid}").get_data(as_text=True)
    assert "What the caller said and heard" in page
    assert "representative" in page  # the caller's words, turn by turn
    assert value_of(page, "member_id") == "100200300"  # the draft, prefilled
    assert value_of(page, "exam_code") == "70450"

    # A bad field: its message at that field, the other values kept as typed.
    bad = post_form(
        agent,
        call.sid,
        "order",
        **{**_fields(page), "facility_npi": "1234567890", "symptoms": "Headaches for a week"},
    )
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert re.search(
        r'id="f-facility_npi"[^>]*aria-invalid="true".*?<p class="field-error" '
        r'id="facility_npi-error">No imaging facility on file with it\.</p>',
        body,
        re.S,
    )
    assert value_of(body, "facility_npi") == "1234567890"
    assert "Headaches for a week" in body
    assert value_of(body, "member_id") == "100200300"
    order = session.scalars(sa.select(Order).where(Order.call_sid == call.sid)).one()
    assert order.facility_npi is None and order.symptoms is None  # nothing saved

    # A diagnosis that isn't an ICD-10-CM code: the phone's message too.
    not_code = post_form(
        agent, call.sid, "order", **{**_fields(page), "diagnosis_codes": "Q99.999"}
    )
    assert not_code.status_code == 422
    assert 'id="diagnosis_codes-error">Not an ICD-10-CM code.</p>' in not_code.get_data(
        as_text=True
    )

    # Fixed and submitted: the order number, large, to read to the caller.
    done = post_form(
        agent,
        call.sid,
        "order",
        **{
            **_fields(page),
            "facility_npi": LAKESIDE,
            "diagnosis_codes": "R51.9",
            "symptoms": "Headaches for a week",
            "submit": "1",
        },
    )
    assert done.status_code == 302, done.get_data(as_text=True)
    shown = agent.get(f"/console/calls/{call.sid}").get_data(as_text=True)
    session.rollback()  # a fresh read of what the console wrote
    order = session.scalars(sa.select(Order).where(Order.call_sid == call.sid)).one()
    assert order.status == OrderStatus.APPROVED and order.order_number
    assert f'<p class="big" id="order-number">{order.order_number}</p>' in shown
    # The last day it is valid, as the phone says it: issued on day D, valid through D+60 in
    # the line's zone (not the instant it lapses, midnight after).
    issued = order.issued_at.astimezone(ZoneInfo("America/New_York")).date()
    assert f"valid through {(issued + dt.timedelta(days=60)).isoformat()}." in shown

    # Wrap-up: a disposition is required (the form says so), then it is done.
    missing = post_form(agent, call.sid, "wrap-up", disposition="", notes="Read back.")
    assert missing.status_code == 422
    assert "Choose how the call ended." in missing.get_data(as_text=True)
    wrong = post_form(agent, call.sid, "wrap-up", disposition="done")
    assert wrong.status_code == 422
    wrapped = post_form(agent, call.sid, "wrap-up", disposition="order_issued", notes="Read back.")
    assert wrapped.status_code == 302

    # Every act carries the agent's user id, the same acts as the API's.
    session.rollback()  # a fresh read of what the console wrote
    row = session.scalars(sa.select(Call).where(Call.sid == call.sid)).one()
    assert (row.disposition, row.wrap_notes, row.agent_phone) == (
        "order_issued",
        "Read back.",
        AGENT_PHONE,
    )
    acts = session.scalars(
        sa.select(CallEvent)
        .where(CallEvent.call_id == row.id, CallEvent.input_kind == "agent")
        .order_by(CallEvent.turn)
    ).all()
    assert [e.outcome for e in acts] == ["accepted", "not_connected", "wrap_up"]
    assert {e.user_id for e in acts} == {row.accepted_by}
    kinds = [
        e.kind
        for e in session.scalars(sa.select(OrderEvent).where(OrderEvent.order_id == order.id))
        if e.user_id == row.accepted_by
    ]
    assert kinds == ["edited", "submitted"]


def _fields(page: str) -> dict[str, str]:
    names = (
        "ordering_npi",
        "plan",
        "member_id",
        "member_dob",
        "exam_code",
        "diagnosis_codes",
        "facility_npi",
    )
    return {name: value_of(page, name) for name in names}


def test_the_criteria_questions_still_open_are_asked_on_the_page(
    agent: FlaskClient, caller: Caller
) -> None:
    """A lumbar MRI for low back pain: its rule's questions appear as inputs; submitting
    without them names each; answered, the order is decided."""
    call = asked_for_a_person(caller)
    assert accept(agent, call.sid).status_code == 302
    page = agent.get(f"/console/calls/{call.sid}").get_data(as_text=True)
    fields = {
        **_fields(page),
        "member_id": "961671404",
        "member_dob": "1998-02-07",
        "exam_code": "72148",
        "diagnosis_codes": "M54.50",
        "facility_npi": LAKESIDE,
    }
    saved = post_form(agent, call.sid, "order", **fields, save="1")
    assert saved.status_code == 302, saved.get_data(as_text=True)
    page = agent.get(f"/console/calls/{call.sid}").get_data(as_text=True)
    assert "Criteria questions still open" in page
    questions = re.findall(r'name="answer-([\w.-]+)"', page)
    assert questions
    early = post_form(agent, call.sid, "order", **fields, submit="1")
    assert early.status_code == 422
    assert "Not answered." in early.get_data(as_text=True)
    answers: dict[str, str] = {}
    for _ in range(10):
        page = agent.get(f"/console/calls/{call.sid}").get_data(as_text=True)
        for qid in dict.fromkeys(re.findall(r'name="answer-([\w.-]+)"', page)):
            numeric = re.search(rf'id="answer-{re.escape(qid)}" name="answer-', page)
            answers[f"answer-{qid}"] = "6" if numeric else "no"
        response = post_form(agent, call.sid, "order", **fields, **answers, submit="1")
        if response.status_code == 302:
            break
        assert response.status_code == 422
    assert response.status_code == 302
    shown = agent.get(f"/console/calls/{call.sid}").get_data(as_text=True)
    assert 'id="order-number"' in shown


def test_a_second_agent_accepting_is_told_another_agent_took_it(
    app: Flask, agent: FlaskClient, runner: FlaskCliRunner, caller: Caller
) -> None:
    call = asked_for_a_person(caller)
    make_user(runner, "bo", "agent")
    other = app.test_client()
    assert sign_in(other, "bo").status_code == 302
    remember_phone(other, "+16145550178")
    page = other.get("/console/queues").get_data(as_text=True)  # bo sees the call waiting
    assert accept(agent, call.sid).status_code == 302
    late = other.post(f"/console/calls/{call.sid}/accept", data={"csrf_token": csrf_of(page)})
    assert late.status_code == 302 and late.headers["Location"].endswith("/console/queues")
    assert "Another agent took this call." in other.get("/console/queues").get_data(as_text=True)


def test_accepting_needs_the_agents_phone_and_a_csrf_token(
    client: FlaskClient, runner: FlaskCliRunner, caller: Caller
) -> None:
    call = asked_for_a_person(caller)
    make_user(runner, "ana", "agent")
    sign_in(client, "ana")
    assert client.post(f"/console/calls/{call.sid}/accept").status_code == 400  # no token
    refused = accept(client, call.sid)
    assert refused.headers["Location"].endswith("/console/queues")
    assert "Set your phone first" in client.get("/console/queues").get_data(as_text=True)
    bad = remember_phone(client, "not a phone")
    assert bad.status_code == 302
    assert "must be a phone number" in client.get("/console/queues").get_data(as_text=True)
    remember_phone(client, AGENT_PHONE)
    assert accept(client, call.sid).headers["Location"].endswith(f"/console/calls/{call.sid}")


def test_what_the_caller_said_is_shown_inert_on_the_call_page(
    agent: FlaskClient, caller: Caller
) -> None:
    call: SimulatedCall = on_hold_saying(caller, HOSTILE)
    assert accept(agent, call.sid).status_code == 302
    page = agent.get(f"/console/calls/{call.sid}").get_data(as_text=True)
    assert HOSTILE not in page
    assert html.escape(HOSTILE, quote=False) in page or html.escape(HOSTILE) in page
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "This call left no draft order." in page


def test_clinicians_may_not_open_a_call_page(
    client: FlaskClient, runner: FlaskCliRunner, caller: Caller
) -> None:
    call = asked_for_a_person(caller)
    make_user(runner, "cleo", "clinician")
    sign_in(client, "cleo")
    assert client.get(f"/console/calls/{call.sid}").status_code == 403
    assert client.get("/console/calls/CAnope").status_code == 403


def test_the_agent_reads_extends_moves_and_cancels_the_callers_order(
    app: Flask, agent: FlaskClient, caller: Caller, session: Any
) -> None:
    """An existing order, looked up on the call page: its status read, then the lifecycle's
    acts (as /api/v1/orders/<number>/<act>), each with the agent's user id and the call."""
    call = on_hold_saying(caller, "my order needs a new date")
    assert accept(agent, call.sid).status_code == 302
    info = in_window(app)
    page = agent.get(f"/console/calls/{call.sid}?order={info['number']}").get_data(as_text=True)
    assert "<dt>Status</dt><dd>approved</dd>" in page and "Extend 60 days" in page
    assert "No order with that number." in agent.get(
        f"/console/calls/{call.sid}?order=999999999"
    ).get_data(as_text=True)

    extended = post_form(agent, call.sid, f"orders/{info['number']}/extend")
    assert extended.status_code == 302
    session.rollback()
    new = session.scalars(sa.select(Order).where(Order.replaces_id == info["id"])).one()
    assert new.order_number in agent.get(extended.headers["Location"]).get_data(as_text=True)

    path = f"orders/{new.order_number}/change-provider"
    far = post_form(agent, call.sid, path, facility_npi=OUT_OF_NETWORK)
    assert "not in network for the order" in agent.get(far.headers["Location"]).get_data(
        as_text=True
    )
    moved = post_form(agent, call.sid, path, facility_npi=LINCOLN_PARK)
    assert "moved to the new facility" in agent.get(moved.headers["Location"]).get_data(
        as_text=True
    )
    no_reason = post_form(agent, call.sid, f"orders/{new.order_number}/cancel", reason="")
    assert "reason of 1 to 200" in agent.get(no_reason.headers["Location"]).get_data(as_text=True)
    post_form(agent, call.sid, f"orders/{new.order_number}/cancel", reason="Caller asked")

    session.rollback()
    row = session.scalars(sa.select(Call).where(Call.sid == call.sid)).one()
    again = session.get(Order, new.id)
    assert (again.status, again.facility_npi) == (OrderStatus.CANCELLED, LINCOLN_PARK)
    events = session.scalars(sa.select(OrderEvent).where(OrderEvent.order_id == new.id)).all()
    assert {e.user_id for e in events if e.kind != "created"} == {row.accepted_by}
    acts = session.scalars(
        sa.select(CallEvent.outcome).where(
            CallEvent.call_id == row.id, CallEvent.user_id.is_not(None)
        )
    ).all()
    assert {"order_extend", "order_change_provider", "order_cancel"} <= set(acts)
