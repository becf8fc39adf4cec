"""Text messages through an outbox: written to the store first, then sent with Twilio.

`queue` writes the row (its body never holds a secret in plain text), due at once; the
outbox worker (`ivr.outbox_worker`, `ivr send-outbox --watch`) `claim`s each due row and
`send`s it with Twilio's Messaging API, off the webhook's request path; a failure is tried
again with backoff until it gives up. A reset code is never stored: its text is sent with
a fresh code (`plaintext_for`). Without TWILIO_ACCOUNT_SID (development) nothing leaves
the machine: messages are kept as `not_sent` for `ivr outbox` and `GET /api/v1/messages`.

Functions take a Session first and never commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import requests
import sqlalchemy as sa
import sqlalchemy.orm as so
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ivr.services import calls
from ivr.store.models import OutboxMessage, utcnow

log = logging.getLogger("ivr.messaging")

# Statuses of an outbox row.
QUEUED = "queued"  # written, not tried yet
SENT = "sent"  # Twilio accepted it
NOT_SENT = "not_sent"  # development: no TWILIO_ACCOUNT_SID, kept here to read
FAILED = "failed"  # a send failed; retried at next_attempt_at
GAVE_UP = "gave_up"  # failed MAX_ATTEMPTS times
CANCELLED = "cancelled"  # not worth retrying (a newer reset code replaced it)
SANDBOX = "sandbox"  # written by an admin's sandbox call ("Try it"): never sent
STATUSES = (QUEUED, SENT, NOT_SENT, FAILED, GAVE_UP, CANCELLED, SANDBOX)

RESET_CODE_KIND = "reset_code"
# Kinds whose plain text holds a secret: stored masked, never re-sent from the row.
SECRET_KINDS = frozenset({RESET_CODE_KIND})
MASK = "\u2022"  # •

BACKOFF = (dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=15))
MAX_ATTEMPTS = 5
SEND_TIMEOUT_S = 10.0
# A claimed row is due again this long after its claim, should its worker die mid-send.
CLAIM_LEASE = dt.timedelta(seconds=60)
ERROR_LENGTH = 300

_LONG_DIGITS = re.compile(r"\d{6,}")


class Reissue(Protocol):
    """A fresh plain text for a secret message whose send failed, or None to drop it."""

    def __call__(
        self, session: so.Session, message: OutboxMessage, *, now: dt.datetime
    ) -> str | None: ...


# The plain text of a secret kind is never stored, so a retry needs a new secret. The module
# that writes a secret kind registers how (`portal` for reset codes): the outbox knows nothing
# of the accounts behind its messages, and imports none of the modules that use it.
REISSUERS: dict[str, Reissue] = {}


def reissues(kind: str) -> Callable[[Reissue], Reissue]:
    """Register `fn(session, message, now=...)` as the way to renew a `kind` message's secret."""

    def register(fn: Reissue) -> Reissue:
        if kind not in SECRET_KINDS:
            raise ValueError(f"{kind!r} holds no secret: its stored body is sent again")
        REISSUERS[kind] = fn
        return fn

    return register


def mask_secrets(text: str | None) -> str | None:
    """Mask any run of 6 or more digits: a code that slipped into a body or an error."""
    if text is None:
        return None
    return _LONG_DIGITS.sub(lambda m: MASK * len(m.group()), text)


