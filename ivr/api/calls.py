"""The JSON API's calls: what a call collected, turn by turn (for the agent who takes it)."""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Response, abort, g, jsonify

from ivr.api import bp
from ivr.api.presenters import call_to_dict
from ivr.auth import audit, require_role
from ivr.db import get_session
from ivr.store.models import Call, Role

CALL_READERS = (Role.ADMIN, Role.SUPERVISOR, Role.AGENT)


@bp.get("/calls/<sid>")
@require_role(*CALL_READERS)
def get_call(sid: str) -> Response:
    """Show a call with every turn, in order."""
    session = get_session()
    call = session.scalars(
        sa.select(Call)
        .where(Call.sid == sid, Call.sandbox.is_(False))
        .options(so.selectinload(Call.events))
    ).first()
    if call is None:
        abort(404, description="No call with that sid.")
    audit(session, g.user, "read", "call", call.sid)
    session.commit()
    return jsonify(call_to_dict(call))
