"""A backup restores: the commands of docs/deploy.md, run on a store with a call, a user and
an outage notice, then the app started on the restored copy finds all three."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from ivr import create_app
from ivr.simulate import Caller, FlaskTransport
from ivr.store.models import Call
from tests.conftest import AUTH_TOKEN, base_config, bearer

ROOT = Path(__file__).resolve().parent.parent
NOTICE = {"title": "Portal down", "message": "The ProviderPortal is down for maintenance."}


def fill(app: Flask, token_for: Callable[[str], str]) -> tuple[str, str, int]:
    """A call, an admin and a notice in the store: (call sid, token, notice id)."""
    client = app.test_client()
    sid = Caller(FlaskTransport(client), auth_token=AUTH_TOKEN).dial().press("1").sid
    token = token_for("admin")
    created = client.post("/api/v1/outages", headers=bearer(token), json=NOTICE)
    assert created.status_code == 201
    return sid, token, created.get_json()["id"]


def assert_restored(url: str, sid: str, token: str, outage_id: int) -> None:
    restored = create_app(base_config(url))
    try:
        runner = restored.test_cli_runner()
        assert runner.invoke(args=["init-db"]).exit_code == 0  # already at the newest schema
        client = restored.test_client()
        call = client.get(f"/api/v1/calls/{sid}", headers=bearer(token))
        assert call.status_code == 200 and len(call.get_json()["events"]) == 2
        notice = client.get(f"/api/v1/outages/{outage_id}", headers=bearer(token))
        assert notice.status_code == 200 and notice.get_json()["title"] == NOTICE["title"]
        # The restored line takes new calls.
        assert Caller(FlaskTransport(client), auth_token=AUTH_TOKEN).dial().reply.status == 200
    finally:
        restored.extensions["ivr.store"].engine.dispose()


def test_a_backup_taken_while_the_line_runs_restores_everything(
    app: Flask, db_url: str, token_for: Callable[[str], str], tmp_path: Path, session: Any
) -> None:
    sid, token, outage_id = fill(app, token_for)
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(Call)) == 1
    if db_url.startswith("sqlite"):
        restored_url = _sqlite_round_trip(db_url, tmp_path)
    else:
        restored_url = _postgres_round_trip(db_url, tmp_path)
    try:
        assert_restored(restored_url, sid, token, outage_id)
    finally:
        if not restored_url.startswith("sqlite"):
            _drop(restored_url)


def _sqlite_round_trip(db_url: str, tmp_path: Path) -> str:
    live = Path(sa.make_url(db_url).database or "")
    backup = tmp_path / "ivr-backup.db"
    # docs/deploy.md: the online backup API (what sqlite3's `.backup` runs), safe while the
    # app writes; no sqlite3 program needed.
    line = (
        "import sqlite3, sys; src = sqlite3.connect(sys.argv[1]);"
        " dst = sqlite3.connect(sys.argv[2]); src.backup(dst); dst.close(); src.close()"
    )
    subprocess.run([sys.executable, "-c", line, str(live), str(backup)], check=True, timeout=60)
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; print(sqlite3.connect(sys.argv[1])"
            ".execute('PRAGMA integrity_check').fetchone()[0])",
            str(backup),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.stdout.strip() == "ok"
    # Restore: the app stopped, the file put back in place.
    restored = tmp_path / "restored" / "ivr.db"
    restored.parent.mkdir()
    shutil.copyfile(backup, restored)
    return f"sqlite:///{restored}"


def _libpq(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _postgres_round_trip(db_url: str, tmp_path: Path) -> str:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump and pg_restore are not installed")
    dump = tmp_path / "ivr.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", _libpq(db_url)],
        check=True,
        timeout=120,
    )
    name = f"ivr_restore_{uuid.uuid4().hex[:8]}"
    target = sa.make_url(db_url).set(database=name).render_as_string(hide_password=False)
    admin = sa.create_engine(
        sa.make_url(db_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_libpq(target)}", str(dump)],
        check=True,
        timeout=120,
    )
    return target


def _drop(url: str) -> None:
    name = sa.make_url(url).database
    admin = sa.create_engine(
        sa.make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
