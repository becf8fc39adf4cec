"""JSON API: outage notices ("hot messages"), written by admins, read by the floor."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, g, jsonify, request

from ivr.api import bp
from ivr.api.common import invalid, json_object
from ivr.api.presenters import outage_to_dict
from ivr.auth import audit, require_role
from ivr.db import get_session
from ivr.services import outages
from ivr.services.outages import OutageError
from ivr.store.models import Outage, Role, utcnow

OUTAGE_READERS = (Role.ADMIN, Role.SUPERVISOR, Role.AGENT)
OUTAGE_WRITERS = (Role.ADMIN,)
_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _body() -> dict[str, Any]:
    """The request's JSON object, or OutageError naming the body."""
    body = json_object()
    if body is None:
        raise OutageError("body", "the body must be a JSON object")
    return body


def _found(outage_id: int) -> Outage:
    # Past the column's integer no notice can exist (PostgreSQL would refuse to compare).
    if outage_id > outages.MAX_ID:
        abort(404, description="No outage notice with that id.")
    outage = outages.get(get_session(), outage_id)
    if outage is None:
        abort(404, description="No outage notice with that id.")
    return outage


@bp.get("/outages")
@require_role(*OUTAGE_READERS)
def list_outages() -> Response | tuple[Response, int]:
    """List notices not deleted, newest first: `{"items": [...]}`; `?active=true|false`."""
    raw = request.args.get("active")
    active = None
    if raw is not None:
        active = _FLAGS.get(raw.strip().lower())
        if active is None:
            return invalid("active", "active must be true or false")
    now = utcnow()
    found = outages.search(get_session(), now=now, active=active)
    return jsonify(items=[outage_to_dict(o, now=now) for o in found])


@bp.get("/outages/<int:outage_id>")
@require_role(*OUTAGE_READERS)
def get_outage(outage_id: int) -> Response:
    """Show one notice."""
    return jsonify(outage_to_dict(_found(outage_id)))


@bp.post("/outages")
@require_role(*OUTAGE_WRITERS)
def create_outage() -> Response | tuple[Response, int]:
    """Create a notice: 201 Created with the notice and its Location."""
    session = get_session()
    now = utcnow()
    try:
        outage = outages.create(session, _body(), user_id=g.user.id, now=now)
    except OutageError as exc:
        session.rollback()
        return invalid(exc.field, str(exc))
    audit(session, g.user, "create", "outage", str(outage.id))
    view = outage_to_dict(outage, now=now)
    session.commit()
    response = jsonify(view)
    response.headers["Location"] = f"{bp.url_prefix}/outages/{outage.id}"
    return response, 201


@bp.patch("/outages/<int:outage_id>")
@require_role(*OUTAGE_WRITERS)
def update_outage(outage_id: int) -> Response | tuple[Response, int]:
    """Change some fields of a notice (the others stay); `"ends_at": null` reopens it."""
    session = get_session()
    outage = _found(outage_id)
    try:
        outages.update(session, outage, _body())
    except OutageError as exc:
        session.rollback()
        return invalid(exc.field, str(exc))
    audit(session, g.user, "update", "outage", str(outage.id))
    view = outage_to_dict(outage, now=utcnow())
    session.commit()
    return jsonify(view)


@bp.delete("/outages/<int:outage_id>")
@require_role(*OUTAGE_WRITERS)
def delete_outage(outage_id: int) -> tuple[str, int]:
    """Withdraw a notice: it is never played or listed again (204)."""
    session = get_session()
    outage = _found(outage_id)
    outages.delete(session, outage, now=utcnow())
    audit(session, g.user, "delete", "outage", str(outage.id))
    session.commit()
    return "", 204
