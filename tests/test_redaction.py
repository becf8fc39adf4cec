"""What a call keeps at rest (issue 14): the turns' TwiML and what the caller said hold no
member id, date of birth or second factor as said; the call's slots and the order keep
what an agent needs; the calls API and the agents' queue view never show a second factor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from ivr.simulate import Caller, FlaskTransport
from ivr.store.models import CallEvent
from tests.conftest import AUTH_TOKEN, bearer
from tests.said import said
from tests.test_console import make_user, sign_in
from tests.test_intake import (
    LOPEZ,
    Say,
    answer,
    at_review,
    call_row,
    order_of,
    readback,
    start_intake,
)

DOB_FORMS = ("1960-03-05", "03051960", "March 5, 1960", "5 de marzo de 1960", "03/05/1960")
LOPEZ_FORMS = (LOPEZ, " ".join(LOPEZ), "100, 200, 300", "1 0 0, 2 0 0, 3 0 0")
MORALES_MOBILE = "+12125550143"  # jmorales: NPI 1615230939, TIN 310597076, ZIP 10016


def events(session: Any, sid: str) -> list[CallEvent]:
    session.rollback()
    call = call_row(session, sid)
    return list(
        session.scalars(
            sa.select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.turn)
        )
    )


def stored_text(session: Any, sid: str) -> str:
    """Everything the call's turn rows keep, as one text."""
    return "\n".join(
        f"{e.twiml}\n{e.raw_input or ''}\n{e.matched or ''}" for e in events(session, sid)
    )


def test_turns_keep_no_member_id_or_birth_date_as_said(caller: Caller, session: Any) -> None:
    call = at_review(caller)
    assert "born March 5, 1960" in readback(call)  # the caller hears it read back
    kept = stored_text(session, call.sid)
    for text in (*LOPEZ_FORMS, *DOB_FORMS):
        assert text not in kept, text
    rows = events(session, call.sid)
    withheld = {e.node: e.raw_input for e in rows if e.raw_input and "withheld" in e.raw_input}
    assert withheld == {
        "order.ask_member": "[member_id withheld]",
        "order.ask_dob": "[member_dob withheld]",
    }
    # What an agent needs stays where agents (and the order) read it.
    row = call_row(session, call.sid)
    assert (row.slots["member_id"], row.slots["member_dob"]) == (LOPEZ, "1960-03-05")
    order = order_of(session, call.sid)
    assert (order.member_id, str(order.member_dob)) == (LOPEZ, "1960-03-05")


def test_a_replayed_readback_is_heard_as_first_answered(caller: Caller, session: Any) -> None:
    call = at_review(caller)
    first = call.reply.body
    again = call.replay()
    assert again.body == first
    assert "March 5, 1960" in again.body
    last = events(session, call.sid)[-1]
    assert "March 5, 1960" not in last.twiml and "⟦member_dob:date⟧" in last.twiml


def test_spoken_answers_are_withheld(caller: Caller, session: Any) -> None:
    call = start_intake(caller)
    answer(
        call,
        member=Say("one zero zero two zero zero three zero zero"),
        dob=Say("March 5th 1960"),
    )
    kept = stored_text(session, call.sid)
    assert "one zero zero two" not in kept and "March 5th 1960" not in kept
    for text in (*LOPEZ_FORMS, *DOB_FORMS):
        assert text not in kept, text


def test_the_keep_offers_are_withheld_and_replayed_whole(caller: Caller, session: Any) -> None:
    """ "To keep member ID 1 0 0 ..., press pound": said when the patient is changed."""
    call = at_review(caller)
    call.press("2").press("2")  # change the patient
    assert call.heard[-1] == said("order.member.keep", member_id=LOPEZ)
    assert call.replay().body == call.replies[-2].body
    call.press("#")
    assert call.heard[-1] == said("order.dob.keep", member_dob="1960-03-05")
    assert call.replay().body == call.replies[-2].body
    kept = stored_text(session, call.sid)
    for text in (*LOPEZ_FORMS, *DOB_FORMS):
        assert text not in kept, text


def desk_caller(client: FlaskClient, number: str) -> Caller:
    return Caller(FlaskTransport(client), auth_token=AUTH_TOKEN, from_number=number)


def test_reset_factors_are_not_kept_nor_shown_to_agents(
    client: FlaskClient, session: Any, token_for: Callable[[str], str]
) -> None:
    call = desk_caller(client, "+13125550000").dial().press("1").press("3").press("1")
    call.press("310597076#")  # jmorales's TIN
    call.press("99999")  # a wrong ZIP
    call.press("10016")  # the right one
    assert call.heard[0] == said("helpdesk.reset.sent")
    call.press("0")  # and then a person
    row = call_row(session, call.sid)
    assert "portal_factor" not in row.slots and "portal_identifier" not in row.slots
    kept = stored_text(session, call.sid)
    for secret in ("310597076", "3 1 0 5 9 7 0 7 6", "99999", "10016", "7076"):
        assert secret not in kept, secret
    token = token_for("agent")
    got = client.get(f"/api/v1/calls/{call.sid}", headers=bearer(token))
    assert got.status_code == 200
    body = got.get_data(as_text=True)
    assert not {"portal_factor", "portal_identifier"} & set(got.get_json()["slots"])
    for secret in ("310597076", "99999", "10016"):
        assert secret not in body, secret
    queue = client.get("/api/v1/queues/helpdesk", headers=bearer(token))
    assert queue.status_code == 200
    text = queue.get_data(as_text=True)
    assert call.sid in text
    for secret in ("310597076", "10016", '"portal_factor"'):
        assert secret not in text, secret


def test_an_old_call_with_a_factor_in_its_slots_does_not_show_it(
    app: Flask, client: FlaskClient, session: Any, token_for: Callable[[str], str]
) -> None:
    """Rows written before this release may hold one: the API still never shows it."""
    call = desk_caller(client, "+13125550000").dial()
    row = call_row(session, call.sid)
    row.slots = {**row.slots, "portal_factor": "7076", "portal_factor_confidence": 0.9}
    session.commit()
    got = client.get(f"/api/v1/calls/{call.sid}", headers=bearer(token_for("agent")))
    assert got.status_code == 200 and "7076" not in got.get_data(as_text=True)


def test_the_agents_call_page_shows_what_the_caller_heard(
    caller: Caller, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    call = at_review(caller)
    make_user(runner, "ana", "agent")
    assert sign_in(client, "ana").status_code == 302
    page = client.get(f"/console/calls/{call.sid}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "born March 5, 1960" in text and "⟦" not in text
