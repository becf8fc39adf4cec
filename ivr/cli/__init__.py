"""The `ivr` command: set up the store, load catalogs, check flows, manage users, simulate."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from ivr.config import ConfigError, get_settings
from ivr.db import get_session, get_store
from ivr.engine import FlowError
from ivr.services import lifecycle, validity
from ivr.store import upgrade
from ivr.store.models import Plan, Role
from ivr.store.sqlite import what_failed
from ivr.versions import FlowLibrary


def _library() -> FlowLibrary:
    lib: FlowLibrary = current_app.extensions["ivr.flows"]
    return lib


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or migrate the database to the newest schema (Alembic)."""
    try:
        upgrade(get_settings().database_url)
    except sa.exc.OperationalError as exc:  # each migration is a transaction: none half-done
        raise click.ClickException(f"the database was not migrated: {what_failed(exc)}") from exc
    click.echo("database is at the newest schema")


@click.command("seed")
@click.option("--if-empty", is_flag=True, help="Only when the store has no plans yet.")
@with_appcontext
def seed(if_empty: bool) -> None:
    """Load the catalogs in data/ and publish flows, prompts and criteria (idempotent)."""
    from ivr.publishing import publish_files
    from ivr.services.catalogs import plan_warnings, seed_all

    session = get_session()
    data_dir = get_settings().data_dir
    try:
        empty = session.scalars(sa.select(Plan).limit(1)).first() is None
        changed: dict[str, int] = {}
        warnings: list[str] = []
        retired: list[str] = []
        if empty or not if_empty:
            changed = seed_all(session, data_dir, retired)
            warnings = plan_warnings(session)
        version = publish_files(session, _library())
        session.commit()
    except (ValueError, FlowError) as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from exc
    except sa.exc.OperationalError as exc:
        session.rollback()
        problem = what_failed(exc)
        if problem == type(exc).__name__:
            problem = f"the store is not ready ({problem}); run `ivr init-db`"
        raise click.ClickException(f"nothing was loaded: {problem}") from exc
    _library().forget_catalogs()
    for name, count in changed.items():
        click.echo(f"{name}: {count} added or changed")
    if not changed:
        click.echo("catalogs: already loaded (--if-empty)")
    for name in retired:
        click.echo(f"retired {name}: no longer in data/ (orders that name it keep it)")
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"flows: published version {version.id}" if version else "flows: unchanged")


@click.command("publish-flows")
@click.option("--force", is_flag=True, help="Publish even when the files did not change.")
@with_appcontext
def publish_flows(force: bool) -> None:
    """Check flows/, prompts/ and the criteria, and publish them as one version.

    Every server process starts new calls on it within IVR_FLOW_REFRESH seconds.
    """
    from ivr.publishing import publish_files

    session = get_session()
    try:
        version = publish_files(session, _library(), by="cli", force=force)
        session.commit()
    except FlowError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from exc
    except sa.exc.OperationalError as exc:
        session.rollback()
        raise click.ClickException(f"nothing was published: {what_failed(exc)}") from exc
    click.echo(
        f"published version {version.id} ({version.checksum[:12]})"
        if version
        else "flows, prompts and criteria unchanged; nothing published"
    )


