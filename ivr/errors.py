"""Errors as JSON for the API, plain text elsewhere; never a traceback or patient data."""

from __future__ import annotations

import logging
import traceback

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from ivr.db import get_session
from ivr.logsafe import Trusted

log = logging.getLogger("ivr.errors")


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        if _wants_json():
            body = jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description)
            return body, exc.code or 500
        return exc.get_response()

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int] | tuple[str, int, dict[str, str]]:
        get_session().rollback()
        # The frames, never the message: a database error's message can quote patient data.
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error(
            "unhandled %s on %s %s\n%s",
            type(exc).__name__,
            request.method,
            request.path,
            Trusted(frames),  # our own code's frames: kept on their lines
        )
        if _wants_json():
            return jsonify(error="internal_error", message="Something went wrong."), 500
        return "Something went wrong.\n", 500, {"Content-Type": "text/plain"}
