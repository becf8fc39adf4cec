"""Every Twilio webhook under /voice, fuzzed: random fields, unicode, control characters, huge
values, missing or odd CallSids and turn numbers, replayed and reordered turns, markup and SQL
as speech, signed and not. Each answer is valid TwiML (or the empty 204 the status callbacks
give), or a 403 for a request without a valid signature: never a 500, and never the apology
for a fault in our own code (the failsafe's "turn failed" log line).

The minimal examples hypothesis found are kept as plain tests at the end.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.simulate import sign
from ivr.store.models import Call, CallEvent
from tests.conftest import AUTH_TOKEN

# Bounded so the module runs in well under a minute on each store.
EXAMPLES = int(os.environ.get("IVR_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# The fields Twilio posts to these routes, and a few it never sends.
FIELDS = (
    "CallSid",
    "From",
    "To",
    "Digits",
    "SpeechResult",
    "Confidence",
    "CallStatus",
    "CallDuration",
    "QueueResult",
    "QueueTime",
    "QueuePosition",
    "AvgQueueTime",
    "RecordingSid",
    "RecordingUrl",
    "RecordingDuration",
    "AccountSid",
)
HOSTILE = (
    "<Say>hi</Say>",
    "</Response><Hangup/>",
    "'; DROP TABLE calls; --",
    "1 OR 1=1",
    "<script>alert(1)</script>",
    "&amp;&lt;&#0;",
    "\x00",
    "\x0b\x1b[2J",
    "\u2028\u202e",
    "\ufeff",
    "𝟘𝟙𝟚",
    "%0A%00",
    "{{ config }}",
    "-1",
    "1e309",
    "nan",
    "9" * 40,
    "0x10",
    "",
    " ",
)


def voice_rules(app: Flask) -> list[str]:
    return sorted({r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/voice")})


@st.composite
def values(draw: st.DrawFn) -> str:
    return draw(
        st.one_of(
            st.sampled_from(HOSTILE),
            st.text(max_size=40),
            st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
            st.integers(min_value=-(10**30), max_value=10**30).map(str),
            st.text(alphabet="0123456789*#", max_size=20),
            st.sampled_from(["1", "2", "9", "yes", "no", "summit health", "hangup", "leave"]),
            st.just("x" * 5000),
        )
    )


@st.composite
def requests(draw: st.DrawFn, paths: list[str]) -> dict[str, Any]:
    """One webhook: a path with odd query arguments, a form, and how it is signed."""
    path = draw(st.sampled_from(paths))
    query: dict[str, str] = {}
    for name in draw(st.lists(st.sampled_from(["t", "m", "n", "x"]), max_size=3, unique=True)):
        query[name] = draw(
            st.one_of(
                st.integers(min_value=-3, max_value=12).map(str),
                st.sampled_from(["after_hours", "hold", "", "1.5", "9" * 30, "\x00", "%"]),
                st.text(max_size=8),
            )
        )
    form = draw(
        st.dictionaries(
            st.one_of(st.sampled_from(FIELDS), st.text(min_size=1, max_size=10)),
            values(),
            max_size=8,
        )
    )
    sid = draw(
        st.one_of(
            st.just("live"),  # the example's call, so turns reach real nodes
            st.just(None),  # no CallSid at all
            st.sampled_from(["", "CA" + "f" * 70, "CA\x00" + "0" * 31, "ＣＡ１"]),
            st.text(max_size=40),
        )
    )
    signing = draw(st.sampled_from(["valid", "valid", "valid", "none", "wrong"]))
    return {"path": path, "query": query, "form": form, "sid": sid, "signing": signing}


@st.composite
def answers(draw: st.DrawFn) -> dict[str, Any]:
    """The live call's next turn, as its last question asked for it, with a hostile answer:
    these reach the deep nodes (diagnosis matching, ids, dates) that odd requests do not."""
    field = draw(st.sampled_from(["Digits", "SpeechResult", "SpeechResult"]))
    form = {field: draw(st.one_of(values(), st.sampled_from(["1", "2", "summit health"])))}
    if field == "SpeechResult" and draw(st.booleans()):
        form["Confidence"] = draw(values())
    return {"path": "next", "query": {}, "form": form, "sid": "live", "signing": "valid"}


def next_turn_path(body: bytes) -> str | None:
    """The path and query of the Gather or Redirect the answer sent the caller to."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    for tag in ("Gather", "Redirect"):
        el = root.find(f".//{tag}")
        target = (el.get("action") if tag == "Gather" else el.text) if el is not None else None
        if target:
            parts = urllib.parse.urlsplit(target)
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return None


def send(client: FlaskClient, request: dict[str, Any], live_sid: str) -> Any:
    form = dict(request["form"])
    if request["sid"] == "live":
        form["CallSid"] = live_sid
    elif request["sid"] is not None:
        form["CallSid"] = request["sid"]
    else:
        form.pop("CallSid", None)
    path = request["path"]
    if path == "next":
        path = request["next"]
    if request["query"]:
        path += "?" + urllib.parse.urlencode(request["query"])
    headers = {}
    if request["signing"] == "valid":
        headers["X-Twilio-Signature"] = sign(AUTH_TOKEN, "http://localhost" + path, form)
    elif request["signing"] == "wrong":
        headers["X-Twilio-Signature"] = sign("not-the-token", "http://localhost" + path, form)
    return client.post(path, data=form, headers=headers)


