"""Twilio's door: signed webhooks in, TwiML out. One turn, one transaction, one event row."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import time
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Blueprint, Response, abort, request, url_for

from ivr import hold, metrics
from ivr.actions.registry import Facts, run_action
from ivr.config import get_settings
from ivr.db import get_session
from ivr.engine import ActionResult, CallState, Context, Input, Turn, run_turn
from ivr.safetext import clean
from ivr.services import calls, redaction
from ivr.twiml import Voice, apology, render, voice_for, xml
from ivr.versions import Published
from ivr.webhooks import (
    SID_LIMIT,
    backup_apology,
    default_voice,
    failsafe,
    form_value,
    library,
    twiml,
    validate_twilio_request,
)

bp = Blueprint("voice", __name__, url_prefix="/voice")


@bp.before_request
def _refuse_huge_bodies() -> None:
    """A webhook past IVR_MAX_REQUEST_BYTES is a 413 (Werkzeug would read its form as empty,
    which the signature check would turn into a 403)."""
    if (request.content_length or 0) > get_settings().max_request_bytes:
        abort(413)


log = logging.getLogger("ivr.voice")

_DIGITS = re.compile(r"[^0-9*#]")
DIGITS_LIMIT = 64
DURATION_LIMIT = 10**7  # seconds (115 days): more is not a call


def action_url(number: int) -> str:
    path = url_for("voice.turn", t=number)
    return get_settings().public_base_url + path


def caller_input(form: Mapping[str, str]) -> Input:
    """Digits, speech or nothing, from Twilio's form; garbage is kept but bounded."""
    raw_digits = form.get("Digits", "") or ""
    speech = clean(form.get("SpeechResult", ""))[: calls.RAW_INPUT_LIMIT]
    try:
        said = float(form.get("Confidence", ""))
    except ValueError:
        said = -1.0
    confidence = said if 0.0 <= said <= 1.0 else None
    if raw_digits:
        digits = _DIGITS.sub("", raw_digits)[:DIGITS_LIMIT] or "?"
        return Input("dtmf", digits=digits)
    if speech.strip():
        return Input("speech", speech=speech.strip(), confidence=confidence)
    return Input("none")


def turn_context(session: so.Session, call: calls.CallRow, version: Published) -> Context:
    settings = get_settings()
    today = dt.datetime.now(ZoneInfo(settings.timezone)).date()
    facts = Facts(
        call_sid=call.sid,
        from_number=call.from_number,
        plan=call.plan,
        language=call.language,
        today=today,
        extension_window_days=settings.extension_window_days,
        prompts=version.prompts_for(call.language),
        criteria=version.criteria,
        timezone=settings.timezone,
    )

    def actions(
        name: str,
        params: Mapping[str, Any],
        slots: Mapping[str, Any],
        scratch: Mapping[str, Any],
    ) -> ActionResult:
        return run_action(name, session, facts, params, slots, scratch)

    return Context(
        prompts=version.prompts_for(call.language),
        catalogs=library().catalogs(session).in_language(call.language),
        actions=actions,
        today=today,
        gather_timeout=settings.gather_timeout,
        languages=version.prompts,
    )


def _answer(
    session: so.Session, call: calls.CallRow, number: int, inp: Input, started: float
) -> Response:
    """Run turn `number` of a call whose row this request holds, save it, answer its TwiML.

    The turn-number check on save and the unique (call, turn) are the idempotency guard:
    should another request have saved this turn after all, its TwiML is the answer.
    """
    version = library().version(session, call.flow_version_id)  # the call's bundle, to its end
    state = CallState(
        node=call.node,
        slots=dict(call.slots or {}),
        attempts=call.attempts,
        language=call.language,
        scratch=dict(call.scratch or {}),
        stack=call.stack,
    )
    turn = run_turn(version.bundle, state, inp, turn_context(session, call, version))
    # A `language` node may have switched the call this turn: speak in the new one.
    voice = voice_for(turn.state.language, get_settings().say_voice)
    enqueued = True
    if turn.transfer is not None:
        body, enqueued = _transfer(version, turn, number, voice)
    else:
        body = xml(render(turn, action_url=action_url(number + 1), voice=voice))
    latency = int((time.perf_counter() - started) * 1000)
    stored, kept = _at_rest(version, call, turn, body)
    try:
        saved = calls.record_turn(session, call, number, kept, stored, latency, enqueued=enqueued)
        if saved:
            session.commit()
    except sa.exc.IntegrityError:
        saved = False
    if not saved:
        session.rollback()
        return _replay(session, call.sid, number)
    metrics.turn_played(turn.event.node, turn.event.outcome)
    if turn.transfer is not None:
        metrics.transferred(turn.transfer.reason, turn.transfer.queue)
    log.info(
        "call %s turn %d %s -> %s (%s)",
        call.sid,
        number,
        turn.event.node,
        turn.state.node,
        turn.event.outcome,
    )
    return twiml(body)


def _at_rest(version: Published, call: calls.CallRow, turn: Turn, body: str) -> tuple[str, Turn]:
    """The TwiML and the turn as stored (`ivr.services.redaction`): no identifier as said,
    no second factor kept."""
    languages = {call.language, turn.state.language}
    prompts = [version.prompts_for(language) for language in sorted(languages)]
    stored = redaction.redact_twiml(body, (call.slots or {}, turn.state.slots), prompts)
    event = turn.event
    try:
        slot = version.bundle.node(event.node).get("slot")
    except KeyError:
        slot = None
    if redaction.is_sensitive(slot):
        mark = redaction.withheld(str(slot))
        event = dataclasses.replace(
            event, raw=mark if event.raw else None, matched=mark if event.matched else None
        )
    state = dataclasses.replace(turn.state, slots=redaction.kept_slots(turn.state.slots))
    return stored, dataclasses.replace(turn, event=event, state=state)


