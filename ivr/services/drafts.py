"""A draft order finished by a person (an agent, from the API or the console): edit its
fields with the checks the phone makes, then submit it against the same clinical criteria.

Functions take a Session first, never commit, and write an order_events row with the user.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.criteria import Criteria, Question, load_rules, parse_answer, parse_rules
from ivr.match.icd import valid_code
from ivr.match.ids import npi_is_valid
from ivr.safetext import clean
from ivr.services.orders import OrderError, record_event, snapshot, submit
from ivr.store.models import (
    Call,
    ExamType,
    FlowVersion,
    Member,
    Order,
    OrderStatus,
    Plan,
    Provider,
    utcnow,
)

DEFAULT_CRITERIA = Path(__file__).resolve().parents[2] / "data" / "criteria.yaml"
# The fields of the order JSON an agent may change on a draft.
EDITABLE = (
    "plan",
    "member_id",
    "member_dob",
    "ordering_npi",
    "exam_code",
    "diagnosis_codes",
    "facility_npi",
    "symptoms",
    "clinical_history",
)
REQUIRED = ("plan", "member_id", "member_dob", "ordering_npi", "exam_code", "facility_npi")
TEXT_LIMIT = 2000


class FieldError(OrderError):
    """A field the checks refuse (422 naming `field`)."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(code, message)
        self.field = field


class Incomplete(OrderError):
    """What a draft still lacks before it can be submitted: each missing field, each criteria
    question still to answer, each answer that doesn't fit its question."""

    def __init__(self, missing: list[dict[str, Any]]) -> None:
        super().__init__("incomplete", "missing: " + ", ".join(m["field"] for m in missing))
        self.missing = missing


