"""CLI commands: `ivr outbox` (the text messages, newest first) and `ivr send-outbox`
(the outbox worker, once or `--watch`)."""

from __future__ import annotations

import datetime as dt

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from ivr import outbox_worker
from ivr.db import get_session, get_store
from ivr.services import messaging
from ivr.store.models import OutboxMessage


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
@click.option("--watch", is_flag=True, help="Keep sending as messages come, until stopped.")
@click.option(
    "--interval",
    default=outbox_worker.DEFAULT_INTERVAL_S,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Seconds between passes with --watch.",
)
@with_appcontext
def send_outbox(watch: bool, interval: float) -> None:
    """Send the queued texts and those whose retry is due; prints how many went out.
    With --watch, keep doing it every --interval seconds until SIGTERM or Ctrl-C."""
    config = current_app.config
    store = get_store()
    http_client = current_app.extensions.get("ivr.twilio_http")
    if watch:
        passes = outbox_worker.watch(
            store.sessionmaker,
            config=config,
            http_client=http_client,
            reader=store.read_sessionmaker,
            interval=interval,
        )
        click.echo(f"outbox worker stopped after {passes} pass(es)")
        return
    counts = outbox_worker.send_due(
        store.sessionmaker,
        config=config,
        http_client=http_client,
        reader=store.read_sessionmaker,
    )
    if not config.get("TWILIO_ACCOUNT_SID"):
        kept = counts[messaging.NOT_SENT]
        click.echo(
            f"TWILIO_ACCOUNT_SID is not set: nothing is sent ({kept} kept, see `ivr outbox`)"
        )
        return
    if not counts:
        click.echo("no messages due")
        return
    click.echo(
        ", ".join(f"{status}: {counts[status]}" for status in messaging.STATUSES if counts[status])
        + f" ({sum(counts.values())} due)"
    )


def init_app(app: Flask) -> None:
    """Register this module's commands on the app's CLI."""
    app.cli.add_command(outbox)
    app.cli.add_command(send_outbox)