def _restored(session: so.Session, call: calls.CallRow, twiml: str) -> str:
    """A stored turn's TwiML with what `_at_rest` withheld said again, from the call's slots."""
    if "⟦" not in twiml:
        return twiml
    version = library().version(session, call.flow_version_id)
    return redaction.restore_twiml(twiml, call.slots or {}, version.prompts_for(call.language))


def _transfer(version: Published, turn: Turn, number: int, voice: Voice) -> tuple[str, bool]:
    """A transfer's TwiML, and whether it enqueues: into the queue with its hold line while
    the queue is open; otherwise its hours and a callback or a message (the transfer's own
    "please hold" left unsaid)."""
    assert turn.transfer is not None
    queue = turn.transfer.queue
    if hold.is_open(queue):
        urls = hold.hold_urls()
        return xml(render(turn, action_url=action_url(number + 1), voice=voice, hold=urls)), True
    says = list(turn.say)
    if says and version.bundle.node(turn.state.node).get("prompt"):
        says.pop()
    prompts = hold.hold_prompts(version, turn.state.language)
    return hold.closed_menu(prompts, hold.queue_named(queue), voice, before=tuple(says)), False


@bp.post("/incoming")
@validate_twilio_request
@failsafe
def incoming() -> Response:
    """Start a call on the published flow and answer its first turn."""
    started = time.perf_counter()
    sid = form_value("CallSid", SID_LIMIT)
    if not sid:  # none, or longer than a call row holds: not a call we could follow
        prompts = library().prompts_for(get_settings().default_language)
        return twiml(
            xml(apology(prompts.text("system.store_down_no_backup"), voice=default_voice()))
        )
    session = get_session()
    call = calls.lock_call(session, sid)
    if call is not None:  # Twilio sent the start again
        session.rollback()
        return _replay(session, sid, 0)
    version = library().current(session)
    try:
        call = calls.start_call(
            session,
            sid=sid,
            from_number=form_value("From", 32),
            to_number=form_value("To", 32),
            flow_version_id=version.id,
            node=version.bundle.start,
            language=get_settings().default_language,
        )
    except sa.exc.IntegrityError:  # PostgreSQL: the same start, saved by another request
        session.rollback()
        return _replay(session, sid, 0)
    return _answer(session, call, 0, Input("start"), started)


@bp.post("/turn")
@validate_twilio_request
@failsafe
def turn() -> Response:
    """Take the caller's answer to the last question and say what comes next."""
    started = time.perf_counter()
    sid = form_value("CallSid", SID_LIMIT)
    session = get_session()
    call = calls.lock_call(session, sid) if sid else None
    if call is None:
        session.rollback()
        return _unknown_call(sid or "")
    requested = turn_number(request.args.get("t"))
    if requested == call.turn + 1:
        return _answer(session, call, requested, caller_input(request.form), started)
    # A turn already played (Twilio retrying) is answered as it was. Anything else (no
    # turn, not a number, one we never asked) runs nothing: the current question again.
    replay = None
    if requested is not None and requested <= call.turn:
        replay = calls.recorded_turn(session, call, requested)
    if replay is None:
        if requested is not None and requested <= call.turn:
            log.info("call %s: turn %d is no longer kept; the current question", sid, requested)
        else:
            log.warning("call %s: a request for a turn never asked; the current question", sid)
        return _replay(session, call.sid, call.turn)
    body = _restored(session, call, replay.twiml)
    session.rollback()
    return twiml(body)


def turn_number(raw: str | None) -> int | None:
    """The `t=` of an action URL: a turn number we wrote (1 to 9 digits), else None."""
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        return None
    number = int(raw)
    return number if number >= 1 else None


def _replay(session: so.Session, sid: str, number: int) -> Response:
    """The TwiML saved for turn `number` of the call; a turn never saved is a fault."""
    call = calls.read_call(session, sid)
    event = calls.recorded_turn(session, call, number) if call is not None else None
    if call is None or event is None:
        session.rollback()
        raise LookupError(f"turn {number} of call {sid} was neither played nor saved")
    body = _restored(session, call, event.twiml)
    session.rollback()
    return twiml(body)


def _unknown_call(sid: str) -> Response:
    """A step for a call we never started: apologise and hand over to a person."""
    log.warning("turn for unknown call %s", sid or "(no CallSid)")
    prompts = library().prompts_for(get_settings().default_language)
    text = prompts.text("system.unknown_call")
    return twiml(xml(apology(text, voice=default_voice(), queue=get_settings().fallback_queue)))


@bp.post("/fallback")
@validate_twilio_request
def fallback() -> Response:
    """Twilio's fallback URL (when the primary webhook failed or was slow): the apology and
    the backup number, from the settings and prompts in memory, never the store."""
    log.warning("fallback webhook for call %s", form_value("CallSid", SID_LIMIT) or "(none)")
    return backup_apology()


@bp.post("/status")
@validate_twilio_request
def status() -> Response:
    """Record Twilio's status callback: completed, busy, no-answer, failed, duration."""
    sid = form_value("CallSid", SID_LIMIT)
    call_status = (form_value("CallStatus", 32) or "").lower()
    if not sid or call_status not in calls.KNOWN_STATUSES:
        return Response("", status=204)
    raw = form_value("CallDuration", 9) or ""
    duration = int(raw) if raw.isascii() and raw.isdigit() else None
    if duration is not None and duration >= DURATION_LIMIT:
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
