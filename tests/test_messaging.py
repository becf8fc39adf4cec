"""The text-message outbox: sending through Twilio's REST client, retries, API and CLI.

Twilio cannot be reached from tests: the client's own HTTP-client hook gets a fake that
records each request and answers like the Messages API.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from twilio.http import HttpClient
from twilio.http.response import Response

from ivr.api.presenters import message_to_dict
from ivr.config import ROOT
from ivr.services import messaging, portal
from ivr.store.models import OutboxMessage, PortalAccount, ResetCode, utcnow
from tests.conftest import bearer

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-for-tests"
FROM = "+18005550100"
CONFIG = {
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "TWILIO_FROM_NUMBER": FROM,
}
DEV_CONFIG = {**CONFIG, "TWILIO_ACCOUNT_SID": ""}
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
REGISTRATION = "ProviderPortal registration: open the portal and choose Register."


class FakeTwilio(HttpClient):
    """Answers Twilio REST requests from a script: "ok", an HTTP status, or an exception."""

    def __init__(self, *script: int | str | Exception) -> None:
        super().__init__(logging.getLogger("tests.fake_twilio"), False)
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []

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
        self.requests.append(
            {"method": method, "url": url, "params": params, "data": data, "auth": auth}
        )
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, Exception):
            raise step
        if step == "ok":
            sid = f"SM{len(self.requests):032x}"
            body = {
                "sid": sid,
                "account_sid": ACCOUNT_SID,
                "to": (data or {}).get("To"),
                "from": (data or {}).get("From"),
                "body": (data or {}).get("Body"),
                "status": "queued",
                "num_segments": "1",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
            }
            return Response(201, json.dumps(body))
        status = int(step)
        code = 21211 if status == 400 else 20500
        text = "The 'To' number is not a valid phone number." if status == 400 else "Internal"
        error = {"code": code, "message": text, "more_info": "", "status": status}
        return Response(status, json.dumps(error))

    @property
    def bodies(self) -> list[str]:
        return [str((r["data"] or {})["Body"]) for r in self.requests]


@pytest.fixture
def accounts(session: so.Session) -> so.Session:
    portal.seed_portal_accounts(session, ROOT / "data" / "portal_users.csv")
    return session


def acct(session: so.Session, username: str) -> PortalAccount:
    account = portal.get_by_username(session, username)
    assert account is not None
    return account


def code_in(text: str | None) -> str:
    found = re.findall(r"\b\d{8}\b", text or "")
    assert len(found) == 1, text
    return found[0]


def reset(session: so.Session, username: str = "jmorales", now: dt.datetime = NOW) -> Any:
    outcome = portal.start_reset(session, acct(session, username), call_sid="CA1", now=now)
    assert outcome.outcome == "code_sent"
    message = session.get(OutboxMessage, outcome.message_id)
    assert message is not None
    return outcome, message


def send(session: so.Session, message: OutboxMessage, body: str | None, **kw: Any) -> Any:
    config = kw.pop("config", CONFIG)
    return messaging.send(
        session, message, plaintext_body=body, config=config, now=kw.pop("now", NOW), **kw
    )


def retry_due(
    session: so.Session, *, config: dict[str, str], http_client: Any, now: dt.datetime
) -> list[OutboxMessage]:
    """What the outbox worker does with each due message, in one session: the reissued code
    and the send (see `ivr.outbox_worker`, which commits between them)."""
    if not config.get("TWILIO_ACCOUNT_SID"):
        return []
    tried = []
    for message in messaging.due(session, now):
        go, plaintext = messaging.plaintext_for(session, message, now)
        if go:
            messaging.send(
                session,
                message,
                plaintext_body=plaintext,
                config=config,
                http_client=http_client,
                now=now,
            )
        tried.append(message)
    return tried


# --- Sending ------------------------------------------------------------------------------


def test_without_an_account_sid_nothing_leaves_the_outbox(accounts: so.Session) -> None:
    session = accounts
    outcome, message = reset(session)
    fake = FakeTwilio()
    send(session, message, outcome.plaintext_body, config=DEV_CONFIG, http_client=fake)
    assert fake.requests == []
    assert message.status == "not_sent"
    assert message.sent_at is None and message.twilio_sid is None
    assert message.next_attempt_at is None and message.attempts == 0
    assert "TWILIO_ACCOUNT_SID" in (message.error or "")
    # The auth token alone (it validates webhooks) does not send either.
    assert retry_due(session, config=DEV_CONFIG, http_client=fake, now=NOW) == []


def test_a_reset_code_goes_to_twilio_exactly_once(
    accounts: so.Session, caplog: pytest.LogCaptureFixture
) -> None:
    session = accounts
    caplog.set_level(logging.DEBUG)
    outcome, message = reset(session)
    code = code_in(outcome.plaintext_body)
    fake = FakeTwilio("ok")
    send(session, message, outcome.plaintext_body, http_client=fake)
    assert fake.requests == [
        {
            "method": "POST",
            "url": MESSAGES_URL,
            "params": None,
            "data": {"To": "+12125550143", "From": FROM, "Body": outcome.plaintext_body},
            "auth": (ACCOUNT_SID, AUTH_TOKEN),
        }
    ]
    assert code in fake.bodies[0]
    assert message.status == "sent"
    assert message.twilio_sid == f"SM{1:032x}"
    assert (message.sent_at, message.attempts, message.error) == (NOW, 1, None)
    assert message.next_attempt_at is None
    session.expire_all()
    stored = session.get(OutboxMessage, message.id)
    assert stored is not None and stored.status == "sent"
    assert code not in stored.body and "••••••••" in stored.body
    assert code not in caplog.text
    # A second send of the same row (a replayed callback) does nothing.
    send(session, stored, outcome.plaintext_body, http_client=fake)
    assert len(fake.requests) == 1


def test_a_failed_send_is_retried_with_a_new_code(
    accounts: so.Session, caplog: pytest.LogCaptureFixture
) -> None:
    session = accounts
    caplog.set_level(logging.DEBUG)
    outcome, message = reset(session)
    first_code = code_in(outcome.plaintext_body)
    first_code_id = message.reset_code_id
    fake = FakeTwilio(500, "ok")
    send(session, message, outcome.plaintext_body, http_client=fake)
    assert message.status == "failed"
    assert message.attempts == 1 and message.next_attempt_at == NOW + MINUTE
    assert message.error is not None and message.error.startswith("Twilio HTTP 500, code 20500")
    assert retry_due(session, config=CONFIG, http_client=fake, now=NOW + 30 * SECOND) == []

    tried = retry_due(session, config=CONFIG, http_client=fake, now=NOW + MINUTE)
    assert tried == [message]
    assert message.status == "sent" and message.attempts == 2 and message.error is None
    assert len(fake.requests) == 2
    second_code = code_in(fake.bodies[1])
    assert second_code != first_code
    assert message.reset_code_id != first_code_id
    old = session.get(ResetCode, first_code_id)
    assert old is not None and old.revoked_at == NOW + MINUTE
    assert first_code not in message.body and second_code not in message.body
    assert first_code not in caplog.text and second_code not in caplog.text
    assert not portal.verify_code(session, "jmorales", first_code, NOW + 2 * MINUTE)
    assert portal.verify_code(session, "jmorales", second_code, NOW + 2 * MINUTE)
    # The retry is not a new reset: the daily limit still counts one.
    assert portal.resets_in_last_day(session, acct(session, "jmorales"), NOW + MINUTE) == 1


def test_retries_back_off_then_give_up(accounts: so.Session) -> None:
    session = accounts
    outcome, message = reset(session)
    fake = FakeTwilio(500, 500, 500, 500, 500)
    send(session, message, outcome.plaintext_body, http_client=fake)
    now = NOW
    waits = []
    while message.status == "failed":
        assert message.next_attempt_at is not None
        waits.append(message.next_attempt_at - now)
        now = message.next_attempt_at
        assert retry_due(session, config=CONFIG, http_client=fake, now=now) == [message]
    assert waits == [MINUTE, 5 * MINUTE, 15 * MINUTE, 15 * MINUTE]
    assert message.status == "gave_up" and message.attempts == 5
    assert message.next_attempt_at is None and "HTTP 500" in (message.error or "")
    assert len(fake.requests) == 5
    assert retry_due(session, config=CONFIG, http_client=fake, now=now + DAY) == []


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (400, "Twilio HTTP 400, code 21211: Unable to create record: The 'To' number"),
        (requests.ConnectionError("connection refused"), "ConnectionError"),
        (requests.Timeout("read timed out"), "Timeout"),
    ],
)
def test_errors_are_recorded_short_and_without_the_body(
    accounts: so.Session, failure: int | Exception, error: str
) -> None:
    session = accounts
    outcome, message = reset(session)
    send(session, message, outcome.plaintext_body, http_client=FakeTwilio(failure))
    assert message.status == "failed"
    assert message.error is not None and message.error.startswith(error)
    assert len(message.error) <= 300
    assert code_in(outcome.plaintext_body) not in message.error


def test_a_missing_sender_number_is_a_failure_not_a_crash(accounts: so.Session) -> None:
    session = accounts
    outcome, message = reset(session)
    fake = FakeTwilio()
    config = {**CONFIG, "TWILIO_FROM_NUMBER": ""}
    send(session, message, outcome.plaintext_body, http_client=fake, config=config)
    assert fake.requests == []
    assert message.status == "failed" and "TWILIO_FROM_NUMBER" in (message.error or "")


def test_other_messages_are_stored_as_sent_and_resent_as_stored(session: so.Session) -> None:
    message = messaging.queue(
        session, to="+16145550150", kind="registration_steps", body_masked=REGISTRATION, now=NOW
    )
    fake = FakeTwilio(500, "ok")
    send(session, message, None, http_client=fake)
    assert message.status == "failed"
    retry_due(session, config=CONFIG, http_client=fake, now=NOW + MINUTE)
    assert message.status == "sent"
    assert fake.bodies == [REGISTRATION, REGISTRATION]
    assert message.body == REGISTRATION


def test_a_secret_message_is_never_sent_from_its_stored_body(accounts: so.Session) -> None:
    session = accounts
    _, message = reset(session)
    with pytest.raises(ValueError, match="plain text"):
        send(session, message, None, http_client=FakeTwilio())


def test_a_failed_code_replaced_by_a_newer_reset_is_not_retried(accounts: so.Session) -> None:
    session = accounts
    outcome, message = reset(session)
    fake = FakeTwilio(500, "ok", "ok")
    send(session, message, outcome.plaintext_body, http_client=fake)
    newer, newer_message = reset(session, now=NOW + 30 * SECOND)
    send(
        session, newer_message, newer.plaintext_body, http_client=fake, now=newer_message.created_at
    )
    tried = retry_due(session, config=CONFIG, http_client=fake, now=NOW + MINUTE)
    assert tried == [message]
    assert message.status == "cancelled" and message.next_attempt_at is None
    assert len(fake.requests) == 2
    # The newer code still works.
    assert portal.verify_code(session, "jmorales", code_in(newer.plaintext_body), NOW + MINUTE)


def test_a_queued_message_is_due_at_once(session: so.Session) -> None:
    """Nothing sends a text in the webhook any more: the worker's next pass does."""
    message = messaging.queue(
        session, to="+16145550150", kind="registration_steps", body_masked=REGISTRATION, now=NOW
    )
    fake = FakeTwilio()
    assert retry_due(session, config=CONFIG, http_client=fake, now=NOW - SECOND) == []
    tried = retry_due(session, config=CONFIG, http_client=fake, now=NOW)
    assert tried == [message] and message.status == "sent"


