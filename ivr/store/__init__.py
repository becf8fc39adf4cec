"""The store: engine, sessionmakers and migrations. No Flask here: `ivr.db` binds it to the app."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.store.sqlite import WRITE, sqlite_engine

HERE = Path(__file__).resolve().parent


def make_engine(url: str, *, pool_size: int = 5) -> sa.Engine:
    """Create an engine; SQLite's is set up by `ivr.store.sqlite`."""
    if url.startswith("sqlite"):
        return sqlite_engine(url)
    # hide_parameters: SQL errors must not carry member ids or dates of birth into logs.
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs every turn a round trip; a dropped connection fails the
        # turn into the apology path and the pool replaces it (recycled every 30 minutes).
        pool_recycle=1800,
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

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
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
