"""What a call-center agent does: see who waits in each queue and what they said, take a
waiting call (one agent only), call back a caller who asked, and wrap up the handled call.

Used alike by the JSON API and the agent console. Functions take a Session first and never
commit; each act is a call event carrying the agent's user id. Connecting people goes
through Twilio's REST API (`connect_*`), with the `twilio` client's `http_client` hook;
without TWILIO_ACCOUNT_SID nothing is dialed and the answer says not connected.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import phonenumbers
import requests
import sqlalchemy as sa
import sqlalchemy.orm as so
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse

from ivr.safetext import clean
from ivr.services import queues as queue_service
from ivr.services import redaction
from ivr.store.models import Call, Callback, CallEvent, Order, OrderStatus, User, utcnow

log = logging.getLogger("ivr.agents")

FINAL_STATUSES = ("completed", "busy", "failed", "no-answer", "canceled")
CALL_STATUSES = ("in-progress", "queued", "completed")
DISPOSITIONS = (
    "order_issued",
    "order_updated",
    "password_reset",
    "ticket_closed",
    "callback_scheduled",
    "no_action",
)
CALLBACK_OUTCOMES = ("reached", "no_answer", "left_message")
CALLBACK_TRIES = 3  # not reached after this many: closed as not reached
NOT_REACHED = "not_reached"
DIALING = "dialing"  # a callback an agent is calling now
NOTES_LIMIT = 2000
LOW_CONFIDENCE = 0.6  # a spoken answer heard less surely than this is marked for the agent
CONNECT_TIMEOUT_S = 10.0
# Slots that are the engine's or the flow's own workings, not what the caller said.
_NOT_SAID = re.compile(
    r"^(_.*|.*_confidence|.*_sure|.*_open|criteria_(qid|question|answer|rule)|suggested_.*)$"
)


class AgentError(ValueError):
    """The act is refused: `code` says why, `status` the HTTP answer (404, 409, 422), `field`
    the bad field of a 422."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        open_call: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
        self.open_call = open_call  # the agent's call not yet wrapped up (code "open_call")


# --- reading a waiting call ------------------------------------------------------------------

_FLOW_REASONS = {
    "caller_request": "asked for a person",
    "intake_help": "needed help with a new order",
    "retries_exhausted": "couldn't get through the menu",
    "status_help": "needed help with an existing order",
    "helpdesk_help": "needed help with the provider portal",
    "caller_not_verified": "couldn't be verified",
    "peer_to_peer_request": "asked for a peer-to-peer review",
}
_TRIED = {
    "invalid": "three tries at",
    "no_match": "three tries at",
    "low_confidence": "three unclear answers at",
    "no_input": "no answer three times at",
    "too many tries": "too many tries at",
    "caller asked for a person": "asked for a person at",
    "calls too deep": "a flow problem at",
    "nothing to return to": "a flow problem at",
}


def _question_words(node: str) -> str:
    """ "order.ask_diagnosis" -> "the diagnosis question"."""
    name = node.rsplit(".", 1)[-1]
    for prefix in ("ask_", "confirm_", "offer_"):
        name = name.removeprefix(prefix)
    return f"the {name.replace('_', ' ')} question"


def reason_in_words(reason: str | None) -> str | None:
    """The stored transfer reason as an agent reads it: "intake_help: invalid at
    order.ask_diagnosis" -> "three tries at the diagnosis question"."""
    if not reason:
        return None
    base, _, detail = reason.partition(": ")
    if detail:
        what, sep, node = detail.rpartition(" at ")
        if sep and what in _TRIED:
            return f"{_TRIED[what]} {_question_words(node)}"
    if base.startswith("ticket "):
        return f"help-desk ticket {base.removeprefix('ticket ')}"
    return _FLOW_REASONS.get(base, base.replace("_", " "))