def assert_twilio_can_read(response: Any, request: dict[str, Any]) -> None:
    status = response.status_code
    assert status != 500, (request, response.data[:300])
    if request["signing"] != "valid":
        assert status == 403, (request, status)
        return
    if status == 204:  # the status and recording callbacks: Twilio reads nothing
        assert request["path"] in ("/voice/status", "/voice/queue/recording"), request
        assert not response.data
        return
    assert status == 200, (request, status, response.data[:300])
    if request["path"] == "next":
        request = {**request, "path": request["next"]}
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.data)  # raises on anything that is not XML
    assert root.tag == "Response"


def assert_no_fault(caplog: pytest.LogCaptureFixture, request: dict[str, Any]) -> None:
    """The failsafe's net caught nothing but the store: no bug became an apology."""
    faults = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith("ivr")
    ]
    assert not faults, (request, faults)


def test_every_voice_webhook_answers_twiml_or_403_whatever_is_sent(
    app: Flask, client: FlaskClient, caller: Any, caplog: pytest.LogCaptureFixture
) -> None:
    paths = voice_rules(app)
    assert len(paths) >= 9, paths  # incoming, turn, status and the hold line's six

    @FUZZ
    @given(st.lists(st.one_of(requests(paths), answers()), min_size=1, max_size=8), st.data())
    def run(steps: list[dict[str, Any]], data: st.DataObject) -> None:
        live = caller.dial()
        assert live.reply.status == 200
        following = next_turn_path(live.reply.body.encode())
        for step in steps:
            if step["path"] == "next":
                if following is None:
                    continue
                step = {**step, "next": following}
            caplog.clear()
            first = send(client, step, live.sid)
            if step["path"] == "next":
                following = next_turn_path(first.data)
            assert_twilio_can_read(first, step)
            assert_no_fault(caplog, step)
            if data.draw(st.booleans(), label="replayed"):  # Twilio retrying a slow answer
                again = send(client, step, live.sid)
                assert_twilio_can_read(again, step)
                assert_no_fault(caplog, step)
                if step["path"] in ("/voice/incoming", "/voice/turn", "next"):
                    assert again.data == first.data, step

    run()


def test_the_fuzz_covers_every_voice_route(app: Flask) -> None:
    """A new /voice route is fuzzed too (the fuzz draws from the app's own url_map)."""
    assert set(voice_rules(app)) >= {
        "/voice/incoming",
        "/voice/turn",
        "/voice/status",
        "/voice/queue/wait",
        "/voice/queue/done",
        "/voice/queue/callback",
        "/voice/queue/number",
        "/voice/queue/voicemail",
        "/voice/queue/recording",
    }


def test_replayed_and_reordered_turns_store_each_turn_once(
    client: FlaskClient, caller: Any, session: Any
) -> None:
    """Turns sent twice, out of order and from the future: each turn number is stored once,
    in order, and the call goes on."""
    call = caller.dial()
    sid = call.sid

    def turn(t: int, digits: str) -> Any:
        form = {"CallSid": sid, "Digits": digits}
        path = f"/voice/turn?t={t}"
        return client.post(
            path,
            data=form,
            headers={"X-Twilio-Signature": sign(AUTH_TOKEN, "http://localhost" + path, form)},
        )

    for t, digits in [(3, "1"), (1, "1"), (1, "2"), (2, "9"), (1, "1"), (5, "1"), (2, "1")]:
        response = turn(t, digits)
        assert response.status_code == 200
        ET.fromstring(response.data)
    session.rollback()
    row = session.scalars(sa.select(Call).where(Call.sid == sid)).one()
    stored = session.scalars(
        sa.select(CallEvent.turn).where(CallEvent.call_id == row.id).order_by(CallEvent.turn)
    ).all()
    assert stored == [0, 1, 2]


# --- what the fuzz found, kept as plain tests ----------------------------------------------


@pytest.mark.parametrize("query", ["t=%7B", "t=%C3%A9", "t=a%2Fb", "m=%3Cx%3E"])
def test_a_signed_url_with_percent_escapes_in_its_query_is_accepted(
    client: FlaskClient, caller: Any, query: str
) -> None:
    """Twilio signs the URL as it sent it; Werkzeug's `request.url` decodes `%7B` to `{`,
    so the signature over what was sent failed (a 403 for Twilio's own request)."""
    call = caller.dial()
    path = f"/voice/turn?{query}"
    form = {"CallSid": call.sid, "Digits": "1"}
    signature = sign(AUTH_TOKEN, "http://localhost" + path, form)
    response = client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200
    assert ET.fromstring(response.data).tag == "Response"
