"""Try the line from the console: a sandbox call, run turn by turn on the real engine and
services, as `ivr.voice` runs a caller's, but never a real call.

The call row is marked `sandbox`: it is never listed or counted (the API's calls, the queues,
the supervisor's numbers), never enqueued (a transfer ends the try, naming the queue); its
orders and tickets get SBX numbers no real one can have and its texts are written to the
outbox as "sandbox", which no worker sends. It runs the published bundle, or that bundle with
some flows' YAML or some languages' prompts replaced (a draft), compiled for the try only.
"""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
import yaml

from ivr.config import get_settings
from ivr.engine import CallState, Input, run_turn
from ivr.services import calls
from ivr.store.models import Call, CallEvent, FlowVersion
from ivr.twiml import render, voice_for, xml
from ivr.versions import FlowLoader, Published, read_prompt_tables
from ivr.voice import turn_context
from ivr.webhooks import library

SID_PREFIX = "SANDBOX"
NO_ACTION = "about:blank"  # a sandbox turn's TwiML posts nowhere: the page sends the input


class NotSandbox(LookupError):
    """No sandbox call with that sid (a real call is never run from the console)."""


@dataclass(frozen=True)
class Step:
    """One turn of the try as the page shows it."""

    turn: int
    said_by_caller: str  # digits, words, "(silence)", or "" for the call's start
    heard: tuple[str, ...]  # the <Say> texts of the turn's TwiML
    node: str  # where the call is after the turn
    outcome: str


def bundle_for(
    session: so.Session,
    flows: Mapping[str, str] | None = None,
    prompts: Mapping[str, Mapping[str, Any]] | None = None,
) -> Published:
    """The published version, or it with the given flows' YAML and languages' prompt tables
    in place of its own (id 0: compiled for the try, never stored). FlowError: the draft
    does not compile; yaml.YAMLError: it cannot be read."""
    current = library().current(session)
    if not flows and not prompts:
        return current
    row = session.get(FlowVersion, current.id)
    assert row is not None
    docs = dict(row.content["flows"])
    for name, text in (flows or {}).items():
        docs[name] = yaml.load(text, Loader=FlowLoader)
    tables = dict(row.prompts or read_prompt_tables(library().prompts_dir))
    tables.update(prompts or {})
    content = {"flows": docs, "files": row.content.get("files")}
    return library().load(0, "try", content, tables, row.criteria)


def start(session: so.Session, version: Published) -> str:
    """Start a sandbox call on `version` and play its first turn; returns its sid."""
    sid = SID_PREFIX + secrets.token_hex(16)
    current = library().current(session)  # the row needs a stored version: the published
    calls.start_call(
        session,
        sid=sid,
        from_number=None,
        to_number=None,
        flow_version_id=current.id,
        node=version.bundle.start,
        language=get_settings().default_language,
        sandbox=True,
    )
    take_turn(session, sid, Input("start"), version)
    return sid


def _locked(session: so.Session, sid: str) -> calls.CallRow:
    if not sid.startswith(SID_PREFIX) or not calls.is_sandbox(session, sid):
        raise NotSandbox(sid)
    call = calls.lock_call(session, sid)
    if call is None:
        raise NotSandbox(sid)
    return call


def take_turn(session: so.Session, sid: str, inp: Input, version: Published) -> bool:
    """Run the caller's next input on the sandbox call; False when the call has ended."""
    started = time.perf_counter()
    call = _locked(session, sid)
    if ended(session, sid):
        return False
    state = CallState(
        node=call.node,
        slots=dict(call.slots or {}),
        attempts=call.attempts,
        language=call.language,
        scratch=dict(call.scratch or {}),
        stack=call.stack,
    )
    turn = run_turn(version.bundle, state, inp, turn_context(session, call, version))
    voice = voice_for(turn.state.language, get_settings().say_voice)
    body = xml(render(turn, action_url=NO_ACTION, voice=voice))
    latency = int((time.perf_counter() - started) * 1000)
    calls.record_turn(session, call, call.turn + 1, turn, body, latency, enqueued=False)
    if turn.transfer is not None or turn.hangup:
        session.execute(sa.update(Call).where(Call.sid == sid).values(status="completed"))
    return True


def ended(session: so.Session, sid: str) -> bool:
    return session.scalar(sa.select(Call.status).where(Call.sid == sid)) == "completed"


def heard_in(twiml: str | None) -> tuple[str, ...]:
    """The texts a caller hears in a TwiML document (its <Say> elements, in order)."""
    if not twiml:
        return ()
    root = ET.fromstring(twiml)  # noqa: S314  (our own TwiML)
    return tuple(" ".join((say.text or "").split()) for say in root.iter("Say"))


def steps(session: so.Session, sid: str) -> list[Step]:
    """The try so far, turn by turn; NotSandbox for any other call."""
    call = session.scalars(sa.select(Call).where(Call.sid == sid, Call.sandbox.is_(True))).first()
    if call is None:
        raise NotSandbox(sid)
    events = session.scalars(
        sa.select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.turn)
    )
    out = []
    for ev in events:
        if ev.input_kind == "start":
            said = ""
        elif ev.input_kind == "none":
            said = "(silence)"
        else:
            said = ev.raw_input or ""
        out.append(Step(ev.turn, said, heard_in(ev.twiml), ev.next_node or "", ev.outcome or ""))
    return out


def transfer_of(session: so.Session, sid: str) -> str | None:
    """The queue the try ended in a transfer to, if it did."""
    return session.scalar(sa.select(Call.queue).where(Call.sid == sid, Call.sandbox.is_(True)))
