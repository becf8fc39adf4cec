"""Twilio's door: signatures, whole calls by keypad and speech, retries, replays, failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from ivr.config import ConfigError
from ivr.simulate import Caller, FlaskTransport, Reply, sign
from ivr.store.models import Call, CallEvent
from tests.conftest import AUTH_TOKEN, base_config, store_gone_app
from tests.said import said as sd

MENU_HINT = sd("main.menu.prompt")


def events(session: Any, sid: str) -> list[CallEvent]:
    session.rollback()  # a fresh snapshot: see what the app committed since
    call = session.scalars(sa.select(Call).where(Call.sid == sid)).one()
    return list(call.events)


def call_row(session: Any, sid: str) -> Call:
    session.rollback()  # a fresh snapshot: see what the app committed since
    return session.scalars(sa.select(Call).where(Call.sid == sid)).one()


def count_calls(session: Any) -> int:
    session.rollback()  # a fresh snapshot: see what the app committed since
    return session.scalar(sa.select(sa.func.count()).select_from(Call))


# --- signatures -------------------------------------------------------------------------


def test_incoming_answers_greeting_and_plan_question(caller: Caller) -> None:
    call = caller.dial()
    assert call.reply.status == 200
    gather = call.gather
    assert gather is not None
    assert gather.get("action") == "/voice/turn?t=1"
    assert gather.get("input") == "dtmf speech"
    assert gather.get("actionOnEmptyResult") == "true"
    assert "Summit Health Plan" in (gather.get("hints") or "")
    said = [el.text for el in gather.findall("Say")]
    assert said == [sd("main.greeting"), sd("main.plan.ask"), sd("main.spanish_offer", "es-US")]
    # The plans are read on `*` (the question's own `repeat:`), not before the caller can act.
    call.press("*")
    assert "Lakeshore Medicaid, press 2." in call.heard[0]


def test_twiml_content_type(client: FlaskClient) -> None:
    url = "http://localhost/voice/incoming"
    form = {"CallSid": "CA" + "1" * 32, "From": "+12125550143", "To": "+18005550100"}
    response = client.post(
        "/voice/incoming", data=form, headers={"X-Twilio-Signature": sign(AUTH_TOKEN, url, form)}
    )
    assert response.status_code == 200
    assert response.mimetype == "text/xml"


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "bm90IGEgc2lnbmF0dXJl",
        sign("some-other-token", "http://localhost/voice/incoming", {"CallSid": "CAbad"}),
    ],
)
def test_unsigned_or_mis_signed_is_refused_and_nothing_is_written(
    client: FlaskClient, session: Any, signature: str | None
) -> None:
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    response = client.post("/voice/incoming", data={"CallSid": "CAbad"}, headers=headers)
    assert response.status_code == 403
    assert count_calls(session) == 0


def test_signature_over_other_params_is_refused(client: FlaskClient, session: Any) -> None:
    url = "http://localhost/voice/incoming"
    signature = sign(AUTH_TOKEN, url, {"CallSid": "CAone"})
    response = client.post(
        "/voice/incoming", data={"CallSid": "CAtwo"}, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403
    assert count_calls(session) == 0


def test_turn_and_status_need_signatures_too(
    caller: Caller, client: FlaskClient, session: Any
) -> None:
    call = caller.dial()
    for path in ("/voice/turn?t=1", "/voice/status"):
        response = client.post(
            path, data={"CallSid": call.sid, "Digits": "1", "CallStatus": "completed"}
        )
        assert response.status_code == 403
    row = call_row(session, call.sid)
    assert (row.turn, row.status, row.plan) == (0, "in-progress", None)


def test_public_base_url_is_what_twilio_signed(make_app: Callable[..., Flask]) -> None:
    app = make_app(PUBLIC_BASE_URL="https://ivr.example.org/")
    caller = Caller(
        FlaskTransport(app.test_client()), base_url="https://ivr.example.org", auth_token=AUTH_TOKEN
    )
    call = caller.dial()
    assert call.reply.status == 200
    assert call.gather is not None
    assert call.gather.get("action") == "https://ivr.example.org/voice/turn?t=1"
    call.press("2")
    assert call.reply.status == 200
    # Signed for the public URL but sent to the internal one: still valid, because the
    # app checks against PUBLIC_BASE_URL, not the Host it was reached on.
    internal = Caller(
        FlaskTransport(app.test_client()), base_url="http://10.0.0.5:8000", auth_token=AUTH_TOKEN
    )
    form = internal.form("CAinternal", {})
    signature = sign(AUTH_TOKEN, "https://ivr.example.org/voice/incoming", form)
    response = app.test_client().post(
        "/voice/incoming",
        data=form,
        headers={"X-Twilio-Signature": signature},
        base_url="http://10.0.0.5:8000",
    )
    assert response.status_code == 200


def test_production_refuses_to_start_without_a_token(db_url: str) -> None:
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        from ivr import create_app

        create_app(
            base_config(db_url, IVR_ENV="production", TWILIO_AUTH_TOKEN="", SECRET_KEY="s3cret")
        )


@pytest.mark.parametrize("path", ["/voice/incoming", "/voice/turn?t=1", "/voice/status"])
def test_without_a_token_every_webhook_is_refused_and_nothing_written(
    make_app: Callable[..., Flask], session: Any, path: str
) -> None:
    app = make_app(TWILIO_AUTH_TOKEN="", IVR_ENV="")
    form = {"CallSid": "CA" + "7" * 32, "From": "+12125550143", "To": "+18005550100"}
    form |= {"CallStatus": "completed", "Digits": "1"}
    before = count_calls(session)
    response = app.test_client().post(path, data=form)
    assert response.status_code == 403
    assert count_calls(session) == before


def test_development_without_a_token_answers_unsigned_calls(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(TWILIO_AUTH_TOKEN="", IVR_ENV="development")
    call = Caller(FlaskTransport(app.test_client()), auth_token=None).dial()
    assert call.reply.status == 200
    assert call.gather is not None


# --- whole calls ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan_key", "plan"),
    [("6", "RIVERBEND"), ("2", "LAKESHORE"), ("7", "CEDAR"), ("4", "HARBOR")],
)
def test_keypad_call(caller: Caller, session: Any, plan_key: str, plan: str) -> None:
    call = caller.dial().press(plan_key)
    assert any(MENU_HINT in line for line in call.heard)
    call.press("0")
    assert call.enqueued == "general"
    assert call.ended
    row = call_row(session, call.sid)
    assert (row.plan, row.queue, row.transfer_reason, row.outcome) == (
        plan,
        "general",
        "caller_request: caller asked for a person at main.main_menu",
        "transferred",
    )
    kinds = [(e.turn, e.node, e.input_kind, e.outcome) for e in events(session, call.sid)]
    assert kinds == [
        (0, "main.greeting", "start", "start"),
        (1, "main.select_plan", "dtmf", "matched"),
        (2, "main.main_menu", "dtmf", "operator"),
    ]


@pytest.mark.parametrize(
    ("spoken_plan", "plan", "spoken_choice", "queue"),
    [
        ("Summit Health.", "SUMMIT", "I need a representative", "general"),
        ("lake shore medicaid", "LAKESHORE", "the help desk", "helpdesk"),
        ("prairie care", "PRAIRIE", "password reset", "helpdesk"),
        ("river bend", "RIVERBEND", "three", "helpdesk"),
        ("Cedar Valley", "CEDAR", "press three", "helpdesk"),
    ],
)
def test_speech_call(
    caller: Caller, session: Any, spoken_plan: str, plan: str, spoken_choice: str, queue: str
) -> None:
    call = caller.dial().say(spoken_plan)
    assert any(MENU_HINT in line for line in call.heard)
    call.say(spoken_choice)
    if queue == "helpdesk":
        assert call.heard[-1] == sd("helpdesk.menu")
        call.press("0")
    assert call.enqueued == queue
    row = call_row(session, call.sid)
    assert row.plan == plan
    plan_event = events(session, call.sid)[1]
    assert (plan_event.input_kind, plan_event.raw_input, plan_event.matched) == (
        "speech",
        spoken_plan,
        plan,
    )
    assert plan_event.confidence is not None and plan_event.confidence > 0.7


@pytest.mark.parametrize("choice", ["1", "new order", "I'd like to request an order number"])
def test_main_menu_one_starts_the_order_intake(caller: Caller, choice: str) -> None:
    call = caller.dial().press("1")
    call.press(choice) if choice.isdigit() else call.say(choice)
    assert call.heard[0] == sd("order.intro")
    assert call.gather is not None


@pytest.mark.parametrize("choice", ["2", "existing order", "status of an order"])
def test_main_menu_two_asks_for_the_order_number(caller: Caller, choice: str) -> None:
    call = caller.dial().press("1")
    call.press(choice) if choice.isdigit() else call.say(choice)
    assert call.heard == [sd("status.number.ask")]


def test_mixed_keypad_and_speech(caller: Caller, session: Any) -> None:
    call = caller.dial().say("pinnacle blue").press("3").press("0")
    assert call.enqueued == "helpdesk"
    assert call_row(session, call.sid).plan == "PINNACLE"


def test_plan_menu_in_the_middle_of_the_gather_speaks_the_selected_plan(caller: Caller) -> None:
    call = caller.dial().press("5")
    assert call.heard[0] == "Pinnacle Blue."
    assert call.gather is not None and call.gather.get("numDigits") == "1"


# --- retries and escalation ---------------------------------------------------------------


def test_silence_reprompts_then_reaches_a_person(caller: Caller, session: Any) -> None:
    call = caller.dial().silence()
    assert call.heard[0] == "Sorry, I didn't hear anything."
    assert call.heard[1].startswith(sd("main.plan.reprompt").split("{")[0].strip())
    assert "Summit Health Plan, press 1." in call.heard[1]
    call.silence()
    assert call.gather is not None
    call.silence()
    assert call.enqueued == "general"
    row = call_row(session, call.sid)
    assert row.transfer_reason == "retries_exhausted: no_input at main.select_plan"
    outcomes = [e.outcome for e in events(session, call.sid)]
    assert outcomes == ["start", "no_input", "no_input", "no_input"]


def test_nonsense_speech_then_a_good_answer_resets_the_count(caller: Caller, session: Any) -> None:
    call = caller.dial().say("purple elephant sandwich")
    assert call.heard[0] == "Sorry, I didn't understand that."
    call.say("xyzzy").say("summit")
    assert any(MENU_HINT in line for line in call.heard)
    call.press("9")
    call.press("6")  # not 8: at a one-key question 8 is the main menu (*8)
    assert call.gather is not None, "a new question starts a new count"
    call.press("7")
    assert call.enqueued == "general"
    assert (
        call_row(session, call.sid).transfer_reason
        == "retries_exhausted: no_match at main.main_menu"
    )


def test_star_repeats_without_using_a_try(caller: Caller) -> None:
    call = caller.dial().press("1")
    first = call.heard[-1]
    for _ in range(4):
        call.press("*")
        assert call.heard == [first]
    call.press("3").press("0")
    assert call.enqueued == "helpdesk"


@pytest.mark.parametrize("how", ["press 0", "representative", "I want to talk to an agent"])
def test_a_person_from_any_question(caller: Caller, session: Any, how: str) -> None:
    call = caller.dial()
    call.press("0") if how == "press 0" else call.say(how)
    assert call.enqueued == "general"
    assert call.heard[-1] == "Please hold for the next available representative."
    assert call_row(session, call.sid).transfer_reason == (
        "caller_request: caller asked for a person at main.select_plan"
    )


@pytest.mark.parametrize(
    "form",
    [
        {"Digits": "*#*#"},
        {"Digits": "1" * 40},
        {"Digits": "abc"},
        {"SpeechResult": "<script>alert(1)</script>", "Confidence": "0.9"},
        {"SpeechResult": "'; DROP TABLE calls; --", "Confidence": "0.9"},
        {"SpeechResult": "   ", "Confidence": "0.9"},
        {"SpeechResult": "summit", "Confidence": "not-a-number"},
        {"SpeechResult": "x" * 5000, "Confidence": "0.9"},
        {"SpeechResult": "mumble", "Confidence": "0.05"},
    ],
)
def test_garbage_is_a_reprompt_never_a_500(
    caller: Caller, session: Any, form: dict[str, str]
) -> None:
    call = caller.dial()
    assert call.gather is not None
    reply = call.post(call.caller.base_url + call.gather.get("action"), form)
    assert reply.status == 200
    assert reply.gather is not None or reply.enqueued
    raw = form.get("Digits") or form.get("SpeechResult", "").strip()
    event = events(session, call.sid)[1]
    if form.get("SpeechResult", "").startswith(("<", "'")):
        assert event.raw_input == raw, "what the caller said is stored as said"
    assert event.raw_input is None or len(event.raw_input) <= 500
    assert session.scalar(sa.select(sa.func.count()).select_from(Call)) == 1


def test_low_confidence_says_so(caller: Caller) -> None:
    call = caller.dial().say("mumble mumble", confidence=0.05)
    assert call.heard[0] == "Sorry, I didn't catch that clearly."


# --- replays, unknown calls, status -------------------------------------------------------


def test_replayed_turn_answers_the_same_and_records_once(caller: Caller, session: Any) -> None:
    call = caller.dial().press("1")
    first = call.reply.body
    again = call.replay()
    assert again.status == 200
    assert again.body == first
    call.press("0")
    assert call.enqueued == "general"
    third = call.replay()
    assert third.body == call.replies[-2].body
    assert [e.turn for e in events(session, call.sid)] == [0, 1, 2]


def test_replayed_incoming_does_not_start_a_second_call(caller: Caller, session: Any) -> None:
    call = caller.dial()
    body = call.reply.body
    again = caller.dial(sid=call.sid)
    assert again.reply.body == body
    assert count_calls(session) == 1
    assert len(events(session, call.sid)) == 1


def test_identical_parameters_on_two_turns_are_two_turns(caller: Caller, session: Any) -> None:
    call = caller.dial().press("12")  # no plan's key (9 asks for Spanish)
    call.press("12")
    assert [e.outcome for e in events(session, call.sid)] == ["start", "no_match", "no_match"]


def test_unknown_call_sid_gets_a_person(caller: Caller, session: Any) -> None:
    form = caller.form("CAnever-started", {"Digits": "1"})
    reply = caller.send("http://localhost/voice/turn?t=3", form)
    assert reply.status == 200
    assert reply.enqueued == "general"
    assert count_calls(session) == 0


@pytest.mark.parametrize("path", ["/voice/incoming", "/voice/turn?t=1"])
def test_missing_call_sid_is_not_a_500(caller: Caller, path: str) -> None:
    form = {"From": "+12125550143"}
    reply = caller.send("http://localhost" + path, form)
    assert reply.status == 200
    assert reply.root is not None and reply.heard


def test_status_callback_records_the_end(caller: Caller, session: Any) -> None:
    call = caller.dial().press("1")
    assert call.hang_up("completed", duration=73) == 204
    row = call_row(session, call.sid)
    assert (row.status, row.duration_s) == ("completed", 73)
    assert row.ended_at is not None


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed"])
def test_status_callback_other_endings(caller: Caller, session: Any, status: str) -> None:
    call = caller.dial()
    call.hang_up(status, duration=0)
    assert call_row(session, call.sid).status == status


def test_status_for_unknown_call_is_ignored(caller: Caller, session: Any) -> None:
    reply = caller.send(
        "http://localhost/voice/status", caller.form("CAunknown", {"CallStatus": "completed"})
    )
    assert reply.status == 204
    assert count_calls(session) == 0


# --- no state in memory, store failures ------------------------------------------------


def test_two_workers_serve_one_call(make_app: Callable[..., Flask], session: Any) -> None:
    worker_a, worker_b = make_app(), make_app()
    a = Caller(FlaskTransport(worker_a.test_client()), auth_token=AUTH_TOKEN)
    b = Caller(FlaskTransport(worker_b.test_client()), auth_token=AUTH_TOKEN)
    call = a.dial()
    call.caller = b
    call.say("harbor family health")
    call.caller = a
    call.press("3").press("0")
    assert call.enqueued == "helpdesk"
    assert call_row(session, call.sid).plan == "HARBOR"


def test_concurrent_replays_record_one_turn(make_app: Callable[..., Flask], session: Any) -> None:
    apps = [make_app(), make_app()]
    call = Caller(FlaskTransport(apps[0].test_client()), auth_token=AUTH_TOKEN).dial()
    url = "http://localhost/voice/turn?t=1"
    form = call.caller.form(call.sid, {"Digits": "3"})
    barrier = threading.Barrier(2)
    replies: list[Reply] = []

    def post(app: Flask) -> None:
        caller = Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN)
        barrier.wait()
        replies.append(caller.send(url, form))

    threads = [threading.Thread(target=post, args=(app,)) for app in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert [r.status for r in replies] == [200, 200]
    assert replies[0].body == replies[1].body
    assert [e.turn for e in events(session, call.sid)] == [0, 1]


def test_a_turn_overtaken_after_its_read_saves_nothing_and_answers_the_winner(
    app: Flask, caller: Caller, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio retries turn 2 while the first try is still running: both read the call at
    turn 1. The first saves; the retry must not save over it and must answer the same."""
    from ivr.db import get_session
    from ivr.services import calls

    call = caller.dial().press("1")
    with app.app_context():
        before = calls.read_call(get_session(), call.sid)
    assert before is not None and before.turn == 1
    first = call.press("3").reply
    saved = call_row(session, call.sid)
    monkeypatch.setattr(calls, "read_call", lambda _session, _sid: before)
    monkeypatch.setattr(calls, "lock_call", lambda _session, _sid: before)
    retry = call.replay()
    assert retry.status == 200
    assert retry.body == first.body
    assert [e.turn for e in events(session, call.sid)] == [0, 1, 2]
    after = call_row(session, call.sid)
    assert (after.turn, after.node, after.updated_at) == (2, saved.node, saved.updated_at)


