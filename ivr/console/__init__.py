"""The console: web pages for people (agents, supervisors, clinicians, admins).

Sign-in with a name and password sets a signed session cookie (HTTP-only, SameSite=Lax,
Secure outside development and tests); every form carries a CSRF token (Flask-WTF); pages
are server-rendered templates (ivr/templates/console) with a little vanilla JS
(ivr/static), nothing fetched from elsewhere. Business acts go through ivr.services.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Flask, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect

from ivr.config import DEVELOPMENT, get_settings

bp = Blueprint("console", __name__, url_prefix="/console")
csrf = CSRFProtect()

# Only the console's own files: no inline script or style, no other origin, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@bp.before_request
def _check_csrf() -> None:
    # Every form post of the console, sign-in included; the webhooks and the bearer-token
    # API are not cookie-authenticated and are left alone (WTF_CSRF_CHECK_DEFAULT=False).
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


@bp.after_request
def _headers(response: Any) -> Any:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(status: int, title: str, message: str) -> ResponseReturnValue:
    return render_template("console/error.html", title=title, message=message), status


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> ResponseReturnValue:
    return _page(
        400,
        "Form refused",
        "This form was refused: it expired or was not sent from this console. "
        "Go back, reload the page and try again.",
    )


@bp.errorhandler(403)
def _forbidden(exc: Exception) -> ResponseReturnValue:
    return _page(403, "Not allowed", "Your role may not open this page.")


@bp.errorhandler(503)
def _unavailable(exc: Exception) -> ResponseReturnValue:
    return _page(503, "Not available", "This page cannot be shown just now: try again in a moment.")


@bp.errorhandler(404)
def _not_found(exc: Exception) -> ResponseReturnValue:
    return _page(404, "Not found", "There is no such page in the console.")


def init_app(app: Flask) -> None:
    settings = get_settings(app)
    secure = settings.secure_cookies and settings.env != DEVELOPMENT and not app.testing
    app.config.update(
        SESSION_COOKIE_NAME="ivr_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_PATH="/console",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.session_hours),
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=settings.session_hours * 3600,
    )
    csrf.init_app(app)
    from ivr.console import (  # noqa: F401  (routes join bp)
        admin,
        auditlog,
        callbacks,
        calls,
        flows,
        helpdesk,
        notices,
        pages,
        prompt_pages,
        review,
        signin,
        supervisor,
        tryit,
    )

    app.register_blueprint(bp)
