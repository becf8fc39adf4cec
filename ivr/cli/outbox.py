"""CLI commands: `ivr outbox` (the text messages, newest first) and `ivr send-outbox`."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from ivr.services import messaging
from ivr.store import get_session
from ivr.store.models import OutboxMessage, utcnow


@click.command("outbox")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@with_appcontext
def outbox(limit: int) -> None:
    """List text messages, newest first: id, time, recipient, kind, status, error."""
    session = get_session()
    found = messaging.latest(session, limit=limit)
    lines = [_line(m) for m in found]
    session.rollback()
    if not lines:
        click.echo("the outbox is empty")
        return
    for line in lines:
        click.echo(line)


def _line(message: OutboxMessage) -> str:
    error = messaging.mask_secrets(message.error) or ""
    return (
        f"{message.id:>5}  {_when(message.created_at)}  {message.to:<15}  "
        f"{message.kind:<18}  {message.status:<9}  {error}"
    ).rstrip()


def _when(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@click.command("send-outbox")
@with_appcontext
def send_outbox() -> None:
    """Send now the messages whose retry is due; prints how many went out."""
    config = current_app.config
    if not config.get("TWILIO_ACCOUNT_SID"):
        click.echo("TWILIO_ACCOUNT_SID is not set: nothing is sent (see `ivr outbox`)")
        return
    session = get_session()
    tried = messaging.retry_due(
        session,
        config=config,
        http_client=current_app.extensions.get("ivr.twilio_http"),
        now=utcnow(),
    )
    counts = Counter(m.status for m in tried)
    session.commit()
    if not tried:
        click.echo("no messages due")
        return
    click.echo(
        ", ".join(f"{status}: {counts[status]}" for status in messaging.STATUSES if counts[status])
        + f" ({len(tried)} due)"
    )


def init_app(app: Flask) -> None:
    """Register this module's commands on the app's CLI."""
    app.cli.add_command(outbox)
    app.cli.add_command(send_outbox)
