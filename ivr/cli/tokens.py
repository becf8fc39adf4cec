"""CLI commands: `ivr tokens list|create|revoke`, the API's bearer tokens."""

from __future__ import annotations

import datetime as dt

import click
import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask
from flask.cli import with_appcontext

from ivr.auth import audit, issue_token, revoke_tokens, usable
from ivr.config import get_settings
from ivr.db import get_session
from ivr.store.models import ApiToken, User, utcnow


@click.group("tokens")
def tokens_group() -> None:
    """API tokens: list them, create one for a user, revoke one."""


def _user(session: so.Session, name: str) -> User:
    user = session.scalars(sa.select(User).where(User.name == name)).first()
    if user is None:
        raise click.ClickException(f"no user named {name!r}")
    return user


def _when(when: dt.datetime | None) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%MZ") if when else "-"


def _state(token: ApiToken, now: dt.datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and now >= token.expires_at:
        return "expired"
    return "active" if usable(token, now) else "user-off"


@tokens_group.command("list")
@click.option("--user", "user_name", help="Only this user's tokens.")
@with_appcontext
def list_cmd(user_name: str | None) -> None:
    """Tokens, newest first: prefix, user, role, state, created, expires, last used."""
    session = get_session()
    query = sa.select(ApiToken).join(User).order_by(ApiToken.id.desc())
    if user_name is not None:
        query = query.where(ApiToken.user_id == _user(session, user_name).id)
    found = list(session.scalars(query))
    now = utcnow()
    if not found:
        session.rollback()
        click.echo("no tokens")
        return
    for token in found:
        click.echo(
            f"{token.prefix:<12}  {token.user.name:<20}  {token.user.role.value:<10}  "
            f"{_state(token, now):<8}  created {_when(token.created_at)}  "
            f"expires {_when(token.expires_at)}  used {_when(token.last_used_at)}"
        )
    session.rollback()


@tokens_group.command("create")
@click.argument("name")
@click.option(
    "--days",
    type=click.IntRange(0, 3650),
    help="Days it lasts (0: until revoked). Default: IVR_TOKEN_DAYS.",
)
@with_appcontext
def create_cmd(name: str, days: int | None) -> None:
    """A new token for user NAME, printed alone on the last line (shown once)."""
    session = get_session()
    user = _user(session, name)
    if not user.active:
        session.rollback()
        raise click.ClickException(f"user {name!r} is disabled")
    days = get_settings().token_days if days is None else days
    token = issue_token(session, user, days=days)
    audit(session, None, "create_token", "user", str(user.id))
    session.commit()
    lasts = f"valid {days} days" if days else "valid until revoked"
    click.echo(f"token for {user.name!r} ({lasts}), shown once:")
    click.echo(token)


@tokens_group.command("revoke")
@click.argument("prefix")
@with_appcontext
def revoke_cmd(prefix: str) -> None:
    """Revoke the token(s) whose prefix (as `ivr tokens list` shows it) starts with PREFIX."""
    session = get_session()
    try:
        revoked = revoke_tokens(session, prefix.strip(), utcnow())
    except ValueError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from exc
    if not revoked:
        session.rollback()
        raise click.ClickException(f"no active token starts with {prefix.strip()!r}")
    for token in revoked:
        audit(session, None, "revoke_token", "user", str(token.user_id))
    session.commit()
    for token in revoked:
        click.echo(f"revoked {token.prefix} of {token.user.name!r}")


def init_app(app: Flask) -> None:
    """Register this module's commands on the app's CLI."""
    app.cli.add_command(tokens_group)