def test_to_dict_masks_any_secret(session: so.Session) -> None:
    message = messaging.queue(
        session,
        to="+16145550150",
        kind="note",
        body_masked="Code 12345678 (a bug put it here)",
        call_sid="CA9",
        now=NOW,
    )
    message.error = "Twilio said 87654321"
    view = message_to_dict(message)
    assert view["body"] == "Code •••••••• (a bug put it here)"
    assert view["error"] == "Twilio said ••••••••"
    assert view["created_at"] == NOW.isoformat() and view["sent_at"] is None
    assert set(view) >= {
        "id",
        "to",
        "kind",
        "status",
        "body",
        "created_at",
        "sent_at",
        "error",
        "twilio_sid",
    }


# --- GET /api/v1/messages -----------------------------------------------------------------


def _three_messages(session: so.Session) -> tuple[list[int], str]:
    """A reset text (sent), a registration text (not sent) and a failed one, oldest first."""
    outcome, first = reset(session, now=NOW)
    send(session, first, outcome.plaintext_body, http_client=FakeTwilio())
    second = messaging.queue(
        session,
        to="+16145550150",
        kind="registration_steps",
        body_masked=REGISTRATION,
        now=NOW + MINUTE,
    )
    send(session, second, None, config=DEV_CONFIG, now=NOW + MINUTE)
    third = messaging.queue(
        session,
        to="+16145550151",
        kind="registration_steps",
        body_masked=REGISTRATION,
        now=NOW + 2 * MINUTE,
    )
    send(session, third, None, http_client=FakeTwilio(500), now=NOW + 2 * MINUTE)
    session.commit()
    return [first.id, second.id, third.id], code_in(outcome.plaintext_body)


