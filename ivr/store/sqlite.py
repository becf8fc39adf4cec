"""SQLite as the store: WAL, and writers that begin holding the write lock.

SQLite has one write lock for the whole database. A session that may write begins its
transaction holding it (`BEGIN IMMEDIATE`), so everything it reads stays true until it
commits, and no read ever has to become a write after another connection committed (the
SQLITE_BUSY_SNAPSHOT error a deferred transaction gets). Sessions that only read begin
deferred and, in WAL mode, neither block writers nor wait for them.

A writer that finds the lock taken waits in SQLite's busy handler, up to `BUSY_TIMEOUT_S`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

BUSY_TIMEOUT_S = 15
# The execution option that makes a connection's transactions begin with the write lock.
WRITE = "ivr_write"


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
        writes = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine
