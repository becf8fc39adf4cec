"""The order-number intake (main menu 1, `flows/order.yaml`), as whole calls.

Each test dials in, answers the intake by keypad and/or speech, and checks what the caller
hears and what lands in the store (`orders`, `order_events`, `calls`). The people, patients
and facilities are the seeded ones from `data/*.csv`. Tests marked `xfail(strict=True)` show
a product bug; the reason names it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import yaml
from flask.testing import FlaskClient

from ivr.match.ids import luhn_valid
from ivr.simulate import Caller, FlaskTransport, SimulatedCall
from ivr.store.models import Call, ExamType, Order, OrderStatus, Provider
from tests.conftest import AUTH_TOKEN, bearer
from tests.said import said

# --- who and what the calls use (data/providers.csv, members.csv, exam_types.csv) --------

WHITFIELD = "1234567893"  # Dr. Alan Whitfield, ordering; office phone below
WHITFIELD_PHONE = "+16145550119"
KOWALSKI = "1355776018"  # Dr. Robert Kowalski, ordering
RAMAN = "1349106546"  # Dr. Priya Raman, ordering
LAKESIDE = "2358850222"  # Lakeside Diagnostic Imaging: SUMMIT, LAKESHORE, ...
LINCOLN_PARK = "1696037682"  # Lincoln Park Radiology: SUMMIT, ...
NORTHGATE = "2625149945"  # Northgate Imaging Center: LAKESHORE, not SUMMIT
ST_BRIGID_PHONE = "+12605550106"  # a facility's phone, not a physician's

LOPEZ = "100200300"  # SUMMIT, Maria Lopez, born 1960-03-05 (over 50)
DELUCA = "961671404"  # SUMMIT, Olumide DeLuca, born 1998-02-07 (under 50)
OKAFOR = "4455667788"  # LAKESHORE, James Okafor, born 1948-11-23

# --- what the caller hears (prompts/en-US.yaml, data/criteria.yaml) ----------------------

INTRO = said("order.intro")
ASK_NPI = "Enter the ordering physician's 10-digit NPI."
NPI_REPROMPT = (
    "Please enter the ordering physician's National Provider Identifier, 10 digits, on your keypad."
)
ASK_MEMBER = said("order.member.ask")
ASK_DOB = said("order.dob.ask")
DOB_REPROMPT = (
    "Please enter the date of birth as 8 digits, for example 0 3 0 5 1 9 6 0 for "
    "March 5th, 1960, or say it."
)
ASK_EXAM = said("order.exam.ask")
EXAM_REPROMPT = (
    "Please say the type of scan and the body part, for example CT of the head without "
    "contrast, or enter the procedure code."
)
ASK_DIAGNOSIS = said("order.diagnosis.ask")
DIAGNOSIS_REPROMPT = said("order.diagnosis.reprompt")
ASK_SYMPTOMS = said("order.symptoms.ask")
ASK_HISTORY = said("order.history.ask")
ASK_FACILITY = said("order.facility.ask")
FACILITY_REPROMPT = (
    "Please enter the NPI of the facility that will perform the exam, or say the facility's name."
)
NO_MATCH = "Sorry, I didn't understand that."
REVIEW_MENU = said("order.review.menu")
CHANGE_MENU = (
    "To change the physician, press 1. The patient, 2. The exam, 3. The diagnosis, 4. "
    "The symptoms and history, 5. The imaging provider, 6. To go back, press 9."
)
# After the number: hear it again, done, or another order (same patient 3, another 4).
ISSUED_MENU = said("order.issued.more_menu")
PENDED_MENU = said("order.pended_more_menu")
GOODBYE = "Thank you for calling. Goodbye."
AGENT_HELP = (
    "Let me get a representative to help finish this request. They'll see what you've "
    "told me so far. Please hold."
)
NOT_FOUND = (
    "I couldn't find a member with that ID and date of birth in Summit Health Plan. "
    "Let's try again."
)


def _lumbar_questions() -> dict[str, str]:
    """The lumbar MRI's criteria questions as the line asks them, by id (data/criteria.yaml)."""
    path = Path(__file__).resolve().parent.parent / "data" / "criteria.yaml"
    rules = yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]
    lumbar = next(r for r in rules if r["id"] == "lumbar_mri_low_back_pain")
    return {q["id"]: q["text"]["en-US"] for q in lumbar["questions"]}


# The warning signs are asked one at a time (issue 10); a yes to any one approves.
RED_FLAGS = [text for qid, text in _lumbar_questions().items() if qid.startswith("red_flag_")]
RED_FLAG = RED_FLAGS[0]
NO_RED_FLAG = ["2"] * len(RED_FLAGS)  # the keys that answer no to each
NO_RED_FLAG_ANSWERS: dict[str, Any] = {
    qid: False for qid in _lumbar_questions() if qid.startswith("red_flag_")
}
# The weeks are asked first: six of each approve with no warning sign asked.
WEEKS_SYMPTOMS = _lumbar_questions()["weeks_symptoms"]
WEEKS_CARE = _lumbar_questions()["weeks_conservative_care"]
LUMBAR_REASON = (
    "Low back pain without a warning sign, in a patient 50 or younger, with fewer than six "
    "weeks of symptoms or of provider-directed care."
)
SUDDEN_HEADACHE = (
    "Did the headache start suddenly, as the worst headache of the patient's life? "
    "Press 1 for yes, 2 for no."
)

ORDER_NUMBER_READ = re.compile(r"Your order number is (\d \d \d, \d \d \d, \d \d \d)\. Again: \1\.")
REFERENCE_READ = re.compile(
    r"Your reference number is (\d \d \d, \d \d \d, \d \d \d \d)\. Again: \1\."
)


# --- answering the intake ------------------------------------------------------------------


@dataclass(frozen=True)
class Press:
    digits: str


@dataclass(frozen=True)
class Say:
    words: str
    confidence: float = 0.92


Answer = Press | Say

SUMMIT_KEY = Press("1")  # the plan menu
NEW_ORDER_KEY = Press("1")  # the main menu
SYMPTOMS = "Headaches every morning for three weeks"
HISTORY = "Ibuprofen without relief, normal eye exam"

# The intake's questions in order, each answered by KEYPAD unless a test says otherwise.
STEPS = ("npi", "member", "dob", "exam", "diagnosis", "symptoms", "history", "facility")
KEYPAD: dict[str, Answer] = {
    "npi": Press(WHITFIELD),
    "member": Press(LOPEZ),
    "dob": Press("03051960"),
    "exam": Press("70450"),  # CT of the head without contrast: no clinical rule
    "diagnosis": Say("headache"),  # diagnosis, symptoms and history are speech only
    "symptoms": Say(SYMPTOMS, 0.81),
    "history": Say(HISTORY, 0.77),
    "facility": Press(LAKESIDE),
}
ASKED = {
    "npi": ASK_NPI,
    "member": ASK_MEMBER,
    "dob": ASK_DOB,
    "exam": ASK_EXAM,
    "diagnosis": ASK_DIAGNOSIS,
    "symptoms": ASK_SYMPTOMS,
    "history": ASK_HISTORY,
    "facility": ASK_FACILITY,
}
# A lumbar MRI for low back pain, for a SUMMIT member under 50: the criteria ask.
LUMBAR_UNDER_50: dict[str, Answer] = {
    "member": Press(DELUCA),
    "dob": Press("02071998"),
    "exam": Press("72148"),
    "diagnosis": Say("low back pain"),
    "symptoms": Say("Low back pain for three weeks, no trauma"),
    "history": Say("Two weeks of naproxen"),
}