@click.command("check-flows")
@click.option("--dir", "flows_dir", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def check_flows(flows_dir: Path | None) -> None:
    """Run the publish checks on flows/, prompts/ and the criteria; name every problem at
    its file, line, node and field."""
    from ivr.publishing import read_files

    lib = _library()
    try:
        if flows_dir is not None:
            lib = FlowLibrary(flows_dir, lib.prompts_dir, lib.data_dir, lib.ttl)
        checked = lib.check(read_files(lib))
    except FlowError as exc:  # a file that cannot be read at all
        for problem in exc.problems:
            click.echo(problem, err=True)
        click.echo(f"{len(exc.problems)} problem(s) found", err=True)
        sys.exit(1)
    if checked.published is None:
        for line in checked.lines():
            click.echo(line, err=True)
        click.echo(f"{len(checked.problems)} problem(s) found", err=True)
        sys.exit(1)
    bundle = checked.published.bundle
    for warning in bundle.warnings:
        click.echo(f"warning: {warning}", err=True)
    flows = sorted({n.flow for n in bundle.nodes.values()})
    click.echo(
        f"ok: {len(bundle.nodes)} nodes in {len(flows)} flow(s): {', '.join(flows)}; "
        f"prompts: {', '.join(sorted(lib.prompts))}"
    )


@click.command("create-user")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the console password from the first line of standard input.",
)
@click.option(
    "--password-prompt",
    is_flag=True,
    help="Ask for the console password (hidden, typed twice).",
)
@with_appcontext
def create_user_cmd(name: str, role: str, password_stdin: bool, password_prompt: bool) -> None:
    """Create a user; the new API token is printed alone on the last line. With a password
    (--password-stdin or --password-prompt) the user can also sign in to the console."""
    from ivr.auth import create_user
    from ivr.services.accounts import set_password

    password = _read_password(password_stdin, password_prompt)
    session = get_session()
    try:
        user, token = create_user(session, name, Role(role), days=get_settings().token_days)
        if password is not None:
            set_password(user, password)
        session.commit()
    except ValueError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {user.role.value} {user.name!r} (id {user.id}); API token (shown once):")
    click.echo(token)