def queue(
    session: so.Session,
    *,
    to: str,
    kind: str,
    body_masked: str,
    account_id: int | None = None,
    reset_code_id: int | None = None,
    call_sid: str | None = None,
    now: dt.datetime | None = None,
) -> OutboxMessage:
    """Write a message to the outbox (status "queued"); `body_masked` holds no secret. A
    sandbox call's message is written as "sandbox": no worker ever sends it."""
    now = now or utcnow()
    message = OutboxMessage(
        to=to,
        kind=kind,
        body=body_masked,
        status=SANDBOX if calls.is_sandbox(session, call_sid) else QUEUED,
        attempts=0,
        account_id=account_id,
        reset_code_id=reset_code_id,
        call_sid=call_sid,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(message)
    session.flush()
    return message


def send(
    session: so.Session,
    message: OutboxMessage,
    *,
    plaintext_body: str | None,
    config: Mapping[str, Any],
    http_client: HttpClient | None = None,
    now: dt.datetime,
) -> OutboxMessage:
    """Send one message with Twilio and record the result on its row.

    `plaintext_body` is what the recipient reads (the code in it); None re-sends the
    stored body, which only kinds without a secret may do. Without TWILIO_ACCOUNT_SID the
    message is marked "not_sent" and nothing goes out. A row already sent, given up or
    cancelled is left alone.
    """
    if message.status in (SENT, GAVE_UP, CANCELLED, SANDBOX):
        return message
    account_sid = str(config.get("TWILIO_ACCOUNT_SID") or "")
    if not account_sid:
        message.status = NOT_SENT
        message.error = "not sent: TWILIO_ACCOUNT_SID is not set"
        message.next_attempt_at = None
        session.flush()
        log.info("outbox %s kept (TWILIO_ACCOUNT_SID is not set)", message.id)
        return message
    if plaintext_body is None:
        if message.kind in SECRET_KINDS:
            raise ValueError("a message holding a secret needs its plain text to be sent")
        plaintext_body = message.body
    message.attempts = (message.attempts or 0) + 1
    try:
        sid = _create(config, account_sid, message.to, plaintext_body, http_client)
    except (TwilioException, requests.RequestException, OSError, ValueError) as exc:
        _failed(message, _describe(exc), now)
    else:
        message.status = SENT
        message.twilio_sid = sid
        message.sent_at = now
        message.error = None
        message.next_attempt_at = None
        log.info("outbox %s sent to Twilio as %s", message.id, sid)
    session.flush()
    return message


def _create(
    config: Mapping[str, Any],
    account_sid: str,
    to: str,
    body: str,
    http_client: HttpClient | None,
) -> str:
    from_number = str(config.get("TWILIO_FROM_NUMBER") or "")
    if not from_number:
        raise ValueError("TWILIO_FROM_NUMBER is not set")
    client = Client(
        account_sid,
        str(config.get("TWILIO_AUTH_TOKEN") or ""),
        http_client=http_client or TwilioHttpClient(timeout=SEND_TIMEOUT_S),
    )
    created = client.messages.create(to=to, from_=from_number, body=body)
    return str(created.sid)


def _describe(exc: BaseException) -> str:
    """A short error for the row and the log: never the message body."""
    if isinstance(exc, TwilioRestException):
        text = f"Twilio HTTP {exc.status}, code {exc.code}: {exc.msg}"
    elif isinstance(exc, ValueError) and not isinstance(exc, requests.RequestException):
        text = f"{type(exc).__name__}: {exc}"
    else:
        text = type(exc).__name__
    text = " ".join(text.split())
    return str(mask_secrets(text))[:ERROR_LENGTH]


def _failed(message: OutboxMessage, error: str, now: dt.datetime) -> None:
    message.error = error
    if message.attempts >= MAX_ATTEMPTS:
        message.status = GAVE_UP
        message.next_attempt_at = None
        log.error("outbox %s: gave up after %s attempts: %s", message.id, message.attempts, error)
        return
    message.status = FAILED
    message.next_attempt_at = now + BACKOFF[min(message.attempts, len(BACKOFF)) - 1]
    log.warning("outbox %s: attempt %s failed: %s", message.id, message.attempts, error)


def due(session: so.Session, now: dt.datetime) -> list[OutboxMessage]:
    """Messages to send now: queued ones, and failed ones whose retry time has come."""
    return list(
        session.scalars(
            sa.select(OutboxMessage)
            .where(
                OutboxMessage.status.in_((FAILED, QUEUED)),
                OutboxMessage.next_attempt_at.is_not(None),
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.id)
            .with_for_update(skip_locked=True)
        )
    )


def claim(session: so.Session, message_id: int, now: dt.datetime) -> OutboxMessage | None:
    """Take a due message for this worker (its next try moves a lease ahead); None when it
    is no longer due: another worker claimed it first. The UPDATE's condition is checked
    again on the row as it is once the write lock is had, on SQLite and PostgreSQL alike,
    so of two workers only one gets the row."""
    taken = session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status.in_((FAILED, QUEUED)),
            OutboxMessage.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + CLAIM_LEASE)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(OutboxMessage, message_id, populate_existing=True)


def plaintext_for(
    session: so.Session, message: OutboxMessage, now: dt.datetime
) -> tuple[bool, str | None]:
    """(still worth sending, the plain text to send: None sends the stored body).

    A reset-code text gets a NEW code (the old one is revoked): its plain text was never
    stored. When a newer reset replaced it, or its account is locked, it is cancelled.
    """
    if message.kind not in SECRET_KINDS:
        return True, None
    plaintext = REISSUERS[message.kind](session, message, now=now)
    if plaintext is None:
        message.status = CANCELLED
        message.error = "not retried: the code was replaced, used or its account locked"
        message.next_attempt_at = None
        session.flush()
        return False, None
    return True, plaintext


def latest(
    session: so.Session, *, limit: int = 50, status: str | None = None
) -> list[OutboxMessage]:
    """Messages newest first."""
    query = sa.select(OutboxMessage)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    query = query.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(limit)
    return list(session.scalars(query))