def test_admins_read_the_outbox_newest_first_with_secrets_masked(
    accounts: so.Session, client: FlaskClient, token_for: Callable[[str], str]
) -> None:
    ids, code = _three_messages(accounts)
    response = client.get("/api/v1/messages", headers=bearer(token_for("admin")))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    items = response.get_json()["items"]
    assert [m["id"] for m in items] == ids[::-1]
    assert code not in response.get_data(as_text=True)
    newest, middle, oldest = items
    assert oldest["to"] == "+12125550143" and oldest["kind"] == "reset_code"
    assert oldest["status"] == "sent" and oldest["twilio_sid"].startswith("SM")
    assert oldest["body"].startswith("Your ProviderPortal reset code is ••••••••.")
    assert oldest["sent_at"] == NOW.isoformat() and oldest["error"] is None
    assert middle["status"] == "not_sent" and middle["body"] == REGISTRATION
    assert newest["status"] == "failed" and "HTTP 500" in newest["error"]
    assert newest["created_at"] == (NOW + 2 * MINUTE).isoformat()

    only = client.get("/api/v1/messages?status=failed&limit=5", headers=bearer(token_for("admin")))
    assert [m["id"] for m in only.get_json()["items"]] == [ids[2]]
    two = client.get("/api/v1/messages?limit=2", headers=bearer(token_for("admin")))
    assert [m["id"] for m in two.get_json()["items"]] == ids[:0:-1]


