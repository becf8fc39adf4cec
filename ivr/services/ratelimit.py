"""Fixed-window request counters in the store, shared by every worker on every host.

A key (one API token, one client address) counts its hits in the window of `window`
seconds that `now` falls in; one upsert per hit (`INSERT ... ON CONFLICT DO UPDATE ...
RETURNING`), so two workers never lose a count. A key's older windows are deleted when it
opens a new one. Like every service: a Session first, given `now`, never a commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects import postgresql, sqlite

from ivr.store.models import RateWindow

_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Count:
    hits: int
    retry_after: int  # whole seconds until the window ends (at least 1)


def _window(now: dt.datetime, seconds: int) -> tuple[dt.datetime, int]:
    elapsed = int((now - _EPOCH).total_seconds())
    start = _EPOCH + dt.timedelta(seconds=elapsed - elapsed % seconds)
    left = seconds - int((now - start).total_seconds())
    return start, max(left, 1)


def hit(session: so.Session, key: str, *, window: int, now: dt.datetime) -> Count:
    """Count one hit of `key` in its current window; the hits so far, this one included."""
    start, left = _window(now, window)
    key = key[:100]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(RateWindow)
        .values(key=key, window_start=start, hits=1)
        .on_conflict_do_update(
            index_elements=[RateWindow.key, RateWindow.window_start],
            set_={"hits": RateWindow.hits + 1},
        )
        .returning(RateWindow.hits)
    )
    hits = int(session.execute(statement).scalar_one())
    if hits == 1:  # a new window: the key's old ones are of no more use
        session.execute(
            sa.delete(RateWindow).where(RateWindow.key == key, RateWindow.window_start < start)
        )
    return Count(hits, left)


def hits(session: so.Session, key: str, *, window: int, now: dt.datetime) -> Count:
    """The hits of `key` so far in its current window, without counting one."""
    start, left = _window(now, window)
    found = session.scalar(
        sa.select(RateWindow.hits).where(
            RateWindow.key == key[:100], RateWindow.window_start == start
        )
    )
    return Count(int(found or 0), left)
