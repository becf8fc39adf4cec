"""CLI commands: `ivr flows export|import`, moving a flow between environments through git."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext

from ivr.db import get_session
from ivr.services import flow_admin as admin


@click.group("flows")
def flows_group() -> None:
    """Export a published flow as YAML, or import a YAML file as a flow's draft."""


@flows_group.command("export")
@click.argument("name")
@click.option("--version", "version", type=click.IntRange(1), help="Default: the published one.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def export(name: str, version: int | None, output: Path | None) -> None:
    """Write flow NAME's YAML (as published, or in --version N) to stdout or -o FILE."""
    session = get_session()
    try:
        text = admin.flow_text(session, name, version)
    except admin.NotFound as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        session.rollback()
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {name} to {output}", err=True)


@flows_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="The flow's name; default: the file's name (main.yaml: main).")
@click.option("--by", default="cli", show_default=True, help="Who made the draft.")
@with_appcontext
def import_(file: Path, name: str | None, by: str) -> None:
    """Make FILE the draft of its flow (on the published version) and name its problems by
    line; the draft is kept even when it has problems (exit 1), for the admin pages."""
    name = name or file.stem
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{file}: cannot be read ({type(exc).__name__})") from exc
    session = get_session()
    try:
        base = admin.published_version(session, name)
        problems = admin.save_draft(session, name, text, base, by)
    except (admin.NotFound, ValueError) as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from exc
    session.commit()
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(f"draft of {name} saved with {len(problems)} problem(s)", err=True)
        raise SystemExit(1)
    click.echo(
        f"draft of {name} saved on version {base}: no problems; publish it from the admin "
        "pages or the API"
    )


def init_app(app: Flask) -> None:
    """Register this module's commands on the app's CLI."""
    app.cli.add_command(flows_group)
