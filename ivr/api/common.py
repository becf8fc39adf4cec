"""What the API's routes share: error bodies, the page `limit`, the JSON body."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def problem(status: int, code: str, message: str) -> tuple[Response, int]:
    """`{"error": code, "message": ...}` with `status`."""
    return jsonify(error=code, message=message), status


def invalid(field: str, message: str) -> tuple[Response, int]:
    """A bad field: 422 naming it."""
    return jsonify(error="invalid", message=message, field=field), 422


def page_limit() -> int | None:
    """`?limit=`: a whole number from 1 to MAX_LIMIT (DEFAULT_LIMIT when absent); None if not."""
    raw = request.args.get("limit", str(DEFAULT_LIMIT)).strip()
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT:
        return int(raw)
    return None


def json_object() -> dict[str, Any] | None:
    """The request's body as a JSON object; None when it is anything else."""
    body = request.get_json(force=True, silent=True)
    return body if isinstance(body, dict) else None
