"""Outage notices ("hot messages"): validated, windowed, and chosen for each point of a call.

A notice for all plans (`plans` is None) is announced at the start of a call; a notice for
some plans right after the caller selects one of them; the help desk's option 2 reads both
kinds. Outside its window [starts_at, ends_at) a notice is never played.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.safetext import has_control
from ivr.store.models import Outage, Plan

DEFAULT_LANGUAGE = "en-US"
FIELDS = ("title", "message", "systems", "plans", "starts_at", "ends_at")
SCOPES = ("all_plans", "plan", "for_plan")
TITLE_MAX = 200
MESSAGE_MAX = 2000
SYSTEM_MAX = 100
MAX_ID = 2**31 - 1  # the id column is a 32-bit integer on PostgreSQL
# Times a notice may name, in UTC: wide enough for any real outage, narrow enough that
# showing one in any zone (or storing it) never leaves the calendar.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")


class OutageError(ValueError):
    """A field the notice refuses; `field` names it (for 422 answers)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- Validation -------------------------------------------------------------------------


def _title(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OutageError("title", "title must be a non-empty string")
    title = value.strip()
    if len(title) > TITLE_MAX:
        raise OutageError("title", f"title must be at most {TITLE_MAX} characters")
    _no_control(title, "title", "title")
    return title


def _no_control(text: str, field: str, name: str) -> None:
    """Every caller hears a notice: a control character would make the TwiML invalid."""
    if has_control(text):
        raise OutageError(
            field, f"{name} must not contain control characters (tabs, new lines, NUL)"
        )


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OutageError("message", f"{field} must be a non-empty string")
    text = value.strip()
    if len(text) > MESSAGE_MAX:
        raise OutageError("message", f"{field} must be at most {MESSAGE_MAX} characters")
    _no_control(text, "message", field)
    return text


def _message(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        return {DEFAULT_LANGUAGE: _text(value, "message")}
    if not isinstance(value, Mapping) or not value:
        raise OutageError(
            "message", 'message must be text or an object by language, e.g. {"en-US": "..."}'
        )
    out: dict[str, str] = {}
    for language, text in value.items():
        if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
            raise OutageError("message", f"message language {language!r} is not like 'en-US'")
        out[language] = _text(text, f"message[{language!r}]")
    if DEFAULT_LANGUAGE not in out:
        raise OutageError("message", f"message must include {DEFAULT_LANGUAGE!r}")
    return out


def _systems(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise OutageError("systems", "systems must be a list of strings")
    out: dict[str, None] = {}  # in order, each once (a set's cost, not a list's)
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise OutageError("systems", "each system must be a non-empty string")
        name = item.strip()
        if len(name) > SYSTEM_MAX:
            raise OutageError("systems", f"a system name is at most {SYSTEM_MAX} characters")
        _no_control(name, "systems", "a system name")
        out[name] = None
    return list(out)


def _plans(session: so.Session, value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise OutageError("plans", "plans must be a non-empty list of plan codes, or null")
    codes: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise OutageError("plans", "each plan must be a plan code string")
        code = item.strip().upper()
        if code not in codes:
            codes.append(code)
    known = set(session.scalars(sa.select(Plan.code).where(Plan.code.in_(codes))))
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise OutageError("plans", "unknown plan code(s): " + ", ".join(unknown))
    return codes


def parse_time(value: Any, field: str) -> dt.datetime:
    """An ISO 8601 time with a timezone (or an aware datetime), as UTC."""
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, str) and value.strip():
        try:
            when = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise OutageError(
                field, f"{field} must be an ISO 8601 time, e.g. 2026-03-01T08:00:00-05:00"
            ) from None
    else:
        raise OutageError(field, f"{field} must be an ISO 8601 time string")
    if when.tzinfo is None or when.utcoffset() is None:
        raise OutageError(
            field, f"{field} needs a timezone (e.g. 'Z' or '-05:00'): a local time is ambiguous"
        )
    try:
        when = when.astimezone(dt.UTC)
    except OverflowError:  # before year 1 or after 9999 once in UTC
        when = EARLIEST - dt.timedelta(days=1)
    if not EARLIEST <= when < LATEST:
        raise OutageError(
            field, f"{field} must fall between {EARLIEST.year} and {LATEST.year - 1} (UTC)"
        )
    return when


def _check_fields(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise OutageError("body", "the notice must be a JSON object")
    unknown = sorted(str(k) for k in data if k not in FIELDS)
    if unknown:
        raise OutageError(unknown[0], "unknown field(s): " + ", ".join(unknown))
    return data


def _check_window(starts_at: dt.datetime, ends_at: dt.datetime | None) -> None:
    if ends_at is not None and ends_at <= starts_at:
        raise OutageError("ends_at", "ends_at must be after starts_at")


# --- Writes -----------------------------------------------------------------------------


def create(
    session: so.Session, data: Mapping[str, Any], *, user_id: int | None, now: dt.datetime
) -> Outage:
    """Validate `data` and add a notice; starts now unless `starts_at` says otherwise."""
    data = _check_fields(data)
    if "title" not in data:
        raise OutageError("title", "title is required")
    if "message" not in data:
        raise OutageError("message", "message is required")
    title = _title(data["title"])
    message = _message(data["message"])
    systems = _systems(data.get("systems"))
    plans = _plans(session, data.get("plans"))
    raw_start = data.get("starts_at")
    starts_at = parse_time(raw_start, "starts_at") if raw_start is not None else _utc(now)
    raw_end = data.get("ends_at")
    ends_at = parse_time(raw_end, "ends_at") if raw_end is not None else None
    _check_window(starts_at, ends_at)
    outage = Outage(
        title=title,
        message=message,
        systems=systems,
        plans=plans,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=user_id,
        created_at=_utc(now),
    )
    session.add(outage)
    session.flush()
    return outage


def update(session: so.Session, outage: Outage, data: Mapping[str, Any]) -> Outage:
    """Change the given fields only, validated as on create; `ends_at: null` reopens."""
    data = _check_fields(data)
    changes: dict[str, Any] = {}
    if "title" in data:
        changes["title"] = _title(data["title"])
    if "message" in data:
        changes["message"] = _message(data["message"])
    if "systems" in data:
        changes["systems"] = _systems(data["systems"])
    if "plans" in data:
        changes["plans"] = _plans(session, data["plans"])
    if "starts_at" in data:
        if data["starts_at"] is None:
            raise OutageError("starts_at", "starts_at cannot be null")
        changes["starts_at"] = parse_time(data["starts_at"], "starts_at")
    if "ends_at" in data:
        raw = data["ends_at"]
        changes["ends_at"] = parse_time(raw, "ends_at") if raw is not None else None
    _check_window(
        changes.get("starts_at", outage.starts_at), changes.get("ends_at", outage.ends_at)
    )
    for name, value in changes.items():
        setattr(outage, name, value)
    session.flush()
    return outage


def end(session: so.Session, outage: Outage, *, now: dt.datetime) -> Outage:
    """End the notice now; one already over is left alone, one not yet begun never plays."""
    now = _utc(now)
    if outage.ends_at is not None and outage.ends_at <= now:
        return outage
    if outage.starts_at > now:
        # An empty window at `now`: it reads as ended, and no call can ever hear it.
        outage.starts_at = now
    outage.ends_at = now
    session.flush()
    return outage


def delete(session: so.Session, outage: Outage, *, now: dt.datetime) -> Outage:
    """Hide the notice for good (soft delete: the row stays for the record)."""
    if outage.deleted_at is None:
        outage.deleted_at = _utc(now)
        session.flush()
    return outage


# --- Reads ------------------------------------------------------------------------------


def get(session: so.Session, outage_id: int) -> Outage | None:
    """The notice with this id, unless deleted."""
    outage = session.get(Outage, outage_id)
    if outage is None or outage.deleted_at is not None:
        return None
    return outage


def is_active(outage: Outage, now: dt.datetime) -> bool:
    """Whether `now` falls inside the notice's window (and it is not deleted)."""
    now = _utc(now)
    return (
        outage.deleted_at is None
        and outage.starts_at <= now
        and (outage.ends_at is None or now < outage.ends_at)
    )


def state(outage: Outage, now: dt.datetime) -> str:
    """One word for the notice at `now`: deleted, scheduled, active or ended."""
    if outage.deleted_at is not None:
        return "deleted"
    if is_active(outage, now):
        return "active"
    return "scheduled" if outage.starts_at > _utc(now) else "ended"


def active(
    session: so.Session, *, now: dt.datetime, plan: str | None = None, scope: str
) -> list[Outage]:
    """Notices playing at `now` for one point of the call, oldest start first.

    Args:
        now: the call's clock (aware).
        plan: the caller's plan code, once selected.
        scope: "all_plans" (notices for every plan: the start of the call), "plan" (notices
            naming `plan`: right after plan selection) or "for_plan" (both: the help desk's
            option 2).
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown outage scope {scope!r}; expected one of {', '.join(SCOPES)}")
    code = plan.strip().upper() if plan else None
    # JSON containment differs between SQLite and PostgreSQL (and a JSON null is not SQL
    # NULL): the window is filtered in SQL, the few rows left by plan here.
    found = []
    for outage in _playing(session, now):
        for_all = outage.plans is None
        names_plan = code is not None and code in (outage.plans or [])
        if (
            (scope == "all_plans" and for_all)
            or (scope == "plan" and names_plan)
            or (scope == "for_plan" and (for_all or names_plan))
        ):
            found.append(outage)
    return found


def search(session: so.Session, *, now: dt.datetime, active: bool | None = None) -> list[Outage]:
    """Notices not deleted, newest first; `active` keeps only those playing (or not) at `now`."""
    if active:
        rows = _playing(session, now)
    else:
        rows = list(session.scalars(sa.select(Outage).where(Outage.deleted_at.is_(None))))
        if active is not None:
            rows = [o for o in rows if not is_active(o, now)]
    return sorted(rows, key=lambda o: (o.created_at, o.id), reverse=True)


def _playing(session: so.Session, now: dt.datetime) -> list[Outage]:
    now = _utc(now)
    query = (
        sa.select(Outage)
        .where(
            Outage.deleted_at.is_(None),
            Outage.starts_at <= now,
            sa.or_(Outage.ends_at.is_(None), Outage.ends_at > now),
        )
        .order_by(Outage.starts_at, Outage.id)
    )
    return list(session.scalars(query))


def message_for(outage: Outage, language: str) -> str:
    """The message in `language`, else in its base language (es for es-US), else en-US."""
    messages = outage.message or {}
    if language in messages:
        return messages[language]
    base = language.split("-")[0].lower()
    for key, text in messages.items():
        if key.split("-")[0].lower() == base:
            return text
    return messages.get(DEFAULT_LANGUAGE) or next(iter(messages.values()), "")


def _utc(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        raise ValueError("a naive datetime given for an outage's clock")
    return when.astimezone(dt.UTC)
