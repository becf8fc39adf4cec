"""What every Twilio webhook shares: the signature check, the TwiML response, the flow
library, and the net that turns any failure into an apology rather than a 500."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from functools import wraps
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, request
from twilio.request_validator import RequestValidator

from ivr import metrics
from ivr.config import get_settings
from ivr.db import get_session
from ivr.logsafe import Trusted
from ivr.safetext import CONTROL
from ivr.services import calls
from ivr.twiml import Voice, apology, voice_for, xml
from ivr.versions import FlowLibrary

log = logging.getLogger("ivr.voice")


# The WSGI environ keys where gunicorn and Werkzeug keep the request line's target as sent.
REQUEST_TARGET = ("RAW_URI", "REQUEST_URI")
SID_LIMIT = 64  # calls.sid's width; Twilio's CallSids are 34 characters


def form_value(name: str, limit: int) -> str | None:
    """A field of Twilio's form without control characters, or None when it is empty or
    longer than `limit` (a value that long is not Twilio's, and is never half-stored)."""
    value = CONTROL.sub("", request.form.get(name) or "").strip()
    return value if value and len(value) <= limit else None


def call_sid() -> str:
    """The request's CallSid, or "" when it has none we could follow."""
    return form_value("CallSid", SID_LIMIT) or ""


def twiml(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/xml")


def signed_url() -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL (else this request's scheme and host) + the path
    and query exactly as they came, percent-escapes kept (Werkzeug's `request.url` decodes
    some of them, which a signature over the URL as sent would then fail)."""
    raw = next((str(request.environ[k]) for k in REQUEST_TARGET if request.environ.get(k)), "")
    if raw.startswith("/"):
        base, path = request.host_url, raw
    else:
        base, path = request.root_url, request.full_path
    base = get_settings().public_base_url or base.rstrip("/")
    return base + (path[:-1] if path.endswith("?") else path)


def validate_twilio_request(view: Callable[..., Response]) -> Callable[..., Response]:
    """Refuse (403, nothing written) any request without a valid X-Twilio-Signature.

    Fails closed: with no auth token nothing can be checked, so every request is refused,
    unless IVR_ENV=development says this is a local try-out (`make run` sets it).
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        token = get_settings().twilio_auth_token
        if not token and get_settings().env == "development":
            return view(*args, **kwargs)
        signature = request.headers.get("X-Twilio-Signature", "")
        if not token:
            log.warning("refused a request to %s: TWILIO_AUTH_TOKEN is not set", request.path)
        elif not signature or not RequestValidator(token).validate(
            signed_url(), request.form, signature
        ):
            log.warning("rejected unsigned or mis-signed request to %s", request.path)
        else:
            return view(*args, **kwargs)
        return Response("invalid signature\n", status=403, mimetype="text/plain")

    return wrapper


def library() -> FlowLibrary:
    lib: FlowLibrary = current_app.extensions["ivr.flows"]
    return lib


def default_voice(call: calls.CallRow | None = None) -> Voice:
    language = call.language if call else get_settings().default_language
    return voice_for(language, get_settings().say_voice)


def store_down(exc: BaseException, sid: str | None) -> Response:
    log.error("store unavailable on call %s: %s", sid, type(exc).__name__)
    return backup_apology()


def backup_apology() -> Response:
    """The apology, then the backup number (or goodbye without one): settings and prompts
    in memory only, so it answers with the store down."""
    metrics.apologised()
    prompts = library().prompts_for(get_settings().default_language)
    backup = get_settings().backup_number or None
    key = "system.store_down" if backup else "system.store_down_no_backup"
    return twiml(xml(apology(prompts.text(key), voice=default_voice(), backup_number=backup)))


def failsafe(view: Callable[..., Response]) -> Callable[..., Response]:
    """Never a 500 to Twilio: a broken store or flow becomes an apology and a person."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        sid = request.form.get("CallSid")
        try:
            return view(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the caller must hear something
            if not isinstance(exc, sa.exc.SQLAlchemyError):
                # The frames, never the message: it may quote what the caller said.
                frames = "".join(traceback.format_tb(exc.__traceback__))
                log.error(
                    "turn failed on call %s: %s\n%s", sid, type(exc).__name__, Trusted(frames)
                )
            get_session().rollback()
            return store_down(exc, sid)

    return wrapper
