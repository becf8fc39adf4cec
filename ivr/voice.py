"""Twilio's door: signed webhooks in, TwiML out. One turn, one transaction, one event row."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Mapping
from functools import partial, wraps
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Blueprint, Response, current_app, request, url_for
from twilio.request_validator import RequestValidator

from ivr.engine import ActionResult, CallState, Context, Input, run_turn
from ivr.flows import FlowLibrary, current_version
from ivr.services import calls
from ivr.services.registry import ACTIONS
from ivr.store import get_session, read_first, run_after_commit
from ivr.twiml import Voice, apology, render, voice_for, xml

bp = Blueprint("voice", __name__, url_prefix="/voice")
log = logging.getLogger("ivr.voice")

_DIGITS = re.compile(r"[^0-9*#]")
DIGITS_LIMIT = 64


def twiml(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/xml")


def signed_url() -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL + path + query when set, else the request URL."""
    base = current_app.config["PUBLIC_BASE_URL"]
    if base:
        path = request.full_path
        return base + (path[:-1] if path.endswith("?") else path)
    return request.url


def validate_twilio_request(view: Callable[..., Response]) -> Callable[..., Response]:
    """Refuse (403, nothing written) any request without a valid X-Twilio-Signature.

    Fails closed: with no auth token nothing can be checked, so every request is refused,
    unless IVR_ENV=development says this is a local try-out (`make run` sets it).
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        token = current_app.config["TWILIO_AUTH_TOKEN"]
        if not token and current_app.config["IVR_ENV"] == "development":
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


def action_url(number: int) -> str:
    path = url_for("voice.turn", t=number)
    return current_app.config["PUBLIC_BASE_URL"] + path


def caller_input(form: Mapping[str, str]) -> Input:
    """Digits, speech or nothing, from Twilio's form; garbage is kept but bounded."""
    raw_digits = form.get("Digits", "") or ""
    speech = (form.get("SpeechResult", "") or "")[: calls.RAW_INPUT_LIMIT]
    try:
        confidence: float | None = float(form.get("Confidence", ""))
        if not 0.0 <= confidence <= 1.0:
            confidence = None
    except ValueError:
        confidence = None
    if raw_digits:
        digits = _DIGITS.sub("", raw_digits)[:DIGITS_LIMIT] or "?"
        return Input("dtmf", digits=digits)
    if speech.strip():
        return Input("speech", speech=speech.strip(), confidence=confidence)
    return Input("none")


def _voice(call: calls.CallRow | None = None) -> Voice:
    language = call.language if call else current_app.config["IVR_DEFAULT_LANGUAGE"]
    return voice_for(language, current_app.config["IVR_SAY_VOICE"])


def _store_down(exc: BaseException, sid: str | None) -> Response:
    log.error("store unavailable on call %s: %s", sid, type(exc).__name__)
    prompts = library().prompts_for(current_app.config["IVR_DEFAULT_LANGUAGE"])
    backup = current_app.config["IVR_BACKUP_NUMBER"] or None
    key = "system.store_down" if backup else "system.store_down_no_backup"
    return twiml(xml(apology(prompts.text(key), voice=_voice(), backup_number=backup)))


