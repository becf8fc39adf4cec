"""The order-number intake's flow actions: checks on answers, drafts, criteria, submission.

Each is registered by name for `flows/order.yaml`; each takes the turn's session, facts
about the call (sid, caller id, plan, language, today), the node's params and the slots.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.actions.registry import Facts, action, language_of
from ivr.criteria import Criteria, Question, Rule, load_rules, parse_answer
from ivr.engine import ActionResult
from ivr.match.ids import normalize_phone, npi_is_valid
from ivr.services import orders, validity
from ivr.store.models import Member, Provider

DATA_DIR = Path(__file__).resolve().parents[2] / "data"


@functools.cache
def criteria_rules(path: str = str(DATA_DIR / "criteria.yaml")) -> Criteria:
    """The clinical criteria file, parsed once per process."""
    return load_rules(Path(path))


def _rules(facts: Facts) -> Criteria:
    """The criteria of the call's published version (the file only outside a call)."""
    return facts.criteria if facts.criteria is not None else criteria_rules()


def _today(facts: Facts) -> dt.date:
    return facts.today or dt.date.today()


@action("caller_physician", outcomes={"found", "none"}, fills={"suggested_npi", "suggested_name"})
def caller_physician(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """Offer the ordering physician whose office phone matches the caller id."""
    phone = normalize_phone(facts.from_number)
    if phone is None:
        return ActionResult("none")
    doctor = session.scalars(
        sa.select(Provider)
        .where(Provider.phone == phone, Provider.role == "ordering")
        .order_by(Provider.npi)
    ).first()
    if doctor is None:
        return ActionResult("none")
    return ActionResult("found", {"suggested_npi": doctor.npi, "suggested_name": doctor.said})


@action("use_suggested_physician", outcomes={"ok"}, fills={"ordering_npi", "ordering_name"})
def use_suggested_physician(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    if not slots.get("suggested_npi"):
        return ActionResult("error")
    return ActionResult(
        "ok", {"ordering_npi": slots["suggested_npi"], "ordering_name": slots["suggested_name"]}
    )


@action(
    "check_ordering_npi", outcomes={"ok", "bad_check_digit", "unknown"}, fills={"ordering_name"}
)
def check_ordering_npi(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """A 10-digit NPI with a good check digit, of an ordering physician on file."""
    npi = str(params.get("value") or "")
    if not npi_is_valid(npi):
        return ActionResult("bad_check_digit")
    doctor = session.get(Provider, npi)
    if doctor is None or doctor.role != "ordering":
        return ActionResult("unknown")
    return ActionResult("ok", {"ordering_name": doctor.said})


@action("verify_member", outcomes={"ok", "not_found"}, fills={"member_age", "member_name"})
def verify_member(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """The member id and date of birth belong to one member of the selected plan."""
    plan, member_id, dob = slots.get("plan"), slots.get("member_id"), slots.get("member_dob")
    try:
        born = dt.date.fromisoformat(str(dob))
    except ValueError:
        return ActionResult("not_found")
    member = session.scalars(
        sa.select(Member).where(Member.plan_code == plan, Member.member_id == member_id)
    ).first()
    if member is None or member.date_of_birth != born:
        return ActionResult("not_found")
    today = _today(facts)
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return ActionResult(
        "ok", {"member_name": f"{member.first_name} {member.last_name}", "member_age": age}
    )


@action("check_facility", outcomes={"ok", "unknown", "not_in_network"}, fills={"facility_name"})
def check_facility(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """The imaging provider is a facility in network for the caller's plan."""
    facility = session.get(Provider, str(params.get("value") or ""))
    if facility is None or facility.role != "facility":
        return ActionResult("unknown")
    if slots.get("plan") not in (facility.plans or []):
        return ActionResult("not_in_network", {"facility_name": facility.said})
    return ActionResult("ok", {"facility_name": facility.said})


@action("save_draft", outcomes={"ok"}, fills={"reference_number"})
def save_draft(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """Keep what the caller has said so far, so a dropped call leaves a draft for an agent."""
    order = orders.save_draft(session, call_sid=facts.call_sid, slots=slots)
    return ActionResult("ok", {"reference_number": order.reference_number})


def _criteria_facts(slots: Mapping[str, Any]) -> dict[str, Any]:
    diagnosis = slots.get("diagnosis")
    return {
        "age": slots.get("member_age"),
        "plan": slots.get("plan"),
        "exam": slots.get("exam"),
        "modality": slots.get("exam_modality"),
        "diagnoses": [diagnosis] if diagnosis else [],
    }


@action(
    "criteria_next",
    outcomes={"done", "yesno", "number"},
    fills={"criteria_rule", "criteria_qid", "criteria_question"},
)
def criteria_next(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """The next question the clinical criteria ask, or `done`."""
    rules = _rules(facts)
    diagnoses = [slots["diagnosis"]] if slots.get("diagnosis") else []
    rule = rules.rule_for(str(slots.get("exam") or ""), diagnoses)
    if rule is None:
        return ActionResult("done", {"criteria_rule": None})
    answers = dict((slots.get("criteria_answers") or {}).get(rule.id, {}))
    question = rules.next_question(rule, answers, _criteria_facts(slots))
    if question is None:
        return ActionResult("done", {"criteria_rule": rule.id})
    language = language_of(facts)
    return ActionResult(
        question.expect,
        {
            "criteria_rule": rule.id,
            "criteria_qid": question.id,
            "criteria_question": question.text(language),
        },
    )


def _asked(facts: Facts, slots: Mapping[str, Any]) -> tuple[Rule | None, Question | None]:
    """The rule and question that `criteria_next` put to the caller."""
    rule = next((r for r in _rules(facts).rules if r.id == slots.get("criteria_rule")), None)
    if rule is None:
        return None, None
    return rule, next((q for q in rule.questions if q.id == slots.get("criteria_qid")), None)


@action(
    "criteria_record", outcomes={"ok", "invalid"}, fills={"criteria_answers", "criteria_answer"}
)
def criteria_record(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    rule, question = _asked(facts, slots)
    if rule is None or question is None:
        return ActionResult("error")
    value = parse_answer(question, slots.get("criteria_answer"))
    if value is None:
        return ActionResult("invalid")
    all_answers = {k: dict(v) for k, v in (slots.get("criteria_answers") or {}).items()}
    all_answers.setdefault(rule.id, {})[question.id] = value
    return ActionResult("ok", {"criteria_answers": all_answers, "criteria_answer": None})


@action(
    "submit_order",
    outcomes={"approved", "pending_review"},
    fills={"reference_number", "order_number", "expires_on"},
)
def submit_order(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """Decide against the criteria and submit: an order number, or pended for review."""
    order = orders.save_draft(session, call_sid=facts.call_sid, slots=slots)
    rules = _rules(facts)
    diagnoses = list(order.diagnosis_codes or [])
    rule = rules.rule_for(order.exam_code or "", diagnoses)
    answers = dict((slots.get("criteria_answers") or {}).get(rule.id, {})) if rule else {}
    decision = rules.decide(rule, answers, _criteria_facts(slots))
    language = language_of(facts)
    try:
        orders.submit(
            session,
            order,
            outcome=decision.outcome,
            rule_id=decision.rule_id,
            reason=decision.reason_text(language) or None,
            zone=facts.timezone,
            call_sid=facts.call_sid,
        )
    except orders.OrderError:
        return ActionResult("error")
    out: dict[str, Any] = {"reference_number": order.reference_number}
    if order.order_number and order.expires_at:
        out["order_number"] = order.order_number
        out["expires_on"] = validity.last_day(order.expires_at, facts.timezone).isoformat()
    return ActionResult(order.status.value, out)


@action("exam_details", outcomes={"ok", "unknown"}, fills={"exam_modality"})
def exam_details(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """The chosen exam is active; note its modality for the criteria."""
    from ivr.store.models import ExamType

    exam = session.get(ExamType, str(params.get("value") or ""))
    if exam is None or not exam.active:
        return ActionResult("unknown")
    return ActionResult("ok", {"exam_modality": exam.modality})


@action("criteria_check", outcomes={"ok", "invalid"}, fills=set())
def criteria_check(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """A number answer within the question's range, before it is recorded."""
    _rule, question = _asked(facts, slots)
    if question is None:
        return ActionResult("error")
    if parse_answer(question, params.get("value")) is None:
        return ActionResult("invalid")
    return ActionResult("ok")


# What one order's answers fill, cleared for the next order of the call. The plan stays;
# "keep: patient" also keeps the physician and the verified patient.
ORDER_SLOTS = (
    "exam", "exam_name", "exam_sure", "exam_modality", "exam_open",
    "diagnosis", "diagnosis_name", "diagnosis_sure", "diagnosis_open", "diagnosis_words",
    "diagnosis_detail", "diagnosis_more", "diagnosis_more_name", "diagnosis_added",
    "diagnosis_added_said",
    "exam_contrast",
    "symptoms", "symptoms_confidence", "clinical_history", "clinical_history_confidence",
    "facility", "facility_name",
    "criteria_rule", "criteria_qid", "criteria_question", "criteria_answers", "criteria_answer",
    "reference_number", "order_number", "expires_on",
)  # fmt: skip
PATIENT_SLOTS = ("member_id", "member_dob", "member_name", "member_age")
# The engine's own notes: the question being changed, and each question's visits (a second
# order gets the tries the first had).
ENGINE_SLOTS: dict[str, Any] = {"_changing": None, "_visits": {}}


@action("start_another_order", outcomes={"ok"}, fills=set())
def start_another_order(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """Clear the last order's answers so the intake makes a new draft and a new order.

    The submitted order stays as it is in the store: the next answer saved finds no draft
    for the call and starts one. `keep`: "patient" (same physician and patient) or
    "physician" (another patient of the same physician).
    """
    keep = params.get("keep")
    if keep not in ("patient", "physician"):
        return ActionResult("error")
    cleared = ORDER_SLOTS if keep == "patient" else ORDER_SLOTS + PATIENT_SLOTS
    return ActionResult("ok", {**{name: None for name in cleared}, **ENGINE_SLOTS})


@action("choose_exam_contrast", outcomes={"ok"}, fills={"exam", "exam_name", "exam_modality"})
def choose_exam_contrast(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """The exam becomes the variant with the contrast the caller chose."""
    from ivr.services.catalogs import exam_variant
    from ivr.store.models import ExamType

    chosen = exam_variant(
        session, str(slots.get("exam") or ""), str(slots.get("exam_contrast")), facts.language
    )
    exam = session.get(ExamType, chosen.value) if chosen else None
    if chosen is None or exam is None:
        return ActionResult("error")
    return ActionResult(
        "ok",
        {
            "exam": chosen.value,
            "exam_name": chosen.said,
            "exam_modality": exam.modality,
            "exam_open": None,
            "exam_contrast": None,
        },
    )


@action(
    "add_more_diagnosis",
    outcomes={"ok"},
    fills={"diagnosis_added", "diagnosis_added_said", "diagnosis_more", "diagnosis_more_name"},
)
def add_more_diagnosis(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """The second complaint said in one breath with the first ("chest pain and shortness
    of breath"), added as an additional diagnosis when the caller said yes (`add: true`);
    the readback says it after the first (`diagnosis_added_said`)."""
    cleared: dict[str, Any] = {"diagnosis_more": None, "diagnosis_more_name": None}
    more, name = slots.get("diagnosis_more"), slots.get("diagnosis_more_name")
    if not params.get("add") or not more or more == slots.get("diagnosis"):
        return ActionResult(
            "ok", {**cleared, "diagnosis_added": None, "diagnosis_added_said": None}
        )
    said = f"; {name or more}"
    return ActionResult("ok", {**cleared, "diagnosis_added": more, "diagnosis_added_said": said})


@action(
    "refine_diagnosis",
    outcomes={"ok"},
    fills={"diagnosis", "diagnosis_name", "diagnosis_sure"},
)
def refine_diagnosis(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """The general word ("pain") and the follow-up ("the left knee") matched together.

    A match that says more than the general code is taken (read back when unsure); one
    that says no more leaves the general code, to be confirmed by the caller.
    """
    from ivr.match.icd import CONFIDENT, default_index

    general, detail = slots.get("diagnosis_open"), slots.get("diagnosis_detail")
    cleared: dict[str, Any] = {"diagnosis_open": None, "diagnosis_detail": None}
    found = default_index().match(f"{general} {detail}") if general and detail else None
    if found is None or found.open or found.value == slots.get("diagnosis"):
        return ActionResult("ok", {**cleared, "diagnosis_sure": False})
    return ActionResult(
        "ok",
        {
            **cleared,
            "diagnosis": found.value,
            "diagnosis_name": found.said,
            "diagnosis_sure": found.score >= CONFIDENT,
        },
    )