def call_context(call: Call) -> dict[str, dict[str, Any]]:
    """What the caller said, by slot: `{"value", "confidence", "low_confidence"}`; an answer
    heard unsurely (a low speech confidence, or a match the line read back as unsure) is
    marked `low_confidence`."""
    slots = redaction.kept_slots(call.slots or {})  # never a second factor
    out: dict[str, dict[str, Any]] = {}
    for name, value in slots.items():
        if value is None or value == "" or _NOT_SAID.match(name):
            continue
        confidence = slots.get(f"{name}_confidence")
        confidence = float(confidence) if isinstance(confidence, int | float) else None
        unsure = slots.get(f"{name}_sure") is False or (
            confidence is not None and confidence < LOW_CONFIDENCE
        )
        out[name] = {"value": value, "confidence": confidence, "low_confidence": unsure}
    return out


def draft_of(session: so.Session, sid: str) -> str | None:
    """The reference number of the call's latest draft order, if it left one."""
    return session.scalar(
        sa.select(Order.reference_number)
        .where(Order.call_sid == sid, Order.status == OrderStatus.DRAFT)
        .order_by(Order.id.desc())
        .limit(1)
    )


def _waiting_query() -> sa.Select[Any]:
    return sa.select(Call).where(
        Call.sandbox.is_(False),
        Call.enqueued_at.is_not(None),
        Call.dequeued_at.is_(None),
        Call.accepted_by.is_(None),
        Call.status.not_in(FINAL_STATUSES),
    )


def waiting_calls(session: so.Session, queue: str | None = None) -> list[Call]:
    """The calls on hold in `queue` (None: in every queue), first in line first."""
    query = _waiting_query()
    if queue is not None:
        query = query.where(Call.queue == queue)
    return list(session.scalars(query.order_by(Call.enqueued_at, Call.id)))


def _seconds(since: dt.datetime | None, now: dt.datetime) -> int:
    return max(0, int((now - since).total_seconds())) if since is not None else 0


def waiting_view(
    session: so.Session, call: Call, position: int, now: dt.datetime
) -> dict[str, Any]:
    return {
        "call_sid": call.sid,
        "position": position,
        "waiting_seconds": _seconds(call.enqueued_at, now),
        "plan": call.plan,
        "reason": reason_in_words(call.transfer_reason),
        "language": call.language,
        "context": call_context(call),
        "draft_order": draft_of(session, call.sid),
    }


