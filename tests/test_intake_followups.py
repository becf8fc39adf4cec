"""The order intake's follow-ups (issue 10), as whole calls: another order in the same call,
the exam's contrast when the caller left it out, a diagnosis said as a bare general word,
and keeping an answer at a question chosen by mistake from "change one item".

The helpers and the seeded people come from `tests/test_intake.py`; what the line says is
read from `prompts/` (`tests/said.py`).
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from ivr.simulate import Caller, SimulatedCall
from ivr.store.models import Call, CallEvent, OrderStatus
from tests.said import said
from tests.test_intake import (
    ASK_DIAGNOSIS,
    ASK_EXAM,
    ASK_HISTORY,
    ASK_MEMBER,
    ASK_SYMPTOMS,
    CHANGE_MENU,
    DELUCA,
    ISSUED_MENU,
    LAKESIDE,
    LINCOLN_PARK,
    LOPEZ,
    LUMBAR_UNDER_50,
    NO_RED_FLAG,
    PENDED_MENU,
    REVIEW_MENU,
    WEEKS_SYMPTOMS,
    WHITFIELD,
    Press,
    Say,
    answer,
    at_question,
    at_review,
    orders_of,
    readback,
    start_intake,
)

NEXT_ORDER = said("order.another")
CONTRAST = said("order.exam.contrast")
CONTRAST_TWO = said("order.exam.contrast_two")


def plan_questions(session: Any, sid: str) -> int:
    """How many times the call was asked for the plan (turns that ended at the question)."""
    session.rollback()
    call = session.scalars(sa.select(Call).where(Call.sid == sid)).one()
    return len(
        session.scalars(
            sa.select(CallEvent).where(
                CallEvent.call_id == call.id, CallEvent.next_node == "main.select_plan"
            )
        ).all()
    )


def read_back(**values: str) -> str:
    """The review's readback: by default a head CT for Maria Lopez, at Lakeside."""
    defaults = {
        "exam_name": "CT of the head without contrast",
        "member_name": "Maria Lopez",
        "member_dob": "1960-03-05",
        "diagnosis_name": "Headache, unspecified",
        "ordering_name": "Dr. Alan Whitfield",
        "facility_name": "Lakeside Diagnostic Imaging",
    }
    return said("order.review.readback", **(defaults | values))


def submit(call: SimulatedCall) -> SimulatedCall:
    assert call.heard[-1] == REVIEW_MENU, call.heard
    return call.press("1")


# --- another order in the same call ---------------------------------------------------------


def test_two_more_orders_in_one_call_same_patient_then_another(
    caller: Caller, session: Any
) -> None:
    call = submit(at_review(caller))
    assert call.heard[-1] == ISSUED_MENU

    # Same patient: the physician and the patient stay; the exam is asked first.
    call.press("3")
    assert call.heard == [NEXT_ORDER, ASK_EXAM]
    answer(call, start="exam", exam=Press("71250"), facility=Press(LINCOLN_PARK))
    assert readback(call) == read_back(
        exam_name="CT of the chest without contrast", facility_name="Lincoln Park Radiology"
    )
    submit(call)
    assert call.heard[-1] == ISSUED_MENU

    # Another patient, said: the physician stays, the patient is asked.
    call.say("another patient")
    assert call.heard == [NEXT_ORDER, ASK_MEMBER]
    answer(call, start="member", member=Press(DELUCA), dob=Press("02071998"))
    assert readback(call) == read_back(member_name="Olumide DeLuca", member_dob="1998-02-07")
    submit(call).press("2")
    assert call.reply.hung_up

    orders = orders_of(session, call.sid)
    assert [o.status for o in orders] == [OrderStatus.APPROVED] * 3
    assert [(o.member_id, o.exam_code, o.facility_npi) for o in orders] == [
        (LOPEZ, "70450", LAKESIDE),  # the first order, as it was submitted
        (LOPEZ, "71250", LINCOLN_PARK),
        (DELUCA, "70450", LAKESIDE),
    ]
    assert all(o.ordering_npi == WHITFIELD and o.plan == "SUMMIT" for o in orders)
    numbers = {o.order_number for o in orders} | {o.reference_number for o in orders}
    assert len(numbers) == 6 and None not in numbers
    assert orders[2].member_dob is not None and orders[2].member_dob.year == 1998
    # Each order has its own draft: one "created" and one "submitted" event each.
    for order in orders:
        kinds = [e.kind for e in order.events]
        assert kinds.count("created") == 1 and kinds.count("submitted") == 1
    assert plan_questions(session, call.sid) == 1


