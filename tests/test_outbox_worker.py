"""The outbox worker (`ivr send-outbox [--watch]`): sends what calls queued, claims each
message so two workers never send it twice, retries failures, stops cleanly on a signal.

Twilio is reached only through the client's HTTP-client hook, as in test_messaging.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from twilio.http.response import Response

from ivr import outbox_worker
from ivr.services import messaging, portal
from ivr.store.models import OutboxMessage, utcnow
from tests.test_messaging import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CONFIG,
    FROM,
    MESSAGES_URL,
    REGISTRATION,
    FakeTwilio,
    code_in,
)

MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def worker_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(**CONFIG)


def stores(app: Flask) -> dict[str, Any]:
    store = app.extensions["ivr.store"]
    return {"writer": store.sessionmaker, "reader": store.read_sessionmaker}


def run(app: Flask, fake: Any, *, at: dt.datetime | None = None) -> Any:
    clock = (lambda: at) if at is not None else utcnow
    return outbox_worker.send_due(
        stores(app)["writer"],
        reader=stores(app)["reader"],
        config=CONFIG,
        http_client=fake,
        clock=clock,
    )


def queue_registration(app: Flask, to: str = "+16145550150") -> int:
    with app.extensions["ivr.store"].sessionmaker() as s:
        message = messaging.queue(s, to=to, kind="registration_steps", body_masked=REGISTRATION)
        s.commit()
        return message.id


def row(app: Flask, message_id: int) -> OutboxMessage:
    with app.extensions["ivr.store"].read_sessionmaker() as s:
        found = s.get(OutboxMessage, message_id)
        assert found is not None
        s.expunge(found)
        return found


def test_a_reset_code_queued_by_a_reset_is_sent_with_a_code_that_works(
    worker_app: Flask,
) -> None:
    with worker_app.extensions["ivr.store"].sessionmaker() as s:
        account = portal.get_by_username(s, "jmorales")
        assert account is not None
        outcome = portal.start_reset(s, account, call_sid="CA1", now=utcnow())
        s.commit()
    fake = FakeTwilio()
    assert run(worker_app, fake) == {"sent": 1}
    [request] = fake.requests
    assert request["method"] == "POST" and request["url"] == MESSAGES_URL
    assert request["auth"] == (ACCOUNT_SID, AUTH_TOKEN)
    assert request["data"]["To"] == "+12125550143" and request["data"]["From"] == FROM
    code = code_in(request["data"]["Body"])
    message = row(worker_app, outcome.message_id or 0)
    assert message.status == "sent" and message.attempts == 1 and code not in message.body
    with worker_app.extensions["ivr.store"].sessionmaker() as s:
        # The code made in the call was never sent; the one sent is the one that works.
        assert not portal.verify_code(s, "jmorales", code_in(outcome.plaintext_body), utcnow())
        assert portal.verify_code(s, "jmorales", code, utcnow())
        s.commit()
    assert run(worker_app, fake) == {} and len(fake.requests) == 1


class SlowTwilio(FakeTwilio):
    """Answers after a pause, so two workers overlap."""

    def request(self, *args: Any, **kwargs: Any) -> Response:
        time.sleep(0.05)
        return super().request(*args, **kwargs)


def test_two_workers_at_once_send_each_message_once(
    worker_app: Flask, make_app: Callable[..., Flask]
) -> None:
    other = make_app(**CONFIG)  # another process's store, as a second worker would have
    ids = [queue_registration(worker_app, f"+1614555{n:04d}") for n in range(6)]
    fake = SlowTwilio()
    results: list[Any] = []
    errors: list[BaseException] = []

    def work(app: Flask) -> None:
        try:
            results.append(run(app, fake))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(app,)) for app in (worker_app, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(str(r["data"]["To"]) for r in fake.requests) == [
        f"+1614555{n:04d}" for n in range(6)
    ]
    assert sum(r["sent"] for r in results) == 6
    assert {row(worker_app, i).status for i in ids} == {"sent"}


def test_a_claimed_message_is_not_claimed_again(worker_app: Flask) -> None:
    message_id = queue_registration(worker_app)
    now = utcnow()
    maker = worker_app.extensions["ivr.store"].sessionmaker
    with maker() as first, maker() as second:
        assert messaging.claim(first, message_id, now) is not None
        first.commit()
        assert messaging.claim(second, message_id, now) is None
        # A worker that died mid-send: the message is due again once its lease is over.
        assert messaging.claim(second, message_id, now + messaging.CLAIM_LEASE) is not None
        second.commit()


def test_a_failed_send_is_retried_later_then_sent(worker_app: Flask) -> None:
    message_id = queue_registration(worker_app)
    fake = FakeTwilio(500, "ok")
    now = utcnow()
    assert run(worker_app, fake, at=now) == {"failed": 1}
    failed = row(worker_app, message_id)
    assert failed.attempts == 1 and failed.error is not None and "HTTP 500" in failed.error
    assert failed.next_attempt_at is not None
    assert failed.next_attempt_at.astimezone(dt.UTC) == now + MINUTE
    assert run(worker_app, fake, at=now + 30 * dt.timedelta(seconds=1)) == {}
    assert run(worker_app, fake, at=now + MINUTE) == {"sent": 1}
    assert row(worker_app, message_id).attempts == 2
    assert fake.bodies == [REGISTRATION, REGISTRATION]


def test_without_an_account_sid_messages_are_kept_not_sent(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(TWILIO_ACCOUNT_SID="")
    message_id = queue_registration(app)
    fake = FakeTwilio()
    result = app.test_cli_runner().invoke(args=["send-outbox"])
    assert result.output == (
        "TWILIO_ACCOUNT_SID is not set: nothing is sent (1 kept, see `ivr outbox`)\n"
    )
    assert fake.requests == [] and row(app, message_id).status == "not_sent"


def test_watch_sends_as_messages_come_and_stops_on_sigterm(worker_app: Flask) -> None:
    fake = FakeTwilio()
    worker_app.extensions["ivr.twilio_http"] = fake
    before = signal.getsignal(signal.SIGTERM)
    message_id = queue_registration(worker_app)

    def later() -> None:
        deadline = time.monotonic() + 10
        while not fake.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=later, daemon=True).start()
    result = worker_app.test_cli_runner().invoke(
        args=["send-outbox", "--watch", "--interval", "0.1"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("outbox worker stopped after ")
    assert row(worker_app, message_id).status == "sent" and len(fake.requests) == 1
    assert signal.getsignal(signal.SIGTERM) == before


def test_watch_outside_the_main_thread_stops_on_its_event(worker_app: Flask) -> None:
    stop = threading.Event()
    passes: list[int] = []
    thread = threading.Thread(
        target=lambda: passes.append(
            outbox_worker.watch(
                stores(worker_app)["writer"], config=CONFIG, interval=0.05, stop=stop
            )
        )
    )
    thread.start()
    time.sleep(0.2)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive() and passes and passes[0] >= 1
    with worker_app.extensions["ivr.store"].read_sessionmaker() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
