"""Webhooks no real Twilio request looks like: odd turn numbers, long or broken ids, NUL
bytes and other control characters, huge numbers. Each gets valid TwiML (or a 204 where
Twilio expects nothing), never a 500, and never a turn stored twice or stored wrong.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from ivr.simulate import Caller, sign
from ivr.store.models import Call, CallEvent
from tests.conftest import AUTH_TOKEN


def post(client: FlaskClient, path: str, form: dict[str, str]) -> Any:
    url = "http://localhost" + path
    return client.post(path, data=form, headers={"X-Twilio-Signature": sign(AUTH_TOKEN, url, form)})


def turns(session: Any, sid: str) -> list[CallEvent]:
    session.rollback()
    call = session.scalars(sa.select(Call).where(Call.sid == sid)).one()
    return sorted(call.events, key=lambda e: e.turn)


def valid_twiml(body: bytes) -> ET.Element:
    root = ET.fromstring(body)  # raises on invalid XML (a control character, say)
    assert root.tag == "Response"
    return root


@pytest.mark.parametrize("t", ["abc", "-1", "0x2", "99999999999999999999", "7", "", None, "1.5"])
def test_a_turn_number_that_is_not_the_next_or_a_past_turn_processes_nothing(
    client: FlaskClient, caller: Caller, session: Any, t: str | None
) -> None:
    """Only the next turn (t = last + 1) is run; a past one replays what was said. Anything
    else (no t, not a number, negative, far ahead) answers the current question again and
    stores nothing, so resending it can't store a second answer."""
    call = caller.dial()
    sid = call.sid
    path = "/voice/turn" if t is None else f"/voice/turn?t={t}"
    form = {"CallSid": sid, "Digits": "1"}
    first = post(client, path, form)
    again = post(client, path, form)
    assert first.status_code == again.status_code == 200
    valid_twiml(first.data)
    assert first.data == again.data == turns(session, sid)[-1].twiml.encode()
    assert [e.turn for e in turns(session, sid)] == [0]
    # The call still goes on from the plan question with a real next turn.
    assert call.press("1").reply.status == 200
    assert [e.turn for e in turns(session, sid)] == [0, 1]


def test_a_call_sid_over_64_characters_is_never_half_stored(
    client: FlaskClient, session: Any
) -> None:
    sid = "CA" + "f" * 70
    response = post(client, "/voice/incoming", {"CallSid": sid, "From": "+13125550100"})
    assert response.status_code == 200
    root = valid_twiml(response.data)
    assert root.find("Gather") is None  # not a call we can follow: an apology, not a question
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(Call)) == 0
    turn = post(client, "/voice/turn?t=1", {"CallSid": sid, "Digits": "1"})
    assert turn.status_code == 200
    valid_twiml(turn.data)


@pytest.mark.parametrize("duration", ["1" * 30, "-5", "9" * 12])
def test_a_huge_or_negative_call_duration_is_ignored(
    client: FlaskClient, caller: Caller, session: Any, duration: str
) -> None:
    call = caller.dial()
    form = {"CallSid": call.sid, "CallStatus": "completed", "CallDuration": duration}
    response = post(client, "/voice/status", form)
    assert response.status_code == 204
    session.rollback()
    row = session.scalars(sa.select(Call).where(Call.sid == call.sid)).one()
    assert (row.status, row.duration_s) == ("completed", None)


@pytest.mark.parametrize(
    "field,value",
    [
        ("SpeechResult", "summit\x00 health"),
        ("SpeechResult", "summit\x0b health\x1b[2J"),
        ("Digits", "1\x00"),
        ("From", "+1312\x00555"),
    ],
)
def test_control_characters_in_what_twilio_sends_are_dropped(
    client: FlaskClient, caller: Caller, session: Any, field: str, value: str
) -> None:
    call = caller.dial()
    form = {"CallSid": call.sid, field: value}
    response = post(client, "/voice/turn?t=1", form)
    assert response.status_code == 200
    root = valid_twiml(response.data)
    assert "having a problem" not in response.get_data(as_text=True)
    last = turns(session, call.sid)[-1]
    assert last.turn == 1 and "\x00" not in (last.raw_input or "")
    if field != "From":
        assert root.find("Gather") is not None
        assert last.outcome == "matched", last.raw_input


def test_a_nul_byte_in_a_new_calls_ids_still_starts_the_call(
    client: FlaskClient, session: Any
) -> None:
    form = {"CallSid": "CA" + "a" * 32, "From": "+1312555\x000100", "To": "+1800\x00"}
    response = post(client, "/voice/incoming", form)
    assert response.status_code == 200
    assert valid_twiml(response.data).find("Gather") is not None
    session.rollback()
    row = session.scalars(sa.select(Call)).one()
    assert row.from_number == "+13125550100"


def test_a_control_character_that_reached_a_prompt_is_not_spoken_into_invalid_xml(
    app: Any, caller: Caller, session: Any
) -> None:
    """Notices are refused with control characters; one already stored (written before that
    check, or straight into the table) must still not take the line down. (PostgreSQL
    cannot store a NUL at all: a vertical tab, a bell and an ESC stand for the rest.)"""
    import datetime as dt

    from ivr.store.models import Outage

    now = dt.datetime.now(dt.UTC)
    session.add(
        Outage(
            title="Portal\x07",
            message={"en-US": "Down\x0b for \x1bmaintenance."},
            systems=[],
            plans=None,
            starts_at=now - dt.timedelta(hours=1),
            ends_at=None,
            created_at=now,
        )
    )
    session.commit()
    call = caller.dial()
    assert call.reply.status == 200 and call.reply.root is not None, call.reply.body
    assert call.gather is not None
    call.press("1")  # notices, all-plan ones too, are heard once a plan is chosen
    assert call.reply.status == 200 and call.reply.root is not None, call.reply.body
    assert call.gather is not None
    assert any("Down for maintenance." in line for line in call.heard), call.heard
