"""The hold line: what a caller in an agent queue hears, callbacks, and the after-hours menu.

Twilio's webhooks around `<Enqueue>`, signed like every `/voice` route: the wait URL
(position, expected wait, a callback offer after a while, music or a pause), the Enqueue
action (how the caller left the line), and, when a queue is closed, the callback-or-message
menu and its recording. Nothing here is patient data; URLs carry only a mode and a try count.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Blueprint, Response, request, url_for

from ivr.config import get_settings
from ivr.db import get_session, get_store
from ivr.engine import Prompts
from ivr.match.ids import normalize_phone
from ivr.safetext import clean
from ivr.services import agents, calls, queues
from ivr.services.queues import Queue
from ivr.twiml import Ask, Hold, Voice, ask, on_hold, record, say_then, voice_for, xml
from ivr.versions import Published
from ivr.webhooks import call_sid, failsafe, form_value, library, twiml, validate_twilio_request

bp = Blueprint("hold", __name__, url_prefix="/voice/queue")
log = logging.getLogger("ivr.hold")

HOLD, AFTER_HOURS = queues.HOLD, queues.AFTER_HOURS
MAX_NUMBER_TRIES = 2


def url(endpoint: str, **args: Any) -> str:
    """An absolute URL of this blueprint, built like the turns' action URLs."""
    return get_settings().public_base_url + url_for(f"hold.{endpoint}", **args)


def hold_urls() -> Hold:
    return Hold(wait_url=url("wait"), action_url=url("done"))


def _int(name: str) -> int | None:
    try:
        return int(request.form.get(name, ""))
    except ValueError:
        return None


def _language(call: calls.CallRow | None) -> str:
    return call.language if call is not None else get_settings().default_language


def prompts_for(session: so.Session, call: calls.CallRow | None) -> Prompts:
    """The call's version's prompts; the files' when that version predates the hold line."""
    version = library().version(session, call.flow_version_id) if call is not None else None
    return hold_prompts(version, _language(call))


def hold_prompts(version: Published | None, language: str) -> Prompts:
    """What the hold line says in `language`: the version's prompts, or the files' when the
    version was published before the hold line had any."""
    if version is not None:
        spoken = version.prompts_for(language)
        if "queue.goodbye" in spoken:
            return spoken
    files = library().prompts
    return files.get(language) or files["en-US"]


def _voice(call: calls.CallRow | None) -> Voice:
    return voice_for(_language(call), get_settings().say_voice)


def queue_named(name: str | None) -> Queue:
    """The queue called `name`; the fallback queue for a name not in `data/queues.csv`."""
    table = library().queue_table
    return table.get(name or "") or table[get_settings().fallback_queue]


def is_open(name: str, at: dt.datetime | None = None) -> bool:
    """Is `name` taking calls now (IVR_HOURS_OVERRIDE wins)?"""
    now = at or dt.datetime.now(dt.UTC)
    return queues.is_open(queue_named(name), now, get_settings().hours_override)


def _heard(prompts: Prompts, key: str, speech: str, digits: str, key_pressed: str) -> bool:
    if digits:
        return digits == key_pressed
    said = " ".join(speech.lower().split())
    return bool(said) and any(word.lower() in said for word in prompts.words(key))


# --- what the caller hears on hold ---------------------------------------------------------


@bp.post("/wait")
@validate_twilio_request
def wait() -> Response:
    """Tell a caller on hold where they are and how long to expect; after a while, offer a
    callback; then music or a pause. Read-only, and never fails: Twilio replays it."""
    sid = call_sid()
    position, waited = _int("QueuePosition"), _int("QueueTime") or 0
    settings = get_settings()
    with get_store().read_sessionmaker() as session:
        try:
            call = calls.read_call(session, sid) if sid else None
            prompts = prompts_for(session, call)
            queue = queue_named(_queue_of(session, sid))
            estimate = queues.estimated_wait(
                session, queue.name, waited=waited, twilio_average=_int("AvgQueueTime") or 0
            )
            offered = waited >= settings.callback_after and (
                queues.callback_for(session, sid) is None
            )
        except Exception as exc:  # noqa: BLE001 - hold music beats silence
            log.error("wait for call %s without news: %s", sid, type(exc).__name__)
            return twiml(xml(on_hold((), voice=_voice(None), pause=settings.hold_pause)))
    texts = []
    if position == 1:
        texts.append(prompts.text("queue.next"))
    elif position is not None and position > 1:
        texts.append(prompts.render("queue.position", {"position": position}))
    if estimate is not None:
        count = queues.minutes(estimate)
        key = "queue.estimate_one" if count == 1 else "queue.estimate"
        texts.append(prompts.render(key, {"minutes": count}))
    offer = None
    if offered:
        offer = Ask(
            (prompts.text("queue.offer"),),
            url("callback", m=HOLD),
            hints=prompts.words("queue.words.callback"),
        )
    body = on_hold(
        [t for t in texts if t],
        voice=_voice(call),
        offer=offer,
        music_url=settings.hold_music_url,
        pause=settings.hold_pause,
    )
    return twiml(xml(body))


