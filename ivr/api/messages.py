"""JSON API: the text-message outbox, for admins (`GET /api/v1/messages`)."""

from __future__ import annotations

from flask import Response, g, jsonify, request

from ivr.api import bp
from ivr.api.common import MAX_LIMIT, invalid, page_limit
from ivr.api.presenters import message_to_dict
from ivr.auth import audit, require_role
from ivr.db import get_session
from ivr.services import messaging
from ivr.store.models import Role

MESSAGE_READERS = (Role.ADMIN,)


@bp.get("/messages")
@require_role(*MESSAGE_READERS)
def list_messages() -> Response | tuple[Response, int]:
    """Outbox messages, newest first: `{"items": [...]}`; `?status=` and `?limit=` (1-200).

    Bodies never hold a secret: a reset code is masked.
    """
    limit = page_limit()
    if limit is None:
        return invalid("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}")
    status = request.args.get("status")
    if status is not None and status not in messaging.STATUSES:
        return invalid("status", "status must be one of " + ", ".join(messaging.STATUSES))
    session = get_session()
    found = messaging.latest(session, limit=limit, status=status)
    items = [message_to_dict(m) for m in found]
    audit(session, g.user, "list", "outbox", status or "all")
    session.commit()
    return jsonify(items=items)