def test_another_order_after_a_pended_request_asks_the_criteria_again(
    caller: Caller, session: Any
) -> None:
    call = answer(start_intake(caller), **LUMBAR_UNDER_50)
    # The lumbar rule's questions: 3 weeks of symptoms, no warning sign: pended.
    call.press("3#")
    for key in NO_RED_FLAG:
        call.press(key)
    submit(call)
    assert call.heard[-1] == PENDED_MENU

    call.press("3")  # the same patient, again a lumbar MRI: the criteria ask afresh
    assert call.heard == [NEXT_ORDER, ASK_EXAM]
    answer(call, start="exam", **{k: v for k, v in LUMBAR_UNDER_50.items() if k != "member"})
    assert call.heard == [WEEKS_SYMPTOMS]  # the criteria's first question, asked again
    orders = orders_of(session, call.sid)
    assert [o.status for o in orders] == [OrderStatus.PENDING_REVIEW, OrderStatus.DRAFT]
    assert orders[1].criteria_answers == {}
    assert orders[1].member_id == DELUCA


# --- the exam's contrast ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spoken", "question", "choice", "code"),
    [
        ("MRI of the brain", CONTRAST, Press("1"), "70552"),
        ("CT of the chest", CONTRAST, Say("with and without"), "71270"),
        ("head CT", CONTRAST, Say("without contrast"), "70450"),
        ("lumbar spine MRI", CONTRAST_TWO, Press("3"), "72158"),
    ],
)
def test_an_exam_said_without_its_contrast_asks_which(
    caller: Caller, session: Any, spoken: str, question: str, choice: Any, code: str
) -> None:
    call = at_question(caller, "exam")
    call.say(spoken)
    assert call.heard == [question]
    if isinstance(choice, Press):
        call.press(choice.digits)
    else:
        call.say(choice.words)
    assert call.heard[-1] != question
    session.rollback()
    assert orders_of(session, call.sid)[0].exam_code == code


@pytest.mark.parametrize(
    ("exam", "code"),
    [
        (Say("MRI of the brain with contrast"), "70552"),  # said
        (Say("CT of the neck"), "70490"),  # the catalog has one variant
        (Say("seven zero five five one"), "70551"),  # a code is exact
        (Press("70551"), "70551"),
    ],
)
def test_no_contrast_question_when_said_or_exact_or_only_one(
    caller: Caller, session: Any, exam: Any, code: str
) -> None:
    call = at_question(caller, "exam")
    if isinstance(exam, Press):
        call.press(exam.digits)
    else:
        call.say(exam.words)
    assert CONTRAST not in call.heard and CONTRAST_TWO not in call.heard
    assert call.heard[-1] == ASK_DIAGNOSIS, call.heard
    assert orders_of(session, call.sid)[0].exam_code == code


# --- a diagnosis said as a bare general word -----------------------------------------------


@pytest.mark.parametrize(
    ("word", "detail", "code"),
    [
        ("pain", "the left knee", "M25.562"),
        ("pain", "in the head", "R51.9"),
        ("cancer", "lung", "C34.90"),
        ("arthritis", "in the knees", "M17.9"),  # not one of the prompts' examples
        ("infection", "urinary tract", "N39.0"),
    ],
)
def test_a_bare_general_diagnosis_gets_one_follow_up(
    caller: Caller, session: Any, word: str, detail: str, code: str
) -> None:
    call = at_question(caller, "diagnosis")
    call.say(word)
    assert call.heard == [said("order.diagnosis.detail", diagnosis_open=word)]
    call.say(detail)
    assert call.heard == [ASK_SYMPTOMS]
    assert orders_of(session, call.sid)[0].diagnosis_codes == [code]


