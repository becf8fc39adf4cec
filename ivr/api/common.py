"""What the API's routes share: error bodies, the page `limit`, the JSON body."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, jsonify, request

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_DEPTH = 16  # no body the API takes nests deeper than 2; a deep one is an attack


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
    """The request's body as a JSON object; None when it is anything else or nests deeper
    than MAX_DEPTH. Each field's text is the route's to judge (`ivr.safetext`)."""
    try:
        body = json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's stack
        return None
    return body if isinstance(body, dict) and _shallow(body) else None


def _shallow(body: dict[str, Any]) -> bool:
    pending: list[tuple[Any, int]] = [(body, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return False
            pending.extend(
                (child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return True