def give(call: SimulatedCall, answer: Answer) -> SimulatedCall:
    if isinstance(answer, Press):
        return call.press(answer.digits)
    return call.say(answer.words, confidence=answer.confidence)


def start_intake(
    caller: Caller, plan: Answer = SUMMIT_KEY, menu: Answer = NEW_ORDER_KEY
) -> SimulatedCall:
    """Dial, choose the plan (1 = Summit Health Plan) and main menu 1: the intake starts."""
    call = give(give(caller.dial(), plan), menu)
    assert call.heard[0] == INTRO, call.heard
    return call


def answer(
    call: SimulatedCall, *, start: str = "npi", stop: str | None = None, **answers: Answer
) -> SimulatedCall:
    """Answer the intake's questions from `start` up to (not including) `stop`."""
    steps = STEPS[STEPS.index(start) :]
    for step in steps[: steps.index(stop) if stop else None]:
        assert call.gather is not None, f"the call ended before {step}: {call.heard}"
        give(call, answers.get(step, KEYPAD[step]))
    return call


def at_question(caller: Caller, step: str, **answers: Answer) -> SimulatedCall:
    """A call waiting at the question for `step`."""
    call = answer(start_intake(caller), stop=step, **answers)
    assert call.heard[-1] == ASKED[step], call.heard
    return call


def at_review(caller: Caller, **answers: Answer) -> SimulatedCall:
    call = answer(start_intake(caller), **answers)
    assert call.heard[-1] == REVIEW_MENU, call.heard
    return call


def readback(call: SimulatedCall) -> str:
    lines = [line for line in call.heard if " Ordered by " in line]
    assert lines, call.heard
    return lines[0]


