"""The agents' JSON API as whole calls: a caller asks for a person mid-intake and waits (or
takes a callback); an agent sees the queue with what the caller said and the draft, takes the
call (Twilio's REST requests asserted at the client's HTTP-client hook), finishes the draft
with the phone's checks, submits it against the same criteria, and wraps up."""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from twilio.http import HttpClient
from twilio.http.response import Response

from ivr.services import agents
from ivr.simulate import Caller, FlaskTransport, SimulatedCall
from ivr.store.models import Call, Callback, CallEvent, Order, OrderEvent, OrderStatus
from tests.conftest import AUTH_TOKEN, bearer
from tests.said import said
from tests.test_api_orders import OUT_OF_NETWORK
from tests.test_intake import LAKESIDE, answer, start_intake

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
FROM = "+18005550100"
AGENT_PHONE = "+16145550177"
CALLER_ID = "+12125550143"  # ivr.simulate.Caller's number
CALLS_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"


class FakeTwilio(HttpClient):
    """Answers Twilio's Calls API and records each request (nothing leaves the machine)."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("tests.fake_twilio"), False)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        with self.lock:
            self.requests.append({"method": method, "url": url, "data": dict(data or {})})
            number = len(self.requests)
        sid = url.rsplit("/", 1)[-1].removesuffix(".json")
        if sid == "Calls":
            sid = f"CA{number:032x}"
        body = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "to": (data or {}).get("To"),
            "from": (data or {}).get("From"),
            "status": "queued",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
        }
        return Response(201 if url == CALLS_URL else 200, json.dumps(body))


def conference_of(twiml: str) -> tuple[str, dict[str, str]]:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(twiml)
    conference = root.find("Dial/Conference")
    assert conference is not None, twiml
    return (conference.text or "").strip(), dict(conference.attrib)


@pytest.fixture
def twilio() -> FakeTwilio:
    return FakeTwilio()


@pytest.fixture
def line(make_app: Callable[..., Flask], twilio: FakeTwilio) -> Flask:
    """The app with Twilio's REST API configured (answered by the fake)."""
    app = make_app(
        TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER=FROM, TWILIO_AUTH_TOKEN=AUTH_TOKEN
    )
    app.extensions["ivr.twilio_http"] = twilio
    return app


@pytest.fixture
def api(line: Flask) -> FlaskClient:
    return line.test_client()


@pytest.fixture
def phone(api: FlaskClient) -> Caller:
    return Caller(FlaskTransport(api), auth_token=AUTH_TOKEN)


@pytest.fixture
def agent(line: Flask) -> dict[str, str]:
    return bearer(make_token(line, "agent"))


_users = iter(range(1, 10_000))


def make_token(app: Flask, role: str) -> str:
    result = app.test_cli_runner().invoke(
        args=["create-user", f"{role}-{next(_users)}", "--role", role]
    )
    assert result.exit_code == 0, result.output
    return str(result.output.strip().splitlines()[-1])


def rows(app: Flask) -> Any:
    return app.extensions["ivr.store"].read_sessionmaker()


def asked_for_a_person(phone: Caller) -> SimulatedCall:
    """A caller who gave the physician, the patient and the exam, then said
    "representative" at the diagnosis question: on hold in the orders queue."""
    call = answer(start_intake(phone), stop="diagnosis").say("representative")
    assert call.enqueued == "orders", call.heard
    return call


# --- the whole call ----------------------------------------------------------------------------


