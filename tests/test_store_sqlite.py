"""SQLite as the store: read-only first tries, and writers queueing for the write lock."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ivr.store.sqlite import (
    BUSY_TIMEOUT_S,
    READ_ONLY,
    ReadOnlyViolation,
    _begin_immediate_quickly,
    sqlite_engine,
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    return path


def rows(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT id, v FROM t ORDER BY id").fetchall()


def holding_the_write_lock(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (v) VALUES ('other')")
    return other


def test_a_read_only_transaction_refuses_a_write_before_it_runs(db: Path) -> None:
    engine = sqlite_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        conn = conn.execution_options(**READ_ONLY)
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() == 0
        with pytest.raises(ReadOnlyViolation):
            conn.execute(sa.text("INSERT INTO t (v) VALUES ('x')"))
        conn.rollback()
    assert rows(db) == []


def test_a_writer_waits_for_the_lock_and_does_not_fail(db: Path) -> None:
    """Held longer than the quick polling lasts: SQLite's busy handler takes over."""
    engine = sqlite_engine(f"sqlite:///{db}")
    other = holding_the_write_lock(db)
    releaser = threading.Timer(0.4, other.commit)
    releaser.start()
    try:
        with engine.connect() as conn, conn.execution_options(ivr_write=True).begin():
            conn.execute(sa.text("INSERT INTO t (v) VALUES ('mine')"))
    finally:
        releaser.join()
        other.close()
    assert [v for _, v in rows(db)] == ["other", "mine"]


def test_quick_polling_gives_up_when_the_lock_stays_taken_and_restores_the_timeout(
    db: Path,
) -> None:
    other = holding_the_write_lock(db)
    mine = sqlite3.connect(db, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    try:
        started = time.monotonic()
        assert _begin_immediate_quickly(mine, wait=0.02) is False
        assert time.monotonic() - started < BUSY_TIMEOUT_S  # not SQLite's 15 s wait
        assert not mine.in_transaction
        assert mine.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_S * 1000
        other.commit()
        assert _begin_immediate_quickly(mine, wait=0.02) is True
        assert mine.in_transaction
        mine.execute("INSERT INTO t (v) VALUES ('mine')")
        mine.commit()
    finally:
        other.close()
        mine.close()
    assert [v for _, v in rows(db)] == ["other", "mine"]