def spoken_date(day: dt.date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def digits(grouped: str) -> str:
    return re.sub(r"\D", "", grouped)


# --- reading the store ------------------------------------------------------------------


def orders_of(session: Any, sid: str) -> list[Order]:
    session.rollback()  # a fresh snapshot: see what the app committed since
    return list(session.scalars(sa.select(Order).where(Order.call_sid == sid).order_by(Order.id)))


def order_of(session: Any, sid: str) -> Order:
    found = orders_of(session, sid)
    assert len(found) == 1, f"{len(found)} orders for the call"
    return found[0]


def call_row(session: Any, sid: str) -> Call:
    session.rollback()
    return session.scalars(sa.select(Call).where(Call.sid == sid)).one()


def kinds(order: Order) -> list[str]:
    return [e.kind for e in order.events]


@pytest.fixture
def make_caller(client: FlaskClient) -> Callable[..., Caller]:
    """Callers from other phones, e.g. an ordering physician's office (the caller id)."""

    def make(**kwargs: Any) -> Caller:
        return Caller(FlaskTransport(client), auth_token=AUTH_TOKEN, **kwargs)

    return make


# --- how each question's keypad answer ends ------------------------------------------------

# numDigits of each intake question's <Gather>: a fixed-length keypad answer (NPI, date,
# procedure code, facility NPI) is taken on its last key; the member id (9 to 12 digits) and
# the diagnosis code end on `#`; at symptoms and history the one key, `#`, skips at once.
ENDS_ON_KEY: dict[str, str | None] = {
    "npi": "10",
    "member": None,
    "dob": "8",
    "exam": "5",
    "diagnosis": None,
    "symptoms": "1",
    "history": "1",
    "facility": "10",
}


def test_each_intake_question_ends_on_its_last_key_or_on_pound(caller: Caller) -> None:
    # Changed with keypad-only calls: every question takes keys (the diagnosis its code, the
    # free-text ones `#` to skip); `#` is the skip itself there, not a key that ends one.
    call = start_intake(caller)
    for step in STEPS:
        gather = call.gather
        assert gather is not None, (step, call.heard)
        assert gather.get("numDigits") == ENDS_ON_KEY[step], step
        skips = step in ("symptoms", "history")
        assert gather.get("finishOnKey") == ("" if skips else "#"), step
        assert gather.get("input") == "dtmf speech", step
        give(call, KEYPAD[step])
    assert call.heard[-1] == REVIEW_MENU
    assert call.gather is not None and call.gather.get("numDigits") == "1"
    call.press("2")  # change one item: 1 to 6, and 9 to go back, each one key
    assert call.gather is not None and call.gather.get("numDigits") == "1"


# --- whole intakes: approved and pended ------------------------------------------------


def test_keypad_intake_is_approved_with_every_field_stored(caller: Caller, session: Any) -> None:
    call = at_review(caller)
    assert readback(call) == (
        "CT of the head without contrast, for Maria Lopez, "
        "born March 5, 1960. Diagnosis: Headache, unspecified. Ordered by Dr. Alan "
        "Whitfield, at Lakeside Diagnostic Imaging."
    )
    assert order_of(session, call.sid).status == OrderStatus.DRAFT

    call.press("1")
    heard = call.heard[0]
    read = ORDER_NUMBER_READ.search(heard)
    assert read, heard
    assert heard.startswith("Approved. ")
    assert "An order number is not a guarantee of payment" in heard
    assert call.heard[-1] == ISSUED_MENU

    order = order_of(session, call.sid)
    assert order.status == OrderStatus.APPROVED
    number = order.order_number
    assert number is not None and len(number) == 9 and luhn_valid(number)
    assert digits(read.group(1)) == number
    assert order.issued_at is not None and order.expires_at is not None
    # Valid through the 60th day after the day of issue in the line's zone (New York), to
    # the end of that day; the caller hears that day, not the UTC date of the instant.
    issued_on = order.issued_at.astimezone(ZoneInfo("America/New_York")).date()
    through = issued_on + dt.timedelta(days=60)
    assert order.expires_at == dt.datetime.combine(
        through + dt.timedelta(days=1), dt.time(0), tzinfo=ZoneInfo("America/New_York")
    )
    assert f"It's valid for 60 days, through {spoken_date(through)}." in heard
    assert order.submitted_at == order.issued_at
    assert (
        order.plan,
        order.member_id,
        order.member_dob,
        order.ordering_npi,
        order.exam_code,
        order.diagnosis_codes,
        order.facility_npi,
        order.symptoms,
        order.clinical_history,
        order.call_sid,
        order.source,
    ) == (
        "SUMMIT",
        LOPEZ,
        dt.date(1960, 3, 5),
        WHITFIELD,
        "70450",
        ["R51.9"],
        LAKESIDE,
        SYMPTOMS,
        HISTORY,
        call.sid,
        "phone",
    )
    assert order.symptoms_confidence == pytest.approx(0.81)
    assert order.clinical_history_confidence == pytest.approx(0.77)
    assert (order.criteria_rule, order.decision_reason) == (None, None)
    assert len(order.reference_number) == 10 and luhn_valid(order.reference_number)
    assert kinds(order)[0] == "created" and kinds(order)[-1] == "submitted"
    submitted = order.events[-1]
    assert submitted.call_sid == call.sid
    assert submitted.before == {"status": "draft", "order_number": None}
    assert submitted.after is not None
    assert (submitted.after["status"], submitted.after["order_number"]) == ("approved", number)

    call.press("1")
    assert call.heard == [f"Your order number is {read.group(1)}.", ISSUED_MENU]
    call.press("2")
    assert call.heard == [GOODBYE]
    assert call.reply.hung_up
    row = call_row(session, call.sid)
    assert (row.outcome, row.plan) == ("self_service", "SUMMIT")


def test_speech_only_intake_is_approved(caller: Caller, session: Any) -> None:
    call = start_intake(caller, plan=Say("Summit Health"), menu=Say("new order"))
    answer(
        call,
        npi=Say("one two three four five six seven eight nine three"),
        member=Say("one zero zero two zero zero three zero zero"),
        dob=Say("March 5th 1960"),
        exam=Say("MRI of the brain without contrast"),
        diagnosis=Say("migraine"),
        symptoms=Say("Throbbing headaches with nausea for two months", 0.88),
        history=Say("Sumatriptan helps a little"),
        facility=Say("Lakeside Diagnostic Imaging"),
    )
    # Brain MRI for a migraine: the criteria ask, and spoken yes and no answer them.
    assert call.heard == [SUDDEN_HEADACHE]
    call.say("no").say("nope").say("no")
    assert call.heard == [
        "Is this a new kind of headache that started in the last few months? "
        "Press 1 for yes, 2 for no."
    ]
    call.say("yes")
    assert readback(call).startswith(
        "MRI of the brain without contrast, for Maria Lopez, "
        "born March 5, 1960. Diagnosis: Migraine"
    )
    call.say("submit")
    read = ORDER_NUMBER_READ.search(call.text)
    assert read, call.heard
    call.say("done")
    assert call.heard == [GOODBYE] and call.reply.hung_up

    order = order_of(session, call.sid)
    assert order.status == OrderStatus.APPROVED
    assert digits(read.group(1)) == order.order_number
    assert (order.plan, order.ordering_npi, order.member_id, order.exam_code) == (
        "SUMMIT",
        WHITFIELD,
        LOPEZ,
        "70551",
    )
    assert order.member_dob == dt.date(1960, 3, 5)
    assert order.diagnosis_codes[0].startswith("G43")
    assert order.facility_npi == LAKESIDE
    assert order.symptoms == "Throbbing headaches with nausea for two months"
    assert order.symptoms_confidence == pytest.approx(0.88)
    assert order.criteria_rule == "brain_mri_headache"
    assert order.criteria_answers == {
        "sudden_worst_headache": False,
        "neuro_deficit": False,
        "cancer_history": False,
        "new_headache": True,
    }


def test_mixed_intake_over_50_is_approved_without_questions(caller: Caller, session: Any) -> None:
    """Lakeshore by voice, then keys and words mixed; a lumbar MRI for a member over 50 is
    settled by age, so no question is asked whose answer could not change the outcome."""
    call = start_intake(caller, plan=Say("lake shore"), menu=Press("1"))
    answer(
        call,
        npi=Say("one three four nine one zero six five four six"),
        member=Press(OKAFOR + "#"),
        dob=Say("November 23rd 1948"),
        exam=Say("MRI lumbar spine without contrast"),
        diagnosis=Say("M 54.50"),
        symptoms=Say("Low back pain radiating to the left leg"),
        history=Say("Six weeks of physical therapy"),
        facility=Say("Northgate Imaging Center"),
    )
    assert readback(call) == (
        "MRI of the lower spine without contrast, for "
        "James Okafor, born November 23, 1948. Diagnosis: Low back pain, "
        "unspecified. Ordered by Dr. Priya Raman, at Northgate Imaging Center."
    )
    call.press("1")
    assert ORDER_NUMBER_READ.search(call.text), call.heard
    order = order_of(session, call.sid)
    assert (order.status, order.plan, order.ordering_npi, order.member_id) == (
        OrderStatus.APPROVED,
        "LAKESHORE",
        RAMAN,
        OKAFOR,
    )
    assert (order.exam_code, order.diagnosis_codes, order.facility_npi) == (
        "72148",
        ["M54.50"],
        NORTHGATE,
    )
    assert (order.criteria_rule, order.criteria_answers) == ("lumbar_mri_low_back_pain", {})


def press_each(call: SimulatedCall, keys: list[str]) -> list[str]:
    """The question the call is at, then the last thing heard after each key."""
    heard = [call.heard[-1]]
    for key in keys:
        call.press(key)
        heard.append(call.heard[-1])
    return heard


@pytest.mark.parametrize(
    ("keys", "questions", "answers"),
    [
        (
            ["3#", *NO_RED_FLAG],  # under 6 weeks, weeks of care can't decide: not asked
            [WEEKS_SYMPTOMS, *RED_FLAGS],
            {"weeks_symptoms": 3, **NO_RED_FLAG_ANSWERS},
        ),
        (
            ["8#", "2#", *NO_RED_FLAG],
            [WEEKS_SYMPTOMS, WEEKS_CARE, *RED_FLAGS],
            {"weeks_symptoms": 8, "weeks_conservative_care": 2, **NO_RED_FLAG_ANSWERS},
        ),
    ],
    ids=["short-symptoms", "short-care"],
)
def test_lumbar_mri_under_50_without_red_flag_is_pended(
    caller: Caller, session: Any, keys: list[str], questions: list[str], answers: dict[str, Any]
) -> None:
    call = answer(start_intake(caller), **LUMBAR_UNDER_50)
    heard = press_each(call, keys)
    assert heard[:-1] == questions
    assert heard[-1] == REVIEW_MENU

    call.press("1")
    heard = call.heard[0]
    assert heard.startswith("This request needs a clinician's review.")
    assert "A clinician will review it and follow up with the ordering office" in heard
    read = REFERENCE_READ.search(heard)
    assert read, heard
    assert "order number" not in heard
    assert call.heard[-1] == PENDED_MENU

    order = order_of(session, call.sid)
    assert order.status == OrderStatus.PENDING_REVIEW
    assert order.order_number is None
    assert (order.issued_at, order.expires_at) == (None, None)
    assert order.submitted_at is not None
    assert digits(read.group(1)) == order.reference_number
    assert len(order.reference_number) == 10 and luhn_valid(order.reference_number)
    assert order.criteria_rule == "lumbar_mri_low_back_pain"
    assert order.criteria_answers == answers
    assert order.decision_reason == LUMBAR_REASON
    assert order.events[-1].after == {
        "status": "pending_review",
        "order_number": None,
        "expires_at": None,
    }

    call.press("1")  # only the number again, not the whole paragraph
    assert call.heard == [f"Your reference number is {read.group(1)}.", PENDED_MENU]
    call.press("2")
    assert call.heard == [GOODBYE] and call.reply.hung_up


@pytest.mark.parametrize(
    ("keys", "questions", "answers"),
    [
        (["3#", "1"], [WEEKS_SYMPTOMS, RED_FLAG], {"weeks_symptoms": 3, "red_flag_trauma": True}),
        (
            ["3#", "2", "2", "1"],
            [WEEKS_SYMPTOMS, *RED_FLAGS[:3]],
            {
                "weeks_symptoms": 3,
                "red_flag_trauma": False,
                "red_flag_cancer": False,
                "red_flag_infection": True,
            },
        ),
        (
            ["8#", "6#"],  # six weeks of each: approved, no warning sign asked
            [WEEKS_SYMPTOMS, WEEKS_CARE],
            {"weeks_symptoms": 8, "weeks_conservative_care": 6},
        ),
    ],
    ids=["red-flag", "third-red-flag", "six-weeks-of-care"],
)
def test_lumbar_mri_under_50_that_meets_the_criteria_is_approved(
    caller: Caller, session: Any, keys: list[str], questions: list[str], answers: dict[str, Any]
) -> None:
    call = answer(start_intake(caller), **LUMBAR_UNDER_50)
    heard = press_each(call, keys)
    assert heard == [*questions, REVIEW_MENU]
    call.press("1")
    assert call.heard[0].startswith("Approved. ")
    order = order_of(session, call.sid)
    assert order.status == OrderStatus.APPROVED
    assert order.order_number is not None and luhn_valid(order.order_number)
    assert (order.criteria_rule, order.criteria_answers) == ("lumbar_mri_low_back_pain", answers)


# --- each answer checked, with its reason --------------------------------------------------


@pytest.mark.parametrize(
    ("entered", "reason"),
    [
        (Press("1234567890"), "That NPI doesn't look right; a digit may be off."),
        (Press("1234567801"), "That NPI doesn't look right; a digit may be off."),
        (Press("1234567802"), "I couldn't find an ordering physician with that NPI."),
        (Press(LAKESIDE), "I couldn't find an ordering physician with that NPI."),
        (Press("12345"), "An NPI has 10 digits."),
        (Press("12345678901"), "An NPI has 10 digits."),
        (Say("one two three"), "An NPI has 10 digits."),
    ],
    ids=["check-digit", "check-digit-2", "unknown", "a-facility", "short", "long", "spoken-short"],
)
def test_a_wrong_npi_is_refused_with_its_reason_then_a_good_one_works(
    caller: Caller, session: Any, entered: Answer, reason: str
) -> None:
    call = at_question(caller, "npi")
    give(call, entered)
    assert call.heard == [reason, NPI_REPROMPT]
    assert orders_of(session, call.sid) == []
    call.press(WHITFIELD)
    assert call.heard == [ASK_MEMBER]
    assert order_of(session, call.sid).ordering_npi == WHITFIELD


def test_three_bad_npis_reach_the_orders_queue(caller: Caller, session: Any) -> None:
    call = at_question(caller, "npi")
    call.press("1234567890").press("1234567890")
    assert call.gather is not None
    call.press("1234567890")
    assert call.heard == [AGENT_HELP]
    assert call.enqueued == "orders"
    row = call_row(session, call.sid)
    assert (row.queue, row.outcome, row.transfer_reason) == (
        "orders",
        "transferred",
        "intake_help: invalid at order.ask_npi",
    )


@pytest.mark.parametrize(
    ("member", "dob"),
    [
        (OKAFOR, "11231948"),  # a Lakeshore member, on a Summit call
        (LOPEZ, "03061960"),  # the right member, a day off
        ("999999999", "03051960"),  # nobody
    ],
    ids=["other-plan", "wrong-dob", "unknown-id"],
)
def test_a_member_not_in_the_plan_is_not_found_then_a_retry_works(
    caller: Caller, session: Any, member: str, dob: str
) -> None:
    call = at_question(caller, "member")
    call.press(member)
    assert call.heard == [ASK_DOB]
    call.press(dob)
    assert call.heard == [NOT_FOUND, ASK_MEMBER]
    assert order_of(session, call.sid).member_id is None
    call.press(LOPEZ).press("03051960")
    assert call.heard == [ASK_EXAM]
    order = order_of(session, call.sid)
    assert (order.member_id, order.member_dob) == (LOPEZ, dt.date(1960, 3, 5))


def test_three_member_failures_transfer_with_the_draft_kept(caller: Caller, session: Any) -> None:
    call = at_question(caller, "member")
    for dob in ("03061960", "03071960"):
        call.press(LOPEZ).press(dob)
        assert call.heard == [NOT_FOUND, ASK_MEMBER]
    call.press(LOPEZ).press("03081960")
    assert call.heard == [NOT_FOUND, AGENT_HELP]
    assert call.enqueued == "orders"
    assert (
        call_row(session, call.sid).transfer_reason
        == "intake_help: too many tries at order.ask_member"
    )
    draft = order_of(session, call.sid)
    assert draft.status == OrderStatus.DRAFT
    assert (draft.plan, draft.ordering_npi, draft.member_id, draft.exam_code) == (
        "SUMMIT",
        WHITFIELD,
        None,
        None,
    )
    assert draft.order_number is None and luhn_valid(draft.reference_number)


def test_a_member_id_of_the_wrong_length_is_refused(caller: Caller) -> None:
    call = at_question(caller, "member")
    call.press("1234#")
    assert call.heard == [
        "A member ID has 9 to 12 digits.",
        "Please enter the patient's member ID from the plan card, 9 to 12 digits, then "
        "press pound.",
    ]
    call.press(LOPEZ + "#")
    assert call.heard == [ASK_DOB]


@pytest.mark.parametrize(
    ("entered", "reason"),
    [
        (Press("02301960"), "That isn't a valid date."),
        (Press("13051960"), "That isn't a valid date."),
        (Press("01011850"), "That isn't a valid date."),
        (Press("12312099"), "That date is in the future."),
        (Press("0305"), "I didn't get a date."),
        (Say("February 30th 1960"), "That isn't a valid date."),
        (Say("March 5th 2090"), "That date is in the future."),
    ],
    ids=[
        "feb-30",
        "month-13",
        "before-1900",
        "future",
        "too-short",
        "spoken-feb-30",
        "spoken-2090",
    ],
)
def test_an_impossible_or_future_birth_date_is_refused(
    caller: Caller, entered: Answer, reason: str
) -> None:
    call = at_question(caller, "dob")
    give(call, entered)
    assert call.heard == [reason, DOB_REPROMPT]
    call.say("March 5th 1960")
    assert call.heard == [ASK_EXAM]


@pytest.mark.parametrize("entered", [Press("99999"), Press("7045"), Say("purple elephant")])
def test_an_unknown_exam_is_asked_again(caller: Caller, session: Any, entered: Answer) -> None:
    call = at_question(caller, "exam")
    give(call, entered)
    assert call.heard[-1] == EXAM_REPROMPT
    assert order_of(session, call.sid).exam_code is None
    call.press("70450")
    assert call.heard == [ASK_DIAGNOSIS]
    assert order_of(session, call.sid).exam_code == "70450"


@pytest.mark.parametrize(
    ("step", "entered", "reason"),
    [
        (
            "exam",
            Press("99999"),
            "That exam doesn't need an order number from this line, or I couldn't find it.",
        ),
        ("facility", Press("2625149940"), "I couldn't find that imaging provider."),
        ("facility", Press(WHITFIELD), "I couldn't find that imaging provider."),
    ],
    ids=["exam-code", "facility-npi", "physician-npi-as-facility"],
)
def test_an_unknown_exam_code_or_facility_npi_hears_its_reason(
    caller: Caller, step: str, entered: Answer, reason: str
) -> None:
    call = at_question(caller, step)
    give(call, entered)
    assert call.heard[0] == reason


@pytest.mark.parametrize("spoken", ["purple elephant sandwich", "banana telephone", "xyzzy"])
def test_nonsense_diagnosis_speech_is_asked_again(
    caller: Caller, session: Any, spoken: str
) -> None:
    call = at_question(caller, "diagnosis")
    call.say(spoken)
    assert call.heard == [NO_MATCH, DIAGNOSIS_REPROMPT]
    assert order_of(session, call.sid).diagnosis_codes == []
    call.say("low back pain")
    assert call.heard == [ASK_SYMPTOMS]
    assert order_of(session, call.sid).diagnosis_codes == ["M54.50"]


@pytest.mark.parametrize(
    "entered", [Press(NORTHGATE), Say("Northgate Imaging Center")], ids=["npi", "name"]
)
def test_a_facility_out_of_network_is_refused(
    caller: Caller, session: Any, entered: Answer
) -> None:
    call = at_question(caller, "facility")
    give(call, entered)
    assert call.heard == [
        "Northgate Imaging Center isn't in network for Summit Health Plan. "
        "Please choose another imaging provider.",
        FACILITY_REPROMPT,
    ]
    assert order_of(session, call.sid).facility_npi is None
    call.say("Lincoln Park Radiology")
    assert "at Lincoln Park Radiology." in readback(call)
    assert order_of(session, call.sid).facility_npi == LINCOLN_PARK


@pytest.mark.parametrize("step", ["symptoms", "history"])
def test_keys_at_a_free_speech_question_ask_to_say_it(caller: Caller, step: str) -> None:
    # Changed with keypad-only calls: these questions take `#` (skip), so other keys hear
    # "say it, or press pound to skip" rather than "say it".
    call = at_question(caller, step)
    assert call.gather is not None and call.gather.get("input") == "dtmf speech"
    call.press("1")
    assert call.heard[0] == said("order.text.say_or_skip")
    assert call.gather is not None and call.gather.get("input") == "dtmf speech"


def test_keys_no_code_fits_at_the_diagnosis_question_are_asked_again(caller: Caller) -> None:
    # Changed with keypad-only calls: keys are a code now; M54 (6 5 4) is a category, no
    # billable code, so the caller hears why and is asked again.
    call = at_question(caller, "diagnosis")
    assert call.gather is not None and call.gather.get("input") == "dtmf speech"
    call.press("654#")
    assert call.heard == [said("order.diagnosis.no_code"), DIAGNOSIS_REPROMPT]


@pytest.mark.parametrize(
    ("step", "wrong", "reason", "kept"),
    [
        (
            "dob",
            Press("02301960"),
            "intake_help: invalid at order.ask_dob",
            {"ordering_npi": WHITFIELD},
        ),
        (
            "exam",
            Press("99999"),
            "intake_help: invalid at order.ask_exam",
            {"member_id": LOPEZ, "member_dob": dt.date(1960, 3, 5)},
        ),
        (
            "diagnosis",
            Say("purple elephant sandwich"),
            "intake_help: no_match at order.ask_diagnosis",
            {"exam_code": "70450", "diagnosis_codes": []},
        ),
        (
            "symptoms",
            Press("4"),
            "intake_help: invalid at order.ask_symptoms",
            {"diagnosis_codes": ["R51.9"], "symptoms": None},
        ),
        (
            "facility",
            Press(NORTHGATE),
            "intake_help: invalid at order.ask_facility",
            {"symptoms": SYMPTOMS, "facility_npi": None},
        ),
        (
            "exam",
            None,
            "intake_help: no_input at order.ask_exam",
            {"member_id": LOPEZ, "exam_code": None},
        ),
    ],
    ids=["dob", "exam", "diagnosis", "symptoms", "facility", "silence"],
)
def test_three_failures_at_a_question_transfer_with_the_draft(
    caller: Caller,
    session: Any,
    step: str,
    wrong: Answer | None,
    reason: str,
    kept: dict[str, Any],
) -> None:
    call = at_question(caller, step)
    for _ in range(3):
        assert call.gather is not None, call.heard
        if wrong is None:
            call.silence()
        else:
            give(call, wrong)
    assert call.heard == [AGENT_HELP]
    assert call.enqueued == "orders"
    row = call_row(session, call.sid)
    assert (row.queue, row.outcome, row.transfer_reason) == ("orders", "transferred", reason)
    draft = order_of(session, call.sid)
    assert (draft.status, draft.plan, draft.ordering_npi) == (
        OrderStatus.DRAFT,
        "SUMMIT",
        WHITFIELD,
    )
    assert {name: getattr(draft, name) for name in kept} == kept


def test_three_failures_at_a_criteria_question_transfer_with_the_draft(
    caller: Caller, session: Any
) -> None:
    call = answer(start_intake(caller), **LUMBAR_UNDER_50)
    assert call.heard == [WEEKS_SYMPTOMS]
    call.press("3#")
    assert call.heard == [RED_FLAG]
    call.press("9").press("9").press("9")
    assert call.heard == [AGENT_HELP] and call.enqueued == "orders"
    assert (
        call_row(session, call.sid).transfer_reason
        == "intake_help: no_match at order.ask_criteria_yesno"
    )
    draft = order_of(session, call.sid)
    assert (draft.status, draft.exam_code, draft.facility_npi) == (
        OrderStatus.DRAFT,
        "72148",
        LAKESIDE,
    )


def test_asking_for_a_person_mid_intake_keeps_the_draft(caller: Caller, session: Any) -> None:
    call = at_question(caller, "diagnosis")
    call.say("representative")
    assert call.heard == [
        "Please hold for a representative. They'll see what you've told me so far."
    ]
    assert call.enqueued == "orders"
    assert call_row(session, call.sid).transfer_reason == (
        "caller_request: caller asked for a person at order.ask_diagnosis"
    )
    draft = order_of(session, call.sid)
    assert (draft.status, draft.member_id, draft.exam_code) == (OrderStatus.DRAFT, LOPEZ, "70450")


def test_an_out_of_range_criteria_number_gets_another_try(caller: Caller) -> None:
    call = answer(start_intake(caller), **LUMBAR_UNDER_50)
    assert call.heard[-1] == WEEKS_SYMPTOMS  # the first criteria question
    call.press("600#")
    assert call.enqueued is None, call.heard
    assert call.gather is not None
    assert WEEKS_SYMPTOMS in call.text


@pytest.mark.parametrize(
    ("answers", "question", "instruction"),
    [
        ([Press("3#"), Press("9")], RED_FLAG, "Press 1 for yes, 2 for no."),
        ([Say("a few")], WEEKS_SYMPTOMS, "then press pound."),
    ],
    ids=["yesno", "number"],
)
def test_a_criteria_reprompt_says_the_question_once(
    caller: Caller, answers: list[Answer], question: str, instruction: str
) -> None:
    call = answer(start_intake(caller), **LUMBAR_UNDER_50)
    for reply in answers:
        give(call, reply)
    assert call.gather is not None
    assert call.text.count(question) == 1, call.heard
    assert call.text.count(instruction) == 1, call.heard


# --- the office's caller id ------------------------------------------------------------------


@pytest.mark.parametrize("yes", [Press("1"), Say("yes")], ids=["key", "speech"])
def test_a_physicians_office_is_offered_its_physician(
    make_caller: Callable[..., Caller], session: Any, yes: Answer
) -> None:
    call = start_intake(make_caller(from_number=WHITFIELD_PHONE))
    assert call.heard == [
        INTRO,
        "Is this request for Dr. Alan Whitfield? Press 1 for yes, 2 for no.",
    ]
    give(call, yes)
    assert call.heard == [ASK_MEMBER], "no NPI question once the physician is accepted"
    assert order_of(session, call.sid).ordering_npi == WHITFIELD
    answer(call, start="member")
    assert "Ordered by Dr. Alan Whitfield" in readback(call)


@pytest.mark.parametrize("no", [Press("2"), Say("no")], ids=["key", "speech"])
def test_declining_the_offered_physician_asks_for_the_npi(
    make_caller: Callable[..., Caller], session: Any, no: Answer
) -> None:
    call = start_intake(make_caller(from_number=WHITFIELD_PHONE))
    give(call, no)
    assert call.heard == [ASK_NPI]
    assert orders_of(session, call.sid) == []
    call.press(KOWALSKI)
    answer(call, start="member")
    assert "Ordered by Dr. Robert Kowalski" in readback(call)
    assert order_of(session, call.sid).ordering_npi == KOWALSKI


@pytest.mark.parametrize(
    "from_number",
    ["+12125550143", ST_BRIGID_PHONE, "anonymous", "+266696687"],
    ids=["unknown-office", "a-facility", "hidden", "twilio-placeholder"],
)
def test_no_offer_without_a_physicians_office_phone(
    make_caller: Callable[..., Caller], from_number: str
) -> None:
    call = start_intake(make_caller(from_number=from_number))
    assert call.heard == [INTRO, ASK_NPI]


# --- readback: change one item, hear it again --------------------------------------------


def test_changing_the_exam_updates_the_one_draft(caller: Caller, session: Any) -> None:
    call = at_review(caller)
    call.press("3")
    assert readback(call).startswith("CT of the head without contrast,")
    call.press("2")
    assert call.heard == [CHANGE_MENU]
    call.press("3")
    # Asked again from the change menu, the question offers to keep its answer.
    assert call.heard == [
        ASK_EXAM,
        said("order.exam.keep", exam_name="CT of the head without contrast"),
    ]
    call.press("70460")
    assert readback(call).startswith("CT of the head with contrast, for")
    assert call.heard[-1] == REVIEW_MENU
    call.press("1")
    assert call.heard[0].startswith("Approved. ")

    order = order_of(session, call.sid)  # one order: the draft, updated and submitted
    assert (order.status, order.exam_code) == (OrderStatus.APPROVED, "70460")
    changes = [e for e in order.events if e.kind == "updated" and "exam_code" in (e.after or {})]
    assert [(e.before, e.after) for e in changes] == [
        ({"exam_code": None}, {"exam_code": "70450"}),
        ({"exam_code": "70450"}, {"exam_code": "70460"}),
    ]
    assert all(e.call_sid == call.sid for e in changes)
    assert kinds(order).count("created") == 1 and kinds(order).count("submitted") == 1


@pytest.mark.parametrize(
    ("item", "answers", "heard", "field", "value"),
    [
        ("1", [Press(KOWALSKI)], "Ordered by Dr. Robert Kowalski,", "ordering_npi", KOWALSKI),
        (
            "2",
            [Press("708072603"), Say("November 23rd 1967")],
            "for Thomas Martin, born November 23, 1967. Diagnosis: ",
            "member_id",
            "708072603",
        ),
        ("4", [Say("migraine")], "1960. Diagnosis: Migraine", "diagnosis_codes", None),
        (
            "5",
            [Say("Worse in the mornings"), Say("None so far")],
            "Diagnosis: Headache, unspecified.",
            "symptoms",
            "Worse in the mornings",
        ),
        (
            "6",
            [Say("Lincoln Park Radiology")],
            "at Lincoln Park Radiology.",
            "facility_npi",
            LINCOLN_PARK,
        ),
    ],
    ids=["physician", "patient", "diagnosis", "symptoms", "facility"],
)
def test_changing_one_item_returns_to_the_readback_without_asking_the_rest(
    caller: Caller,
    session: Any,
    item: str,
    answers: list[Answer],
    heard: str,
    field: str,
    value: Any,
) -> None:
    call = at_review(caller)
    call.press("2").press(item)
    for reply in answers:
        assert call.gather is not None and " Ordered by " not in call.heard[0]
        give(call, reply)
    assert heard in readback(call), call.heard
    assert call.heard[-1] == REVIEW_MENU
    order = order_of(session, call.sid)
    assert order.status == OrderStatus.DRAFT
    if value is not None:
        assert getattr(order, field) == value
    else:
        assert order.diagnosis_codes[0].startswith("G43")


def test_changing_to_an_exam_with_criteria_asks_them_before_the_readback(
    caller: Caller, session: Any
) -> None:
    call = at_review(caller)
    call.press("2").press("3").press("70551")
    assert call.heard == [SUDDEN_HEADACHE]
    call.press("1")  # a thunderclap headache settles it
    assert readback(call).startswith("MRI of the brain without contrast,")
    call.press("1")
    order = order_of(session, call.sid)
    assert (order.status, order.exam_code, order.criteria_rule) == (
        OrderStatus.APPROVED,
        "70551",
        "brain_mri_headache",
    )
    assert order.criteria_answers == {"sudden_worst_headache": True}


@pytest.mark.parametrize("item", ["member", "diagnosis"])
def test_changing_an_item_that_needed_retries_asks_it_again(caller: Caller, item: str) -> None:
    call = start_intake(caller)
    if item == "member":
        call.press(WHITFIELD)
        for dob in ("03061960", "03071960", "03051960"):
            call.press(LOPEZ).press(dob)
        answer(call, start="exam")
        question, key = ASK_MEMBER, "2"
    else:
        answer(call, stop="diagnosis")
        for _ in range(2):
            call.say("M 54.5").press("2")  # read back as a close call, and refused
        answer(call, start="diagnosis")
        question, key = ASK_DIAGNOSIS, "4"
    assert call.heard[-1] == REVIEW_MENU
    call.press("2").press(key)
    # Fresh tries; the question also offers to keep the answer it has.
    assert call.heard[0] == question and len(call.heard) == 2, call.heard


@pytest.mark.parametrize("spoken", ["incorrect", "that's not correct"])
def test_saying_the_readback_is_wrong_does_not_submit(
    caller: Caller, session: Any, spoken: str
) -> None:
    call = at_review(caller)
    call.say(spoken)
    assert not call.heard[0].startswith("Approved."), call.heard
    assert order_of(session, call.sid).status == OrderStatus.DRAFT


def test_saying_no_at_the_readback_offers_a_change(caller: Caller) -> None:
    call = at_review(caller)
    call.say("no")
    assert call.heard == [CHANGE_MENU]


@pytest.mark.parametrize("spoken", ["yes", "correct", "that's right", "submit", "yeah, send it"])
def test_saying_yes_at_the_readback_submits(caller: Caller, session: Any, spoken: str) -> None:
    call = at_review(caller)
    call.say(spoken)
    assert call.heard[0].startswith("Approved."), call.heard
    assert order_of(session, call.sid).status == OrderStatus.APPROVED


@pytest.mark.parametrize("spoken", ["change", "wrong", "nope", "that's not right"])
def test_saying_no_or_change_at_the_readback_asks_what_to_change(
    caller: Caller, spoken: str
) -> None:
    call = at_review(caller)
    call.say(spoken)
    assert call.heard == [CHANGE_MENU]


@pytest.mark.parametrize("spoken", ["no, that's right", "yeah, no"])
def test_a_yes_and_a_no_together_at_the_readback_are_asked_again(
    caller: Caller, session: Any, spoken: str
) -> None:
    call = at_review(caller)
    call.say(spoken)
    assert call.heard == ["Sorry, I didn't understand that.", REVIEW_MENU]
    assert order_of(session, call.sid).status == OrderStatus.DRAFT
    call.press("1")
    assert call.heard[0].startswith("Approved."), call.heard


@pytest.mark.parametrize(
    ("spoken", "heard"),
    [
        ("sí, está bien", "Aprobado."),
        ("no", "Para cambiar el médico, oprima 1."),
        ("está mal", "Para cambiar el médico, oprima 1."),
    ],
)
def test_yes_and_no_at_the_readback_in_spanish(
    make_app: Callable[..., Any], spoken: str, heard: str
) -> None:
    app = make_app(IVR_DEFAULT_LANGUAGE="es-US")
    call = give(
        give(Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN).dial(), SUMMIT_KEY),
        NEW_ORDER_KEY,
    )
    answer(call)
    assert call.heard[-1].startswith("Para enviarla, oprima 1."), call.heard
    call.say(spoken)
    assert call.heard[0].startswith(heard), call.heard


