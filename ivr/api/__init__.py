"""The JSON API for agents, clinicians, supervisors and admins (bearer tokens), /api/v1.

One blueprint; its routes live in `calls`, `orders`, `outages` and `messages`.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from ivr.api import (  # noqa: E402, F401 - they add the routes
    agents,
    calls,
    messages,
    orders,
    outages,
)
