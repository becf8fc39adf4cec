"""The API's error bodies: `{"error": code, "message": ...}`, plus `field` when one is bad."""

from __future__ import annotations

from flask import Response, jsonify


def problem(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify(error=code, message=message), status


def invalid(field: str, message: str) -> tuple[Response, int]:
    """A bad field: 422 naming it."""
    return jsonify(error="invalid", message=message, field=field), 422
