"""The agent queues' telephony side: hours, how a caller left the line, the wait to expect,
callbacks that keep the caller's place, and messages left after hours."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.services.catalogs import read_csv
from ivr.services.hours import HoursError, Schedule, parse_schedule
from ivr.store.models import Call, Callback, CallEvent, Voicemail, utcnow

QUEUES_FILE = "queues.csv"
# Twilio's QueueResult values, and what the line calls each: a hang-up on hold is abandoned.
RESULTS = {
    "bridged": "bridged",
    "bridging-in-process": "bridged",
    "hangup": "abandoned",
    "redirected": "redirected",
    "queue-full": "queue_full",
    "error": "error",
    "system-error": "error",
    "leave": "leave",
}
# The recent history an estimate is made of: the last answered calls of the queue.
ESTIMATE_WINDOW = dt.timedelta(hours=4)
ESTIMATE_SAMPLE = 20
OPEN, DONE = "open", "done"
HOLD, AFTER_HOURS = "hold", "after_hours"


@dataclass(frozen=True)
class Queue:
    name: str
    description: str
    schedule: Schedule


def read_queues(data_dir: Path) -> dict[str, Queue]:
    """`data/queues.csv`, each queue with its hours; a bad row names its line."""
    path = data_dir / QUEUES_FILE
    queues: dict[str, Queue] = {}
    for line, row in enumerate(read_csv(path), start=2):
        name = row.get("name", "")
        if not name:
            raise HoursError(f"{path.name}:{line}: a queue needs a name")
        schedule = parse_schedule(
            row.get("hours", ""),
            row.get("timezone", ""),
            row.get("holidays", ""),
            where=f"{path.name}:{line}",
        )
        queues[name] = Queue(name, row.get("description", ""), schedule)
    return queues


def is_open(queue: Queue, at: dt.datetime, override: str = "") -> bool:
    """Open now? `override` ("open"/"closed", IVR_HOURS_OVERRIDE) wins over the hours."""
    if override in ("open", "closed"):
        return override == "open"
    return queue.schedule.is_open(at)


def estimated_wait(
    session: so.Session,
    queue: str,
    *,
    waited: int,
    twilio_average: int,
    now: dt.datetime | None = None,
) -> int | None:
    """Seconds still to wait, by the recent answered calls of `queue` (else Twilio's
    AvgQueueTime), less what the caller has waited; at least a minute. None: nothing known."""
    now = now or utcnow()
    recent = session.scalars(
        sa.select(Call.queue_wait_s)
        .where(
            Call.queue == queue,
            Call.dequeued_at >= now - ESTIMATE_WINDOW,
            Call.queue_result == "bridged",
            Call.queue_wait_s.is_not(None),
        )
        .order_by(Call.dequeued_at.desc())
        .limit(ESTIMATE_SAMPLE)
    ).all()
    waits = [w for w in recent if w is not None]
    average = sum(waits) / len(waits) if waits else float(max(twilio_average, 0))
    if average <= 0:
        return None
    return max(60, math.ceil(average - max(waited, 0)))


def minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


def record_outcome(
    session: so.Session, sid: str, result: str, wait_s: int | None, twiml: str
) -> tuple[str, bool]:
    """How the caller left the queue, on the call and as its next event (one per call).

    Returns (the outcome's name, whether it was new); a replayed callback changes nothing.
    """
    call = session.scalars(sa.select(Call).where(Call.sid == sid).with_for_update()).first()
    outcome = RESULTS.get(result, "error")
    if call is None:
        return outcome, False
    if call.dequeued_at is not None:
        return call.queue_result or outcome, False
    now = utcnow()
    call.dequeued_at = now
    call.queue_result = outcome
    call.queue_wait_s = wait_s
    call.turn += 1
    session.add(
        CallEvent(
            call_id=call.id,
            turn=call.turn,
            node=f"queue:{call.queue or ''}"[:120],
            next_node=None,
            input_kind="queue",
            raw_input=f"QueueResult={result[:40]} QueueTime={wait_s if wait_s is not None else ''}",
            matched=outcome,
            outcome=outcome,
            twiml=twiml,
            created_at=now,
        )
    )
    if outcome == "abandoned":
        call.outcome = "abandoned"
    return outcome, True


def outcome_twiml(session: so.Session, sid: str) -> str | None:
    """The TwiML answered when the call's queue outcome was recorded (for a replay)."""
    return session.scalars(
        sa.select(CallEvent.twiml)
        .join(Call, Call.id == CallEvent.call_id)
        .where(Call.sid == sid, CallEvent.input_kind == "queue")
        .order_by(CallEvent.turn.desc())
    ).first()


def request_callback(
    session: so.Session,
    *,
    sid: str,
    number: str,
    queue: str,
    language: str,
    due_at: dt.datetime | None = None,
) -> Callback:
    """Write the call's callback (once: asking again returns the first). Its place in line
    is when the call joined the queue, so a caller who stops holding loses no ground."""
    found = callback_for(session, sid)
    if found is not None:
        return found
    now = utcnow()
    call = session.scalars(sa.select(Call).where(Call.sid == sid)).first()
    place = call.enqueued_at if call is not None and call.enqueued_at is not None else now
    callback = Callback(
        call_sid=sid,
        number=number,
        queue=queue,
        language=language,
        requested_at=now,
        place_at=place,
        due_at=due_at or now,
        status=OPEN,
        tries=0,
    )
    session.add(callback)
    if call is not None:
        call.outcome = "callback"
    session.flush()
    return callback


def callback_for(session: so.Session, sid: str) -> Callback | None:
    return session.scalars(sa.select(Callback).where(Callback.call_sid == sid)).first()


def open_callbacks(session: so.Session, queue: str | None = None) -> list[Callback]:
    """Open callbacks in the order of service: by place in line."""
    query = sa.select(Callback).where(Callback.status == OPEN)
    if queue is not None:
        query = query.where(Callback.queue == queue)
    return list(session.scalars(query.order_by(Callback.place_at, Callback.id)))


def save_voicemail(
    session: so.Session,
    *,
    sid: str,
    recording_sid: str,
    recording_url: str | None,
    duration_s: int | None,
) -> Voicemail:
    """Store a message left after hours (the Record action and the recording callback may
    both report it: one row per recording, the later report filling what was missing)."""
    found = session.scalars(
        sa.select(Voicemail).where(Voicemail.recording_sid == recording_sid)
    ).first()
    if found is not None:
        found.recording_url = recording_url or found.recording_url
        found.duration_s = duration_s if duration_s is not None else found.duration_s
        return found
    call = session.scalars(sa.select(Call).where(Call.sid == sid)).first()
    context = {}
    if call is not None:
        context = {
            "queue": call.queue,
            "reason": call.transfer_reason,
            "node": call.node,
            "plan": call.plan,
            "language": call.language,
        }
        call.outcome = "voicemail"
    voicemail = Voicemail(
        call_sid=sid,
        recording_sid=recording_sid,
        recording_url=recording_url,
        duration_s=duration_s,
        queue=call.queue if call is not None else None,
        context=context,
        status="new",
    )
    session.add(voicemail)
    session.flush()
    return voicemail