def _queue_of(session: so.Session, sid: str) -> str | None:
    from ivr.store.models import Call

    return session.scalars(sa.select(Call.queue).where(Call.sid == sid)).first()


@bp.post("/done")
@validate_twilio_request
@failsafe
def done() -> Response:
    """Record how the caller left the queue (Twilio's QueueResult) and what they waited."""
    sid = call_sid()
    result = (form_value("QueueResult", 32) or "").lower()
    session = get_session()
    call = calls.read_call(session, sid) if sid else None
    prompts, voice = prompts_for(session, call), _voice(call)
    if call is None:
        session.rollback()
        return twiml(xml(say_then([prompts.text("queue.goodbye")], voice=voice)))
    callback = queues.callback_for(session, sid)
    if result == "leave" and callback is not None:
        texts = [_confirmation(prompts, callback.number)]
    elif result in ("hangup", "bridged", "bridging-in-process", "redirected"):
        texts = [prompts.text("queue.goodbye")] if result == "bridged" else []
    else:  # queue-full, error: no one can take the call now
        texts = [prompts.text("queue.unavailable")]
    body = xml(say_then([t for t in texts if t], voice=voice))
    outcome, new = queues.record_outcome(session, sid, result, _int("QueueTime"), body)
    if not new:
        replay = queues.outcome_twiml(session, sid)
        session.rollback()
        return twiml(replay or body)
    session.commit()
    log.info("call %s left its queue: %s", sid, outcome)
    return twiml(body)


def _confirmation(prompts: Prompts, number: str, when: str = "") -> str:
    key = "queue.callback.confirmed_later" if when else "queue.callback.confirmed"
    return prompts.render(key, {"last4": number[-4:], "when": when})


# --- callbacks -----------------------------------------------------------------------------


def _number_question(
    prompts: Prompts, mode: str, tries: int, caller_id: str | None, lead: tuple[str, ...] = ()
) -> Ask:
    """Which number to call back: the caller id (press 1) or ten digits entered."""
    key = "queue.callback.confirm_number" if caller_id else "queue.callback.ask_number"
    return Ask(
        (*lead, prompts.render(key, {"last4": (caller_id or "")[-4:]})),
        url("number", m=mode, n=tries),
        input="dtmf",
        num_digits=None,
        timeout=8,
    )


@bp.post("/callback")
@validate_twilio_request
@failsafe
def callback() -> Response:
    """The caller answered the callback offer (on hold, or after hours): which number?"""
    sid = call_sid()
    mode = AFTER_HOURS if request.args.get("m") == AFTER_HOURS else HOLD
    session = get_session()
    call = calls.read_call(session, sid) if sid else None
    prompts, voice = prompts_for(session, call), _voice(call)
    session.rollback()
    digits = (request.form.get("Digits") or "").strip()
    speech = clean(request.form.get("SpeechResult"))
    if mode == AFTER_HOURS:
        return _after_hours_choice(call, prompts, voice, digits, speech)
    if call is None or not _heard(prompts, "queue.words.callback", speech, digits, "1"):
        return twiml(xml(on_hold((), voice=voice, pause=1)))  # back to holding
    caller_id = normalize_phone(call.from_number)
    return twiml(xml(ask(_number_question(prompts, mode, 1, caller_id), voice=voice)))


