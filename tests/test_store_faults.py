"""The store misbehaving under a call: a lock held by someone else (every webhook still answers,
the failsafe at worst, well inside Twilio's 15 s), connections dropped by a PostgreSQL
restart (the next turn is answered normally), and SQLite files only their owner can read.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from ivr import create_app
from ivr.simulate import Caller, FlaskTransport, SimulatedCall
from ivr.store import Store
from ivr.store.models import Call
from ivr.store.sqlite import private_dir
from tests.conftest import AUTH_TOKEN, base_config

LOW = {"IVR_DB_LOCK_TIMEOUT": "1", "IVR_DB_STATEMENT_TIMEOUT": "2"}


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def on_the_plan_question(app: Flask) -> SimulatedCall:
    call = Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN).dial()
    assert call.gather is not None
    return call


def turns_stored(app: Flask, sid: str) -> int:
    with app.extensions["ivr.store"].read_sessionmaker() as s:
        return int(s.scalars(sa.select(Call.turn).where(Call.sid == sid)).one())


@contextmanager
def lock_held(db_url: str, how: str) -> Iterator[None]:
    """Someone else holds the lock a turn needs, until the block ends."""
    if db_url.startswith("sqlite"):
        database = db_url.removeprefix("sqlite:///")
        if how == "queue":  # another writer of ours, mid-transaction
            fd = os.open(f"{database}-writers", os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        else:  # a program that does not queue (sqlite3's shell, a backup)
            other = sqlite3.connect(database, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                other.execute("ROLLBACK")
                other.close()
        return
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("BEGIN"))
            conn.execute(sa.text("LOCK TABLE calls IN ACCESS EXCLUSIVE MODE"))
            try:
                yield
            finally:
                conn.rollback()
    finally:
        engine.dispose()


@pytest.mark.parametrize("how", ["queue", "program"])
def test_a_held_lock_gets_the_failsafe_in_time_and_the_call_goes_on(
    make_app: Callable[..., Flask], db_url: str, how: str
) -> None:
    if how == "program" and not db_url.startswith("sqlite"):
        pytest.skip("one way to hold a PostgreSQL table")
    app = make_app(**LOW)
    call = on_the_plan_question(app)
    with lock_held(db_url, how):
        started = time.monotonic()
        call.press("1")
        waited = time.monotonic() - started
        assert call.reply.status == 200
        assert call.reply.dialed == "+18005550123"  # the failsafe: a person, by the backup
        assert waited < 4.5  # two 1 s waits at worst (queue, then SQLite's busy handler)
    assert turns_stored(app, call.sid) == 0
    call.replay()  # Twilio asks again once the store answers: the turn runs, once
    assert call.reply.status == 200 and call.gather is not None and call.reply.dialed is None
    assert turns_stored(app, call.sid) == 1


def test_default_timeouts_answer_before_twilio_gives_up(app: Flask) -> None:
    from ivr.config import get_settings

    settings = get_settings(app)
    # PostgreSQL: a lock wait, or a statement; SQLite: the queue, then the busy handler.
    assert settings.db_statement_timeout < 10 and 2 * settings.db_lock_timeout <= 10


def test_postgresql_sessions_carry_the_timeouts(
    make_app: Callable[..., Flask], db_url: str
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only")
    app = make_app(**LOW)
    with app.extensions["ivr.store"].sessionmaker() as s:
        assert s.execute(sa.text("SHOW statement_timeout")).scalar_one() == "2s"
        assert s.execute(sa.text("SHOW lock_timeout")).scalar_one() == "1s"
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError):  # a statement past it is cancelled
            s.execute(sa.text("SELECT pg_sleep(30)"))
        assert time.monotonic() - started < 5


def test_through_pgbouncer_nothing_is_prepared_and_no_startup_options_are_sent(
    make_app: Callable[..., Flask], db_url: str
) -> None:
    """Transaction pooling hands each transaction any server session: a statement psycopg
    prepared on one is unknown on the next, and PgBouncer refuses an `options` packet. The
    role carries the timeouts there (docs/deploy.md); a call still runs end to end."""
    if db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only")
    app = make_app(IVR_DB_PGBOUNCER="1", **LOW)
    with app.extensions["ivr.store"].sessionmaker() as s:
        connection = s.connection().connection.driver_connection
        assert connection.prepare_threshold is None
        assert s.execute(sa.text("SHOW statement_timeout")).scalar_one() != "2s"
        for _ in range(8):  # past psycopg's default threshold (5): still not prepared
            s.execute(sa.text("SELECT count(*) FROM plans")).scalar_one()
        prepared = s.execute(sa.text("SELECT count(*) FROM pg_prepared_statements"))
        assert prepared.scalar_one() == 0
    call = Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN).dial().press("1")
    assert call.reply.status == 200 and call.gather is not None


def test_dropped_postgresql_connections_are_replaced_before_the_next_turn(
    make_app: Callable[..., Flask], db_url: str
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only")
    app = make_app()
    call = on_the_plan_question(app)
    engine = sa.create_engine(db_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert killed >= 1  # the app's pooled connection, as a restart would
    call.press("1")
    assert call.reply.status == 200
    assert call.gather is not None and call.reply.dialed is None
    assert turns_stored(app, call.sid) == 1


# --- SQLite files at rest ----------------------------------------------------------------


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_sqlite_store_is_the_owners_alone(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "new.db"
    store = Store(f"sqlite:///{path}")
    try:
        with store.sessionmaker() as s:  # a writer: the queue file too
            s.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
            s.execute(sa.text("PRAGMA journal_mode=WAL"))
            s.commit()
        with store.sessionmaker() as s:
            s.execute(sa.text("INSERT INTO t DEFAULT VALUES"))
            s.commit()
            for name in ("new.db", "new.db-writers", "new.db-wal", "new.db-shm"):
                assert mode(tmp_path / name) == 0o600, name
    finally:
        store.engine.dispose()


def test_the_app_makes_its_database_owner_only(tmp_path: Path, umask_022: None) -> None:
    app = create_app(base_config(f"sqlite:///{tmp_path / 'ivr.db'}"))
    try:
        result = app.test_cli_runner().invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
        assert mode(tmp_path / "ivr.db") == 0o600
    finally:
        app.extensions["ivr.store"].engine.dispose()


def test_a_private_dir_is_made_0700(tmp_path: Path, umask_022: None) -> None:
    folder = tmp_path / "instance" / "nested"
    private_dir(folder)
    assert mode(folder) == 0o700
    private_dir(folder)  # again: nothing to do
    assert mode(folder) == 0o700