@pytest.mark.parametrize("back", [Press("9"), Say("go back"), Say("never mind")])
def test_going_back_from_change_one_item_changes_nothing(
    caller: Caller, session: Any, back: Answer
) -> None:
    call = at_review(caller)
    before = readback(call)
    give(call.press("2"), back)
    assert call.heard == [REVIEW_MENU]
    call.press("3")
    assert readback(call) == before
    call.press("1")
    assert call.heard[0].startswith("Approved."), call.heard


def test_going_back_from_change_one_item_in_spanish(make_app: Callable[..., Any]) -> None:
    app = make_app(IVR_DEFAULT_LANGUAGE="es-US")
    call = give(
        give(Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN).dial(), SUMMIT_KEY),
        NEW_ORDER_KEY,
    )
    answer(call).press("2")
    assert call.heard[-1].endswith("Para regresar, oprima 9.")
    call.say("regresar")
    assert call.heard == [said("order.review.menu", "es-US")]


def test_a_yes_no_question_hints_yes_and_no(make_caller: Callable[..., Caller]) -> None:
    call = start_intake(make_caller(from_number=WHITFIELD_PHONE))
    assert call.gather is not None
    hints = (call.gather.get("hints") or "").split(", ")
    assert "yes" in hints and "no" in hints


# --- after the number ------------------------------------------------------------------------


