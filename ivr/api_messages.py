"""JSON API: messages (admins). Filled in by the help-desk work."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api_messages", __name__, url_prefix="/api/v1")
