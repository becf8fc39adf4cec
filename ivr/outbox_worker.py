"""The outbox worker: sends the texts that calls queued, never inside a webhook request.

A webhook only writes the message row; Twilio answers a webhook within 15 seconds or gives
up, so nothing on its path waits on Twilio's Messaging API. `send_due` makes one pass over
the due messages; `watch` repeats it until SIGTERM or SIGINT (`ivr send-outbox --watch`,
started by `make run` beside gunicorn). Each message is claimed in a short transaction of
its own (`messaging.claim`), sent with no transaction open (so SQLite's write lock is never
held while Twilio answers), and its result saved in another: two workers never send the
same message, and webhooks never wait on a worker's send.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from twilio.http import HttpClient

from ivr.services import messaging
from ivr.store.models import utcnow

log = logging.getLogger("ivr.outbox_worker")

DEFAULT_INTERVAL_S = 2.0


def send_due(
    writer: so.sessionmaker[so.Session],
    *,
    config: Mapping[str, Any],
    http_client: HttpClient | None = None,
    reader: so.sessionmaker[so.Session] | None = None,
    clock: Callable[[], Any] = utcnow,
) -> Counter[str]:
    """Send every message due now; returns how many ended in each status. `reader` finds
    them (SQLite: without taking the write lock), `writer` claims and records them."""
    with (reader or writer)() as session:
        due = [m.id for m in messaging.due(session, clock())]
        session.rollback()
    counts: Counter[str] = Counter()
    for message_id in due:
        try:
            status = _send_one(writer, message_id, config, http_client, clock)
        except sa.exc.SQLAlchemyError as exc:
            # The store is down or busy: the row is due again after its lease.
            log.error("outbox %s not sent: %s", message_id, type(exc).__name__)
            continue
        if status is not None:
            counts[status] += 1
    return counts


def _send_one(
    writer: so.sessionmaker[so.Session],
    message_id: int,
    config: Mapping[str, Any],
    http_client: HttpClient | None,
    clock: Callable[[], Any],
) -> str | None:
    with writer() as session:
        now = clock()
        message = messaging.claim(session, message_id, now)
        if message is None:
            session.rollback()
            return None  # another worker has it
        go, plaintext = True, None
        if config.get("TWILIO_ACCOUNT_SID"):
            go, plaintext = messaging.plaintext_for(session, message, now)
        session.commit()
        if go:
            # No transaction is open here: `send` reads nothing before Twilio answers.
            messaging.send(
                session,
                message,
                plaintext_body=plaintext,
                config=config,
                http_client=http_client,
                now=now,
            )
            session.commit()
        return message.status


def watch(
    writer: so.sessionmaker[so.Session],
    *,
    config: Mapping[str, Any],
    http_client: HttpClient | None = None,
    reader: so.sessionmaker[so.Session] | None = None,
    interval: float = DEFAULT_INTERVAL_S,
    stop: threading.Event | None = None,
) -> int:
    """Send due messages every `interval` seconds until `stop` is set (SIGTERM and SIGINT
    set it when this runs in the main thread); returns how many passes ran."""
    stop = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():

        def _stop(signum: int, frame: FrameType | None) -> None:
            log.info("outbox worker stopping (signal %s)", signum)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _stop)
    passes = 0
    log.info("outbox worker watching every %.1fs", interval)
    try:
        while not stop.is_set():
            try:
                counts = send_due(writer, config=config, http_client=http_client, reader=reader)
            except sa.exc.SQLAlchemyError as exc:
                log.error("outbox worker: store unavailable: %s", type(exc).__name__)
            else:
                if counts:
                    done = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
                    log.info("outbox: %s", done)
            passes += 1
            # A signal sets `stop`, which ends the wait at once: the send in hand finishes,
            # no new one starts.
            stop.wait(interval)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return passes
