"""The store: engine, sessionmakers and migrations. No Flask here: `ivr.db` binds it to the app."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.store.sqlite import LOCK_TIMEOUT_S, WRITE, sqlite_engine

HERE = Path(__file__).resolve().parent


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    statement_timeout: int | None = None,
    lock_timeout: int | None = None,
    pgbouncer: bool = False,
) -> sa.Engine:
    """Create an engine; SQLite's is set up by `ivr.store.sqlite`.

    With timeouts (seconds; the app passes IVR_DB_STATEMENT_TIMEOUT and IVR_DB_LOCK_TIMEOUT)
    no request waits on the database longer than that: a webhook then answers the failsafe
    apology inside Twilio's 15 s. Without them (migrations) nothing is cut short.

    `pgbouncer` (IVR_DB_PGBOUNCER): the server is a PgBouncer in transaction pooling, where
    a connection's next transaction may run on another server session. psycopg then
    prepares no statements (a statement prepared on one session is unknown to the next),
    and the timeouts are not sent as startup options, which PgBouncer refuses: set them on
    the database role instead (docs/deploy.md).
    """
    if url.startswith("sqlite"):
        return sqlite_engine(url, lock_timeout=lock_timeout or LOCK_TIMEOUT_S)
    connect_args: dict[str, Any] = {}
    if lock_timeout:
        connect_args["connect_timeout"] = lock_timeout
    if pgbouncer:
        connect_args["prepare_threshold"] = None
    elif statement_timeout or lock_timeout:
        options = []
        if statement_timeout:
            options.append(f"-c statement_timeout={statement_timeout * 1000}")
        if lock_timeout:
            options.append(f"-c lock_timeout={lock_timeout * 1000}")
        connect_args["options"] = " ".join(options)
    # hide_parameters: SQL errors must not carry member ids or dates of birth into logs.
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # Pre-ping: a connection the server dropped (a PostgreSQL restart, a failover) is
        # replaced before a request uses it, so the first turn after a restart is answered
        # normally instead of with the apology. It costs each checkout one round trip.
        pool_pre_ping=True,
        pool_recycle=1800,
        # A request waits for a pooled connection no longer than for a lock.
        pool_timeout=lock_timeout or 30,
        connect_args=connect_args,
        hide_parameters=True,
    )


class Store:
    """The engine and sessionmakers an app shares across requests.

    The one locking rule: a session that may write begins its transaction holding the
    write lock. On SQLite that is `BEGIN IMMEDIATE` (one lock for the whole database); on
    PostgreSQL, rows a request must change alone are locked with `SELECT ... FOR UPDATE`
    (the webhook locks its call's row). Requests use the writer session, reads that leave
    an audit row included; `read_sessionmaker` is for code that never writes.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        statement_timeout: int | None = None,
        lock_timeout: int | None = None,
        pgbouncer: bool = False,
    ) -> None:
        self.url = url
        self.engine = make_engine(
            url,
            pool_size=pool_size,
            statement_timeout=statement_timeout,
            lock_timeout=lock_timeout,
            pgbouncer=pgbouncer,
        )
        writer = self.engine.execution_options(**{WRITE: True})
        self.sessionmaker = so.sessionmaker(writer, expire_on_commit=False)
        self.read_sessionmaker = so.sessionmaker(self.engine, expire_on_commit=False)


def upsert(
    session: so.Session, model: type, key: Mapping[str, object], values: Mapping[str, object]
) -> int:
    """Insert the row of `model` with `key`, or update it to `values`; 1 if anything changed."""
    row = session.scalars(sa.select(model).filter_by(**key)).first()
    if row is None:
        session.add(model(**key, **values))
        return 1
    if any(getattr(row, k) != v for k, v in values.items()):
        for k, v in values.items():
            setattr(row, k, v)
        return 1
    return 0


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Run Alembic migrations up to `revision`."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)
