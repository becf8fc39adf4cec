"""No patient data or secret in any log line (issue 14).

Whole calls of every kind (an order by keypad and by speech, a status check with an
extension and one with a cancel, a password reset, the help desk's texts and ticket, a
transfer to a person with its hold line, a Spanish order) and the agents' and clinicians'
reads and acts on them, with every logger at DEBUG (SQLAlchemy's included) and gunicorn's
access log written in the Makefile's own format through `ivr.accesslog.GunicornLogger`.
No line may hold a member id, a date of birth in any format, an NPI, what the caller said
about symptoms or history, a reset code, TIN digits or a phone number.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from gunicorn.config import Config  # type: ignore[import-untyped]

from ivr.accesslog import GunicornLogger
from ivr.simulate import Caller, FlaskTransport, SimulatedCall
from tests.conftest import bearer
from tests.gunicorn import makefile_flags
from tests.test_intake import HISTORY, LAKESIDE, LOPEZ, SYMPTOMS, WHITFIELD, Say, answer
from tests.test_intake import at_review as order_at_review
from tests.test_messaging import ACCOUNT_SID, AUTH_TOKEN, FROM, FakeTwilio
from tests.test_spanish_calls import in_spanish
from tests.test_status_line import IN_NETWORK
from tests.test_status_line import make_order as make_order  # noqa: F401 (a fixture)

MORALES_MOBILE = "+12125550143"  # jmorales: NPI 1615230939, TIN 310597076, ZIP 10016
STRANGER = "+13125550000"
AGENT_PHONE = "+16175550199"
SPEECH_SYMPTOMS = "Throbbing headaches with nausea for two months"
SPEECH_HISTORY = "Sumatriptan helps a little"
TICKET = "my claims page shows another office's patients"
SPANISH_SYMPTOMS = "dolor de cabeza cada mañana desde hace tres semanas"
SPANISH_HISTORY = "ibuprofeno sin alivio"

NEVER_LOGGED = {
    "member id": [LOPEZ, " ".join(LOPEZ), "1 0 0, 2 0 0, 3 0 0"],
    "date of birth": [
        "1960-03-05",
        "03051960",
        "03/05/1960",
        "3/5/1960",
        "March 5, 1960",
        "March 5th 1960",
        "5 de marzo de 1960",
        "cinco de marzo",
        "1960, 3, 5",
        "(1960, 3, 5)",
    ],
    "NPI": [WHITFIELD, LAKESIDE, IN_NETWORK, "1615230939"],
    "symptoms or history": [
        SYMPTOMS,
        HISTORY,
        SPEECH_SYMPTOMS,
        SPEECH_HISTORY,
        SPANISH_SYMPTOMS,
        SPANISH_HISTORY,
        TICKET,
        "Headaches every morning",
        "Sumatriptan",
        "ibuprofeno",
    ],
    "TIN": ["310597076", "7076"],
    "second factor": ["10016"],
    "phone number": [
        MORALES_MOBILE,
        "2125550143",
        "212-555-0143",
        STRANGER,
        "3125550000",
        AGENT_PHONE,
        "6175550199",
    ],
}


class AccessLog:
    """WSGI middleware writing gunicorn's access line for each request, as `make run` does:
    the Makefile's `--access-logformat` through `ivr.accesslog.GunicornLogger`'s atoms."""

    def __init__(self, app: Any) -> None:
        self.app = app
        flags = makefile_flags()
        self.format = flags[flags.index("--access-logformat") + 1]
        cfg = Config()
        cfg.set("accesslog", "-")
        self.logger = GunicornLogger(cfg)
        self.lines: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        started = dt.datetime.now()
        seen: dict[str, Any] = {}

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen.update(status=status, headers=headers)
            return start_response(status, headers, exc_info)

        body = list(self.app(environ, start))
        query = environ.get("QUERY_STRING")
        environ.setdefault("RAW_URI", environ["PATH_INFO"] + (f"?{query}" if query else ""))
        response = SimpleNamespace(
            status=seen["status"], headers=seen["headers"], sent=sum(map(len, body))
        )
        atoms = self.logger.atoms(response, [], environ, dt.datetime.now() - started)
        self.lines.append(self.format % self.logger.atoms_wrapper_class(atoms))
        return body


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Root and every named logger (SQLAlchemy's, gunicorn's, twilio's too) at DEBUG."""
    names = [*logging.root.manager.loggerDict, "ivr", "sqlalchemy", "sqlalchemy.engine"]
    names += ["gunicorn", "gunicorn.access", "gunicorn.error", "twilio", "werkzeug", "urllib3"]
    before = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def line(make_app: Callable[..., Flask]) -> tuple[Flask, AccessLog, FakeTwilio]:
    app = make_app(
        TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER=FROM, TWILIO_AUTH_TOKEN=AUTH_TOKEN
    )
    twilio = FakeTwilio()
    app.extensions["ivr.twilio_http"] = twilio
    access = AccessLog(app.wsgi_app)
    app.wsgi_app = access  # type: ignore[method-assign]
    return app, access, twilio


