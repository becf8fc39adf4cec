"""The agent's call page: accept a waiting call from the queue view, read what the caller
said and heard, finish the draft order (the phone's checks, the same criteria), read the order
number to the caller, and wrap up. Every act goes through ivr.services (agents, drafts), in the
order the JSON API uses (ivr/api/agents.py), so the console is no second implementation."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import NotFound

from ivr.auth import audit
from ivr.config import get_settings
from ivr.console import bp
from ivr.console.signin import AGENTS, current_user, require
from ivr.db import get_session
from ivr.hold import pickup
from ivr.services import agents, drafts, lifecycle, orders, redaction, tickets, validity
from ivr.services.agents import AgentError
from ivr.store.models import Call, Callback, CallEvent, Order, OrderStatus, User

PHONE_KEY = "agent_phone"  # the agent's phone, remembered in the console session
TAKEN_MESSAGE = "Another agent took this call."
OPEN_CALL_MESSAGE = "Wrap up your open call before you take another."
# The draft's fields on the form, in the order a caller gives them, with their labels.
FIELDS = (
    ("ordering_npi", "Ordering physician NPI"),
    ("plan", "Health plan code"),
    ("member_id", "Member ID"),
    ("member_dob", "Member date of birth (YYYY-MM-DD)"),
    ("exam_code", "Exam (CPT code)"),
    ("diagnosis_codes", "Diagnosis codes (ICD-10-CM, comma separated)"),
    ("facility_npi", "Imaging facility NPI"),
    ("symptoms", "Symptoms"),
    ("clinical_history", "Clinical history"),
)
DISPOSITION_LABELS = {
    "order_issued": "Order issued",
    "order_updated": "Order updated",
    "password_reset": "Password reset",
    "ticket_closed": "Ticket closed",
    "callback_scheduled": "Callback scheduled",
    "no_action": "No action",
}
CALLBACK_OUTCOME_LABELS = {
    "reached": "Reached the caller",
    "no_answer": "No answer",
    "left_message": "Left a message",
}


def refused_message(exc: AgentError) -> str:
    """What the console says when taking a call or a callback is refused."""
    if exc.field == "agent_phone":
        return "Set your phone first: calls you accept ring it."
    if exc.code == "open_call":
        return OPEN_CALL_MESSAGE
    if exc.code == "taken":
        return TAKEN_MESSAGE
    return str(exc)


def _user() -> User:
    user = current_user()
    assert user is not None  # require() let only signed-in agents through
    return user


def _call(db: so.Session, sid: str) -> Call:
    call = db.scalars(sa.select(Call).where(Call.sid == sid, Call.sandbox.is_(False))).first()
    if call is None:
        raise NotFound()
    return call


def _draft(db: so.Session, call: Call) -> Order | None:
    """The order the call left: its draft, or the one submitted from this page since."""
    return db.scalars(
        sa.select(Order).where(Order.call_sid == call.sid).order_by(Order.id.desc()).limit(1)
    ).first()


def _heard(twiml: str) -> list[str]:
    try:
        root = ET.fromstring(twiml) if twiml.strip().startswith("<") else None
    except ET.ParseError:
        return []
    return [el.text.strip() for el in root.iter("Say") if el.text] if root is not None else []


def _turns(db: so.Session, call: Call) -> list[dict[str, Any]]:
    """Each turn: where it was, what the caller did (or the agent's act), what they heard."""
    events = db.scalars(
        sa.select(CallEvent).where(CallEvent.call_id == call.id).order_by(CallEvent.turn)
    ).all()
    # What the line read back and the store withheld (`ivr.services.redaction`), spoken
    # again from the call's slots for the agent, who may read them.
    prompts = None
    if any("⟦" in (e.twiml or "") for e in events):
        library = current_app.extensions["ivr.flows"]
        prompts = library.version(db, call.flow_version_id).prompts_for(call.language)
    out = []
    for e in events:
        twiml = e.twiml or ""
        if prompts is not None:
            twiml = redaction.restore_twiml(twiml, call.slots or {}, prompts)
        said, matched = e.raw_input or "", e.matched
        if e.input_kind == "agent":  # the agent's act: what, and its detail
            act = e.outcome.replace("_", " ")
            said = said if said.startswith(act) else f"{act}: {said}".rstrip(": ")
            matched = None
        out.append(
            {
                "turn": e.turn,
                "node": e.node,
                "kind": e.input_kind,
                "said": said,
                "matched": matched if matched and matched != e.raw_input else None,
                "confidence": e.confidence,
                "heard": _heard(twiml),
            }
        )
    return out


def _form_value(order: Order, name: str) -> str:
    value = getattr(order, name)
    if value is None:
        return ""
    if name == "diagnosis_codes":
        return ", ".join(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _changes(order: Order, form: Any) -> dict[str, Any]:
    """The fields the agent changed on the form (names as edit_draft takes them)."""
    changes: dict[str, Any] = {}
    for name, _label in FIELDS:
        if name not in form:
            continue
        raw = form.get(name, "").strip()
        if raw == _form_value(order, name):
            continue
        if name == "diagnosis_codes":
            codes = [c.strip() for c in raw.replace(";", ",").split(",") if c.strip()]
            changes[name] = codes
        else:
            changes[name] = raw or None if name in ("symptoms", "clinical_history") else raw
    return changes


def _questions(db: so.Session, order: Order, language: str) -> list[dict[str, Any]]:
    """The criteria questions the order's rule still asks (what submit would ask for)."""
    if order.status != OrderStatus.DRAFT or not order.exam_code or not order.diagnosis_codes:
        return []
    criteria = drafts.criteria_for(db, order)
    rule = criteria.rule_for(order.exam_code, list(order.diagnosis_codes))
    if rule is None:
        return []
    given = dict(order.criteria_answers or {}) if order.criteria_rule in (None, rule.id) else {}
    return [
        {"id": q.id, "text": q.text(language), "expect": q.expect}
        for q in rule.questions
        if q.id not in given
    ]


def _page(
    db: so.Session,
    call: Call,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    answers: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    wrap_errors: dict[str, str] | None = None,
    lookup: str = "",
    existing: dict[str, Any] | None = None,
) -> ResponseReturnValue:
    order = _draft(db, call)
    language = call.language or "en-US"
    form_values = {name: _form_value(order, name) for name, _ in FIELDS} if order else {}
    form_values |= values or {}
    return (
        render_template(
            "console/call.html",
            call=call,
            reason=agents.reason_in_words(call.transfer_reason),
            context=agents.call_context(call),
            turns=_turns(db, call),
            order=order,
            fields=FIELDS,
            values=form_values,
            questions=_questions(db, order, language) if order else [],
            answers=answers or {},
            errors=errors or {},
            wrap_errors=wrap_errors or {},
            dispositions=DISPOSITION_LABELS,
            mine=call.accepted_by == _user().id,
            lookup=lookup,
            existing=existing,
            tickets=tickets.of_call(db, call.sid),
            callback=db.scalars(sa.select(Callback).where(Callback.call_sid == call.sid)).first(),
            outcomes=CALLBACK_OUTCOME_LABELS,
        ),
        status,
    )


@bp.post("/phone")
@require(*AGENTS)
def remember_phone() -> ResponseReturnValue:
    phone = agents.e164(request.form.get(PHONE_KEY, ""))
    if phone is None:
        flash("Your phone must be a phone number, like +1 212 555 0143.", "error")
    else:
        session[PHONE_KEY] = phone
        flash(f"Calls you accept ring {phone}.", "note")
    return redirect(url_for("console.queues"))


@bp.post("/calls/<sid>/accept")
@require(*AGENTS)
def accept(sid: str) -> ResponseReturnValue:
    """Take a waiting call (the API's accept, then connect, then record the connection)."""
    user = _user()
    db = get_session()
    try:
        call = agents.accept(db, sid, user_id=user.id, agent_phone=session.get(PHONE_KEY))
    except AgentError as exc:
        db.rollback()
        flash(refused_message(exc), "error")
        return redirect(url_for("console.queues"))
    audit(db, user, "accept", "call", sid)
    db.commit()  # the call is ours before anyone is dialed
    agents.connect_accepted(
        db,
        call,
        user_id=user.id,
        config=current_app.config,
        http_client=current_app.extensions.get("ivr.twilio_http"),
        pickup=pickup(db, call),
    )
    db.commit()
    return redirect(url_for("console.call_page", sid=sid))


@bp.get("/calls/<sid>")
@require(*AGENTS)
def call_page(sid: str) -> ResponseReturnValue:
    db = get_session()
    call = _call(db, sid)
    audit(db, _user(), "read", "call", sid)
    draft = _draft(db, call)
    if draft is not None:  # shown in the page's form
        audit(db, _user(), "read", "order", draft.reference_number)
    number = request.args.get("order", "").strip()[:20]
    existing: dict[str, Any] | None = None
    if number:
        found = _existing(db, number)
        if found is not None:
            existing = existing_view(db, found)
            audit(db, _user(), "read", "order", number)
    db.commit()
    return _page(db, call, lookup=number, existing=existing)


def _order_of(db: so.Session, call: Call) -> Order:
    order = _draft(db, call)
    if order is None:
        raise NotFound()
    return order


@bp.post("/calls/<sid>/order")
@require(*AGENTS)
def save_order(sid: str) -> ResponseReturnValue:
    """Save the draft's fields, and with `submit` submit it with the criteria answers."""
    user = _user()
    db = get_session()
    call = _call(db, sid)
    order = _order_of(db, call)
    form = request.form
    values = {name: form.get(name, "") for name, _ in FIELDS if name in form}
    answers = {k[len("answer-") :]: v for k, v in form.items() if k.startswith("answer-")}
    try:
        changes = _changes(order, form)
        if changes:
            drafts.edit_draft(db, order, changes, user_id=user.id)
        if "submit" in form:
            given = {k: v for k, v in answers.items() if v.strip()}
            drafts.submit_draft(
                db,
                order,
                given,
                criteria=drafts.criteria_for(db, order),
                zone=get_settings().timezone,
                user_id=user.id,
                language=call.language or "en-US",
            )
    except drafts.FieldError as exc:
        db.rollback()
        errors = {exc.field: _sentence(str(exc))}
        return _page(db, call, status=422, values=values, answers=answers, errors=errors)
    except drafts.Incomplete as exc:
        db.rollback()
        errors = {}
        for m in exc.missing:
            key = f"answer-{m['question_id']}" if "question_id" in m else m["field"]
            errors.setdefault(key, _sentence(m["message"]))
        return _page(db, call, status=422, values=values, answers=answers, errors=errors)
    except orders.OrderError as exc:
        db.rollback()
        flash(_sentence(str(exc)), "error")
        return redirect(url_for("console.call_page", sid=sid))
    audit(db, user, "submit" if "submit" in form else "edit", "order", order.reference_number)
    db.commit()
    if "submit" not in form:
        flash("The draft is saved.", "note")
    return redirect(url_for("console.call_page", sid=sid))


def _sentence(text: str) -> str:
    text = text.replace("_", " ")
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


@bp.post("/calls/<sid>/wrap-up")
@require(*AGENTS)
def wrap_up(sid: str) -> ResponseReturnValue:
    user = _user()
    db = get_session()
    call = _call(db, sid)
    try:
        agents.wrap_up(
            db,
            sid,
            user_id=user.id,
            disposition=request.form.get("disposition") or None,
            notes=request.form.get("notes", ""),
        )
    except AgentError as exc:
        db.rollback()
        if exc.field:
            message = (
                "Choose how the call ended." if exc.field == "disposition" else _sentence(str(exc))
            )
            return _page(db, call, status=422, wrap_errors={exc.field: message})
        flash(_sentence(str(exc)), "error")
        return redirect(url_for("console.call_page", sid=sid))
    audit(db, user, "wrap_up", "call", sid)
    db.commit()
    flash("The call is wrapped up.", "note")
    return redirect(url_for("console.queues"))


@bp.app_template_filter("valid_through")
def valid_through(expires: dt.datetime) -> str:
    """The last day an order is valid, in the line's zone: the day the phone says, not the
    instant it lapses (midnight after it)."""
    return validity.last_day(expires, get_settings().timezone).isoformat()


# --- an existing order the caller asks about ----------------------------------------------

ORDER_ACTS = ("extend", "cancel", "change-provider")


def _existing(db: so.Session, number: str) -> Order | None:
    order = orders.find(db, number) if number.strip().isdigit() else None
    return order if order is not None and order.status != OrderStatus.DRAFT else None


def existing_view(db: so.Session, order: Order) -> dict[str, Any]:
    settings = get_settings()
    now = dt.datetime.now(dt.UTC)
    status = orders.effective_status(order, now)
    return {
        "number": order.order_number or order.reference_number,
        "status": status.value.replace("_", " "),
        "valid_through": valid_through(order.expires_at) if order.expires_at else None,
        "days_left": lifecycle.days_left(order, settings.timezone, now),
        "exam_code": order.exam_code,
        "facility_npi": order.facility_npi,
        "can_extend": lifecycle.can_extend(
            order, now, settings.timezone, settings.extension_window_days
        )
        == "ok",
        "changeable": status in lifecycle.CANCELLABLE,
    }


@bp.post("/calls/<sid>/orders/<number>/<act>")
@require(*AGENTS)
def order_act(sid: str, number: str, act: str) -> ResponseReturnValue:
    """The lifecycle's acts on the caller's order (as /api/v1/orders/<number>/<act>), each an
    order event with the agent's user id and the call's sid, and a call event."""
    if act not in ORDER_ACTS:
        raise NotFound()
    user = _user()
    db = get_session()
    call = _call(db, sid)
    order = _existing(db, number)
    if order is None:
        raise NotFound()
    settings = get_settings()
    actor = lifecycle.Actor(call_sid=call.sid, user_id=user.id)
    form = request.form
    try:
        if act == "extend":
            result = lifecycle.extend(
                db,
                order,
                actor,
                zone=settings.timezone,
                window_days=settings.extension_window_days,
            )
            message = f"Extended: the new order number is {result.order_number}."
        elif act == "cancel":
            result = lifecycle.cancel(db, order, actor, reason=form.get("reason", ""))
            message = "The order is cancelled."
        else:
            npi = form.get("facility_npi", "").strip()
            if not (npi.isascii() and npi.isdigit() and len(npi) == 10):
                raise orders.OrderError("invalid_facility_npi", "the facility NPI is 10 digits")
            result = lifecycle.change_provider(db, order, actor, facility_npi=npi)
            message = "The order is moved to the new facility."
    except orders.OrderError as exc:
        db.rollback()
        flash(_sentence(str(exc)), "error")
        return redirect(url_for("console.call_page", sid=sid, order=number))
    agents.record_act(db, call, f"order_{act.replace('-', '_')}", number, user_id=user.id)
    audit(db, user, act.replace("-", "_"), "order", number)
    db.commit()
    flash(message, "note")
    shown = result.order_number or result.reference_number
    return redirect(url_for("console.call_page", sid=sid, order=shown))