def test_saying_repeat_after_the_number_repeats_the_number(caller: Caller) -> None:
    call = at_review(caller).press("1")
    number = ORDER_NUMBER_READ.search(call.text)
    assert number
    call.say("say it again")
    assert call.heard[0] == f"Your order number is {number.group(1)}."


# --- close calls are read back ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spoken", "name", "code"),
    [
        ("M 54.5", "Low back pain, unspecified", "M54.50"),  # a category: its billable code
        ("R 51", "Headache, unspecified", "R51.9"),
    ],
)
def test_a_close_diagnosis_is_read_back_and_no_asks_again(
    caller: Caller, session: Any, spoken: str, name: str, code: str
) -> None:
    call = at_question(caller, "diagnosis")
    call.say(spoken)
    confirm = f"I heard {name}, {code}. Is that right? Press 1 for yes, 2 for no."
    assert call.heard == [confirm]
    call.say("no")
    assert call.heard == [ASK_DIAGNOSIS]
    assert order_of(session, call.sid).diagnosis_codes == []
    call.say(spoken)
    assert call.heard == [confirm]
    call.press("1")
    assert call.heard == [ASK_SYMPTOMS]
    assert order_of(session, call.sid).diagnosis_codes == [code]


def test_a_close_exam_is_read_back(caller: Caller, session: Any) -> None:
    call = at_question(caller, "exam")
    call.say("brain scan")
    # Said without its contrast, of a study the catalog has in three: which one? The
    # read-back that follows names the chosen variant.
    assert call.heard == [said("order.exam.contrast")]
    call.press("2")
    assert call.heard == [
        "I heard CT of the head without contrast. Is that right? Press 1 for yes, 2 for no."
    ]
    call.press("2")
    assert call.heard == [ASK_EXAM]
    call.say("brain scan").say("without").say("yes")
    assert call.heard == [ASK_DIAGNOSIS]
    assert order_of(session, call.sid).exam_code == "70450"