def test_a_caller_on_hold_is_taken_by_an_agent_who_finishes_the_order(
    line: Flask, api: FlaskClient, phone: Caller, agent: dict[str, str], twilio: FakeTwilio
) -> None:
    call = asked_for_a_person(phone)
    assert call.wait(position=1, waited=20).heard[0] == said("queue.next")

    # The agent sees the queue: one caller waiting, with what they said and their draft.
    summary = api.get("/api/v1/queues", headers=agent)
    assert summary.status_code == 200
    orders_queue = next(q for q in summary.get_json()["items"] if q["name"] == "orders")
    assert (orders_queue["open"], orders_queue["waiting"]) == (True, 1)
    detail = api.get("/api/v1/queues/orders", headers=agent).get_json()
    [waiting] = detail["waiting"]
    assert waiting["call_sid"] == call.sid
    assert waiting["position"] == 1
    assert waiting["plan"] == "SUMMIT"
    assert waiting["language"] == "en-US"
    assert waiting["reason"] == "asked for a person at the diagnosis question"
    assert waiting["context"]["member_id"]["value"] == "100200300"
    assert waiting["context"]["exam"]["value"] == "70450"
    assert waiting["context"]["member_id"]["low_confidence"] is False
    reference = waiting["draft_order"]
    assert reference is not None
    assert detail["today"] == {
        "entered": 1,
        "answered": 0,
        "abandoned": 0,
        "callbacks_requested": 0,
    }

    # The draft, with the names the agent reads out.
    listed = api.get("/api/v1/orders?status=draft", headers=agent).get_json()["items"]
    assert [o["reference_number"] for o in listed] == [reference]
    draft = listed[0]
    assert draft["patient_name"] == "Maria Lopez"
    assert draft["ordering_physician_name"]
    assert draft["exam_description"]

    # Accept: the caller is moved into a conference and the agent's phone is called into it.
    accepted = api.post(
        f"/api/v1/calls/{call.sid}/accept", json={"agent_phone": AGENT_PHONE}, headers=agent
    )
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["connected"] is True
    room = f"ivr-{call.sid}"
    assert [(r["method"], r["url"]) for r in twilio.requests] == [
        ("POST", f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{call.sid}.json"),
        ("POST", CALLS_URL),
    ]
    redirect, dial = twilio.requests
    assert set(redirect["data"]) == {"Twiml"}
    assert conference_of(str(redirect["data"]["Twiml"])) == (
        room,
        {"startConferenceOnEnter": "false", "endConferenceOnExit": "true", "beep": "false"},
    )
    assert (dial["data"]["To"], dial["data"]["From"]) == (AGENT_PHONE, FROM)
    assert conference_of(str(dial["data"]["Twiml"])) == (
        room,
        {"startConferenceOnEnter": "true", "endConferenceOnExit": "true", "beep": "false"},
    )
    assert api.get("/api/v1/queues/orders", headers=agent).get_json()["waiting"] == []

    # A bad field is refused, naming it, as the phone would; then fixed.
    bad = api.patch(
        f"/api/v1/orders/{reference}", json={"facility_npi": "1234567890"}, headers=agent
    )
    assert bad.status_code == 422
    assert (bad.get_json()["field"], bad.get_json()["error"]) == (
        "facility_npi",
        "unknown_facility",
    )
    not_code = api.patch(
        f"/api/v1/orders/{reference}", json={"diagnosis_codes": ["Q99.999"]}, headers=agent
    )
    assert (not_code.status_code, not_code.get_json()["field"]) == (422, "diagnosis_codes")
    early = api.post(f"/api/v1/orders/{reference}/submit", json={}, headers=agent)
    assert early.status_code == 422
    assert {m["field"] for m in early.get_json()["missing"]} == {"diagnosis_codes", "facility_npi"}
    fixed = api.patch(
        f"/api/v1/orders/{reference}",
        json={"facility_npi": LAKESIDE, "diagnosis_codes": ["R51.9"], "symptoms": "Headaches"},
        headers=agent,
    )
    assert fixed.status_code == 200, fixed.get_json()
    assert fixed.get_json()["facility_name"] == "Lakeside Diagnostic Imaging"

    # Submitted: the same criteria as the phone (a head CT for a headache: no rule asks).
    submitted = api.post(f"/api/v1/orders/{reference}/submit", json={"answers": {}}, headers=agent)
    assert submitted.status_code == 200, submitted.get_json()
    order = submitted.get_json()
    assert order["status"] == "approved"
    assert order["order_number"] and order["expires_at"]
    again = api.patch(f"/api/v1/orders/{reference}", json={"symptoms": "x"}, headers=agent)
    assert (again.status_code, again.get_json()["error"]) == (409, "not_a_draft")

    # Wrap-up: a disposition is required.
    bad_wrap = api.post(
        f"/api/v1/calls/{call.sid}/wrap-up", json={"disposition": "done"}, headers=agent
    )
    assert (bad_wrap.status_code, bad_wrap.get_json()["field"]) == (422, "disposition")
    wrapped = api.post(
        f"/api/v1/calls/{call.sid}/wrap-up",
        json={"disposition": "order_issued", "notes": "Order read back to the caller."},
        headers=agent,
    )
    assert wrapped.status_code == 200
    assert wrapped.get_json()["disposition"] == "order_issued"

    # Every act carries the agent's user id: on the call and on the order.
    with rows(line) as s:
        row = s.scalars(sa.select(Call).where(Call.sid == call.sid)).one()
        acts = s.scalars(
            sa.select(CallEvent)
            .where(CallEvent.call_id == row.id, CallEvent.input_kind == "agent")
            .order_by(CallEvent.turn)
        ).all()
        assert [e.outcome for e in acts] == ["accepted", "connected", "wrap_up"]
        assert {e.user_id for e in acts} == {row.accepted_by}
        events = s.scalars(
            sa.select(OrderEvent).join(Order).where(Order.reference_number == reference)
        ).all()
        by_agent = [e.kind for e in events if e.user_id == row.accepted_by]
        assert by_agent == ["edited", "submitted"]
        assert row.disposition == "order_issued"


def test_a_caller_takes_a_callback_and_an_agent_calls_back_and_finishes_the_order(
    line: Flask, api: FlaskClient, phone: Caller, agent: dict[str, str], twilio: FakeTwilio
) -> None:
    call = asked_for_a_person(phone)
    assert call.wait(position=2, waited=40, average=240).heard[0] == said(
        "queue.position", position=2
    )
    offer = call.wait(position=1, waited=125)
    assert offer.gather is not None
    assert [s.text for s in offer.gather.iter("Say")] == [said("queue.offer")]
    call.press("1")
    assert call.heard == [said("queue.callback.confirm_number", last4="0143")]
    call.press("1")
    assert call.leave_queue("leave", 130).hung_up

    # The agent sees the callback in its place, with the caller's answers and draft.
    detail = api.get("/api/v1/queues/orders", headers=agent).get_json()
    assert detail["waiting"] == []
    [callback] = detail["callbacks"]
    assert (callback["call_sid"], callback["number"]) == (call.sid, CALLER_ID)
    assert callback["context"]["member_id"]["value"] == "100200300"
    reference = callback["draft_order"]
    assert reference is not None
    assert detail["today"]["callbacks_requested"] == 1
    listed = api.get("/api/v1/callbacks?status=open", headers=agent).get_json()["items"]
    assert [c["id"] for c in listed] == [callback["id"]]

    # Dial: the agent is called first, then the caller, into one conference.
    dialed = api.post(
        f"/api/v1/callbacks/{callback['id']}/dial", json={"agent_phone": AGENT_PHONE}, headers=agent
    )
    assert dialed.status_code == 200, dialed.get_json()
    assert dialed.get_json()["connected"] is True
    room = f"ivr-{call.sid}"
    to_agent, to_caller = twilio.requests
    assert (to_agent["method"], to_agent["url"]) == ("POST", CALLS_URL)
    assert (to_agent["data"]["To"], to_agent["data"]["From"]) == (AGENT_PHONE, FROM)
    assert conference_of(str(to_agent["data"]["Twiml"]))[0] == room
    assert (to_caller["method"], to_caller["url"]) == ("POST", CALLS_URL)
    assert (to_caller["data"]["To"], to_caller["data"]["From"]) == (CALLER_ID, phone.to_number)
    assert conference_of(str(to_caller["data"]["Twiml"]))[0] == room
    again = api.post(
        f"/api/v1/callbacks/{callback['id']}/dial", json={"agent_phone": AGENT_PHONE}, headers=agent
    )
    assert (again.status_code, again.get_json()["error"]) == (409, "taken")

    fixed = api.patch(
        f"/api/v1/orders/{reference}",
        json={"facility_npi": LAKESIDE, "diagnosis_codes": ["R51.9"]},
        headers=agent,
    )
    assert fixed.status_code == 200, fixed.get_json()
    submitted = api.post(f"/api/v1/orders/{reference}/submit", json={}, headers=agent)
    assert submitted.get_json()["status"] == "approved"
    done = api.post(
        f"/api/v1/callbacks/{callback['id']}/complete", json={"outcome": "reached"}, headers=agent
    )
    assert (done.status_code, done.get_json()["status"]) == (200, "done")
    wrapped = api.post(
        f"/api/v1/calls/{call.sid}/wrap-up",
        json={"disposition": "order_issued", "notes": ""},
        headers=agent,
    )
    assert wrapped.status_code == 200
    assert (
        api.get("/api/v1/callbacks?status=done", headers=agent).get_json()["items"][0]["outcome"]
        == "reached"
    )


# --- one agent per call ---------------------------------------------------------------------


def test_two_agents_accepting_at_once_exactly_one_wins(
    line: Flask, phone: Caller, twilio: FakeTwilio
) -> None:
    call = asked_for_a_person(phone)
    tokens = [make_token(line, "agent"), make_token(line, "supervisor")]
    start = threading.Barrier(2)
    answers: list[int] = []

    def take(token: str) -> None:
        client = line.test_client()
        start.wait()
        response = client.post(
            f"/api/v1/calls/{call.sid}/accept",
            json={"agent_phone": AGENT_PHONE},
            headers=bearer(token),
        )
        answers.append(response.status_code)

    threads = [threading.Thread(target=take, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 409]
    assert sum(1 for r in twilio.requests if r["url"] == CALLS_URL) == 1


def test_accepting_in_development_records_it_without_connecting(
    app: Flask, client: FlaskClient, caller: Caller, token_for: Callable[[str], str]
) -> None:
    call = asked_for_a_person(caller)
    headers = bearer(token_for("agent"))
    bad = client.post(
        f"/api/v1/calls/{call.sid}/accept", json={"agent_phone": "555"}, headers=headers
    )
    assert (bad.status_code, bad.get_json()["field"]) == (422, "agent_phone")
    response = client.post(
        f"/api/v1/calls/{call.sid}/accept", json={"agent_phone": "(614) 555-0177"}, headers=headers
    )
    assert response.status_code == 200
    assert response.get_json()["connected"] is False
    later = client.post(
        f"/api/v1/calls/{call.sid}/accept", json={"agent_phone": AGENT_PHONE}, headers=headers
    )
    assert (later.status_code, later.get_json()["error"]) == (409, "taken")
    with rows(app) as s:
        row = s.scalars(sa.select(Call).where(Call.sid == call.sid)).one()
        assert row.agent_phone == AGENT_PHONE and row.accepted_at is not None


def test_a_call_no_longer_waiting_cannot_be_accepted(
    client: FlaskClient, caller: Caller, token_for: Callable[[str], str]
) -> None:
    call = asked_for_a_person(caller)
    call.leave_queue("hangup", 50)
    response = client.post(
        f"/api/v1/calls/{call.sid}/accept",
        json={"agent_phone": AGENT_PHONE},
        headers=bearer(token_for("agent")),
    )
    assert (response.status_code, response.get_json()["error"]) == (409, "not_waiting")
    missing = client.post(
        "/api/v1/calls/CAnope/accept",
        json={"agent_phone": AGENT_PHONE},
        headers=bearer(token_for("agent")),
    )
    assert missing.status_code == 404


# --- roles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/queues"),
        ("get", "/api/v1/queues/orders"),
        ("get", "/api/v1/calls"),
        ("post", "/api/v1/calls/CA1/accept"),
        ("post", "/api/v1/calls/CA1/wrap-up"),
        ("get", "/api/v1/callbacks"),
        ("post", "/api/v1/callbacks/1/dial"),
        ("post", "/api/v1/callbacks/1/complete"),
        ("patch", "/api/v1/orders/1234567890"),
        ("post", "/api/v1/orders/1234567890/submit"),
    ],
)
def test_clinicians_may_not_use_the_agents_acts(
    client: FlaskClient, token_for: Callable[[str], str], method: str, path: str
) -> None:
    response = getattr(client, method)(path, json={}, headers=bearer(token_for("clinician")))
    assert response.status_code == 403
    assert getattr(client, method)(path, json={}).status_code == 401


