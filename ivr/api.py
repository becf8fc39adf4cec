"""The JSON API for agents, clinicians, supervisors and admins (bearer tokens)."""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Blueprint, Response, abort, g, jsonify

from ivr.auth import audit, require_role
from ivr.services import orders
from ivr.services.calls import call_to_dict
from ivr.store import get_session
from ivr.store.models import Call, Role

bp = Blueprint("api", __name__, url_prefix="/api/v1")

CALL_READERS = (Role.ADMIN, Role.SUPERVISOR, Role.AGENT)


@bp.get("/calls/<sid>")
@require_role(*CALL_READERS)
def get_call(sid: str) -> Response:
    """Show a call with every turn, in order."""
    session = get_session()
    call = session.scalars(
        sa.select(Call).where(Call.sid == sid).options(so.selectinload(Call.events))
    ).first()
    if call is None:
        abort(404, description="No call with that sid.")
    audit(session, g.user, "read", "call", call.sid)
    session.commit()
    return jsonify(call_to_dict(call))


ORDER_READERS = (Role.ADMIN, Role.SUPERVISOR, Role.AGENT, Role.CLINICIAN)


@bp.get("/orders/<number>")
@require_role(*ORDER_READERS)
def get_order(number: str) -> Response:
    """Show an order by its order number or, while pended, its reference number."""
    session = get_session()
    order = orders.find(session, number)
    if order is None:
        abort(404, description="No order with that number.")
    audit(session, g.user, "read", "order", order.reference_number)
    session.commit()
    return jsonify(orders.to_dict(order, with_events=True))