# --- replays, the API, dropped calls --------------------------------------------------------


def test_a_replayed_submit_answers_the_same_and_creates_no_second_order(
    caller: Caller, session: Any
) -> None:
    call = at_review(caller).press("1")
    first = call.reply.body
    again = call.replay()
    assert again.status == 200
    assert again.body == first
    order = order_of(session, call.sid)
    assert kinds(order).count("submitted") == 1
    assert ORDER_NUMBER_READ.search(" ".join(again.heard))
    call.press("2")
    assert call.reply.hung_up
    assert len(orders_of(session, call.sid)) == 1


def test_the_api_shows_an_approved_order_by_its_number(
    caller: Caller, client: FlaskClient, session: Any, token_for: Callable[[str], str]
) -> None:
    call = at_review(caller).press("1")
    order = order_of(session, call.sid)
    token = token_for("agent")
    response = client.get(f"/api/v1/orders/{order.order_number}", headers=bearer(token))
    assert response.status_code == 200
    body = response.get_json()
    assert {
        "order_number": order.order_number,
        "reference_number": order.reference_number,
        "status": "approved",
        "plan": "SUMMIT",
        "member_id": LOPEZ,
        "member_dob": "1960-03-05",
        "ordering_npi": WHITFIELD,
        "exam_code": "70450",
        "diagnosis_codes": ["R51.9"],
        "facility_npi": LAKESIDE,
        "symptoms": SYMPTOMS,
        "clinical_history": HISTORY,
        "criteria_rule": None,
        "criteria_answers": {},
        "decision_reason": None,
        "source": "phone",
        "call_sid": call.sid,
    }.items() <= body.items()
    assert order.issued_at is not None and order.expires_at is not None
    assert dt.datetime.fromisoformat(body["issued_at"]) == order.issued_at
    assert dt.datetime.fromisoformat(body["expires_at"]) == order.expires_at
    assert body["submitted_at"] and body["created_at"]
    events = body["events"]
    assert [e["kind"] for e in events] == kinds(order)
    assert events[0]["kind"] == "created" and events[-1]["kind"] == "submitted"
    assert all(e["call_sid"] == call.sid for e in events)
    assert events[-1]["after"]["order_number"] == order.order_number