# --- listing calls, callbacks ---------------------------------------------------------------


def test_calls_are_listed_newest_first_by_status_with_a_cursor(
    client: FlaskClient, caller: Caller, token_for: Callable[[str], str]
) -> None:
    headers = bearer(token_for("agent"))
    on_hold = asked_for_a_person(caller)
    live = start_intake(caller)
    ended = caller.dial()
    ended.hang_up()

    def sids(query: str) -> list[str]:
        response = client.get(f"/api/v1/calls?{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return [c["sid"] for c in response.get_json()["items"]]

    assert sids("") == [ended.sid, live.sid, on_hold.sid]
    assert sids("status=queued") == [on_hold.sid]
    assert sids("status=in-progress") == [live.sid]
    assert sids("status=completed") == [ended.sid]
    first = client.get("/api/v1/calls?limit=2", headers=headers).get_json()
    assert [c["sid"] for c in first["items"]] == [ended.sid, live.sid]
    rest = client.get(
        "/api/v1/calls?limit=2&cursor=" + urllib.parse.quote(first["next"]), headers=headers
    )
    assert [c["sid"] for c in rest.get_json()["items"]] == [on_hold.sid]
    assert rest.get_json()["next"] is None
    [held] = client.get("/api/v1/calls?status=queued", headers=headers).get_json()["items"]
    assert held["queue"] == "orders" and held["draft_order"] is not None
    assert sids("since=2999-01-01T00:00:00Z") == []
    for bad in ("status=ringing", "since=yesterday", "cursor=zz", "limit=0"):
        assert client.get(f"/api/v1/calls?{bad}", headers=headers).status_code == 422, bad


def test_a_callback_not_reached_after_three_tries_is_closed(
    app: Flask, client: FlaskClient, caller: Caller, token_for: Callable[[str], str]
) -> None:
    call = asked_for_a_person(caller)
    reply = call.wait(waited=200)
    assert reply.gather is not None
    call.press("1")
    call.press("1")
    headers = bearer(token_for("agent"))
    [callback] = client.get("/api/v1/callbacks", headers=headers).get_json()["items"]
    url = f"/api/v1/callbacks/{callback['id']}"
    bad = client.post(f"{url}/complete", json={"outcome": "maybe"}, headers=headers)
    assert (bad.status_code, bad.get_json()["field"]) == (422, "outcome")
    for outcome, status in [("no_answer", "open"), ("left_message", "open"), ("no_answer", "done")]:
        dialed = client.post(f"{url}/dial", json={"agent_phone": AGENT_PHONE}, headers=headers)
        assert dialed.status_code == 200 and dialed.get_json()["connected"] is False
        done = client.post(f"{url}/complete", json={"outcome": outcome}, headers=headers)
        assert done.status_code == 200
        assert done.get_json()["status"] == status
    assert done.get_json()["outcome"] == "not_reached"
    assert done.get_json()["tries"] == 3
    assert client.get("/api/v1/callbacks", headers=headers).get_json()["items"] == []
    late = client.post(f"{url}/complete", json={"outcome": "reached"}, headers=headers)
    assert late.status_code == 409
    with rows(app) as s:
        assert s.scalars(sa.select(Callback.status)).one() == "done"


def test_submitting_asks_for_each_criteria_answer_the_rule_needs(
    client: FlaskClient, caller: Caller, token_for: Callable[[str], str]
) -> None:
    """A lumbar MRI for low back pain: the criteria's questions come back as missing."""
    headers = bearer(token_for("agent"))
    call = asked_for_a_person(caller)
    [waiting] = client.get("/api/v1/queues/orders", headers=headers).get_json()["waiting"]
    reference = waiting["draft_order"]
    assert call.sid == waiting["call_sid"]
    patched = client.patch(
        f"/api/v1/orders/{reference}",
        json={
            "member_id": "961671404",
            "member_dob": "1998-02-07",
            "exam_code": "72148",
            "diagnosis_codes": ["M54.50"],
            "facility_npi": LAKESIDE,
        },
        headers=headers,
    )
    assert patched.status_code == 200, patched.get_json()
    wrong_dob = client.patch(
        f"/api/v1/orders/{reference}", json={"member_dob": "1998-02-08"}, headers=headers
    )
    assert (wrong_dob.status_code, wrong_dob.get_json()["field"]) == (422, "member_dob")
    answers: dict[str, Any] = {}
    for _ in range(10):
        response = client.post(
            f"/api/v1/orders/{reference}/submit", json={"answers": answers}, headers=headers
        )
        if response.status_code == 200:
            break
        assert response.status_code == 422, response.get_json()
        missing = response.get_json()["missing"]
        assert missing and all(m["question"] for m in missing)
        if not answers:  # each question the request may still need, listed at once
            assert len(missing) > 1
        first = missing[0]
        answers[first["question_id"]] = 6 if first["expect"] == "number" else False
    assert response.status_code == 200
    assert response.get_json()["status"] == "approved"
    bogus = client.post(
        f"/api/v1/orders/{reference}/submit", json={"answers": {"x": 1}}, headers=headers
    )
    assert bogus.status_code == 409


def test_reasons_in_words() -> None:
    assert (
        agents.reason_in_words("intake_help: invalid at order.ask_diagnosis")
        == "three tries at the diagnosis question"
    )
    assert agents.reason_in_words("caller_request") == "asked for a person"
    assert agents.reason_in_words("ticket 123456") == "help-desk ticket 123456"
    assert agents.reason_in_words(None) is None


def test_order_json_keeps_its_fields_and_adds_the_names(
    app: Flask, client: FlaskClient, caller: Caller, token_for: Callable[[str], str]
) -> None:
    asked_for_a_person(caller)
    headers = bearer(token_for("clinician"))
    with rows(app) as s:
        reference = s.scalars(
            sa.select(Order.reference_number).where(Order.status == OrderStatus.DRAFT)
        ).one()
    order = client.get(f"/api/v1/orders/{reference}", headers=headers).get_json()
    assert {"member_id", "exam_code", "ordering_npi", "facility_npi"} <= set(order)
    assert order["patient_name"] == "Maria Lopez"
    assert order["facility_name"] is None


def test_unsure_answers_are_marked_in_the_context() -> None:
    call = Call(
        sid="CAx",
        slots={
            "symptoms": "<b>headache</b>",
            "symptoms_confidence": 0.41,
            "diagnosis": "R51.9",
            "diagnosis_sure": False,
            "member_id": "100200300",
            "_visits": {"a": 1},
            "criteria_qid": "q1",
        },
    )
    context = agents.call_context(call)
    assert set(context) == {"symptoms", "diagnosis", "member_id"}
    assert context["symptoms"] == {
        "value": "<b>headache</b>",
        "confidence": 0.41,
        "low_confidence": True,
    }
    assert context["diagnosis"]["low_confidence"] is True
    assert context["member_id"]["low_confidence"] is False


def test_drafts_are_listed_by_the_cli_when_asked_for(
    app: Flask, caller: Caller, runner: Any
) -> None:
    asked_for_a_person(caller)
    with rows(app) as s:
        reference = s.scalars(sa.select(Order.reference_number)).one()
    drafts = runner.invoke(args=["orders", "--status", "draft"])
    assert drafts.exit_code == 0, drafts.output
    assert reference in drafts.output and "draft" in drafts.output
    assert reference not in runner.invoke(args=["orders"]).output


class RefusingTwilio(FakeTwilio):
    """Twilio answering every request with a 404 (the caller hung up meanwhile)."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        self.requests.append({"method": method, "url": url, "data": dict(kwargs.get("data") or {})})
        error = {"code": 20404, "message": "The requested resource was not found", "status": 404}
        return Response(404, json.dumps(error))


def test_when_twilio_refuses_the_accept_stands_and_a_callback_is_open_again(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(
        TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER=FROM, TWILIO_AUTH_TOKEN=AUTH_TOKEN
    )
    refusing = RefusingTwilio()
    app.extensions["ivr.twilio_http"] = refusing
    client = app.test_client()
    phone = Caller(FlaskTransport(client), auth_token=AUTH_TOKEN)
    headers = bearer(make_token(app, "agent"))

    held = asked_for_a_person(phone)
    accepted = client.post(
        f"/api/v1/calls/{held.sid}/accept", json={"agent_phone": AGENT_PHONE}, headers=headers
    )
    assert accepted.status_code == 200
    assert accepted.get_json()["connected"] is False
    assert accepted.get_json()["error"] == "Twilio HTTP 404, code 20404"
    assert len(refusing.requests) == 1  # the agent is not called when the caller is gone
    # The caller is gone: the agent wraps the call up before taking the next (one at a time).
    wrapped = client.post(
        f"/api/v1/calls/{held.sid}/wrap-up", json={"disposition": "no_action"}, headers=headers
    )
    assert wrapped.status_code == 200

    later = asked_for_a_person(phone)
    assert later.wait(waited=200).gather is not None
    later.press("1")
    later.press("1")
    [callback] = client.get("/api/v1/callbacks", headers=headers).get_json()["items"]
    dialed = client.post(
        f"/api/v1/callbacks/{callback['id']}/dial",
        json={"agent_phone": AGENT_PHONE},
        headers=headers,
    )
    assert dialed.status_code == 200
    assert (dialed.get_json()["connected"], dialed.get_json()["status"]) == (False, "open")


# --- what each side hears as they are connected ---------------------------------------------


def says_in(twiml: str) -> list[tuple[str, str]]:
    import xml.etree.ElementTree as ET

    return [(el.text or "", el.get("language", "")) for el in ET.fromstring(twiml).iter("Say")]


def spanish_caller_on_hold(phone: Caller) -> SimulatedCall:
    call = phone.dial().press("9").press("1")  # Spanish, then the Summit Health Plan
    call.say("quiero hablar con un representante")
    assert call.enqueued == "general", call.heard
    return call


def test_the_agent_hears_english_and_a_spanish_caller_spanish_as_they_are_connected(
    api: FlaskClient, phone: Caller, agent: dict[str, str], twilio: FakeTwilio
) -> None:
    call = spanish_caller_on_hold(phone)
    accepted = api.post(
        f"/api/v1/calls/{call.sid}/accept", json={"agent_phone": AGENT_PHONE}, headers=agent
    )
    assert accepted.status_code == 200, accepted.get_json()
    redirect, dial = twilio.requests
    # The caller: a line in Spanish, in a Spanish voice, then the conference.
    assert says_in(str(redirect["data"]["Twiml"])) == [(said("queue.connecting", "es-US"), "es-US")]
    # The agent: an English whisper naming the plan and why the caller wants a person.
    [(whisper, language)] = says_in(str(dial["data"]["Twiml"]))
    listed = api.get("/api/v1/calls?status=in-progress", headers=agent).get_json()["items"]
    reason = listed[0]["reason"]
    assert language == "en-US"
    assert whisper == said("queue.agent.pickup", plan="Summit Health Plan", reason=reason)
    assert whisper.startswith("A Summit Health Plan caller: ") and reason in whisper


def test_a_spanish_caller_called_back_hears_spanish_and_the_agent_english(
    api: FlaskClient, phone: Caller, agent: dict[str, str], twilio: FakeTwilio
) -> None:
    call = spanish_caller_on_hold(phone)
    offer = call.wait(position=1, waited=125)
    assert offer.gather is not None
    call.press("1")
    call.press("1")
    assert call.leave_queue("leave", 130).hung_up
    [callback] = api.get("/api/v1/callbacks", headers=agent).get_json()["items"]
    dialed = api.post(
        f"/api/v1/callbacks/{callback['id']}/dial", json={"agent_phone": AGENT_PHONE}, headers=agent
    )
    assert dialed.status_code == 200
    to_agent, to_caller = twilio.requests
    [(whisper, language)] = says_in(str(to_agent["data"]["Twiml"]))
    assert language == "en-US"
    assert whisper == said(
        "queue.agent.callback", plan="Summit Health Plan", reason=callback["reason"]
    )
    assert says_in(str(to_caller["data"]["Twiml"])) == [(said("queue.returning", "es-US"), "es-US")]


# --- a draft's fields, checked as the phone checks them -------------------------------------

NOT_ON_FILE_NPI = "1999999992"  # a good check digit, nobody on file


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"ordering_npi": "1234567890"}, "ordering_npi", "bad_check_digit"),
        ({"ordering_npi": NOT_ON_FILE_NPI}, "ordering_npi", "unknown_physician"),
        ({"ordering_npi": LAKESIDE}, "ordering_npi", "unknown_physician"),  # a facility
        ({"member_id": "999999999"}, "member_id", "member_not_found"),
        ({"member_dob": "1960-01-01"}, "member_dob", "member_not_found"),
        ({"exam_code": "99999"}, "exam_code", "unknown_exam"),
        ({"diagnosis_codes": ["Q99.999"]}, "diagnosis_codes", "invalid_diagnosis"),
        ({"facility_npi": OUT_OF_NETWORK}, "facility_npi", "not_in_network"),
        ({"order_number": "123"}, "order_number", "not_editable"),
    ],
)
def test_a_bad_draft_field_is_named_and_nothing_is_changed(
    client: FlaskClient,
    caller: Caller,
    token_for: Callable[[str], str],
    change: dict[str, Any],
    field: str,
    code: str,
) -> None:
    headers = bearer(token_for("agent"))
    call = asked_for_a_person(caller)
    [held] = client.get("/api/v1/calls?status=queued", headers=headers).get_json()["items"]
    assert held["sid"] == call.sid
    reference = held["draft_order"]
    before = client.get(f"/api/v1/orders/{reference}", headers=headers).get_json()
    refused = client.patch(f"/api/v1/orders/{reference}", json=change, headers=headers)
    assert refused.status_code == 422
    assert (refused.get_json()["field"], refused.get_json()["error"]) == (field, code)
    after = client.get(f"/api/v1/orders/{reference}", headers=headers).get_json()
    assert {k: v for k, v in after.items() if k != "events"} == {
        k: v for k, v in before.items() if k != "events"
    }
