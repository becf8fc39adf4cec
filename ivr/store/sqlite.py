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
do not queue still meet SQLite's busy handler.

Both waits are bounded by the lock timeout (IVR_DB_LOCK_TIMEOUT): a writer that has not had
its turn by then fails with `QueueTimeout` (an OperationalError, "database is locked"), so a
webhook answers the failsafe apology well inside Twilio's 15 s instead of waiting on. The
flock has no timeout of its own: a contended wait blocks in a helper thread on a second
descriptor of the queue file while the writer waits for it at most that long; a helper whose
writer gave up lets the lock go the moment it gets it.

The database, its queue file, and its WAL and shared-memory files (SQLite gives them the
database's mode) are the owner's alone: 0600, in a directory made 0700 (`private_dir`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa

# Below this much free space beside the database the app refuses to start: a line that fills
# its disk mid-call can only apologise (SQLite keeps what was committed, and takes no more).
MIN_FREE_BYTES = 16 * 1024 * 1024
LOCK_TIMEOUT_S = 5.0  # the default wait for the write lock (the app passes its setting)
# The execution option that makes a connection's transactions begin with the write lock.
WRITE = "ivr_write"


class QueueTimeout(sqlite3.OperationalError):
    """The writers' queue did not reach this writer within the lock timeout."""


def private_dir(path: str | Path) -> None:
    """Create the directory `path` (and its parents) for the owner alone (0700)."""
    folder = Path(path)
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)


def _create_private(path: str) -> None:
    """Create the file `path`, empty and 0600, unless it exists (SQLite would make it 0644)."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:  # it exists, or cannot be made: SQLite opens it or says why not
        pass


def unwritable(url: str) -> str | None:
    """Why the SQLite store at `url` could not take writes, said for an operator; None when
    it can (or `url` is not a file). Checked at start, before any call meets it."""
    if not url.startswith("sqlite:///") or ":memory:" in url or "mode=ro" in url:
        return None
    path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    folder = path.parent
    if not folder.is_dir():
        return f"the SQLite database's directory {folder} does not exist"
    # os.access: this user's permissions, and EROFS on a read-only file system (root too).
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"the SQLite database {path} is read-only for this user or on a read-only disk"
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"the directory {folder} is read-only for this user or on a read-only disk; SQLite"
            " writes its -wal, -shm and -writers files beside the database"
        )
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        return (
            f"only {free // 1024} KiB free on the disk of {folder} (at least"
            f" {MIN_FREE_BYTES // (1024 * 1024)} MiB needed): free some space first"
        )
    return None


def what_failed(exc: BaseException) -> str:
    """SQLite's error in an operator's words (a full disk, a read-only file), else its kind."""
    text = str(getattr(exc, "orig", exc)).lower()
    if "disk is full" in text or "disk i/o error" in text:
        return "the disk is full (or failing); nothing was half-written: free space, then retry"
    if "readonly" in text or "read-only" in text:
        return "the database is read-only for this user or on a read-only disk"
    return type(exc).__name__


class QueuedConnection(sqlite3.Connection):
    """A connection whose writers queue in the kernel for the write lock (see above)."""

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        on_disk = database not in ("", ":memory:") and not database.startswith("file:")
        if on_disk:
            _create_private(database)
        super().__init__(database, *args, **kwargs)
        self._queue_path = f"{database}-writers"
        self._queue = os.open(self._queue_path, os.O_RDWR | os.O_CREAT, 0o600) if on_disk else -1
        self._held = -1  # the descriptor holding the queue's lock during a turn

    def wait_turn(self, timeout: float = LOCK_TIMEOUT_S) -> None:
        """Wait, at most `timeout` s, until this connection heads the writers' queue (`leave`
        ends its turn); QueueTimeout when it does not."""
        if self._queue < 0:
            return
        try:
            fcntl.flock(self._queue, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._held = self._wait_in_line(timeout)
        else:
            self._held = self._queue

    def _wait_in_line(self, timeout: float) -> int:
        fd = os.open(self._queue_path, os.O_RDWR)
        guard, turn = threading.Lock(), threading.Event()
        gave_up = False

        def wait() -> None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with guard:
                if gave_up:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
                    return
                turn.set()

        threading.Thread(target=wait, name="sqlite-writers-queue", daemon=True).start()
        turn.wait(timeout)
        with guard:
            if not turn.is_set():
                gave_up = True
                raise QueueTimeout(f"database is locked (no turn to write within {timeout:g} s)")
        return fd

    def leave(self) -> None:
        held, self._held = self._held, -1
        if held >= 0:
            fcntl.flock(held, fcntl.LOCK_UN)
            if held != self._queue:
                os.close(held)

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


def sqlite_engine(url: str, *, lock_timeout: float = LOCK_TIMEOUT_S) -> sa.Engine:
    """The engine; a writer waits at most `lock_timeout` s in the queue, then as long again
    in SQLite's busy handler (only a program that does not queue can keep it there)."""
    engine = sa.create_engine(
        url,
        connect_args={"timeout": lock_timeout, "factory": QueuedConnection},
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
        try:
            raw.wait_turn(lock_timeout)
        except QueueTimeout as exc:  # as SQLite's own "database is locked" would be
            raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            raw.leave()  # the transaction never began: its commit or rollback won't come
            raise

    return engine