@pytest.mark.parametrize("role", ["agent", "supervisor", "clinician"])
def test_only_admins_read_the_outbox(
    client: FlaskClient, token_for: Callable[[str], str], role: str
) -> None:
    response = client.get("/api/v1/messages", headers=bearer(token_for(role)))
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer ivr_not-a-token"}])
def test_the_outbox_needs_a_token(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.get("/api/v1/messages", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=ten", "status=lost"])
def test_bad_outbox_queries_are_refused(
    client: FlaskClient, token_for: Callable[[str], str], query: str
) -> None:
    response = client.get(f"/api/v1/messages?{query}", headers=bearer(token_for("admin")))
    assert response.status_code == 422
    assert response.get_json()["field"] == query.split("=")[0]


# --- CLI ----------------------------------------------------------------------------------


def test_ivr_outbox_lists_messages_newest_first(
    accounts: so.Session, runner: FlaskCliRunner
) -> None:
    ids, code = _three_messages(accounts)
    result = runner.invoke(args=["outbox"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [int(line.split()[0]) for line in lines] == ids[::-1]
    assert code not in result.output
    assert "+16145550151" in lines[0] and "failed" in lines[0] and "HTTP 500" in lines[0]
    assert "2026-03-02 15:02:00Z" in lines[0]
    assert "+16145550150" in lines[1] and "not_sent" in lines[1]
    assert "+12125550143" in lines[2] and "reset_code" in lines[2] and " sent" in lines[2]
    limited = runner.invoke(args=["outbox", "--limit", "1"])
    assert limited.output.splitlines() == lines[:1]


def test_ivr_outbox_says_when_it_is_empty(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["outbox"])
    assert result.exit_code == 0 and result.output == "the outbox is empty\n"


def test_ivr_send_outbox_sends_what_is_due(
    session: so.Session, make_app: Callable[..., Flask]
) -> None:
    app = make_app(**CONFIG)
    fake = FakeTwilio()
    app.extensions["ivr.twilio_http"] = fake
    runner = app.test_cli_runner()
    assert runner.invoke(args=["send-outbox"]).output == "no messages due\n"
    long_ago = utcnow() - dt.timedelta(minutes=10)
    messaging.queue(
        session,
        to="+16145550150",
        kind="registration_steps",
        body_masked=REGISTRATION,
        now=long_ago,
    )
    session.commit()
    result = runner.invoke(args=["send-outbox"])
    assert result.exit_code == 0, result.output
    assert result.output == "sent: 1 (1 due)\n"
    assert fake.bodies == [REGISTRATION]
    session.expire_all()
    row = session.scalars(sa.select(OutboxMessage)).one()
    assert row.status == "sent" and row.twilio_sid is not None


def test_ivr_send_outbox_without_an_account_sid(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["send-outbox"])
    assert result.exit_code == 0
    assert "TWILIO_ACCOUNT_SID is not set" in result.output