@bp.post("/number")
@validate_twilio_request
@failsafe
def number() -> Response:
    """Store the callback at the caller id or the number entered; on hold, leave the queue."""
    sid = call_sid()
    mode = AFTER_HOURS if request.args.get("m") == AFTER_HOURS else HOLD
    tries = request.args.get("n", default=1, type=int)
    session = get_session()
    call = calls.read_call(session, sid) if sid else None
    prompts, voice = prompts_for(session, call), _voice(call)
    if call is None:
        session.rollback()
        return twiml(xml(say_then([prompts.text("queue.goodbye")], voice=voice)))
    caller_id = normalize_phone(call.from_number)
    digits = "".join(ch for ch in request.form.get("Digits", "") if ch.isdigit())[:16]
    if digits in ("", "1") and caller_id:
        chosen: str | None = caller_id
    else:
        chosen = normalize_phone(digits) if len(digits) == 10 else None
    if chosen is None:
        session.rollback()
        if tries >= MAX_NUMBER_TRIES:
            if mode == HOLD:
                return twiml(xml(on_hold((), voice=voice, pause=1)))  # back to holding
            return twiml(xml(say_then([prompts.text("queue.goodbye")], voice=voice)))
        sorry = (prompts.text("queue.callback.bad_number"),)
        question = _number_question(prompts, mode, tries + 1, caller_id, sorry)
        return twiml(xml(ask(question, voice=voice)))
    queue = queue_named(_queue_of(session, sid))
    due = None
    when = ""
    if mode == AFTER_HOURS:
        due = queue.schedule.next_open(dt.datetime.now(dt.UTC))
        when = spoken_when(prompts, due) if due is not None else ""
    queues.request_callback(
        session, sid=sid, number=chosen, queue=queue.name, language=call.language, due_at=due
    )
    session.commit()
    log.info("call %s asked for a callback from queue %s (%s)", sid, queue.name, mode)
    if mode == HOLD:
        return twiml(xml(say_then((), voice=voice, leave=True)))
    return twiml(xml(say_then([_confirmation(prompts, chosen, when)], voice=voice)))


# --- after hours ---------------------------------------------------------------------------


def spoken_time(prompts: Prompts, at: dt.time) -> str:
    hour = at.hour % 12 or 12
    clock = f"{hour}:{at.minute:02d}" if at.minute else str(hour)
    return prompts.render("queue.time.pm" if at.hour >= 12 else "queue.time.am", {"time": clock})


def _weekday(prompts: Prompts, day: int) -> str:
    names = prompts.words("queue.weekdays")
    return names[day] if len(names) == 7 else str(day + 1)


def _month(prompts: Prompts, month: int) -> str:
    names = prompts.words("words.months")
    return names[month - 1] if len(names) == 12 else str(month)


def spoken_when(prompts: Prompts, at: dt.datetime) -> str:
    return prompts.render(
        "queue.closed.when",
        {
            "day": _weekday(prompts, at.weekday()),
            "date": prompts.render(
                "queue.date", {"month": _month(prompts, at.month), "day": at.day}
            ),
            "time": spoken_time(prompts, at.time()),
        },
    )


def spoken_hours(prompts: Prompts, queue: Queue) -> str:
    """ "Monday through Friday, 8:30 a.m. to 7 p.m., Eastern time" in the call's language."""
    spans = []
    for segment in queue.schedule.segments:
        first, last = segment.days[0], segment.days[-1]
        days = _weekday(prompts, first)
        if last != first:
            days = prompts.render(
                "queue.days_range",
                {"first": days, "last": _weekday(prompts, last)},
            )
        spans.append(
            prompts.render(
                "queue.hours_span",
                {
                    "days": days,
                    "opens": spoken_time(prompts, segment.opens),
                    "closes": spoken_time(prompts, segment.closes),
                },
            )
        )
    zone = prompts.text(f"queue.zones.{queue.schedule.timezone}") or (
        queue.schedule.timezone.rsplit("/", 1)[-1].replace("_", " ")
    )
    return prompts.render("queue.closed.hours", {"hours": "; ".join(spans), "zone": zone})


def closed_menu(
    prompts: Prompts,
    queue: Queue,
    voice: Voice,
    *,
    lead: list[str] | None = None,
    before: tuple[str, ...] = (),
) -> str:
    """What came `before`, the queue's hours (or `lead`), then: a callback on the next open
    day, or a message."""
    texts = [*before, *([spoken_hours(prompts, queue)] if lead is None else lead)]
    due = queue.schedule.next_open(dt.datetime.now(dt.UTC))
    when = spoken_when(prompts, due) if due is not None else ""
    offer = Ask(
        (prompts.render("queue.closed.offer", {"when": when}),),
        url("callback", m=AFTER_HOURS),
        hints=prompts.words("queue.words.callback") + prompts.words("queue.words.message"),
        timeout=6,
    )
    body = ask(
        Ask((*texts, *offer.texts), offer.action_url, hints=offer.hints, timeout=6),
        voice=voice,
        otherwise=[prompts.text("queue.goodbye")],
    )
    return xml(body)


