"""The audit log page: every act of an admin or agent and every read of an order by a person
(who, what, when, from where, and the status of a refused request), filterable by user,
action, target and date, and exportable as CSV (streamed, with a header row)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Response, render_template, request
from flask.typing import ResponseReturnValue

from ivr.auth import audit
from ivr.console import bp
from ivr.console.admin import admin_user
from ivr.console.signin import ADMINS, require
from ivr.db import get_session, get_store
from ivr.store.models import AuditEntry, User

Log = sa.Select[AuditEntry, str]  # rows of the log, with the user's name
PAGE_ROWS = 200
CSV_BATCH = 500
COLUMNS = ("at", "user", "action", "target_type", "target_id", "address", "status")
# A cell a spreadsheet would run as a formula is made text (OWASP "CSV injection").
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None


def _filters() -> dict[str, str]:
    return {
        name: request.args.get(name, "").strip()[:80]
        for name in ("user", "action", "target", "since", "until")
    }


def _query(filters: dict[str, str]) -> tuple[Log, list[str]]:
    """The log's rows matching `filters`, newest first; and what could not be read."""
    query = sa.select(AuditEntry, User.name).outerjoin(User, User.id == AuditEntry.user_id)
    problems = []
    if filters["user"]:
        query = query.where(User.name == filters["user"])
    if filters["action"]:
        query = query.where(AuditEntry.action == filters["action"])
    if filters["target"]:
        kind, _, ident = filters["target"].partition(":")
        query = query.where(AuditEntry.target_type == kind.strip())
        if ident.strip():
            query = query.where(AuditEntry.target_id == ident.strip())
    for name in ("since", "until"):
        if filters[name] and _day(filters[name]) is None:
            problems.append(f"{name.capitalize()} must be a date like 2026-12-01.")
    since, until = _day(filters["since"]), _day(filters["until"])
    if since is not None:
        query = query.where(AuditEntry.at >= dt.datetime.combine(since, dt.time(), dt.UTC))
    if until is not None:
        end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC)
        query = query.where(AuditEntry.at < end)
    return query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()), problems


def _row(entry: AuditEntry, name: str | None) -> dict[str, str]:
    return {
        "at": entry.at.strftime("%Y-%m-%d %H:%M:%S"),
        "user": name or "(system)",
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "address": entry.address or "",
        "status": "" if entry.status is None else str(entry.status),
    }


@bp.route("/admin/audit")
@require(*ADMINS)
def admin_audit() -> ResponseReturnValue:
    """The newest rows of the audit log that match the filters."""
    db = get_session()
    filters = _filters()
    query, problems = _query(filters)
    rows = [_row(e, n) for e, n in db.execute(query.limit(PAGE_ROWS + 1))]
    more = len(rows) > PAGE_ROWS
    names = list(db.scalars(sa.select(User.name).order_by(User.name)))
    actions = list(db.scalars(sa.select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
    audit(db, admin_user(), "view", "audit", "log")
    db.commit()
    page = render_template(
        "console/admin/audit.html",
        rows=rows[:PAGE_ROWS],
        more=more,
        filters=filters,
        problems=problems,
        names=names,
        actions=actions,
        page_rows=PAGE_ROWS,
    )
    return page, 422 if problems else 200


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA) else value


def _csv_lines(reader: so.Session, query: Log) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    offset = 0
    while True:
        batch = reader.execute(query.offset(offset).limit(CSV_BATCH)).all()
        for entry, name in batch:
            row = _row(entry, name)
            writer.writerow([_cell(row[c]) for c in COLUMNS])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if len(batch) < CSV_BATCH:
            return
        offset += CSV_BATCH


@bp.route("/admin/audit.csv")
@require(*ADMINS)
def admin_audit_csv() -> ResponseReturnValue:
    """Every row matching the filters as CSV, streamed in batches, a header row first."""
    db = get_session()
    filters = _filters()
    query, problems = _query(filters)
    if problems:
        return Response(" ".join(problems) + "\n", status=422, mimetype="text/plain")
    # Rows written while the file streams are left out, so batches never shift.
    newest = db.scalar(sa.select(sa.func.max(AuditEntry.id))) or 0
    query = query.where(AuditEntry.id <= newest)
    audit(db, admin_user(), "export", "audit", "log")
    db.commit()

    store = get_store()

    def lines() -> Iterator[str]:
        # A read session of its own: a long download never holds the writers' lock.
        with store.read_sessionmaker() as reader:
            yield from _csv_lines(reader, query)

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return Response(
        lines(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
    )
