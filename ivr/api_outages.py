"""JSON API: outages (admins). Filled in by the help-desk work."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api_outages", __name__, url_prefix="/api/v1")
