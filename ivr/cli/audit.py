"""CLI command: `ivr audit`, the audit log as CSV (who read or changed what, and refusals)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import with_appcontext

from ivr.db import get_session
from ivr.store.models import AuditEntry, User

COLUMNS = ("at", "user", "role", "action", "target_type", "target_id", "address", "status")


def _instant(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise click.BadParameter("an ISO 8601 date or date and time", param_hint=name) from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


@click.command("audit")
@click.option("--since", help="From this instant (ISO 8601; UTC unless it says).")
@click.option("--until", help="Before this instant (ISO 8601; UTC unless it says).")
@click.option("--user", "user_name", help="Only this user's rows.")
@click.option("--action", help="Only this action (read, refused, approve, ...).")
@with_appcontext
def audit_cmd(
    since: str | None, until: str | None, user_name: str | None, action: str | None
) -> None:
    """The audit log as CSV on standard output, oldest first (a header line first)."""
    session = get_session()
    query = (
        sa.select(AuditEntry, User)
        .join(User, AuditEntry.user_id == User.id, isouter=True)
        .order_by(AuditEntry.id)
    )
    start, end = _instant(since, "--since"), _instant(until, "--until")
    if start is not None:
        query = query.where(AuditEntry.at >= start)
    if end is not None:
        query = query.where(AuditEntry.at < end)
    if user_name is not None:
        query = query.where(User.name == user_name)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(COLUMNS)
    for entry, user in session.execute(query):
        out.writerow(
            (
                entry.at.astimezone(dt.UTC).isoformat(timespec="seconds"),
                user.name if user else "",
                user.role.value if user else "",
                entry.action,
                entry.target_type,
                entry.target_id,
                entry.address or "",
                entry.status if entry.status is not None else "",
            )
        )
    session.rollback()
    click.echo(buffer.getvalue(), nl=False)


def init_app(app: Flask) -> None:
    """Register this module's command on the app's CLI."""
    app.cli.add_command(audit_cmd)
