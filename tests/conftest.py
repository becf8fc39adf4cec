"""Fixtures: `app`, `client`, `runner`, `session`, `caller`, tokens; SQLite and PostgreSQL.

Each app test runs on both stores. SQLite: a migrated, seeded template file copied per
test. PostgreSQL: one database per test run (created and dropped here), migrated and
seeded once, and emptied of calls and users after every test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import sqlalchemy.orm
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from ivr import create_app
from ivr.simulate import Caller, FlaskTransport

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PG_URL = os.environ.get("IVR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ON_CI = os.environ.get("CI", "").lower() == "true"
# Catalog tables seeded once per PostgreSQL run; every other table is emptied after each test.
SEEDED_ONCE = {"plans", "flow_versions", "providers", "members", "exam_types"}


def bearer(token: str) -> dict[str, str]:
    """The API's Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}


def base_config(url: str, **extra: Any) -> dict[str, Any]:
    config = {
        "TESTING": True,
        "IVR_ENV": "test",
        "DATABASE_URL": url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": "",
        "SECRET_KEY": "test",
        "IVR_BACKUP_NUMBER": "+18005550123",
        # Transfers meet an open queue whatever the clock says; tests of hours set their own.
        "IVR_HOURS_OVERRIDE": "open",
    }
    config.update(extra)
    return config


def store_gone_app(tmp_path: Path, folder: str = "gone", **extra: Any) -> Flask:
    """An app whose SQLite store went away after it started (its folder removed): every
    request meets a store that cannot be opened. (A folder missing at start is refused by
    `create_app` itself, with the reason.)"""
    where = tmp_path / folder
    where.mkdir(parents=True)
    app = create_app(base_config(f"sqlite:///{where}/ivr.db", **extra))
    shutil.rmtree(where)
    return app


def prepare(url: str) -> None:
    """Migrate and seed a database the way `make run` does."""
    app = create_app(base_config(url))
    runner = app.test_cli_runner()
    for args in (["init-db"], ["seed"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    app.extensions["ivr.store"].engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "ivr.db"
    prepare(f"sqlite:///{path}")
    return path


def _pg_admin_url() -> str:
    from ivr.config import normalize_database_url

    return normalize_database_url(PG_URL)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    admin = sa.create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        reason = f"PostgreSQL not reachable at IVR_TEST_POSTGRES_URL ({type(exc).__name__})"
        if ON_CI:
            pytest.fail(reason + "; CI=true requires it")
        pytest.skip(reason)
    name = f"ivr_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)
    try:
        prepare(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "ivr.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("pg_url")
    yield url
    from ivr.store.models import Base

    # DELETE (children first) and a sequence reset, not TRUNCATE: a TRUNCATE of every table
    # makes new files for each, some 0.4 s a test; a few rows are gone in milliseconds.
    emptied = [t for t in reversed(Base.metadata.sorted_tables) if t.name not in SEEDED_ONCE]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in emptied:
            conn.execute(table.delete())
        conn.execute(sa.text("DELETE FROM flow_versions WHERE id > 1"))
        conn.execute(
            sa.text(
                "SELECT setval(s.seq, 1, false) FROM (SELECT pg_get_serial_sequence(t, 'id')"
                " AS seq FROM unnest(CAST(:tables AS text[])) AS t) AS s WHERE s.seq IS NOT NULL"
            ),
            {"tables": [t.name for t in emptied if "id" in t.c]},
        )
        conn.execute(
            sa.text(
                "SELECT setval(pg_get_serial_sequence('flow_versions', 'id'),"
                " (SELECT max(id) FROM flow_versions))"
            )
        )
    reseed_mutable(url)
    engine.dispose()


def reseed_mutable(url: str) -> None:
    """Load again the seeded rows that tests may change (portal accounts)."""
    from ivr.config import ROOT
    from ivr.services.portal import seed_portal_accounts

    engine = sa.create_engine(url)
    with sa.orm.Session(engine) as s:
        seed_portal_accounts(s, ROOT / "data" / "portal_users.csv")
        s.commit()
    engine.dispose()


@pytest.fixture
def make_app(db_url: str) -> Iterator[Callable[..., Flask]]:
    """Build apps on this test's database; two of them behave like two gunicorn workers."""
    apps: list[Flask] = []

    def factory(**extra: Any) -> Flask:
        app = create_app(base_config(db_url, **extra))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["ivr.store"].engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    """A session of its own on the app's store, for asserting what landed."""
    store = app.extensions["ivr.store"]
    with store.read_sessionmaker() as s:
        yield s


@pytest.fixture
def caller(client: FlaskClient) -> Caller:
    return Caller(FlaskTransport(client), auth_token=AUTH_TOKEN)


@pytest.fixture
def token_for(runner: FlaskCliRunner) -> Callable[[str], str]:
    """Create a user with `role` through the CLI and return its API token."""
    counter = iter(range(1, 1000))

    def make(role: str) -> str:
        result = runner.invoke(args=["create-user", f"{role}-{next(counter)}", "--role", role])
        assert result.exit_code == 0, result.output
        return result.output.strip().splitlines()[-1]

    return make