def test_a_follow_up_that_says_no_more_reads_the_general_code_back(
    caller: Caller, session: Any
) -> None:
    call = at_question(caller, "diagnosis")
    call.say("pain").say("I don't know")
    assert call.heard == [
        said("order.diagnosis.confirm", diagnosis_name="Pain, unspecified", diagnosis="R52")
    ]
    call.say("yes")
    assert call.heard == [ASK_SYMPTOMS]
    assert orders_of(session, call.sid)[0].diagnosis_codes == ["R52"]


@pytest.mark.parametrize("words", ["headache", "migraine", "low back pain", "sciatica"])
def test_a_specific_diagnosis_is_not_followed_up(caller: Caller, words: str) -> None:
    call = at_question(caller, "diagnosis")
    call.say(words)
    assert call.heard == [ASK_SYMPTOMS]


# --- keeping an answer at a question chosen from "change one item" --------------------------


def test_pound_keeps_the_exam_chosen_by_mistake(caller: Caller, session: Any) -> None:
    call = at_review(caller)
    before = len(orders_of(session, call.sid)[0].events)
    call.press("2")
    assert call.heard == [CHANGE_MENU]
    call.press("3")
    assert call.heard == [
        ASK_EXAM,
        said("order.exam.keep", exam_name="CT of the head without contrast"),
    ]
    assert call.gather is not None and call.gather.get("finishOnKey") == "#"
    call.press("#")
    assert "CT of the head without contrast," in readback(call)
    assert call.heard[-1] == REVIEW_MENU
    order = orders_of(session, call.sid)[0]
    assert order.exam_code == "70450"
    assert [e.kind for e in order.events[before:]] == []  # nothing changed


def test_silence_or_keep_keeps_spoken_answers(caller: Caller, session: Any) -> None:
    call = at_review(caller)
    call.press("2").press("4")  # the diagnosis: speech only, yet pound or "keep" keeps it
    assert call.heard == [
        ASK_DIAGNOSIS,
        said("order.diagnosis.keep", diagnosis_name="Headache, unspecified"),
    ]
    assert call.gather is not None and "dtmf" in (call.gather.get("input") or "")
    call.say("keep it")
    assert "Headache, unspecified" in readback(call)

    call.press("2").press("5")  # symptoms, then history: keep one, change the other
    assert call.heard[0] == ASK_SYMPTOMS and len(call.heard) == 2
    call.silence()
    assert call.heard[0] == ASK_HISTORY and len(call.heard) == 2
    call.say("Physical therapy for six weeks")
    assert call.heard[-1] == REVIEW_MENU
    order = orders_of(session, call.sid)[0]
    assert order.diagnosis_codes == ["R51.9"]
    assert order.symptoms == "Headaches every morning for three weeks"
    assert order.clinical_history == "Physical therapy for six weeks"


def test_the_patient_kept_and_a_new_answer_still_counts(caller: Caller, session: Any) -> None:
    call = at_review(caller)
    call.press("2").press("2")
    assert call.heard == [ASK_MEMBER, said("order.member.keep", member_id=LOPEZ)]
    call.press("#")  # keep the member id ...
    assert call.heard[-1] == said("order.dob.keep", member_dob="1960-03-05")
    call.press("03051960")  # ... and enter the same date again
    assert call.heard[-1] == REVIEW_MENU
    assert orders_of(session, call.sid)[0].member_id == LOPEZ


def test_no_keep_offer_on_the_first_pass(caller: Caller) -> None:
    call = at_question(caller, "exam")
    assert call.heard == [ASK_EXAM]
    call.press("#")  # nothing to keep: an answer is needed
    assert call.heard[-1] == said("order.exam.reprompt")
