"""Try the line (ivr/console/tryit.py, ivr/sandbox.py): an admin's sandbox call runs the real
engine and services, turn by turn from the page, and is never a real call: not listed or
counted, never enqueued, no real order or ticket number, no text message sent."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient, FlaskCliRunner

from ivr.services import agents, messaging
from ivr.store.models import Call, Order, OrderStatus, OutboxMessage, Ticket, utcnow
from tests.conftest import bearer
from tests.said import said
from tests.test_console import HOSTILE, csrf_of, make_user, sign_in
from tests.test_console_admin import admin  # noqa: F401  (the fixture)
from tests.test_intake import KEYPAD, STEPS, Press, Say

TRY = "/console/admin/try"


def start(client: FlaskClient) -> str:
    """Start a sandbox call from the page; returns its sid."""
    token = csrf_of(client.get(TRY).get_data(as_text=True))
    response = client.post(TRY, data={"csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    found = re.search(r"/console/admin/try/(SANDBOX[0-9a-f]+)", response.location)
    assert found, response.location
    return found.group(1)


def send(client: FlaskClient, sid: str, **form: str) -> str:
    """Send one input to the sandbox call; returns the page it lands on."""
    page = client.get(f"{TRY}/{sid}").get_data(as_text=True)
    response = client.post(f"{TRY}/{sid}", data={"csrf_token": csrf_of(page), **form})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client.get(response.location).get_data(as_text=True)


def heard(page: str) -> list[str]:
    """What the caller heard on the last turn the page shows."""
    turns = page.split('<ol class="turns" id="turns">', 1)[1].split("</ol>", 1)[0]
    last = turns.rsplit('<li class="turn"', 1)[1]
    lines = re.findall(r'<p class="line-says">(.*?)</p>', last, re.S)
    return [html.unescape(t.strip()) for t in lines]


def at_node(page: str) -> str:
    found = re.search(r'<p id="at" role="status">(.*?)</p>', page, re.S)
    assert found, page
    return found.group(1)


def give(client: FlaskClient, sid: str, answer: Press | Say) -> str:
    if isinstance(answer, Press):
        return send(client, sid, digits=answer.digits)
    return send(client, sid, speech=answer.words)


def test_an_admin_tries_the_line_by_keypad_words_and_silence(
    admin: FlaskClient,  # noqa: F811
    session: Any,
) -> None:
    sid = start(admin)
    page = admin.get(f"{TRY}/{sid}").get_data(as_text=True)
    assert heard(page)[:2] == [said("main.greeting"), said("main.plan.ask")]
    assert "<code>main.select_plan</code>" in at_node(page)
    page = send(admin, sid, silence="1")
    assert heard(page)[0] == "Sorry, I didn't hear anything."
    assert heard(page)[1].startswith(said("main.plan.reprompt").split("{")[0])
    assert "(silence)" in page
    page = send(admin, sid, digits="1")
    assert heard(page)[0] == "Summit Health Plan."
    assert heard(page)[-1] == said("main.menu.prompt")
    assert "<code>main.main_menu</code>" in at_node(page)
    page = send(admin, sid, speech=HOSTILE)  # words the menu does not know, shown inert
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    nothing = admin.post(
        f"{TRY}/{sid}",
        data={"csrf_token": csrf_of(page), "digits": "12a"},
    )
    assert "error=nothing" in nothing.location
    call = session.scalars(sa.select(Call).where(Call.sid == sid)).one()
    assert call.sandbox and call.turn == 3


def test_a_sandbox_transfer_ends_the_try_and_no_one_sees_a_caller(
    admin: FlaskClient,  # noqa: F811
    app: Any,
    session: Any,
    token_for: Any,
) -> None:
    sid = start(admin)
    page = send(admin, sid, digits="0")  # a person, please
    assert "it would now wait in the <strong>general</strong> queue" in at_node(page)
    assert 'aria-label="Keypad"' not in page  # the call is over
    token = token_for("agent")
    api = app.test_client()
    queues = api.get("/api/v1/queues", headers=bearer(token)).get_json()["items"]
    assert all(q["waiting"] == 0 for q in queues)
    listed = api.get("/api/v1/calls", headers=bearer(token)).get_json()["items"]
    assert sid not in [c["sid"] for c in listed]
    assert api.get(f"/api/v1/calls/{sid}", headers=bearer(token)).status_code == 404
    assert agents.waiting_calls(session) == []
    counts = agents.today_counts(session, "general", zone="America/New_York", now=utcnow())
    assert counts["entered"] == 0
    assert admin.get(f"/console/calls/{sid}").status_code == 404


def test_a_sandbox_order_gets_an_sbx_number_and_is_no_order_anyone_sees(
    admin: FlaskClient,  # noqa: F811
    app: Any,
    session: Any,
    token_for: Any,
) -> None:
    sid = start(admin)
    send(admin, sid, digits="1")  # Summit
    page = send(admin, sid, digits="1")  # a new order
    assert heard(page)[0] == said("order.intro")
    for step in STEPS:
        page = give(admin, sid, KEYPAD[step])
    assert heard(page)[-1] == said("order.review.menu")
    page = send(admin, sid, digits="1")  # submit
    assert heard(page)[0].startswith("Approved. ")
    order = session.scalars(sa.select(Order).where(Order.call_sid == sid)).one()
    assert order.status == OrderStatus.APPROVED and order.source == "sandbox"
    assert order.order_number.startswith("SBX") and order.reference_number.startswith("SBX")
    assert len(order.order_number) == 12 and len(order.reference_number) == 12
    token = token_for("admin")
    found = app.test_client().get("/api/v1/orders?plan=SUMMIT", headers=bearer(token))
    assert order.reference_number not in found.get_data(as_text=True)


def test_a_pended_sandbox_order_is_not_on_the_clinicians_worklist(
    app: Any, session: Any, runner: FlaskCliRunner
) -> None:
    from ivr import sandbox
    from ivr.services import orders, review

    with app.test_request_context():
        from ivr.db import get_session

        db = get_session()
        sid = sandbox.start(db, sandbox.bundle_for(db))
        draft = orders.save_draft(db, call_sid=sid, slots={"plan": "SUMMIT"})
        draft.status = OrderStatus.PENDING_REVIEW
        db.commit()
        assert draft.source == "sandbox"
        assert review.worklist(db) == []


def test_a_sandbox_text_is_never_sent_and_a_real_one_is(app: Any) -> None:
    from ivr import sandbox

    with app.test_request_context():
        from ivr.db import get_session

        db = get_session()
        sid = sandbox.start(db, sandbox.bundle_for(db))
        tried = messaging.queue(
            db, to="+16145550119", kind="order_number", body_masked="x", call_sid=sid
        )
        real = messaging.queue(db, to="+16145550119", kind="order_number", body_masked="y")
        db.commit()
        assert tried.status == "sandbox" and real.status == "queued"
        assert [m.id for m in messaging.due(db, utcnow())] == [real.id]
        sent = messaging.send(
            db, tried, plaintext_body=None, config={"TWILIO_ACCOUNT_SID": "AC1"}, now=utcnow()
        )
        assert sent.status == "sandbox"  # left alone: no request to Twilio was even tried


def test_a_sandbox_ticket_gets_an_sbx_number(app: Any) -> None:
    from ivr import sandbox
    from ivr.services import tickets

    with app.test_request_context():
        from ivr.db import get_session

        db = get_session()
        sid = sandbox.start(db, sandbox.bundle_for(db))
        ticket = tickets.open_ticket(
            db,
            kind="navigation",
            plan="SUMMIT",
            username=None,
            description="tried",
            confidence=None,
            call_sid=sid,
        )
        assert ticket.number.startswith("SBX")
        db.rollback()


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_real_call_cannot_be_driven_from_the_try_page(
    admin: FlaskClient,  # noqa: F811
    caller: Any,
    session: Any,
    method: str,
) -> None:
    real = caller.dial()
    page = admin.get(TRY).get_data(as_text=True)
    if method == "get":
        response = admin.get(f"{TRY}/{real.sid}")
    else:
        response = admin.post(
            f"{TRY}/{real.sid}", data={"csrf_token": csrf_of(page), "digits": "1"}
        )
    assert response.status_code == 404
    session.rollback()
    call = session.scalars(sa.select(Call).where(Call.sid == real.sid)).one()
    assert call.turn == 0 and not call.sandbox


def test_only_admins_try_the_line_and_forms_need_their_token(
    client: FlaskClient, runner: FlaskCliRunner, session: Any
) -> None:
    assert client.get(TRY).location.startswith("/console/sign-in")
    make_user(runner, "ana", "agent")
    sign_in(client, "ana")
    assert client.get(TRY).status_code == 403
    page = client.get("/console/queues").get_data(as_text=True)
    assert client.post(TRY, data={"csrf_token": csrf_of(page)}).status_code == 403
    assert session.scalars(sa.select(Call)).first() is None


def test_starting_a_try_without_the_csrf_token_is_refused(
    admin: FlaskClient,  # noqa: F811
    session: Any,
) -> None:
    assert admin.post(TRY).status_code == 400
    assert session.scalars(sa.select(Call)).first() is None
    assert session.scalars(sa.select(OutboxMessage)).first() is None
    assert session.scalars(sa.select(Ticket)).first() is None


def test_a_sandbox_password_reset_touches_nothing_of_the_real_account(app: Any) -> None:
    """The try hears "code sent", but the real account gets no code, no attempt counted
    (nothing toward its lockout or its three resets a day) and no text."""
    from ivr import sandbox
    from ivr.actions.helpdesk import start_password_reset
    from ivr.actions.registry import Facts
    from ivr.store.models import PortalAccount, ResetAttempt, ResetCode

    with app.test_request_context():
        from ivr.db import get_session

        db = get_session()
        account = db.scalars(
            sa.select(PortalAccount).where(PortalAccount.mobile.is_not(None))
        ).first()
        assert account is not None
        sid = sandbox.start(db, sandbox.bundle_for(db))
        counts = [
            db.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (ResetCode, ResetAttempt, OutboxMessage)
        ]
        result = start_password_reset(
            db,
            Facts(call_sid=sid, from_number="+16145550100"),
            {},
            {},
            {"portal_account": account.id},
        )
        assert result.outcome == "code_sent"
        assert [
            db.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (ResetCode, ResetAttempt, OutboxMessage)
        ] == counts
        db.rollback()