def callback_view(session: so.Session, callback: Callback) -> dict[str, Any]:
    call = session.scalars(sa.select(Call).where(Call.sid == callback.call_sid)).first()
    return {
        "id": callback.id,
        "call_sid": callback.call_sid,
        "number": callback.number,
        "queue": callback.queue,
        "language": callback.language,
        "status": callback.status,
        "tries": callback.tries,
        "outcome": callback.outcome,
        "requested_at": _iso(callback.requested_at),
        "place_at": _iso(callback.place_at),
        "due_at": _iso(callback.due_at),
        "last_try_at": _iso(callback.last_try_at),
        "done_at": _iso(callback.done_at),
        "agent_id": callback.agent_id,
        "plan": call.plan if call is not None else None,
        "reason": reason_in_words(call.transfer_reason) if call is not None else None,
        "context": call_context(call) if call is not None else {},
        "draft_order": draft_of(session, callback.call_sid),
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _day_start(now: dt.datetime, zone: str) -> dt.datetime:
    local = now.astimezone(ZoneInfo(zone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def today_counts(session: so.Session, queue: str, *, zone: str, now: dt.datetime) -> dict[str, int]:
    """Today's numbers (the line's local day): calls that entered the queue, were answered
    by an agent, hung up on hold; callbacks asked for."""
    start = _day_start(now, zone)
    entered = sa.and_(Call.queue == queue, Call.enqueued_at >= start, Call.sandbox.is_(False))

    def count(*where: Any) -> int:
        return int(session.scalar(sa.select(sa.func.count(Call.id)).where(entered, *where)) or 0)

    callbacks = session.scalar(
        sa.select(sa.func.count(Callback.id)).where(
            Callback.queue == queue, Callback.requested_at >= start
        )
    )
    return {
        "entered": count(),
        "answered": count(sa.or_(Call.accepted_at.is_not(None), Call.queue_result == "bridged")),
        "abandoned": count(Call.queue_result == "abandoned"),
        "callbacks_requested": int(callbacks or 0),
    }


def _open_statuses() -> tuple[str, str]:
    return (queue_service.OPEN, DIALING)


def queue_summaries(
    session: so.Session,
    queues: Mapping[str, queue_service.Queue],
    *,
    override: str = "",
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Each queue: open now, calls waiting, the longest wait, callbacks still to make."""
    now = now or utcnow()
    # Two queries for every queue at once (the console polls this every second).
    waiting_by_queue: dict[str, list[Call]] = {}
    for call in waiting_calls(session):
        waiting_by_queue.setdefault(call.queue or "", []).append(call)
    counted = session.execute(
        sa.select(Callback.queue, sa.func.count(Callback.id))
        .where(Callback.status.in_(_open_statuses()))
        .group_by(Callback.queue)
    )
    callbacks_by_queue = {queue: int(count) for queue, count in counted}
    out = []
    for name, queue in queues.items():
        waiting = waiting_by_queue.get(name, [])
        out.append(
            {
                "name": name,
                "open": queue_service.is_open(queue, now, override),
                "waiting": len(waiting),
                "longest_wait_seconds": max(
                    (_seconds(c.enqueued_at, now) for c in waiting), default=0
                ),
                "callbacks_open": int(callbacks_by_queue.get(name, 0)),
            }
        )
    return out


def queue_detail(
    session: so.Session,
    queue: queue_service.Queue,
    *,
    zone: str,
    override: str = "",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """One queue as an agent sees it: who waits (in order, with what they said), the
    callbacks still to make (in their place in line), and today's numbers."""
    now = now or utcnow()
    waiting = waiting_calls(session, queue.name)
    callbacks = session.scalars(
        sa.select(Callback)
        .where(Callback.queue == queue.name, Callback.status.in_(_open_statuses()))
        .order_by(Callback.place_at, Callback.id)
    )
    return {
        "name": queue.name,
        "open": queue_service.is_open(queue, now, override),
        "waiting": [waiting_view(session, c, i, now) for i, c in enumerate(waiting, start=1)],
        "callbacks": [callback_view(session, c) for c in callbacks],
        "today": today_counts(session, queue.name, zone=zone, now=now),
    }


# --- calls -----------------------------------------------------------------------------------


def list_calls(
    session: so.Session,
    *,
    status: str | None = None,
    since: dt.datetime | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[Call]:
    """Calls newest first, `limit` at a time after `after_id`. `status`: "queued" (on hold,
    nobody has it yet), "in-progress" (live, not on hold), "completed" (ended)."""
    query = sa.select(Call).where(Call.sandbox.is_(False))  # an admin's try is not a call
    waiting = sa.and_(
        Call.enqueued_at.is_not(None),
        Call.dequeued_at.is_(None),
        Call.accepted_by.is_(None),
        Call.status.not_in(FINAL_STATUSES),
    )
    if status == "queued":
        query = query.where(waiting)
    elif status == "in-progress":
        query = query.where(Call.status.not_in(FINAL_STATUSES), sa.not_(waiting))
    elif status == "completed":
        query = query.where(Call.status.in_(FINAL_STATUSES))
    if since is not None:
        query = query.where(Call.started_at >= since)
    if after_id is not None:
        query = query.where(Call.id < after_id)
    return list(session.scalars(query.order_by(Call.id.desc()).limit(limit)))


def call_status(call: Call) -> str:
    """queued | in-progress | completed (the filter `list_calls` takes)."""
    if call.status in FINAL_STATUSES:
        return "completed"
    if call.enqueued_at and not call.dequeued_at and call.accepted_by is None:
        return "queued"
    return "in-progress"


def call_summary(session: so.Session, call: Call) -> dict[str, Any]:
    return {
        "sid": call.sid,
        "from": call.from_number,
        "plan": call.plan,
        "status": call_status(call),
        "queue": call.queue,
        "reason": reason_in_words(call.transfer_reason),
        "started_at": _iso(call.started_at),
        "draft_order": draft_of(session, call.sid),
        "accepted_by": call.accepted_by,
        "accepted_at": _iso(call.accepted_at),
        "disposition": call.disposition,
    }


def record_act(
    session: so.Session, call: Call, kind: str, detail: str, *, user_id: int | None
) -> CallEvent:
    """An agent's act on a call, as the call's next event (with who did it). The call's row
    is locked first, so the hold line's own event (the queue result) can't take the turn."""
    session.scalars(
        sa.select(Call)
        .where(Call.id == call.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    turn = session.scalar(
        sa.select(sa.func.max(CallEvent.turn)).where(CallEvent.call_id == call.id)
    )
    number = max(call.turn, turn if turn is not None else -1) + 1
    call.turn = number
    event = CallEvent(
        call_id=call.id,
        turn=number,
        node=f"agent:{kind}"[:120],
        next_node=None,
        input_kind="agent",
        raw_input=detail[:500] or None,
        matched=kind,
        outcome=kind,
        twiml="",
        user_id=user_id,
        created_at=utcnow(),
    )
    session.add(event)
    session.flush()
    return event


def e164(number: Any) -> str | None:
    """A phone number as E.164 ("+12125550143"), or None when it is not a valid one."""
    if not isinstance(number, str) or not number.strip() or len(number) > 32:
        return None
    try:
        parsed = phonenumbers.parse(number.strip(), "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _agent_phone(value: Any) -> str:
    phone = e164(value)
    if phone is None:
        raise AgentError(
            422, "invalid", "agent_phone must be a phone number (E.164)", "agent_phone"
        )
    return phone


def _call(session: so.Session, sid: str) -> Call:
    call = session.scalars(sa.select(Call).where(Call.sid == sid)).first()
    if call is None:
        raise AgentError(404, "not_found", "No call with that sid.")
    return call


def unfinished() -> sa.ColumnElement[bool]:
    """A call its agent still has in hand: accepted (or called back) and not wrapped up; a
    callback that went unanswered (open again, or closed as not reached) is not in hand."""
    dropped = (
        sa.select(Callback.id)
        .where(
            Callback.call_sid == Call.sid,
            sa.or_(Callback.status == queue_service.OPEN, Callback.outcome == NOT_REACHED),
        )
        .exists()
    )
    return sa.and_(Call.accepted_by.is_not(None), Call.wrapped_at.is_(None), sa.not_(dropped))


def open_call_of(session: so.Session, user_id: int, *, but: str | None = None) -> Call | None:
    """The call the agent has not wrapped up yet (the oldest), other than `but`."""
    query = sa.select(Call).where(Call.accepted_by == user_id, unfinished())
    if but is not None:
        query = query.where(Call.sid != but)
    return session.scalars(query.order_by(Call.accepted_at, Call.id).limit(1)).first()


def _one_at_a_time(session: so.Session, user_id: int, sid: str) -> None:
    """One call per agent until wrap-up: 409 open_call naming the call still in hand. The
    agent's row is locked first, so two takes by one agent at once are one after the other."""
    session.scalars(sa.select(User.id).where(User.id == user_id).with_for_update()).first()
    held = open_call_of(session, user_id, but=sid)
    if held is not None:
        raise AgentError(
            409,
            "open_call",
            f"Wrap up your open call {held.sid} before taking another.",
            open_call=held.sid,
        )


def accept(
    session: so.Session, sid: str, *, user_id: int, agent_phone: Any, now: dt.datetime | None = None
) -> Call:
    """Take a waiting call: one agent only. The conditional UPDATE is the lock: of two agents
    accepting at once, the second matches no row (409 taken); a call no longer on hold is
    409 not_waiting; an agent with a call not wrapped up is 409 open_call."""
    phone = _agent_phone(agent_phone)
    call = _call(session, sid)
    _one_at_a_time(session, user_id, sid)
    now = now or utcnow()
    taken = session.execute(
        sa.update(Call)
        .where(
            Call.id == call.id,
            Call.accepted_by.is_(None),
            Call.enqueued_at.is_not(None),
            Call.dequeued_at.is_(None),
            Call.status.not_in(FINAL_STATUSES),
        )
        .values(accepted_by=user_id, accepted_at=now, agent_phone=phone)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(call)
        if call.accepted_by is not None:
            raise AgentError(409, "taken", "Another agent has this call.")
        raise AgentError(409, "not_waiting", "The call is no longer waiting.")
    session.refresh(call)
    record_act(session, call, "accepted", f"agent {user_id}", user_id=user_id)
    return call


def wrap_up(session: so.Session, sid: str, *, user_id: int, disposition: Any, notes: Any) -> Call:
    """Finish a handled call: a disposition (one of DISPOSITIONS) and notes."""
    if disposition not in DISPOSITIONS:
        raise AgentError(
            422, "invalid", "disposition must be one of: " + ", ".join(DISPOSITIONS), "disposition"
        )
    if notes is not None and not isinstance(notes, str):
        raise AgentError(422, "invalid", "notes must be text", "notes")
    text = clean(notes)
    if len(text) > NOTES_LIMIT:
        raise AgentError(422, "too_long", f"notes are at most {NOTES_LIMIT} characters", "notes")
    call = session.scalars(sa.select(Call).where(Call.sid == sid).with_for_update()).first()
    if call is None:
        raise AgentError(404, "not_found", "No call with that sid.")
    if call.accepted_by is None:
        raise AgentError(409, "not_handled", "Nobody has taken this call: accept it first.")
    if call.wrapped_at is not None:
        raise AgentError(409, "already_wrapped_up", "The call is already wrapped up.")
    call.disposition = str(disposition)
    call.wrap_notes = text or None
    call.wrapped_at = utcnow()
    record_act(session, call, "wrap_up", str(disposition), user_id=user_id)
    return call


# --- callbacks -------------------------------------------------------------------------------


def list_callbacks(session: so.Session, *, status: str = "open") -> list[Callback]:
    """Callbacks to make (open, in their place in line) or made (done, latest first)."""
    if status == "done":
        query = sa.select(Callback).where(Callback.status == queue_service.DONE)
        return list(session.scalars(query.order_by(Callback.done_at.desc(), Callback.id.desc())))
    query = sa.select(Callback).where(Callback.status.in_(_open_statuses()))
    return list(session.scalars(query.order_by(Callback.place_at, Callback.id)))


def _callback(session: so.Session, callback_id: int) -> Callback:
    callback = session.get(Callback, callback_id)
    if callback is None:
        raise AgentError(404, "not_found", "No callback with that id.")
    return callback


def start_callback(
    session: so.Session, callback_id: int, *, user_id: int, agent_phone: Any
) -> Callback:
    """An agent takes an open callback to dial it (one agent at a time: 409 otherwise); the
    call it came from counts as taken by that agent until wrap-up (or no answer)."""
    phone = _agent_phone(agent_phone)
    callback = _callback(session, callback_id)
    _one_at_a_time(session, user_id, callback.call_sid)
    now = utcnow()
    taken = session.execute(
        sa.update(Callback)
        .where(Callback.id == callback.id, Callback.status == queue_service.OPEN)
        .values(status=DIALING, agent_id=user_id, last_try_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(callback)
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        if callback.status == DIALING:
            raise AgentError(409, "taken", "Another agent is calling this one back.")
        raise AgentError(409, "already_done", "This callback is done.")
    call = session.scalars(
        sa.select(Call).where(Call.sid == callback.call_sid).with_for_update()
    ).first()
    if call is not None:  # the agent calling back is the one handling the call now
        call.accepted_by, call.accepted_at = user_id, now
        call.agent_phone = phone
        record_act(session, call, "callback_dialed", f"callback {callback.id}", user_id=user_id)
    return callback


def release_callback(session: so.Session, callback: Callback) -> None:
    """A dial that didn't go out (Twilio refused): the callback is open again for anyone."""
    if callback.status == DIALING:
        callback.status = queue_service.OPEN
        session.flush()


def complete_callback(
    session: so.Session, callback_id: int, *, user_id: int, outcome: Any
) -> Callback:
    """How a try went: reached closes it; no_answer or left_message leaves it open for
    another try, until CALLBACK_TRIES tries: then it is closed as not reached."""
    if outcome not in CALLBACK_OUTCOMES:
        raise AgentError(
            422, "invalid", "outcome must be one of: " + ", ".join(CALLBACK_OUTCOMES), "outcome"
        )
    callback = session.scalars(
        sa.select(Callback).where(Callback.id == callback_id).with_for_update()
    ).first()
    if callback is None:
        raise AgentError(404, "not_found", "No callback with that id.")
    if callback.status == queue_service.DONE:
        raise AgentError(409, "already_done", "This callback is done.")
    now = utcnow()
    callback.tries = (callback.tries or 0) + 1
    callback.agent_id = user_id
    callback.last_try_at = callback.last_try_at or now
    callback.outcome = str(outcome)
    if outcome == "reached":
        callback.status, callback.done_at = queue_service.DONE, now
    elif callback.tries >= CALLBACK_TRIES:
        callback.status, callback.done_at, callback.outcome = queue_service.DONE, now, NOT_REACHED
    else:
        callback.status = queue_service.OPEN
    call = session.scalars(sa.select(Call).where(Call.sid == callback.call_sid)).first()
    if call is not None:
        record_act(
            session, call, "callback_" + str(outcome), f"try {callback.tries}", user_id=user_id
        )
    session.flush()
    return callback


# --- connecting people through Twilio ----------------------------------------------------------


@dataclass(frozen=True)
class Connection:
    """What Twilio was asked to do: `connected` False when nothing was dialed (no
    TWILIO_ACCOUNT_SID, or Twilio refused: `error`)."""

    connected: bool
    conference: str
    agent_call_sid: str | None = None
    caller_call_sid: str | None = None
    error: str | None = None


def conference_name(sid: str) -> str:
    """The room an agent and a caller meet in: named by the call, no patient data."""
    return f"ivr-{sid}"


class Speaking(Protocol):
    """A voice to say something in (ivr.twiml.Voice is one): Twilio's name and a language."""

    @property
    def name(self) -> str: ...

    @property
    def language(self) -> str: ...


@dataclass(frozen=True)
class Pickup:
    """What each side hears as they are connected: the agent a whisper in the agents' own
    language naming the plan and the reason, the caller a line in the caller's language."""

    agent: str
    caller: str
    agent_voice: Speaking
    caller_voice: Speaking


def conference_twiml(
    room: str, *, starts: bool, say: str | None = None, voice: Speaking | None = None
) -> str:
    """TwiML putting a leg in the conference `room`; `starts`: the agent's leg (the room
    opens when they enter), else the caller's (hold music until the agent comes)."""
    response = VoiceResponse()
    if say and voice is not None:
        response.say(clean(say), voice=voice.name, language=voice.language)
    elif say:
        response.say(clean(say))
    dial = Dial()
    dial.conference(
        room,
        start_conference_on_enter=starts,
        end_conference_on_exit=True,
        beep=False,
    )
    response.append(dial)
    return str(response)


def _legs(room: str, pickup: Pickup | None) -> tuple[str, str]:
    """(the agent's TwiML, the caller's TwiML) for one conference."""
    if pickup is None:
        return conference_twiml(room, starts=True), conference_twiml(room, starts=False)
    return (
        conference_twiml(room, starts=True, say=pickup.agent, voice=pickup.agent_voice),
        conference_twiml(room, starts=False, say=pickup.caller, voice=pickup.caller_voice),
    )


def _client(config: Mapping[str, Any], http_client: HttpClient | None) -> Client:
    return Client(
        str(config.get("TWILIO_ACCOUNT_SID") or ""),
        str(config.get("TWILIO_AUTH_TOKEN") or ""),
        http_client=http_client or TwilioHttpClient(timeout=CONNECT_TIMEOUT_S),
    )


def _failure(exc: BaseException) -> str:
    if isinstance(exc, TwilioRestException):
        return f"Twilio HTTP {exc.status}, code {exc.code}"
    return type(exc).__name__


_FAILURES = (TwilioException, requests.RequestException, OSError, ValueError)


def _from_number(config: Mapping[str, Any], call: Call | None) -> str:
    return str(config.get("TWILIO_FROM_NUMBER") or (call.to_number if call else "") or "")


def connect_call(
    call: Call,
    agent_phone: str,
    *,
    config: Mapping[str, Any],
    http_client: HttpClient | None = None,
    pickup: Pickup | None = None,
) -> Connection:
    """Bring an accepted caller and the agent together: the waiting call is redirected
    into a conference (it leaves the queue), then the agent's phone is called into it."""
    room = conference_name(call.sid)
    if not config.get("TWILIO_ACCOUNT_SID"):
        return Connection(False, room, error="not connected: TWILIO_ACCOUNT_SID is not set")
    agent_twiml, caller_twiml = _legs(room, pickup)
    try:
        client = _client(config, http_client)
        client.calls(call.sid).update(twiml=caller_twiml)
        agent = client.calls.create(
            to=agent_phone, from_=_from_number(config, call), twiml=agent_twiml
        )
    except _FAILURES as exc:
        log.warning("connecting call %s to an agent failed: %s", call.sid, _failure(exc))
        return Connection(False, room, error=_failure(exc))
    return Connection(True, room, agent_call_sid=str(agent.sid), caller_call_sid=call.sid)


def connect_callback(
    callback: Callback,
    agent_phone: str,
    *,
    line_number: str | None,
    config: Mapping[str, Any],
    http_client: HttpClient | None = None,
    pickup: Pickup | None = None,
) -> Connection:
    """Call the agent into a conference, then the caller back into the same one."""
    room = conference_name(callback.call_sid)
    if not config.get("TWILIO_ACCOUNT_SID"):
        return Connection(False, room, error="not connected: TWILIO_ACCOUNT_SID is not set")
    from_number = str(config.get("TWILIO_FROM_NUMBER") or line_number or "")
    agent_twiml, caller_twiml = _legs(room, pickup)
    try:
        client = _client(config, http_client)
        agent = client.calls.create(to=agent_phone, from_=from_number, twiml=agent_twiml)
        caller = client.calls.create(
            to=callback.number, from_=str(line_number or from_number), twiml=caller_twiml
        )
    except _FAILURES as exc:
        log.warning("callback %s: dialing failed: %s", callback.id, _failure(exc))
        return Connection(False, room, error=_failure(exc))
    return Connection(True, room, agent_call_sid=str(agent.sid), caller_call_sid=str(caller.sid))


def call_of(session: so.Session, sid: str) -> Call | None:
    return session.scalars(sa.select(Call).where(Call.sid == sid)).first()


def connect_accepted(
    session: so.Session,
    call: Call,
    *,
    user_id: int,
    config: Mapping[str, Any],
    http_client: HttpClient | None = None,
    pickup: Pickup | None = None,
) -> Connection:
    """Connect a call already accepted (and committed, so no other agent can have it) and
    record on the call whether it connected. The API and the console call this alike."""
    connection = connect_call(
        call, call.agent_phone or "", config=config, http_client=http_client, pickup=pickup
    )
    record_act(
        session,
        call,
        "connected" if connection.connected else "not_connected",
        connection.error or (connection.agent_call_sid or ""),
        user_id=user_id,
    )
    return connection


def connect_started_callback(
    session: so.Session,
    callback: Callback,
    agent_phone: str,
    *,
    user_id: int,
    config: Mapping[str, Any],
    http_client: HttpClient | None = None,
    pickup: Pickup | None = None,
) -> Connection:
    """Dial a callback an agent started (committed): on Twilio's refusal it is open again;
    the call's history says whether it connected."""
    connection = connect_callback(
        callback,
        agent_phone,
        line_number=line_number_of(session, callback),
        config=config,
        http_client=http_client,
        pickup=pickup,
    )
    if config.get("TWILIO_ACCOUNT_SID") and not connection.connected:
        release_callback(session, callback)
    call = call_of(session, callback.call_sid)
    if call is not None:
        record_act(
            session,
            call,
            "connected" if connection.connected else "not_connected",
            connection.error or (connection.caller_call_sid or ""),
            user_id=user_id,
        )
    return connection


def line_number_of(session: so.Session, callback: Callback) -> str | None:
    """The line's number the caller dialed (the number they are called back from)."""
    return session.scalar(sa.select(Call.to_number).where(Call.sid == callback.call_sid))
