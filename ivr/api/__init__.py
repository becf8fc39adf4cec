"""The JSON API for agents, clinicians, supervisors and admins (bearer tokens), /api/v1.

One blueprint; its routes live in `calls`, `orders`, `outages`, `messages` and `flows`.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from ivr.api.common import invalid, problem
from ivr.safetext import has_control

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_ID = 2**31 - 1  # the id columns are 32-bit integers on PostgreSQL


@bp.before_request
def _refuse_control_characters() -> tuple[Response, int] | None:
    """No order, call or filter value holds a control character (PostgreSQL refuses NUL in
    text): one in the path is a thing that cannot exist (404), in the query a bad field; nor
    is any id past the id columns' range (404)."""
    if any(isinstance(v, str) and has_control(v) for v in (request.view_args or {}).values()):
        return problem(404, "not_found", "Nothing has that name.")
    # Ids are 32-bit integer columns: past that nothing exists (PostgreSQL refuses to compare).
    if any(isinstance(v, int) and v > MAX_ID for v in (request.view_args or {}).values()):
        return problem(404, "not_found", "Nothing has that id.")
    for name, value in request.args.items(multi=True):
        if has_control(name) or has_control(value):
            field = name if not has_control(name) else "query"
            return invalid(field, f"{field} must not hold control characters")
    return None


from ivr.api import (  # noqa: E402, F401 - they add the routes
    agents,
    calls,
    flows,
    messages,
    openapi,
    orders,
    outages,
)
