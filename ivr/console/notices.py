"""Admin pages for what callers meet before any flow: outage notices (validated exactly as the
API validates them, by ivr.services.outages) and the queues with their business hours."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ivr.auth import audit
from ivr.config import get_settings
from ivr.console import bp
from ivr.console.admin import admin_user
from ivr.console.signin import ADMINS, require
from ivr.db import get_session
from ivr.services import outages
from ivr.services import queues as queue_service
from ivr.services.outages import OutageError
from ivr.store.models import Plan, utcnow
from ivr.webhooks import library

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _local_iso(value: str, field: str, zone: str) -> str | None:
    """A `datetime-local` field (the line's clock) as ISO 8601 with its offset; empty: None."""
    value = value.strip()
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise OutageError(field, f"{field} must be a date and time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(zone))
    return when.isoformat()


def _notice_of(form: Any, zone: str) -> dict[str, Any]:
    """The API's JSON shape of a notice, from the page's form."""
    message = {"en-US": form.get("message_en", "")}
    if form.get("message_es", "").strip():
        message["es-US"] = form.get("message_es", "")
    data: dict[str, Any] = {"title": form.get("title", ""), "message": message}
    systems = [s for s in form.get("systems", "").split(",") if s.strip()]
    if systems:
        data["systems"] = systems
    plans = form.getlist("plans")
    if plans:
        data["plans"] = plans
    for field in ("starts_at", "ends_at"):
        when = _local_iso(form.get(field, ""), field, zone)
        if when is not None:
            data[field] = when
    return data


def _outages_page(status: int = 200, **extra: Any) -> ResponseReturnValue:
    db = get_session()
    now = utcnow()
    zone = ZoneInfo(get_settings().timezone)
    shown = [
        {
            "id": o.id,
            "title": o.title,
            "message": outages.message_for(o, "en-US"),
            "systems": ", ".join(o.systems or []),
            "plans": ", ".join(o.plans) if o.plans is not None else "every plan",
            "starts_at": o.starts_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            "ends_at": o.ends_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if o.ends_at else "",
            "state": outages.state(o, now),
        }
        for o in outages.search(db, now=now)
    ]
    plans = list(db.scalars(sa.select(Plan).order_by(Plan.code)))
    form = extra.pop("form", None) or {}
    page = render_template(
        "console/admin/outages.html",
        outages=shown,
        plans=plans,
        zone=get_settings().timezone,
        form=form,
        chosen=set(form.getlist("plans")) if hasattr(form, "getlist") else set(),
        **extra,
    )
    return page, status


@bp.route("/admin/outages")
@require(*ADMINS)
def admin_outages() -> ResponseReturnValue:
    """The outage notices, newest first, and a form for a new one."""
    db = get_session()
    audit(db, admin_user(), "view", "outages", "all")
    db.commit()
    return _outages_page()


@bp.route("/admin/outages", methods=["POST"])
@require(*ADMINS)
def admin_create_outage() -> ResponseReturnValue:
    """Create a notice from the form, validated as the API validates it."""
    db = get_session()
    zone = get_settings().timezone
    try:
        notice = outages.create(
            db, _notice_of(request.form, zone), user_id=admin_user().id, now=utcnow()
        )
    except OutageError as exc:
        db.rollback()
        return _outages_page(422, form=request.form, error=str(exc).capitalize() + ".")
    audit(db, admin_user(), "create", "outage", str(notice.id))
    db.commit()
    flash(f"The notice “{notice.title}” is saved.")
    return redirect(url_for("console.admin_outages"))


@bp.route("/admin/outages/<int:outage_id>/end", methods=["POST"])
@require(*ADMINS)
def admin_end_outage(outage_id: int) -> ResponseReturnValue:
    """End a notice now: no caller hears it from the next call on."""
    db = get_session()
    notice = outages.get(db, outage_id) if outage_id <= outages.MAX_ID else None
    if notice is None:
        abort(404)
    outages.end(db, notice, now=utcnow())
    audit(db, admin_user(), "end", "outage", str(notice.id))
    db.commit()
    flash(f"The notice “{notice.title}” has ended.")
    return redirect(url_for("console.admin_outages"))


def _hours(queue: queue_service.Queue) -> list[str]:
    spans = []
    for seg in queue.schedule.segments:
        days = ", ".join(DAYS[d] for d in seg.days)
        spans.append(f"{days} {seg.opens:%H:%M}–{seg.closes:%H:%M}")
    return spans


@bp.route("/admin/queues")
@require(*ADMINS)
def admin_queues() -> ResponseReturnValue:
    """Each queue with its business hours, time zone, holidays, and open or closed now."""
    db = get_session()
    now = utcnow()
    override = get_settings().hours_override
    rows = []
    for queue in library().queue_table.values():
        following = queue.schedule.next_open(now)
        rows.append(
            {
                "name": queue.name,
                "description": queue.description,
                "hours": _hours(queue),
                "timezone": queue.schedule.timezone,
                "holidays": queue.schedule.holidays or "none",
                "open": queue_service.is_open(queue, now, override),
                "next_open": following.strftime("%a %Y-%m-%d %H:%M") if following else "",
            }
        )
    audit(db, admin_user(), "view", "queues", "hours")
    db.commit()
    return render_template("console/admin/queues.html", queues=rows, override=override)