@click.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def set_password_cmd(name: str, password_stdin: bool) -> None:
    """Set a user's console password (asked for, hidden, unless --password-stdin); every
    console session of theirs ends."""
    import sqlalchemy as sa

    from ivr.services.accounts import set_password
    from ivr.store.models import User

    password = _read_password(password_stdin, not password_stdin)
    assert password is not None
    session = get_session()
    user = session.scalars(sa.select(User).where(User.name == name)).first()
    if user is None:
        raise click.ClickException(f"no user {name!r}")
    try:
        set_password(user, password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    session.commit()
    click.echo(f"password set for {user.name!r}")


def _read_password(from_stdin: bool, prompt: bool) -> str | None:
    if from_stdin and prompt:
        raise click.UsageError("give --password-stdin or --password-prompt, not both")
    if from_stdin:
        import sys

        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise click.ClickException("no password on standard input")
        return password
    if prompt:
        value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return value
    return None


@click.command("simulate")
@click.option("--url", help="A running server's base URL; default: in-process.")
@click.option("--from", "from_number", default="+12125550143", show_default=True)
@click.option("--to", "to_number", default="+18005550100", show_default=True)
@click.option("--token", envvar="TWILIO_AUTH_TOKEN", help="Sign requests with this auth token.")
@with_appcontext
def simulate(url: str | None, from_number: str, to_number: str, token: str | None) -> None:
    """Place a call from the terminal: type keys (digits, * or #) or words; empty = silence."""
    from ivr.simulate import Caller, FlaskTransport, HttpTransport

    if url:
        caller = Caller(
            HttpTransport(),
            base_url=url.rstrip("/"),
            auth_token=token or None,
            from_number=from_number,
            to_number=to_number,
        )
    else:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        token = get_settings(app).twilio_auth_token
        if not token:
            # The webhooks refuse unsigned requests; in-process, the caller signs with a
            # one-off token on an app built to know it, so no IVR_ENV=development is needed.
            import secrets

            from ivr import create_app

            token = secrets.token_hex(16)
            app = create_app({**get_settings(app).as_config(), "TWILIO_AUTH_TOKEN": token})
            click.get_current_context().call_on_close(app.extensions["ivr.store"].engine.dispose)
        base = get_settings(app).public_base_url or "http://localhost"
        caller = Caller(
            FlaskTransport(app.test_client()),
            base_url=base,
            auth_token=token,
            from_number=from_number,
            to_number=to_number,
        )
    call = caller.dial()
    click.echo(
        f"call {call.sid}: type digits to press keys, words to speak, Enter for silence, "
        "'hangup' to end"
    )
    while True:
        reply = call.reply
        if reply.status != 200:
            raise click.ClickException(f"the server answered {reply.status}: {reply.body[:200]}")
        for line in reply.heard:
            click.echo(f"  IVR: {line}")
        if call.ended:
            if reply.enqueued:
                click.echo(f"  [transferred to the {reply.enqueued} queue]")
            elif reply.dialed:
                click.echo(f"  [dialling {reply.dialed}]")
            else:
                click.echo("  [call ended]")
            call.hang_up()
            return
        try:
            entry = click.prompt("you", default="", show_default=False).strip()
        except (click.Abort, EOFError):
            call.hang_up(status="completed")
            click.echo("\n  [you hung up]")
            return
        if entry.lower() == "hangup":
            call.hang_up()
            click.echo("  [you hung up]")
            return
        if not entry:
            call.silence()
        elif set(entry) <= set("0123456789*#"):
            call.press(entry)
        else:
            call.say(entry)


@click.command("review")
@click.argument("number", metavar="ORDER")
@click.argument("decision", type=click.Choice(["approve", "deny"]))
@click.option("--reason", help="Why (required to deny).")
@click.option(
    "--user", "user_name", help="The clinician (or admin) deciding; required, must be active."
)
@with_appcontext
def review(number: str, decision: str, reason: str | None, user_name: str | None) -> None:
    """Approve or deny a pended order, by its reference (or order) number."""
    from ivr.auth import REVIEWERS, audit
    from ivr.services import orders
    from ivr.store.models import User

    session = get_session()
    try:
        # No anonymous decisions: the console's and the API's reviewers only, by name.
        if not (user_name or "").strip():
            raise click.ClickException("a review needs --user NAME (a clinician or admin)")
        user = session.scalars(sa.select(User).where(User.name == user_name)).first()
        if user is None:
            raise click.ClickException(f"no user named {user_name!r}")
        if not user.active:
            raise click.ClickException(f"user {user.name!r} is disabled")
        if user.role not in REVIEWERS:
            raise click.ClickException(
                f"user {user.name!r} is {user.role.value}: only a clinician or admin reviews"
            )
        if decision == "deny" and not (reason or "").strip():
            raise click.ClickException("a denial needs --reason")
        order = orders.find(session, number)
        if order is None:
            raise click.ClickException(f"no order with number {number.strip()!r}")
        actor = lifecycle.Actor(user_id=user.id)
        try:
            if decision == "approve":
                order = lifecycle.approve(session, order, actor, zone=get_settings().timezone)
            else:
                order = lifecycle.deny(session, order, actor, reason=reason or "")
        except orders.OrderError as exc:
            raise click.ClickException(f"{exc} ({exc.code})") from exc
        audit(session, user, decision, "order", order.reference_number)
        session.commit()
    except click.ClickException:
        session.rollback()
        raise
    click.echo(
        f"{order.status.value}: order number {order.order_number or '-'} "
        f"(reference {order.reference_number})"
    )


@click.command("orders")
@click.option(
    "--status", type=click.Choice(lifecycle.LISTED_STATUSES), help="Only orders in this status."
)
@click.option("--plan", help="Only orders of this plan code.")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True)
@with_appcontext
def list_orders_cmd(status: str | None, plan: str | None, limit: int) -> None:
    """List orders, newest first: reference, order number, status, plan, exam, expires.

    No member ids or dates of birth: patient data stays out of terminal scrollback.
    """
    from ivr.services import orders

    session = get_session()
    found = lifecycle.search(session, status=status, plan=plan, limit=limit)
    session.rollback()
    if not found:
        click.echo("no orders")
        return
    zone = get_settings().timezone
    for order in found:
        expires = validity.last_day(order.expires_at, zone).isoformat() if order.expires_at else "-"
        click.echo(
            f"{order.reference_number:<10}  {order.order_number or '-':<9}  "
            f"{orders.effective_status(order).value:<14}  {order.plan or '-':<10}  "
            f"{order.exam_code or '-':<6}  {expires}"
        )


def init_app(app: Flask) -> None:
    for command in (
        init_db,
        seed,
        publish_flows,
        check_flows,
        create_user_cmd,
        set_password_cmd,
        simulate,
        review,
        list_orders_cmd,
    ):
        app.cli.add_command(command)


def _create_app() -> Flask:
    from ivr import create_app

    return create_app()


cli = FlaskGroup(
    create_app=_create_app,
    add_default_commands=False,
    load_dotenv=False,
    help="ivr: the imaging prior-authorization line.",
)


def main() -> None:
    try:
        cli.main(prog_name="ivr")
    except ConfigError as exc:  # the app could not be built: say why, without a traceback
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


__all__ = ["cli", "get_store", "main"]