def _failsafe(view: Callable[..., Response]) -> Callable[..., Response]:
    """Never a 500 to Twilio: a broken store or flow becomes an apology and a person."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        sid = request.form.get("CallSid")
        try:
            return view(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the caller must hear something
            if not isinstance(exc, sa.exc.SQLAlchemyError):
                log.exception("turn failed on call %s: %s", sid, type(exc).__name__)
            get_session().rollback()
            return _store_down(exc, sid)

    return wrapper


def _context(session: so.Session, call: calls.CallRow) -> Context:
    lib = library()
    today = dt.datetime.now(ZoneInfo(current_app.config["IVR_TIMEZONE"])).date()

    def actions(name: str, params: Mapping[str, Any], slots: Mapping[str, Any]) -> ActionResult:
        facts = {
            "call_sid": call.sid,
            "from": call.from_number,
            "plan": call.plan,
            "language": call.language,
            "today": today,
            "extension_window_days": current_app.config["IVR_EXTENSION_WINDOW_DAYS"],
            "prompts": lib.prompts_for(call.language),
            "config": current_app.config,
            "twilio_http": current_app.extensions.get("ivr.twilio_http"),
        }
        return ACTIONS[name](session, facts, params, slots)

    return Context(
        prompts=lib.prompts_for(call.language),
        catalogs=lib.catalogs(session),
        actions=actions,
        today=today,
        gather_timeout=current_app.config["IVR_GATHER_TIMEOUT"],
    )


class _Overtaken(Exception):
    """Another request for the same call saved this turn first (seen only when not locked)."""


def _play_turn(
    session: so.Session,
    call: calls.CallRow,
    number: int,
    inp: Input,
    started: float,
    *,
    deferred: bool = False,
    create: Callable[[], calls.CallRow] | None = None,
) -> str:
    """Run the turn and save it. `deferred`: the turn so far only read, in a transaction of
    its own, which ends here; the write lock is taken for the statements that save it.
    `create`: the call is new; this writes its row, with the turn."""
    bundle = library().bundle(session, call.flow_version_id)
    state = CallState(
        node=call.node, slots=dict(call.slots or {}), attempts=call.attempts, language=call.language
    )
    turn = run_turn(bundle, state, inp, _context(session, call))
    body = xml(render(turn, action_url=action_url(number + 1), voice=_voice(call)))
    if deferred:
        session.commit()
    if create is not None:
        call = create()
    latency = int((time.perf_counter() - started) * 1000)
    if not calls.record_turn(session, call, number, turn, body, latency):
        raise _Overtaken
    log.info(
        "call %s turn %d %s -> %s (%s)",
        call.sid,
        number,
        turn.event.node,
        turn.state.node,
        turn.event.outcome,
    )
    return body


@bp.post("/incoming")
@validate_twilio_request
@_failsafe
def incoming() -> Response:
    """Start a call on the published flow and answer its first turn."""
    started = time.perf_counter()
    sid = (request.form.get("CallSid") or "").strip()
    if not sid:
        prompts = library().prompts_for(current_app.config["IVR_DEFAULT_LANGUAGE"])
        return twiml(xml(apology(prompts.text("system.store_down_no_backup"), voice=_voice())))
    return read_first(get_session(), _incoming, sid, started)


def _find_call(session: so.Session, sid: str, *, deferred: bool) -> calls.CallRow | None:
    """The call, read (`deferred`: `record_turn` checks the turn) or locked for the turn."""
    if not sid:
        return None
    return calls.read_call(session, sid) if deferred else calls.lock_call(session, sid)


def _incoming(session: so.Session, sid: str, started: float, *, deferred: bool) -> Response:
    call = _find_call(session, sid, deferred=deferred)
    create: Callable[[], calls.CallRow] | None = None
    if call is not None:
        replay = calls.recorded_turn(session, call, 0)
        if replay is not None:
            session.rollback()
            return twiml(replay.twiml)
    else:
        version = current_version(session)
        if version is None:
            raise LookupError("no published flow version; run `ivr seed`")
        form = request.form
        call = calls.new_call_row(
            sid=sid[:64],
            from_number=(form.get("From") or None) and form["From"][:32],
            flow_version_id=version.id,
            node=library().bundle(session, version.id).start,
            language=current_app.config["IVR_DEFAULT_LANGUAGE"],
        )
        to_number = (form.get("To") or None) and form["To"][:32]
        create = partial(calls.start_call, session, call, to_number=to_number)
    try:
        body = _play_turn(
            session, call, 0, Input("start"), started, deferred=deferred, create=create
        )
        session.commit()
    except (sa.exc.IntegrityError, _Overtaken):
        # Twilio sent the same start twice at once and the other request won.
        session.rollback()
        replay = _replay_or_none(session, sid, 0)
        if replay is None:
            raise
        return replay
    _after_commit(session)
    return twiml(body)


def _replay_or_none(session: so.Session, sid: str, number: int) -> Response | None:
    call = calls.read_call(session, sid)
    if call is None:
        return None
    event = calls.recorded_turn(session, call, number)
    return twiml(event.twiml) if event is not None else None


@bp.post("/turn")
@validate_twilio_request
@_failsafe
def turn() -> Response:
    """Take the caller's answer to the last question and say what comes next."""
    started = time.perf_counter()
    sid = (request.form.get("CallSid") or "").strip()
    session = get_session()
    return read_first(session, _turn, sid, started)


def _turn(session: so.Session, sid: str, started: float, *, deferred: bool) -> Response:
    call = _find_call(session, sid, deferred=deferred)
    if call is None:
        session.rollback()
        return _unknown_call(sid)
    requested = request.args.get("t", type=int)
    number = call.turn + 1
    if requested is not None and requested <= call.turn:
        replay = calls.recorded_turn(session, call, requested)
        session.rollback()
        if replay is not None:
            return twiml(replay.twiml)
        # Older than anything we kept: answer the current question again.
    try:
        body = _play_turn(
            session, call, number, caller_input(request.form), started, deferred=deferred
        )
        session.commit()
    except (sa.exc.IntegrityError, _Overtaken):
        # The same step arrived twice at once (a Twilio retry) and the other request won.
        session.rollback()
        replay = _replay_or_none(session, sid, number)
        if replay is not None:
            return replay
        if not deferred:
            raise
        session.rollback()
        return _turn(session, sid, started, deferred=False)
    _after_commit(session)
    return twiml(body)


def _after_commit(session: so.Session) -> None:
    """Work that must wait until the turn is saved (sending an SMS from the outbox)."""
    try:
        if run_after_commit(session):
            session.commit()
    except Exception as exc:  # noqa: BLE001 - the outbox keeps the message for a retry
        session.rollback()
        log.error("after-commit work failed: %s", type(exc).__name__)


def _unknown_call(sid: str) -> Response:
    """A step for a call we never started: apologise and hand over to a person."""
    log.warning("turn for unknown call %s", sid or "(no CallSid)")
    prompts = library().prompts_for(current_app.config["IVR_DEFAULT_LANGUAGE"])
    text = prompts.text("system.unknown_call")
    return twiml(xml(apology(text, voice=_voice(), queue=current_app.config["IVR_FALLBACK_QUEUE"])))


@bp.post("/status")
@validate_twilio_request
def status() -> Response:
    """Record Twilio's status callback: completed, busy, no-answer, failed, duration."""
    form = request.form
    sid = (form.get("CallSid") or "").strip()
    call_status = (form.get("CallStatus") or "").strip().lower()
    if not sid or call_status not in calls.KNOWN_STATUSES:
        return Response("", status=204)
    try:
        duration: int | None = int(form.get("CallDuration", ""))
    except ValueError:
        duration = None
    session = get_session()
    try:
        calls.record_status(session, sid, call_status, duration)
        session.commit()
    except sa.exc.SQLAlchemyError as exc:
        session.rollback()
        log.error("status for call %s not recorded: %s", sid, type(exc).__name__)
        return Response("", status=503)
    return Response("", status=204)
