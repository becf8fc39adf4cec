"""SQLite as the store: WAL, deferred readers, and writers that queue for the one write lock.

SQLite has a single write lock for the whole database. Writers take it up front
(`BEGIN IMMEDIATE`), so two workers serving the same call queue up instead of failing on a
read-to-write upgrade; readers begin deferred and never block writers (WAL).

Waiting for the lock: SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ms... between
tries, so under steady load a writer that loses a few times waits tens of milliseconds for
a lock that is held for a fraction of one. A writer here first polls at sub-millisecond
intervals (`QUICK_WAIT`), then falls back to the busy handler (`BUSY_TIMEOUT_S`).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import sqlalchemy as sa

from ivr.engine import TurnAbandoned

BUSY_TIMEOUT_S = 15
QUICK_WAIT_S = 0.25
_FIRST_PAUSE_S, _LONGEST_PAUSE_S = 0.0001, 0.001
# Execution options for a transaction that must only read (see `ReadOnlyViolation`).
READ_ONLY = {"ivr_write": False, "ivr_read_only": True}
_READING = ("SELECT", "BEGIN", "WITH", "PRAGMA")


class ReadOnlyViolation(TurnAbandoned):
    """A statement other than a read in a transaction begun with `READ_ONLY`: the caller
    starts again with the write lock. Raised before the statement runs."""


def sqlite_engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S}, hide_parameters=True)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        if not conn.get_execution_options().get("ivr_write", False):
            conn.exec_driver_sql("BEGIN")
        elif not _begin_immediate_quickly(conn.connection.dbapi_connection):
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite's busy handler from here on

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _guard_read_only(conn: sa.Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if conn.get_execution_options().get("ivr_read_only"):
            if not statement.lstrip()[:6].upper().startswith(_READING):
                raise ReadOnlyViolation(statement.split(None, 1)[0])

    return engine


def _begin_immediate_quickly(raw: Any, wait: float = QUICK_WAIT_S) -> bool:
    """Try BEGIN IMMEDIATE every 0.1 to 1 ms for up to `wait` seconds; False if still busy."""
    deadline = time.monotonic() + wait
    pause = _FIRST_PAUSE_S
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return True
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    return False
            time.sleep(pause)
            pause = min(2 * pause, _LONGEST_PAUSE_S)
    finally:
        raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
