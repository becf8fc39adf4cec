"""CLI commands: `ivr outage add|end|list`, the outage notices callers hear."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from flask import Flask
from flask.cli import with_appcontext

from ivr.auth import audit
from ivr.db import get_session
from ivr.services import outages
from ivr.services.outages import OutageError
from ivr.store.models import Outage, utcnow


@click.group("outage")
def outage_group() -> None:
    """Announce outages on calls: add, end and list notices."""


@outage_group.command("add")
@click.option("--title", required=True, help="A short title (1-200 characters).")
@click.option("--message", required=True, help="What callers hear (en-US).")
@click.option("--message-es", help="What Spanish-speaking callers hear (es-US).")
@click.option("--plan", "plans", multiple=True, help="A plan code; repeat. Default: all plans.")
@click.option("--system", "systems", multiple=True, help="An affected system; repeat.")
@click.option("--starts", help="ISO 8601 with a timezone, e.g. 2026-03-01T08:00-05:00.")
@click.option("--ends", help="ISO 8601 with a timezone; default: open-ended.")
@with_appcontext
def add(
    title: str,
    message: str,
    message_es: str | None,
    plans: tuple[str, ...],
    systems: tuple[str, ...],
    starts: str | None,
    ends: str | None,
) -> None:
    """Add a notice; its id is printed alone."""
    texts = {"en-US": message}
    if message_es is not None:
        texts["es-US"] = message_es
    data: dict[str, Any] = {
        "title": title,
        "message": texts,
        "systems": list(systems),
        "plans": list(plans) or None,
    }
    if starts is not None:
        data["starts_at"] = starts
    if ends is not None:
        data["ends_at"] = ends
    session = get_session()
    try:
        outage = outages.create(session, data, user_id=None, now=utcnow())
    except OutageError as exc:
        session.rollback()
        raise click.ClickException(f"{exc} ({_option(exc.field)})") from exc
    audit(session, None, "create", "outage", str(outage.id))
    session.commit()
    click.echo(outage.id)


@outage_group.command("end")
@click.argument("outage_id", metavar="ID", type=int)
@with_appcontext
def end(outage_id: int) -> None:
    """End a notice now: calls stop hearing it."""
    session = get_session()
    outage = outages.get(session, outage_id)
    if outage is None:
        session.rollback()
        raise click.ClickException(f"no outage notice with id {outage_id}")
    now = utcnow()
    if outages.state(outage, now) == "ended":
        session.rollback()
        ended_at = outage.ends_at
        assert ended_at is not None  # "ended" means it has an end
        click.echo(f"outage {outage.id} already ended at {_when(ended_at)}")
        return
    outages.end(session, outage, now=now)
    audit(session, None, "end", "outage", str(outage.id))
    session.commit()
    click.echo(f"outage {outage.id} ended at {_when(now)}")


@outage_group.command("list")
@click.option("--active", "only_active", is_flag=True, help="Only notices playing now.")
@with_appcontext
def list_cmd(only_active: bool) -> None:
    """List notices, newest first: id, state, window, plans, title."""
    session = get_session()
    now = utcnow()
    found = outages.search(session, now=now, active=True if only_active else None)
    session.rollback()
    if not found:
        click.echo("no active outage notices" if only_active else "no outage notices")
        return
    for outage in found:
        click.echo(_line(outage, now))


def _line(outage: Outage, now: dt.datetime) -> str:
    ends = _when(outage.ends_at) if outage.ends_at is not None else "open-ended"
    plans = ",".join(outage.plans) if outage.plans is not None else "all plans"
    return (
        f"{outage.id:>4}  {outages.state(outage, now):<9}  "
        f"{_when(outage.starts_at)} to {ends:<17}  {plans:<20}  {outage.title}"
    )


def _when(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%MZ")


def _option(field: str) -> str:
    names = {"starts_at": "--starts", "ends_at": "--ends", "plans": "--plan", "systems": "--system"}
    return names.get(field, f"--{field}")


def init_app(app: Flask) -> None:
    """Register this module's commands on the app's CLI."""
    app.cli.add_command(outage_group)