def test_the_api_finds_a_pended_order_by_its_reference_number(
    caller: Caller, client: FlaskClient, session: Any, token_for: Callable[[str], str]
) -> None:
    call = answer(start_intake(caller), **LUMBAR_UNDER_50)
    for key in ["3#", *NO_RED_FLAG, "1"]:
        call.press(key)
    order = order_of(session, call.sid)
    response = client.get(
        f"/api/v1/orders/{order.reference_number}", headers=bearer(token_for("agent"))
    )
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["order_number"], body["reference_number"]) == (
        "pending_review",
        None,
        order.reference_number,
    )
    assert body["decision_reason"] == LUMBAR_REASON
    assert body["criteria_answers"] == {"weeks_symptoms": 3, **NO_RED_FLAG_ANSWERS}
    assert body["events"][-1]["kind"] == "submitted"


@pytest.mark.parametrize("number", ["123456782", "1234567897", "nope"])
def test_the_api_answers_404_for_an_unknown_number(
    client: FlaskClient, token_for: Callable[[str], str], number: str
) -> None:
    response = client.get(f"/api/v1/orders/{number}", headers=bearer(token_for("agent")))
    assert response.status_code == 404


def test_the_history_ends_with_the_criteria_answers_the_order_stores(
    caller: Caller, session: Any
) -> None:
    call = answer(start_intake(caller), **LUMBAR_UNDER_50)
    for key in ["3#", *NO_RED_FLAG, "1"]:
        call.press(key)
    order = order_of(session, call.sid)
    recorded = [
        e.after["criteria_answers"] for e in order.events if "criteria_answers" in (e.after or {})
    ]
    assert recorded and recorded[-1] == order.criteria_answers


