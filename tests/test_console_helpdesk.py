"""The help desk's acts on the agent's call page (ivr/console/helpdesk.py): a portal password
reset texted through the outbox by the phone's own service, and closing the call's ticket;
each a call event with the agent's user id. Twilio's REST API is asserted at the `twilio`
client's HTTP-client hook, as tests/test_helpdesk_calls.py does for the phone."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from ivr.simulate import Caller, FlaskTransport, SimulatedCall
from ivr.store.models import Call, CallEvent, OutboxMessage, ResetAttempt, Ticket
from tests.test_console import csrf_of, make_user, sign_in
from tests.test_helpdesk_calls import MORALES_MOBILE, STRANGER
from tests.test_messaging import ACCOUNT_SID, AUTH_TOKEN, FROM, MESSAGES_URL, FakeTwilio

AGENT_PHONE = "+16145550177"


@pytest.fixture
def fake() -> FakeTwilio:
    return FakeTwilio()


@pytest.fixture
def desk_app(make_app: Callable[..., Flask], fake: FakeTwilio) -> Flask:
    app = make_app(
        TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER=FROM, TWILIO_AUTH_TOKEN=AUTH_TOKEN
    )
    app.extensions["ivr.twilio_http"] = fake
    return app


@pytest.fixture
def agent(desk_app: Flask) -> FlaskClient:
    client = desk_app.test_client()
    make_user(desk_app.test_cli_runner(), "ana", "agent")
    assert sign_in(client, "ana").status_code == 302
    token = csrf_of(client.get("/console/queues").get_data(as_text=True))
    client.post("/console/phone", data={"agent_phone": AGENT_PHONE, "csrf_token": token})
    return client


def ticket_call(desk_app: Flask) -> SimulatedCall:
    """A caller at the help desk writes a data-issue ticket down and waits for a person."""
    caller = Caller(
        FlaskTransport(desk_app.test_client()), auth_token=AUTH_TOKEN, from_number=STRANGER
    )
    call = caller.dial().press("1").press("3").press("4")
    call.say("the eligibility page shows the wrong plan", confidence=0.9)
    call.press("1").say("jmorales")
    assert call.enqueued == "helpdesk"
    return call


def post(client: FlaskClient, sid: str, path: str, **form: str) -> Any:
    page = client.get(f"/console/calls/{sid}").get_data(as_text=True)
    return client.post(f"/console/calls/{sid}/{path}", data={**form, "csrf_token": csrf_of(page)})


def accept(client: FlaskClient, sid: str) -> None:
    page = client.get("/console/queues").get_data(as_text=True)
    answer = client.post(f"/console/calls/{sid}/accept", data={"csrf_token": csrf_of(page)})
    assert answer.headers["Location"].endswith(f"/console/calls/{sid}")


def agent_acts(session: Any, sid: str) -> list[tuple[str, str | None, int | None]]:
    session.rollback()
    call = session.scalars(sa.select(Call).where(Call.sid == sid)).one()
    events = session.scalars(
        sa.select(CallEvent)
        .where(CallEvent.call_id == call.id, CallEvent.input_kind == "agent")
        .order_by(CallEvent.turn)
    )
    return [(e.outcome, e.raw_input, e.user_id) for e in events]


def test_a_reset_from_the_call_page_texts_a_code_through_the_outbox(
    desk_app: Flask, agent: FlaskClient, fake: FakeTwilio, session: Any
) -> None:
    call = ticket_call(desk_app)
    accept(agent, call.sid)
    page = agent.get(f"/console/calls/{call.sid}").get_data(as_text=True)
    # The username the caller gave is the form's start; the agent checks it with them.
    assert re.search(r'id="portal-username"[^>]*value="jmorales"', page)
    assert '<label for="portal-username"' in page

    unknown = post(agent, call.sid, "password-reset", username="nobody-here")
    assert "No portal account with that username." in agent.get(
        unknown.headers["Location"]
    ).get_data(as_text=True)

    sent = post(agent, call.sid, "password-reset", username="jmorales")
    assert sent.status_code == 302
    shown = agent.get(sent.headers["Location"]).get_data(as_text=True)
    assert "A reset code is on its way to the mobile on file for jmorales" in shown

    # Queued in the outbox (masked), never sent from the request: the worker sends it.
    session.rollback()
    [message] = session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "reset_code")
    ).all()
    assert (message.to, message.status, message.call_sid) == (MORALES_MOBILE, "queued", call.sid)
    assert not re.search(r"code is \d", message.body)
    assert not [r for r in fake.requests if r["url"] == MESSAGES_URL]
    result = desk_app.test_cli_runner().invoke(args=["send-outbox"])
    assert result.exit_code == 0, result.output
    [text] = [r for r in fake.requests if r["url"] == MESSAGES_URL]
    assert text["data"]["To"] == MORALES_MOBILE
    assert re.search(r"reset code is \d+\.", text["data"]["Body"])
    assert session.scalars(sa.select(ResetAttempt.outcome)).all()[-1] == "code_sent"

    acts = agent_acts(session, call.sid)
    resets = [a for a in acts if a[0] == "password_reset"]
    assert len(resets) == 1 and resets[0][1] is not None and "code_sent" in resets[0][1]
    assert {a[2] for a in acts} == {acts[0][2]} and acts[0][2] is not None


def test_the_agent_closes_the_calls_ticket_once(
    desk_app: Flask, agent: FlaskClient, session: Any
) -> None:
    call = ticket_call(desk_app)
    accept(agent, call.sid)
    session.rollback()
    ticket = session.scalars(sa.select(Ticket)).one()
    page = agent.get(f"/console/calls/{call.sid}").get_data(as_text=True)
    assert f"Ticket {ticket.number} (data issue, portal user jmorales): open." in page
    assert "the eligibility page shows the wrong plan" in page

    closed = post(agent, call.sid, f"tickets/{ticket.number}/close")
    shown = agent.get(closed.headers["Location"]).get_data(as_text=True)
    assert f"Ticket {ticket.number} is closed." in shown
    assert f"Close ticket {ticket.number}" not in shown
    again = post(agent, call.sid, f"tickets/{ticket.number}/close")
    assert "was closed already" in agent.get(again.headers["Location"]).get_data(as_text=True)
    assert post(agent, call.sid, "tickets/00000000/close").status_code == 404

    session.rollback()
    assert session.get(Ticket, ticket.id).status == "closed"
    acts = agent_acts(session, call.sid)
    assert [a[:2] for a in acts if a[0] == "ticket_closed"] == [
        ("ticket_closed", f"ticket {ticket.number}")
    ]
    assert all(a[2] is not None for a in acts)

    # A form without its token changes nothing.
    forged = agent.post(f"/console/calls/{call.sid}/password-reset", data={"username": "jmorales"})
    assert forged.status_code == 400


def test_clinicians_may_not_reset_close_tickets_or_dial_callbacks(
    desk_app: Flask, session: Any
) -> None:
    call = ticket_call(desk_app)
    session.rollback()
    ticket = session.scalars(sa.select(Ticket)).one()
    cleo = desk_app.test_client()
    make_user(desk_app.test_cli_runner(), "cleo", "clinician")
    assert sign_in(cleo, "cleo").status_code == 302
    token = csrf_of(cleo.get("/console/review").get_data(as_text=True))
    for path in (
        f"/console/calls/{call.sid}/password-reset",
        f"/console/calls/{call.sid}/tickets/{ticket.number}/close",
        "/console/callbacks/1/dial",
        "/console/callbacks/1/complete",
    ):
        refused = cleo.post(
            path, data={"csrf_token": token, "username": "jmorales", "outcome": "reached"}
        )
        assert refused.status_code == 403, path
    session.rollback()
    assert session.get(Ticket, ticket.id).status == "open"
    assert session.scalars(sa.select(OutboxMessage)).all() == []