def test_no_patient_data_or_secret_in_any_log_line(
    line: tuple[Flask, AccessLog, FakeTwilio],
    every_logger_at_debug: pytest.LogCaptureFixture,
    make_order: Callable[..., Any],  # noqa: F811
) -> None:
    app, access, twilio = line
    client = app.test_client()

    def phone(number: str = MORALES_MOBILE) -> Caller:
        return Caller(FlaskTransport(client), auth_token=AUTH_TOKEN, from_number=number)

    runner = app.test_cli_runner()
    tokens = {}
    for role in ("agent", "clinician", "supervisor"):
        made = runner.invoke(args=["create-user", f"{role}-1", "--role", role])
        assert made.exit_code == 0, made.output
        tokens[role] = made.output.strip().splitlines()[-1]
    calls: list[SimulatedCall] = []

    # An order by keypad, submitted.
    keyed = order_at_review(phone()).press("1")
    assert "Your order number is" in keyed.text, keyed.transcript
    calls.append(keyed)
    # An order by speech, with the criteria asked and answered by voice.
    spoken = phone().dial().say("Summit Health").say("new order")
    answer(
        spoken,
        npi=Say("one two three four five six seven eight nine three"),
        member=Say("one zero zero two zero zero three zero zero"),
        dob=Say("March 5th 1960"),
        exam=Say("MRI of the brain without contrast"),
        diagnosis=Say("migraine"),
        symptoms=Say(SPEECH_SYMPTOMS, 0.88),
        history=Say(SPEECH_HISTORY),
        facility=Say("Lakeside Diagnostic Imaging"),
    )
    spoken.say("no").say("nope").say("no").say("yes").say("yes")
    calls.append(spoken)
    # Status checks: one proved by the NPI and extended, one by the birth date and cancelled.
    extendable = make_order("approved", days=5)
    extended = phone(STRANGER).dial().press("1").press("2")
    extended.press(extendable.order_number + "#").press(WHITFIELD + "#").press("1")
    assert "Your new order number is" in extended.text, extended.transcript
    calls.append(extended)
    cancellable = make_order("approved")
    cancelled = phone().dial().press("1").press("2").press(cancellable.order_number + "#")
    cancelled.say("March fifth nineteen sixty").press("2").press("3").press("1")
    assert "cancel" in " ".join(cancelled.transcript).lower(), cancelled.transcript
    calls.append(cancelled)
    # A password reset from the account's own mobile, and one by TIN from another phone.
    own = phone().dial().press("1").press("3").press("1").press("1").press("10016")
    calls.append(own)
    by_tin = phone(STRANGER).dial().press("1").press("3").press("1")
    by_tin.press("310597076#").press("99999").press("10016")
    calls.append(by_tin)
    # The help desk: outages, registration steps by text, a ticket and a person.
    desk = phone().dial().press("1").press("3").press("2")
    calls.append(desk)
    registration = phone().dial().press("1").press("3").press("3")
    calls.append(registration)
    ticket = phone(STRANGER).dial().press("1").press("3").press("4").say(TICKET).press("2")
    assert ticket.enqueued == "helpdesk", ticket.transcript
    calls.append(ticket)
    # A transfer to a person: holding, then taken by an agent through the API.
    transfer = phone().dial().press("1").press("0")
    assert transfer.enqueued, transfer.transcript
    transfer.wait(position=1, waited=40)
    calls.append(transfer)
    # A Spanish order by keypad and speech.
    spanish = in_spanish(phone()).press("1").press("1")
    spanish.press(WHITFIELD).press(LOPEZ + "#").say("cinco de marzo de mil novecientos sesenta")
    spanish.press("70450").press("7519#").press("1")
    spanish.say(SPANISH_SYMPTOMS).say(SPANISH_HISTORY).press(LAKESIDE).press("1")
    calls.append(spanish)

    # The texts go out (a reset code among them) through the outbox worker.
    sent = runner.invoke(args=["send-outbox"])
    assert sent.exit_code == 0, sent.output
    codes = [
        found.group(1)
        for request in twilio.requests
        if (found := re.search(r"\b(\d{8})\b", str((request["data"] or {}).get("Body", ""))))
    ]
    assert codes, "a reset code was texted"

    # People read and act on them: the API, with a search by member id, and the console.
    agent, clinician = bearer(tokens["agent"]), bearer(tokens["clinician"])
    for call in calls:
        assert client.get(f"/api/v1/calls/{call.sid}", headers=agent).status_code == 200
    assert client.get(f"/api/v1/orders?member_id={LOPEZ}", headers=clinician).status_code == 200
    assert client.get(f"/api/v1/orders/{extendable.order_number}", headers=agent).status_code == 200
    assert client.get("/api/v1/queues/general", headers=agent).status_code == 200
    accepted = client.post(
        f"/api/v1/calls/{transfer.sid}/accept", json={"agent_phone": AGENT_PHONE}, headers=agent
    )
    assert accepted.status_code == 200, accepted.get_json()
    assert client.get("/api/v1/calls", headers=bearer("ivr_" + LOPEZ)).status_code == 401
    for call in calls:
        call.hang_up()

    records = every_logger_at_debug.records
    assert any(r.name.startswith("sqlalchemy") for r in records), "SQLAlchemy was at DEBUG"
    assert any(r.name == "ivr.voice" for r in records)
    lines = [r.getMessage() for r in records]
    lines += [
        every_logger_at_debug.handler.format(r) for r in records if r.exc_info or r.stack_info
    ]
    lines += access.lines
    assert len(access.lines) > 100
    # Call and message sids are random hex: a short run of digits in one is no leak.
    lines = [SIDS.sub("<sid>", ln) for ln in lines]
    leaks = {
        kind: [value for value in values if any(logged(value, ln) for ln in lines)]
        for kind, values in {**NEVER_LOGGED, "reset code": codes}.items()
    }
    assert {kind: found for kind, found in leaks.items() if found} == {}, [
        ln for ln in lines if any(logged(v, ln) for vs in leaks.values() for v in vs)
    ][:10]


SIDS = re.compile(r"\b(CA|SM|AC)[0-9a-f]{32}\b")


def logged(value: str, line: str) -> bool:
    """`value` in `line`; a short number only as a whole number (not inside 0.07076 s)."""
    if value.isdigit() and len(value) < 8:
        return re.search(rf"(?<![0-9]){value}(?![0-9])", line) is not None
    return value in line