def test_a_call_dropped_after_the_exam_leaves_a_draft(caller: Caller, session: Any) -> None:
    call = at_question(caller, "diagnosis")
    assert call.hang_up("completed", duration=95) == 204
    row = call_row(session, call.sid)
    assert (row.status, row.duration_s, row.outcome) == ("completed", 95, None)
    draft = order_of(session, call.sid)
    assert draft.status == OrderStatus.DRAFT
    assert (
        draft.plan,
        draft.ordering_npi,
        draft.member_id,
        draft.member_dob,
        draft.exam_code,
        draft.diagnosis_codes,
        draft.facility_npi,
        draft.order_number,
    ) == ("SUMMIT", WHITFIELD, LOPEZ, dt.date(1960, 3, 5), "70450", [], None, None)
    assert len(draft.reference_number) == 10 and luhn_valid(draft.reference_number)
    assert kinds(draft) == ["created", "updated", "updated", "updated"]


@pytest.mark.parametrize(
    ("code", "spoken"),
    [
        ("72131", "CT of the lower spine without contrast"),
        ("93312", "Heart ultrasound through the esophagus"),
        ("70498", "CT angiogram of the neck"),
        ("70547", "MR angiogram of the neck without contrast"),
    ],
)
def test_the_readback_says_the_exam_as_a_person_would(
    caller: Caller, session: Any, code: str, spoken: str
) -> None:
    """No aside in parentheses, no code: the written name stays in the catalog."""
    call = at_review(caller, exam=Press(code))
    assert readback(call).startswith(f"{spoken}, for Maria Lopez, "), call.heard
    assert "(" not in call.text
    written = session.get(ExamType, code).description
    assert "(" in written and written not in call.text


def test_a_facility_is_said_by_its_spoken_name(caller: Caller, session: Any) -> None:
    session.get(Provider, LAKESIDE).spoken = "Lakeside Imaging"
    session.commit()
    try:
        call = at_review(caller)
        assert readback(call).endswith("Ordered by Dr. Alan Whitfield, at Lakeside Imaging.")
        session.rollback()
        assert session.get(Provider, LAKESIDE).name == "Lakeside Diagnostic Imaging"
    finally:  # the postgresql store outlives the test: leave the catalog as seeded
        session.rollback()
        session.get(Provider, LAKESIDE).spoken = None
        session.commit()


def test_the_spanish_readback_says_the_exam_without_parentheses(
    make_app: Callable[..., Any],
) -> None:
    app = make_app(IVR_DEFAULT_LANGUAGE="es-US")
    call = give(
        give(Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN).dial(), SUMMIT_KEY),
        NEW_ORDER_KEY,
    )
    answer(call, exam=Press("72148"))
    lines = [line for line in call.heard if " Médico que ordena: " in line]
    assert lines and lines[0].startswith(
        "Estudio: resonancia magnética de la columna lumbar sin contraste, para Maria Lopez,"
    ), call.heard


# --- a whole call by speech, as a phone recognizer writes it (issue 13) ---------------------


def _said_as_a_recognizer_writes_it(caller: Caller) -> SimulatedCall:
    """Every answer spoken with the fillers, spelled letters and abbreviations a phone
    recognizer hands over, to the readback."""
    call = start_intake(
        caller, plan=Say("uh it's summit health"), menu=Say("uh i need a new order")
    )
    answer(
        call,
        npi=Say("one two three four five six seven eight nine three"),
        member=Say("one zero zero two zero zero three zero zero"),
        dob=Say("her birthday is march fifth nineteen sixty"),
        exam=Say("um the doctor wants a c t of the head w/o contrast"),
        diagnosis=Say("h t n"),
        symptoms=Say("Headaches every morning for three weeks", 0.81),
        history=Say("Ibuprofen without relief", 0.77),
        facility=Say("Lakeside Diagnostic Imaging"),
    )
    assert readback(call).startswith(
        "CT of the head without contrast, for Maria Lopez, born March 5, 1960. "
        "Diagnosis: Essential (primary) hypertension"
    ), call.heard
    assert call.heard[-1] == REVIEW_MENU
    return call


@pytest.mark.parametrize("spoken", ["yes", "correct", "that's right", "submit", "send it"])
def test_a_call_by_speech_submits_on_every_usual_yes(
    caller: Caller, session: Any, spoken: str
) -> None:
    call = _said_as_a_recognizer_writes_it(caller)
    call.say(spoken)
    assert call.heard[0].startswith("Approved."), call.heard
    order = order_of(session, call.sid)
    assert order.status == OrderStatus.APPROVED
    assert (order.plan, order.exam_code, order.diagnosis_codes) == ("SUMMIT", "70450", ["I10"])


@pytest.mark.parametrize("spoken", ["no", "change"])
def test_a_call_by_speech_goes_to_the_change_menu_on_no_or_change(
    caller: Caller, session: Any, spoken: str
) -> None:
    call = _said_as_a_recognizer_writes_it(caller)
    call.say(spoken)
    assert call.heard == [CHANGE_MENU]
    assert order_of(session, call.sid).status == OrderStatus.DRAFT


@pytest.mark.parametrize(("add", "codes"), [("yes", ["R07.9", "R06.02"]), ("no", ["R07.9"])])
def test_two_complaints_in_one_breath_store_the_first_and_offer_the_second(
    caller: Caller, session: Any, add: str, codes: list[str]
) -> None:
    call = at_question(caller, "diagnosis")
    call.say("uh chest pain and shortness of breath")
    assert call.heard == [
        said("order.diagnosis.more", diagnosis_more_name="Shortness of breath"),
    ]
    call.say(add)
    if call.heard[0].startswith("I heard"):  # the first read back, when a close call
        assert call.heard[0].startswith("I heard Chest pain, unspecified, R07.9."), call.heard
        call.say("yes")
    assert call.heard == [ASK_SYMPTOMS]
    answer(call, start="symptoms")
    diagnosis = (
        "Chest pain, unspecified; Shortness of breath"
        if add == "yes"
        else ("Chest pain, unspecified.")
    )
    assert f"Diagnosis: {diagnosis}" in readback(call), call.heard
    call.say("send it")
    assert call.heard[0].startswith("Approved."), call.heard
    assert order_of(session, call.sid).diagnosis_codes == codes
