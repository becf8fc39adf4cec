"""SQLite as the store: a session that may write begins holding the write lock, and
writers queue for it in the kernel (a `flock` on a file beside the database)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    path = tmp_path / "store.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    return Store(f"sqlite:///{path}")


def db_path(store: Store) -> str:
    return str(store.engine.url.database)


def rows(store: Store) -> list[str]:
    with sqlite3.connect(db_path(store)) as conn:
        return [v for (v,) in conn.execute("SELECT v FROM t ORDER BY id")]


def someone_else_writes(store: Store, value: str, *, timeout: float) -> str:
    """Another process's write, waiting at most `timeout` s: 'ok' or SQLite's error."""
    other = sqlite3.connect(db_path(store), isolation_level=None, timeout=timeout)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t (v) VALUES (?)", (value,))
        other.execute("COMMIT")
        return "ok"
    except sqlite3.OperationalError as exc:
        return str(exc)
    finally:
        other.close()


def test_a_writer_holds_the_lock_from_its_first_read(store: Store) -> None:
    """What an audited API read does: read, then write the audit row. Nobody may commit in
    between (a WAL read transaction could not become a write after that)."""
    with store.sessionmaker() as session:
        assert session.scalar(sa.text("SELECT count(*) FROM t")) == 0
        assert someone_else_writes(store, "other", timeout=0.05) == "database is locked"
        session.execute(sa.text("INSERT INTO t (v) VALUES ('audit')"))
        session.commit()
    assert someone_else_writes(store, "other", timeout=0.05) == "ok"
    assert rows(store) == ["audit", "other"]


def test_a_writer_waits_for_the_lock_and_does_not_fail(store: Store) -> None:
    other = sqlite3.connect(db_path(store), isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (v) VALUES ('other')")
    releaser = threading.Timer(0.4, other.commit)
    releaser.start()
    try:
        with store.sessionmaker() as session:
            session.execute(sa.text("INSERT INTO t (v) VALUES ('mine')"))
            session.commit()
    finally:
        releaser.join()
        other.close()
    assert rows(store) == ["other", "mine"]


def test_a_reader_neither_waits_for_nor_blocks_a_writer(store: Store) -> None:
    with store.sessionmaker() as writer, store.read_sessionmaker() as reader:
        writer.execute(sa.text("INSERT INTO t (v) VALUES ('pending')"))
        assert reader.scalar(sa.text("SELECT count(*) FROM t")) == 0  # no wait, old snapshot
        writer.commit()
        reader.rollback()
        assert reader.scalar(sa.text("SELECT count(*) FROM t")) == 1


def test_writers_in_many_threads_lose_no_update(store: Store) -> None:
    """Read-modify-write in each of 8 threads, 25 times: every increment lands."""
    with store.sessionmaker() as session:
        session.execute(sa.text("INSERT INTO t (v) VALUES ('0')"))
        session.commit()

    def bump() -> None:
        for _ in range(25):
            with so.Session(store.sessionmaker.kw["bind"]) as session:
                value = int(session.scalar(sa.text("SELECT v FROM t")))
                session.execute(sa.text("UPDATE t SET v = :v"), {"v": str(value + 1)})
                session.commit()

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert rows(store) == ["200"]


def queue_is_free(store: Store) -> bool:
    """Whether another writer could take its place at the head of the queue right now."""
    fd = os.open(db_path(store) + "-writers", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing lets go of a lock taken here
    return True


def test_a_writer_holds_the_queue_until_its_transaction_ends(store: Store) -> None:
    for end in ("commit", "rollback", "close"):
        session = store.sessionmaker()
        session.execute(sa.text("SELECT 1"))
        assert not queue_is_free(store), end
        getattr(session, end)()
        assert queue_is_free(store), end
        session.close()
    with store.read_sessionmaker() as reader:
        reader.execute(sa.text("SELECT 1"))
        assert queue_is_free(store)  # readers never queue


def test_the_queue_is_left_when_the_lock_cannot_be_had(store: Store) -> None:
    """A program that does not queue holds SQLite's lock past the busy timeout: the writer
    fails, and leaves the queue for the next one."""
    other = sqlite3.connect(db_path(store), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    impatient = Store(store.url)
    impatient.engine.pool.dispose()
    try:
        with impatient.engine.connect() as conn:
            conn.connection.dbapi_connection.execute("PRAGMA busy_timeout = 50")  # type: ignore[union-attr]
            with pytest.raises(sa.exc.OperationalError, match="locked"):
                conn.execution_options(ivr_write=True).execute(sa.text("SELECT 1"))
            assert queue_is_free(store)
    finally:
        other.rollback()
        other.close()
        impatient.engine.dispose()


def test_the_queue_file_is_the_owners_alone(store: Store) -> None:
    with store.sessionmaker() as session:
        session.execute(sa.text("SELECT 1"))
    assert os.stat(db_path(store) + "-writers").st_mode & 0o077 == 0
