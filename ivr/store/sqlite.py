"""SQLite as the store: WAL, and writers that begin holding the write lock.

SQLite has one write lock for the whole database. A session that may write begins its
transaction holding it (`BEGIN IMMEDIATE`), so everything it reads stays true until it
commits, and no read ever has to become a write after another connection committed (the
SQLITE_BUSY_SNAPSHOT error a deferred transaction gets). Sessions that only read begin
deferred and, in WAL mode, neither block writers nor wait for them.

Writers queue for the lock in the kernel: before `BEGIN IMMEDIATE` a writer takes an
exclusive `flock` on a file beside the database and lets it go when its transaction ends, so
the next writer wakes the moment the lock is free. (SQLite's own busy handler sleeps 1, 2, 5,
10 ms... between tries, leaving the lock idle while writers sleep.) Other programs that
do not queue still meet SQLite's busy handler, up to `BUSY_TIMEOUT_S`.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from typing import Any

import sqlalchemy as sa

BUSY_TIMEOUT_S = 15
# The execution option that makes a connection's transactions begin with the write lock.
WRITE = "ivr_write"


class QueuedConnection(sqlite3.Connection):
    """A connection whose writers queue in the kernel for the write lock (see above)."""

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        on_disk = database not in ("", ":memory:") and not database.startswith("file:")
        self._queue = (
            os.open(f"{database}-writers", os.O_RDWR | os.O_CREAT, 0o600) if on_disk else -1
        )
        self._queued = False

    def wait_turn(self) -> None:
        """Block until this connection heads the writers' queue (`leave` ends its turn)."""
        if self._queue >= 0:
            fcntl.flock(self._queue, fcntl.LOCK_EX)
            self._queued = True

    def leave(self) -> None:
        if self._queued:
            self._queued = False
            fcntl.flock(self._queue, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.leave()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.leave()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.leave()
            if self._queue >= 0:
                os.close(self._queue)
                self._queue = -1


def sqlite_engine(url: str) -> sa.Engine:
    engine = sa.create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_S, "factory": QueuedConnection},
        hide_parameters=True,
    )

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
        if not conn.get_execution_options().get(WRITE, False):
            conn.exec_driver_sql("BEGIN")
            return
        raw: QueuedConnection = conn.connection.dbapi_connection  # type: ignore[assignment]
        raw.wait_turn()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            raw.leave()  # the transaction never began: its commit or rollback won't come
            raise

    return engine