def _text(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError(field, "invalid", f"{field} must be text")
    text = clean(value)
    if len(text) > TEXT_LIMIT:
        raise FieldError(field, "too_long", f"{field} is at most {TEXT_LIMIT} characters")
    return text or None


def _digits(field: str, value: Any, length: int | None = None) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text.isascii() or not text.isdigit() or (length and len(text) != length):
        shape = f"{length} digits" if length else "digits"
        raise FieldError(field, "invalid", f"{field} must be {shape}")
    return text


def _normalized(session: so.Session, field: str, value: Any) -> Any:
    """One field's new value, checked on its own as the phone checks that answer."""
    if field == "plan":
        plan = session.get(Plan, value) if isinstance(value, str) else None
        if plan is None or not plan.active:
            raise FieldError(field, "unknown_plan", "no active plan with that code")
        return plan.code
    if field == "member_id":
        member_id = _digits(field, value)
        if len(member_id) > 12:
            raise FieldError(field, "invalid", "member_id is at most 12 digits")
        return member_id
    if field == "member_dob":
        try:
            born = dt.date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            born = None
        if born is None or born > dt.date.today():
            raise FieldError(field, "invalid_date", "member_dob must be a past date, YYYY-MM-DD")
        return born
    if field == "ordering_npi":
        npi = _digits(field, value, 10)
        if not npi_is_valid(npi):
            raise FieldError(field, "bad_check_digit", "the NPI's check digit is wrong")
        doctor = session.get(Provider, npi)
        if doctor is None or doctor.role != "ordering":
            raise FieldError(field, "unknown_physician", "no ordering physician on file with it")
        return npi
    if field == "exam_code":
        exam = session.get(ExamType, value) if isinstance(value, str) else None
        if exam is None or not exam.active:
            raise FieldError(field, "unknown_exam", "no exam in the catalog with that code")
        return exam.code
    if field == "diagnosis_codes":
        codes = [value] if isinstance(value, str) else value
        if not isinstance(codes, list) or not codes:
            raise FieldError(field, "invalid", "diagnosis_codes must be a list of ICD-10-CM codes")
        out = []
        for code in codes:
            valid = valid_code(code) if isinstance(code, str) else None
            if valid is None:
                raise FieldError(field, "invalid_diagnosis", "not an ICD-10-CM code")
            out.append(valid)
        return list(dict.fromkeys(out))
    if field == "facility_npi":
        npi = _digits(field, value, 10)
        facility = session.get(Provider, npi)
        if facility is None or facility.role != "facility":
            raise FieldError(field, "unknown_facility", "no imaging facility on file with it")
        return npi
    return _text(field, value)  # symptoms, clinical_history


def _member(session: so.Session, plan: str, member_id: str) -> Member | None:
    return session.scalars(
        sa.select(Member).where(Member.plan_code == plan, Member.member_id == member_id)
    ).first()


def _check_together(session: so.Session, values: Mapping[str, Any], changed: set[str]) -> None:
    """What is checked across fields: the member and date of birth in the plan, the facility
    in the plan's network (only where one of them changed, and all are known)."""
    plan, member_id, born = values["plan"], values["member_id"], values["member_dob"]
    if changed & {"plan", "member_id", "member_dob"} and plan and member_id and born:
        member = _member(session, plan, member_id)
        if member is None or member.date_of_birth != born:
            field = "member_dob" if "member_dob" in changed and member is not None else "member_id"
            if "member_id" not in changed and "member_dob" not in changed:
                field = "plan"
            raise FieldError(
                field, "member_not_found", "no member of the plan with that id and date of birth"
            )
    facility_npi = values["facility_npi"]
    if changed & {"plan", "facility_npi"} and plan and facility_npi:
        facility = session.get(Provider, facility_npi)
        if facility is not None and plan not in (facility.plans or []):
            field = "facility_npi" if "facility_npi" in changed else "plan"
            raise FieldError(field, "not_in_network", "the facility is not in the plan's network")


def edit_draft(
    session: so.Session, order: Order, changes: Mapping[str, Any], *, user_id: int | None
) -> Order:
    """Change a draft's fields (names as in the order JSON), each checked as the phone checks
    it; FieldError names the first bad field, OrderError("not_a_draft") once submitted."""
    if order.status != OrderStatus.DRAFT:
        raise OrderError("not_a_draft", f"the request is already {order.status.value}")
    for name in changes:
        if name not in EDITABLE:
            raise FieldError(name, "not_editable", f"{name} can't be changed on a draft")
    new = {name: _normalized(session, name, value) for name, value in changes.items()}
    values = {name: getattr(order, name) for name in EDITABLE} | new
    _check_together(session, values, set(new))
    changed = {k: v for k, v in new.items() if getattr(order, k) != v}
    if not changed:
        return order
    before = snapshot(order, list(changed))
    for name, value in changed.items():
        setattr(order, name, value)
        if name in ("symptoms", "clinical_history"):
            setattr(order, f"{name}_confidence", None)  # a person wrote it down
    if "exam_code" in changed or "diagnosis_codes" in changed:
        order.criteria_answers = {}  # another exam or diagnosis brings other questions
    session.flush()
    record_event(session, order, "edited", before, snapshot(order, list(changed)), user_id=user_id)
    return order


def criteria_for(session: so.Session, order: Order) -> Criteria:
    """The criteria the order's call heard (its published version); for an order without
    a call, the newest published version's; with nothing published yet, the project's own
    data/criteria.yaml (a service reads no settings)."""
    newest = sa.select(FlowVersion.criteria).where(FlowVersion.criteria.is_not(None))
    if order.call_sid:
        heard = newest.join(Call, Call.flow_version_id == FlowVersion.id).where(
            Call.sid == order.call_sid
        )
        data = session.scalar(heard)
        if data is not None:
            return parse_rules(data)
    data = session.scalar(newest.order_by(FlowVersion.id.desc()).limit(1))
    if data is not None:
        return parse_rules(data)
    return load_rules(DEFAULT_CRITERIA)


def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _question_view(question: Question, language: str) -> dict[str, Any]:
    return {
        "field": f"answers.{question.id}",
        "question_id": question.id,
        "question": question.text(language),
        "expect": question.expect,
    }


def submit_draft(
    session: so.Session,
    order: Order,
    answers: Mapping[str, Any],
    *,
    criteria: Criteria,
    zone: str,
    user_id: int | None,
    language: str = "en-US",
    now: dt.datetime | None = None,
) -> Order:
    """Submit a draft a person finished: `answers` ({question_id: value}) to the criteria
    questions of the rule that applies; the same decision the phone makes (approved with an
    order number, or pended for review). Incomplete lists each missing field and answer."""
    if order.status != OrderStatus.DRAFT:
        raise OrderError("not_a_draft", f"the request is already {order.status.value}")
    missing: list[dict[str, Any]] = [
        {"field": name, "message": f"{name} is required"}
        for name in REQUIRED
        if not getattr(order, name)
    ]
    if not order.diagnosis_codes:
        missing.append({"field": "diagnosis_codes", "message": "a diagnosis is required"})
    if missing:
        raise Incomplete(missing)
    diagnoses = list(order.diagnosis_codes or [])
    rule = criteria.rule_for(order.exam_code or "", diagnoses)
    given = (
        dict(order.criteria_answers or {})
        if rule and order.criteria_rule in (None, rule.id)
        else {}
    )
    questions = {q.id: q for q in rule.questions} if rule else {}
    for qid, raw in answers.items():
        question = questions.get(qid)
        value = parse_answer(question, raw) if question is not None else None
        if value is None:
            why = "no such question for this request" if question is None else "doesn't fit"
            missing.append({"field": f"answers.{qid}", "question_id": qid, "message": why})
        else:
            given[qid] = value
    if missing:
        raise Incomplete(missing)
    now = now or utcnow()
    member = _member(session, order.plan or "", order.member_id or "")
    exam = session.get(ExamType, order.exam_code or "")
    facts = {
        "age": _age(member.date_of_birth, now.date()) if member is not None else None,
        "plan": order.plan,
        "exam": order.exam_code,
        "modality": exam.modality if exam is not None else None,
        "diagnoses": diagnoses,
    }
    if rule is not None:
        still = criteria.open_questions(rule, given, facts)
        if still:
            raise Incomplete(
                [{**_question_view(q, language), "message": "not answered"} for q in still]
            )
    decision = criteria.decide(rule, given, facts)
    if given != dict(order.criteria_answers or {}):
        before = snapshot(order, ["criteria_answers"])
        order.criteria_answers = given
        record_event(
            session, order, "answered", before, snapshot(order, ["criteria_answers"]),
            user_id=user_id,
        )  # fmt: skip
    return submit(
        session,
        order,
        outcome=decision.outcome,
        rule_id=decision.rule_id,
        reason=decision.reason_text(language) or None,
        zone=zone,
        now=now,
        user_id=user_id,
    )