def _after_hours_choice(
    call: calls.CallRow | None, prompts: Prompts, voice: Voice, digits: str, speech: str
) -> Response:
    if call is None:
        return twiml(xml(say_then([prompts.text("queue.goodbye")], voice=voice)))
    if _heard(prompts, "queue.words.callback", speech, digits, "1"):
        caller_id = normalize_phone(call.from_number)
        question = _number_question(prompts, AFTER_HOURS, 1, caller_id)
        return twiml(xml(ask(question, voice=voice)))
    if _heard(prompts, "queue.words.message", speech, digits, "2"):
        body = record(
            [prompts.text("queue.voicemail.intro")],
            voice=voice,
            action_url=url("voicemail"),
            status_url=url("recording"),
            max_length=get_settings().voicemail_seconds,
            goodbye=[prompts.text("queue.goodbye")],
        )
        return twiml(xml(body))
    with get_store().read_sessionmaker() as session:
        queue = queue_named(_queue_of(session, call.sid))
    return twiml(closed_menu(prompts, queue, voice, lead=[prompts.text("system.no_match")]))


def _save_recording(session: so.Session) -> bool:
    sid = call_sid()
    recording = form_value("RecordingSid", 64) or ""
    if not sid or not recording:
        return False
    queues.save_voicemail(
        session,
        sid=sid,
        recording_sid=recording,
        recording_url=form_value("RecordingUrl", 300),
        duration_s=_int("RecordingDuration"),
    )
    return True


@bp.post("/voicemail")
@validate_twilio_request
@failsafe
def voicemail() -> Response:
    """The message is recorded: keep it with the call's context, thank the caller."""
    session = get_session()
    call = calls.read_call(session, call_sid())
    prompts, voice = prompts_for(session, call), _voice(call)
    if _save_recording(session):
        session.commit()
        log.info("voicemail left on call %s", call.sid if call else "(unknown)")
        texts = [prompts.text("queue.voicemail.thanks")]
    else:
        session.rollback()
        texts = [prompts.text("queue.goodbye")]
    return twiml(xml(say_then(texts, voice=voice)))


@bp.post("/recording")
@validate_twilio_request
def recording() -> Response:
    """Twilio's recording status callback: the recording's final URL and length."""
    session = get_session()
    try:
        saved = _save_recording(session)
        session.commit()
    except sa.exc.SQLAlchemyError as exc:
        session.rollback()
        log.error("recording not recorded: %s", type(exc).__name__)
        return Response("", status=503)
    if not saved:
        log.warning("recording callback without a call or recording sid")
    return Response("", status=204)


# --- what each side hears as an agent is connected ------------------------------------------

AGENT_LANGUAGE = "en-US"  # the agents' language: their whisper, whatever the caller speaks


def _having(version: Published | None, language: str, key: str) -> Prompts:
    """`language`'s prompts holding `key`: the call's version's, else the files'."""
    if version is not None:
        spoken = version.prompts_for(language)
        if key in spoken:
            return spoken
    files = library().prompts
    return files.get(language) or files[AGENT_LANGUAGE]


def pickup(session: so.Session, call: Any, *, callback: bool = False) -> agents.Pickup:
    """The agent's whisper (in English: the plan's name and why the caller wants a person)
    and the caller's line (in their own language) as an agent is connected to `call`."""
    from ivr.store.models import Plan

    version = library().version(session, call.flow_version_id) if call.flow_version_id else None
    plan = (
        session.scalar(sa.select(Plan.name).where(Plan.code == call.plan)) or call.plan
        if call.plan
        else None
    )
    key = "queue.agent." + ("callback" if callback else "pickup") + ("" if plan else "_no_plan")
    reason = agents.reason_in_words(call.transfer_reason) or "asked for a person"
    whisper = _having(version, AGENT_LANGUAGE, key).render(key, {"plan": plan, "reason": reason})
    caller_key = "queue.returning" if callback else "queue.connecting"
    language = call.language or get_settings().default_language
    heard = _having(version, language, caller_key).text(caller_key)
    default = get_settings().say_voice
    return agents.Pickup(
        agent=whisper,
        caller=heard,
        agent_voice=voice_for(AGENT_LANGUAGE, default),
        caller_voice=voice_for(language, default),
    )


def callback_pickup(session: so.Session, sid: str) -> agents.Pickup | None:
    """`pickup` for calling back the caller of call `sid` (None: no such call)."""
    call = agents.call_of(session, sid)
    return pickup(session, call, callback=True) if call is not None else None
