"""The hold line (ivr/hold.py), as whole calls: a transfer enqueues with a wait URL and an
action; the wait URL tells the caller where they are and how long to expect, then offers a
callback after a while; the action records how the caller left; after hours the caller hears
the hours and can ask for a callback or leave a message. Twilio's posts are signed like its
turns (`ivr.simulate`)."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask

from ivr.simulate import Caller, FlaskTransport, Reply, SimulatedCall
from ivr.store.models import Call, Callback, CallEvent, Voicemail
from tests.conftest import AUTH_TOKEN
from tests.said import said
from tests.test_intake import start_intake

CALLER_ID = "+12125550143"  # ivr.simulate.Caller's number


# --- Twilio's side of the queue ------------------------------------------------------------


def enqueue_of(call: SimulatedCall) -> dict[str, str]:
    assert call.reply.root is not None
    el = call.reply.root.find("Enqueue")
    assert el is not None, call.reply.body
    return {"queue": (el.text or "").strip(), **el.attrib}


def absolute(call: SimulatedCall, url: str) -> str:
    return urllib.parse.urljoin(call.caller.base_url + "/", url)


def wait(call: SimulatedCall, *, position: int = 3, waited: int = 30, average: int = 240) -> Reply:
    """Twilio asks the wait URL what a caller on hold hears now."""
    return call.wait(position=position, waited=waited, average=average)


def leave_queue(call: SimulatedCall, result: str, waited: int) -> Reply:
    return call.leave_queue(result, waited)


def answer(call: SimulatedCall, reply: Reply, extra: dict[str, str]) -> Reply:
    """Answer the Gather of `reply` (a hold-line question)."""
    assert reply.gather is not None, reply.body
    return call.post(absolute(call, reply.gather.get("action", "")), extra)


def on_hold(caller: Caller) -> SimulatedCall:
    """A caller who asked for a person in the middle of the order intake (the NPI question
    takes digits, so 0 there is a digit), now in the orders queue."""
    call = start_intake(caller).say("representative")
    assert call.enqueued == "orders"
    return call


def call_row(session: Any, sid: str) -> Call:
    session.rollback()
    row = session.scalars(sa.select(Call).where(Call.sid == sid)).one()
    assert isinstance(row, Call)
    return row


def queue_events(session: Any, sid: str) -> list[CallEvent]:
    session.rollback()
    return list(
        session.scalars(
            sa.select(CallEvent).join(Call).where(Call.sid == sid, CallEvent.input_kind == "queue")
        )
    )


# --- entering the queue --------------------------------------------------------------------


def test_a_transfer_enqueues_with_a_wait_url_and_an_action(caller: Caller, session: Any) -> None:
    call = on_hold(caller)
    enqueue = enqueue_of(call)
    assert enqueue["queue"] == "orders"
    assert enqueue["waitUrl"].endswith("/voice/queue/wait")
    assert enqueue["action"].endswith("/voice/queue/done")
    assert enqueue["waitUrlMethod"] == enqueue["method"] == "POST"
    row = call_row(session, call.sid)
    assert row.enqueued_at is not None and row.outcome == "transferred"


def test_pressing_0_at_the_main_menu_enqueues_in_general(caller: Caller) -> None:
    call = caller.dial().press("1").press("0")
    assert enqueue_of(call)["queue"] == "general"
    assert wait(call).heard[0] == said("queue.position", position=3)


def test_the_hold_urls_are_built_on_the_public_base_url(make_app: Callable[..., Flask]) -> None:
    app = make_app(PUBLIC_BASE_URL="https://ivr.example.org")
    caller = Caller(FlaskTransport(app.test_client()), "https://ivr.example.org", AUTH_TOKEN)
    call = caller.dial().press("0")
    enqueue = enqueue_of(call)
    assert enqueue["waitUrl"] == "https://ivr.example.org/voice/queue/wait"
    assert enqueue["action"] == "https://ivr.example.org/voice/queue/done"
    assert wait(call).status == 200


# --- on hold -------------------------------------------------------------------------------


def test_on_hold_the_caller_hears_position_and_wait_then_a_pause(caller: Caller) -> None:
    call = on_hold(caller)
    reply = wait(call, position=3, waited=30, average=240)
    assert reply.heard == [
        said("queue.position", position=3),
        said("queue.estimate", minutes=4),  # (240 - 30) s, in whole minutes up
    ]
    assert reply.gather is None  # no callback offer before two minutes
    assert reply.root is not None
    pause = reply.root.find("Pause")
    assert pause is not None and 0 < int(pause.get("length", "0")) <= 30


def test_next_in_line_with_at_least_a_minute_to_wait(caller: Caller) -> None:
    reply = wait(on_hold(caller), position=1, waited=100, average=110)
    assert reply.heard == [said("queue.next"), said("queue.estimate_one")]


def test_hold_music_plays_when_one_is_set(make_app: Callable[..., Flask]) -> None:
    app = make_app(IVR_HOLD_MUSIC_URL="https://cdn.example.org/hold.mp3")
    caller = Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN)
    reply = wait(on_hold(caller))
    assert reply.root is not None
    play = reply.root.find("Play")
    assert play is not None and play.text == "https://cdn.example.org/hold.mp3"


def test_the_estimate_comes_from_the_queues_recent_answered_calls(
    caller: Caller, session: Any
) -> None:
    first = on_hold(caller)
    leave_queue(first, "bridged", 600)
    second = on_hold(caller)
    reply = wait(second, position=2, waited=0, average=60)  # Twilio's average is passed over
    assert said("queue.estimate", minutes=10) in reply.heard


def test_no_history_and_no_average_means_no_estimate(caller: Caller) -> None:
    reply = wait(on_hold(caller), position=2, waited=10, average=0)
    assert reply.heard == [said("queue.position", position=2)]


def test_unsigned_hold_requests_are_refused(caller: Caller) -> None:
    call = on_hold(caller)
    unsigned = Caller(caller.transport)
    url = absolute(call, enqueue_of(call)["waitUrl"])
    assert unsigned.send(url, unsigned.form(call.sid, {"QueueTime": "10"})).status == 403


# --- a callback instead of holding ---------------------------------------------------------


def test_after_two_minutes_a_callback_is_offered_and_keeps_the_callers_place(
    caller: Caller, session: Any
) -> None:
    call = on_hold(caller)
    enqueued_at = call_row(session, call.sid).enqueued_at
    assert wait(call, waited=119).gather is None
    reply = wait(call, waited=125)
    assert reply.gather is not None
    assert [s.text for s in reply.gather.iter("Say")] == [said("queue.offer")]
    call.press("1")  # the offer is the wait's Gather: Twilio posts its action
    assert call.gather is not None
    assert call.heard == [said("queue.callback.confirm_number", last4="0143")]
    reply = call.press("1").reply
    assert reply.root is not None and reply.root.find("Leave") is not None

    session.rollback()
    callback = session.scalars(sa.select(Callback)).one()
    assert (callback.call_sid, callback.number, callback.queue) == (call.sid, CALLER_ID, "orders")
    assert (callback.status, callback.tries) == ("open", 0)
    assert callback.place_at == enqueued_at  # the place in line it had on hold

    reply = leave_queue(call, "leave", 140)
    assert reply.heard == [said("queue.callback.confirmed", last4="0143")]
    assert reply.hung_up
    row = call_row(session, call.sid)
    assert (row.queue_result, row.queue_wait_s, row.outcome) == ("leave", 140, "callback")
    [event] = queue_events(session, call.sid)
    assert (event.outcome, event.node) == ("leave", "queue:orders")


def test_saying_call_me_back_and_giving_another_number(caller: Caller, session: Any) -> None:
    call = on_hold(caller)
    reply = answer(call, wait(call, waited=300), {"SpeechResult": "call me back please"})
    reply = answer(call, reply, {"Digits": "12"})
    assert reply.heard[0] == said("queue.callback.bad_number")
    reply = answer(call, reply, {"Digits": "6145550119"})
    assert reply.root is not None and reply.root.find("Leave") is not None
    session.rollback()
    assert session.scalars(sa.select(Callback.number)).one() == "+16145550119"


def test_another_key_on_hold_goes_back_to_holding(caller: Caller, session: Any) -> None:
    call = on_hold(caller)
    reply = answer(call, wait(call, waited=300), {"Digits": "5"})
    assert reply.root is not None and reply.root.find("Leave") is None
    assert reply.root.find("Pause") is not None
    session.rollback()
    assert session.scalars(sa.select(Callback)).all() == []


def test_no_second_offer_once_a_callback_is_asked_for(caller: Caller) -> None:
    call = on_hold(caller)
    reply = answer(call, wait(call, waited=300), {"Digits": "1"})
    answer(call, reply, {"Digits": "1"})
    assert wait(call, waited=320).gather is None


# --- how the caller left the queue ---------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        ("bridged", "bridged"),
        ("hangup", "abandoned"),
        ("redirected", "redirected"),
        ("queue-full", "queue_full"),
        ("error", "error"),
    ],
)
def test_the_action_records_the_queue_result_and_the_wait(
    caller: Caller, session: Any, result: str, outcome: str
) -> None:
    call = on_hold(caller)
    reply = leave_queue(call, result, 95)
    assert reply.status == 200 and reply.root is not None and reply.root.tag == "Response"
    [event] = queue_events(session, call.sid)
    assert event.outcome == outcome
    assert "QueueTime=95" in (event.raw_input or "")
    row = call_row(session, call.sid)
    assert (row.queue_result, row.queue_wait_s) == (outcome, 95)
    assert row.dequeued_at is not None
    if outcome == "abandoned":
        assert row.outcome == "abandoned"
    if outcome in ("queue_full", "error"):
        assert reply.heard == [said("queue.unavailable")] and reply.hung_up


def test_a_replayed_action_answers_the_same_and_records_once(caller: Caller, session: Any) -> None:
    call = on_hold(caller)
    first = leave_queue(call, "bridged", 42)
    again = call.replay()
    assert again.body == first.body
    assert len(queue_events(session, call.sid)) == 1


# --- after hours ---------------------------------------------------------------------------


@pytest.fixture
def closed(make_app: Callable[..., Flask]) -> Caller:
    app = make_app(IVR_HOURS_OVERRIDE="closed")
    return Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN)


HOURS = said(
    "queue.closed.hours",
    hours="Monday through Friday, 8:30 a.m. to 7 p.m.",
    zone="Eastern time",
)


def test_after_hours_the_caller_hears_the_hours_and_the_choices(
    closed: Caller, session: Any
) -> None:
    call = start_intake(closed).say("representative")
    assert call.enqueued is None
    assert HOURS in call.heard
    assert said("order.agent") not in call.heard  # no "please hold" for a closed line
    assert any(line.startswith("To be called back on ") for line in call.heard)
    assert call.gather is not None
    row = call_row(session, call.sid)
    assert (row.outcome, row.enqueued_at) == ("after_hours", None)


def test_after_hours_a_message_is_recorded_with_the_calls_context(
    closed: Caller, session: Any
) -> None:
    call = start_intake(closed).say("representative")
    reply = answer(call, call.reply, {"Digits": "2"})
    assert reply.heard[0] == said("queue.voicemail.intro")
    assert reply.root is not None
    rec = reply.root.find("Record")
    assert rec is not None
    assert rec.get("recordingStatusCallback", "").endswith("/voice/queue/recording")
    recording = {
        "RecordingSid": "RE" + "1" * 32,
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE1",
        "RecordingDuration": "17",
    }
    thanks = call.post(absolute(call, rec.get("action", "")), recording)
    assert thanks.heard == [said("queue.voicemail.thanks")] and thanks.hung_up
    status = call.post(absolute(call, rec.get("recordingStatusCallback", "")), recording)
    assert status.status == 204

    session.rollback()
    [message] = session.scalars(sa.select(Voicemail)).all()
    assert (message.call_sid, message.duration_s, message.queue) == (call.sid, 17, "orders")
    assert message.recording_url == recording["RecordingUrl"]
    assert message.context["queue"] == "orders"
    assert "order.ask_npi" in message.context["reason"]
    assert call_row(session, call.sid).outcome == "voicemail"


def test_after_hours_a_callback_for_the_next_open_day(closed: Caller, session: Any) -> None:
    call = start_intake(closed).say("representative")
    reply = answer(call, call.reply, {"Digits": "1"})
    reply = answer(call, reply, {"Digits": "1"})
    assert reply.hung_up
    assert reply.heard[0].startswith(said("queue.callback.confirmed_later", last4="0143")[:40])
    session.rollback()
    callback = session.scalars(sa.select(Callback)).one()
    assert callback.number == CALLER_ID and callback.queue == "orders"
    due = callback.due_at.astimezone(ZoneInfo("America/New_York"))
    assert due.time() == dt.time(8, 30) and due.weekday() < 5
    assert due > dt.datetime.now(dt.UTC)


def test_after_hours_no_answer_says_goodbye(closed: Caller) -> None:
    call = start_intake(closed).say("representative")
    assert call.reply.root is not None
    assert call.reply.heard[-1] == said("queue.goodbye")
    assert call.reply.hung_up


def test_a_wrong_key_after_hours_asks_again(closed: Caller) -> None:
    call = start_intake(closed).say("representative")
    reply = answer(call, call.reply, {"Digits": "7"})
    assert reply.heard[0] == said("system.no_match")
    assert reply.gather is not None


def test_spanish_callers_hear_times_in_spanish() -> None:
    from ivr.hold import spoken_time
    from tests.said import prompts

    es = prompts("es-US")
    assert spoken_time(es, dt.time(19, 0)) == "7 de la tarde"
    assert spoken_time(es, dt.time(8, 30)) == "8:30 de la mañana"


def test_the_next_open_day_is_said_in_the_callers_language() -> None:
    from ivr.hold import spoken_when
    from tests.said import prompts

    monday = dt.datetime(2026, 12, 7, 8, 30, tzinfo=ZoneInfo("America/New_York"))
    assert spoken_when(prompts("en-US"), monday) == "on Monday, December 7, after 8:30 a.m."
    assert (
        spoken_when(prompts("es-US"), monday)
        == "el lunes 7 de diciembre, después de las 8:30 de la mañana"
    )