def test_a_start_overtaken_after_its_read_answers_the_first_and_starts_one_call(
    caller: Caller, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio retries the start while the first try runs: both find no call. The first
    writes it; the retry must not start a second call, and must answer the same."""
    from ivr.services import calls

    call = caller.dial()
    found = {"read_call": calls.read_call, "lock_call": calls.lock_call}

    def not_yet(_session: Any, _sid: str) -> None:  # the retry's first look; later ones see it
        for name, real in found.items():
            monkeypatch.setattr(calls, name, real)

    for name in found:
        monkeypatch.setattr(calls, name, not_yet)
    retry = caller.dial(sid=call.sid)
    assert retry.reply.status == 200
    assert retry.reply.body == call.reply.body
    assert count_calls(session) == 1
    assert [e.turn for e in events(session, call.sid)] == [0]


def test_a_call_keeps_its_flow_version(app: Flask, caller: Caller, session: Any) -> None:
    from ivr.store.models import FlowVersion

    call = caller.dial()
    with app.app_context():
        from ivr.db import get_session

        s = get_session()
        old = s.get(FlowVersion, call_row(session, call.sid).flow_version_id)
        assert old is not None
        content = {"flows": dict(old.content["flows"]), "files": old.content["files"]}
        main = dict(content["flows"]["main"])
        nodes = dict(main["nodes"])
        nodes["greeting"] = dict(nodes["greeting"], prompt="main.agent")
        main["nodes"] = nodes
        content["flows"]["main"] = main
        s.add(
            FlowVersion(
                source="admin",
                checksum="x" * 64,
                content=content,
                prompts=old.prompts,
                criteria=old.criteria,
            )
        )
        s.commit()
    # Every process looks for the newest version once its refresh interval has passed.
    library = app.extensions["ivr.flows"]
    library.clock = lambda: time.monotonic() + library.refresh
    call.press("1").press("3").press("0")
    assert call.enqueued == "helpdesk"
    assert call_row(session, call.sid).flow_version_id == old.id
    fresh = caller.dial()
    assert fresh.heard[0] == "Please hold for the next available representative."
    assert call_row(session, fresh.sid).flow_version_id != old.id


def test_store_down_apologises_and_dials_the_backup(tmp_path: Any) -> None:
    broken = store_gone_app(tmp_path, "missing-dir/nothing")
    caller = Caller(FlaskTransport(broken.test_client()), auth_token=AUTH_TOKEN)
    call = caller.dial()
    assert call.reply.status == 200
    assert call.reply.dialed == "+18005550123"
    assert "our system is having a problem" in call.heard[0]
    health = broken.test_client().get("/healthz")
    assert health.status_code == 503
    assert health.get_json() == {"status": "unavailable", "database": "unavailable"}


def test_store_down_without_backup_number_says_goodbye(tmp_path: Any) -> None:
    broken = store_gone_app(tmp_path, "missing", IVR_BACKUP_NUMBER="")
    call = Caller(FlaskTransport(broken.test_client()), auth_token=AUTH_TOKEN).dial()
    assert call.reply.status == 200
    assert call.reply.hung_up
    assert "call back" in call.heard[0]


def test_twilios_fallback_url_apologises_and_dials_the_backup_with_no_store(
    tmp_path: Any,
) -> None:
    """`/voice/fallback` (Twilio's fallback URL) reads nothing from the store: it answers
    even when the store cannot be opened, and refuses an unsigned request like every other."""
    from ivr.simulate import Reply, sign

    broken = store_gone_app(tmp_path, "missing-dir/nothing")
    client = broken.test_client()
    form = {"CallSid": "CA" + "1" * 32, "ErrorCode": "11200"}
    url = "http://localhost/voice/fallback"
    response = client.post(
        "/voice/fallback", data=form, headers={"X-Twilio-Signature": sign(AUTH_TOKEN, url, form)}
    )
    reply = Reply.parse(response.status_code, response.get_data(as_text=True))
    assert reply.status == 200 and reply.dialed == "+18005550123"
    assert reply.heard == [sd("system.store_down")]
    assert client.post("/voice/fallback", data=form).status_code == 403


def test_healthz_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "line": "ok"}
