"""The store bound to the Flask app (as flaskr's db.py): one session per request, closed at
teardown. Everything else about the store lives in `ivr.store`, free of Flask."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy.orm as so
from flask import Flask, current_app, g

from ivr.config import ConfigError, get_settings
from ivr.store import Store
from ivr.store.sqlite import unwritable

if TYPE_CHECKING:
    from ivr.versions import FlowLibrary


def init_app(app: Flask) -> None:
    """Bind the store to the app and close each request's session at teardown."""
    settings = get_settings(app)
    problem = unwritable(settings.database_url)
    if problem is not None:  # refuse at start, not on a caller's first answer
        raise ConfigError(f"DATABASE_URL: {problem}")
    store = Store(
        settings.database_url,
        pool_size=settings.db_pool_size,
        statement_timeout=settings.db_statement_timeout,
        lock_timeout=settings.db_lock_timeout,
        pgbouncer=settings.db_pgbouncer,
    )
    app.extensions["ivr.store"] = store

    @app.teardown_appcontext
    def _close_session(exc: BaseException | None) -> None:
        session: so.Session | None = g.pop("ivr_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()


def get_store() -> Store:
    store: Store = current_app.extensions["ivr.store"]
    return store


def get_library() -> FlowLibrary:
    """The app's flow library: compiled versions, catalogs, the files on disk."""
    library: FlowLibrary = current_app.extensions["ivr.flows"]
    return library


def get_session() -> so.Session:
    """The request's session, opened on first use, beginning with the write lock."""
    if "ivr_session" not in g:
        g.ivr_session = get_store().sessionmaker()
    session: so.Session = g.ivr_session
    return session
