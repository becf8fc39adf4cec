"""A way out of every question, as whole calls: `0` (or "agent") a person, `*` the question
again, `*8` (or "main menu") the main menu keeping the plan, a change of plan, and how soon a
caller can answer the plan question.

The rule (`ivr.engine.hearing.way_out`): `*` repeats; `*0` reaches a person and `*8` the main
menu from any question; `0` alone reaches a person wherever a lone 0 is not itself an answer
(a number question takes 0 weeks); `8` alone is the main menu at a one-key question (where the
`*` of `*8` has already repeated the question when the 8 comes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from ivr.simulate import Caller, FlaskTransport, SimulatedCall
from ivr.store.models import Call, Order, OrderStatus, utcnow
from tests.conftest import AUTH_TOKEN, bearer
from tests.said import said
from tests.test_intake import (
    KEYPAD,
    LUMBAR_UNDER_50,
    OKAFOR,
    RED_FLAG,
    WEEKS_CARE,
    WEEKS_SYMPTOMS,
    WHITFIELD_PHONE,
    Press,
    Say,
    answer,
    at_question,
    start_intake,
)

WORDS_PER_MINUTE = 160
SECONDS_PER_ANSWER = 3.0
MAIN_MENU = said("main.menu.prompt")
PLAN_QUESTION = said("main.plan.ask")


def seconds(words: int, answers: int) -> float:
    """The caller-time estimate of bench/caller_time.py: 160 words a minute, 3 s an answer."""
    return words / WORDS_PER_MINUTE * 60 + answers * SECONDS_PER_ANSWER


def words(lines: list[str]) -> int:
    return sum(len(line.split()) for line in lines)


def call_row(session: Any, sid: str) -> Call:
    session.rollback()
    return session.scalars(sa.select(Call).where(Call.sid == sid)).one()


def orders_of(session: Any, sid: str) -> list[Order]:
    session.rollback()
    return list(session.scalars(sa.select(Order).where(Order.call_sid == sid).order_by(Order.id)))


def at_weeks(caller: Caller) -> SimulatedCall:
    """A lumbar MRI for a Summit member under 50: the criteria's number question comes."""
    call = answer(start_intake(caller), **LUMBAR_UNDER_50)
    assert call.heard[-1] == WEEKS_SYMPTOMS, call.heard
    return call


def at_criteria(caller: Caller) -> SimulatedCall:
    """Three weeks of symptoms don't settle it: the criteria's yes/no question comes."""
    call = at_weeks(caller).press("3#")
    assert call.heard[-1] == RED_FLAG, call.heard
    return call


def at_helpdesk(caller: Caller) -> SimulatedCall:
    call = caller.dial().press("1").press("3")
    assert call.heard[-1] == said("helpdesk.menu")
    return call


def at_status(caller: Caller) -> SimulatedCall:
    call = caller.dial().press("1").press("2")
    assert call.heard[-1] == said("status.number.ask")
    return call


def at_offer(caller: Caller) -> SimulatedCall:
    """The physician on file offered (a confirm node): the call comes from the office."""
    call = start_intake(caller)
    assert call.heard[-1].startswith("Is this request for Dr. Alan Whitfield?"), call.heard
    return call


def person_asked(call: SimulatedCall, session: Any, queue: str, node: str) -> None:
    assert call.enqueued == queue, call.heard
    reason = call_row(session, call.sid).transfer_reason
    assert reason == f"caller_request: caller asked for a person at {node}"


# --- a person from every kind of question -------------------------------------------------

# (how to reach the question, the node, the queue)
QUESTIONS: dict[str, tuple[Callable[[Caller], SimulatedCall], str, str]] = {
    "plan (catalog)": (lambda c: c.dial(), "main.select_plan", "general"),
    "main menu": (lambda c: c.dial().press("1"), "main.main_menu", "general"),
    "npi (digits)": (lambda c: at_question(c, "npi"), "order.ask_npi", "orders"),
    "member id (digits, #)": (lambda c: at_question(c, "member"), "order.ask_member", "orders"),
    "date of birth": (lambda c: at_question(c, "dob"), "order.ask_dob", "orders"),
    "exam (catalog)": (lambda c: at_question(c, "exam"), "order.ask_exam", "orders"),
    "diagnosis (speech)": (lambda c: at_question(c, "diagnosis"), "order.ask_diagnosis", "orders"),
    "symptoms (text)": (lambda c: at_question(c, "symptoms"), "order.ask_symptoms", "orders"),
    "history (text)": (lambda c: at_question(c, "history"), "order.ask_history", "orders"),
    "facility (catalog)": (lambda c: at_question(c, "facility"), "order.ask_facility", "orders"),
    "yes/no criteria": (at_criteria, "order.ask_criteria_yesno", "orders"),
    "order number": (at_status, "status.ask_number", "orders"),
    "helpdesk menu": (at_helpdesk, "helpdesk.helpdesk_menu", "helpdesk"),
}


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize("way", ["0", "0#", "*0", "*0#"])
def test_zero_alone_or_star_zero_reaches_a_person_from_every_question(
    caller: Caller, session: Any, question: str, way: str
) -> None:
    reach, node, queue = QUESTIONS[question]
    call = reach(caller).press(way)
    person_asked(call, session, queue, node)


@pytest.mark.parametrize("question", QUESTIONS)
@pytest.mark.parametrize(
    "words", ["agent", "representative", "a person", "operator", "I want to speak to a person"]
)
def test_asking_for_a_person_reaches_one_from_every_question(
    caller: Caller, session: Any, question: str, words: str
) -> None:
    reach, node, queue = QUESTIONS[question]
    call = reach(caller).say(words)
    person_asked(call, session, queue, node)


def test_a_person_from_a_confirm_question(make_caller: Callable[..., Caller], session: Any) -> None:
    call = at_offer(make_caller(from_number=WHITFIELD_PHONE)).press("0")
    person_asked(call, session, "orders", "order.offer_physician")
    call = at_offer(make_caller(from_number=WHITFIELD_PHONE)).say("representative")
    person_asked(call, session, "orders", "order.offer_physician")


def test_at_a_number_question_zero_is_an_answer_and_star_zero_a_person(
    caller: Caller, session: Any
) -> None:
    call = at_weeks(caller).press("0#")  # 0 weeks of symptoms: an answer, the call goes on
    assert call.enqueued is None and call.heard[-1] == RED_FLAG
    person_asked(at_weeks(caller).press("*0"), session, "orders", "order.ask_criteria_number")
    person_asked(at_weeks(caller).say("agent"), session, "orders", "order.ask_criteria_number")


def test_free_speech_that_only_mentions_a_person_is_the_answer(caller: Caller) -> None:
    call = at_question(caller, "symptoms")
    call.say("The patient asked to see a specialist", 0.9)
    assert call.enqueued is None
    assert call.heard[-1] == said("order.history.ask")
    call.say("she spoke to a person at urgent care", 0.9)
    assert call.enqueued is None
    assert call.heard[-1] == said("order.facility.ask")


# --- * repeats every question ----------------------------------------------------------------

REPEATS: dict[str, tuple[Callable[[Caller], SimulatedCall], str]] = {
    "main menu": (lambda c: c.dial().press("1"), MAIN_MENU),
    "npi": (lambda c: at_question(c, "npi"), said("order.physician.ask")),
    "member id": (lambda c: at_question(c, "member"), said("order.member.ask")),
    "date of birth": (lambda c: at_question(c, "dob"), said("order.dob.ask")),
    "exam": (lambda c: at_question(c, "exam"), said("order.exam.ask")),
    "diagnosis": (lambda c: at_question(c, "diagnosis"), said("order.diagnosis.ask")),
    "symptoms": (lambda c: at_question(c, "symptoms"), said("order.symptoms.ask")),
    "facility": (lambda c: at_question(c, "facility"), said("order.facility.ask")),
    "yes/no criteria": (at_criteria, RED_FLAG),
    "number criteria": (at_weeks, WEEKS_SYMPTOMS),
    "order number": (at_status, said("status.number.ask")),
    "helpdesk menu": (at_helpdesk, said("helpdesk.menu")),
}


@pytest.mark.parametrize("question", REPEATS)
@pytest.mark.parametrize("way", [Press("*"), Press("*#"), Say("repeat that")])
def test_star_repeats_every_question(caller: Caller, question: str, way: Press | Say) -> None:
    reach, asked = REPEATS[question]
    call = reach(caller)
    call = call.press(way.digits) if isinstance(way, Press) else call.say(way.words)
    assert call.heard == [asked]
    assert call.gather is not None


def test_star_repeats_a_confirm_question(make_caller: Callable[..., Caller]) -> None:
    call = at_offer(make_caller(from_number=WHITFIELD_PHONE))
    offer = call.heard[-1]
    assert call.press("*").heard == [offer]


def test_star_at_the_review_menu_and_the_change_menu(caller: Caller) -> None:
    call = answer(start_intake(caller))
    assert call.heard[-1] == said("order.review.menu")
    assert call.press("*").heard == [said("order.review.menu")]
    assert call.press("2").heard == [said("order.review.change")]
    assert call.press("*").heard == [said("order.review.change")]


def test_star_at_the_plan_question_reads_the_plans(caller: Caller) -> None:
    call = caller.dial().press("*")
    assert call.heard[0].startswith("Summit Health Plan, press 1. Lakeshore Medicaid, press 2.")
    assert call.heard[0].endswith("Cedar Valley Health Partners, press 7.")
    assert call.press("7").heard[0] == "Cedar Valley Health Partners."


# --- the main menu from any sub-flow, keeping the plan --------------------------------------


@pytest.mark.parametrize(
    "way", [Press("*8"), Press("*8#"), Say("main menu"), Say("go back to the main menu")]
)
def test_main_menu_from_the_intake_keeps_the_plan_and_the_saved_draft(
    caller: Caller, session: Any, way: Press | Say
) -> None:
    call = at_question(caller, "dob")  # the NPI is saved on the draft
    call = call.press(way.digits) if isinstance(way, Press) else call.say(way.words)
    assert call.heard == [MAIN_MENU]
    assert call_row(session, call.sid).plan == "SUMMIT"
    (draft,) = orders_of(session, call.sid)
    assert draft.status == OrderStatus.DRAFT and draft.ordering_npi == KEYPAD["npi"].digits
    assert draft.member_id is None  # the patient is saved once both answers are checked

    # A new request starts afresh for the same plan, in a draft of its own.
    call.press("1")
    assert call.heard[-1] == said("order.physician.ask")
    answer(call, stop="exam")  # the member is checked against the plan kept: Summit
    assert call.heard[-1] == said("order.exam.ask")
    first, second = orders_of(session, call.sid)
    assert (first.id, first.member_id) == (draft.id, None)  # left as it was saved
    assert second.plan == "SUMMIT" and second.member_dob == dt.date(1960, 3, 5)


def test_main_menu_from_a_free_speech_question_is_the_whole_answer(
    caller: Caller, session: Any
) -> None:
    call = at_question(caller, "symptoms").say("main menu")
    assert call.heard == [MAIN_MENU]
    call = at_question(caller, "symptoms").say("tried everything on the main menu of painkillers")
    assert call.heard[-1] == said("order.history.ask")


def test_main_menu_from_a_one_key_question_star_then_eight(caller: Caller, session: Any) -> None:
    """At a one-key question Twilio posts `*` at once (the question again); the 8 that
    follows lands on the repeated question and goes home."""
    call = at_criteria(caller)
    assert call.press("*").heard == [RED_FLAG]
    assert call.press("8").heard == [MAIN_MENU]
    call = at_helpdesk(caller)
    assert call.press("*").press("8").heard == [MAIN_MENU]
    assert call_row(session, call.sid).plan == "SUMMIT"


def test_main_menu_from_status_keeps_the_plan(caller: Caller, session: Any) -> None:
    call = at_status(caller).press("*8")
    assert call.heard == [MAIN_MENU]
    assert call_row(session, call.sid).plan == "SUMMIT"
    call.press("2")  # the status check again, on the same plan
    assert call.heard[-1] == said("status.number.ask")


def test_main_menu_from_helpdesk_keeps_the_plan(caller: Caller, session: Any) -> None:
    call = at_helpdesk(caller).press("4")  # a data issue: describe it...
    assert call.heard[-1] == said("helpdesk.ticket.describe")
    call.say("main menu")
    assert call.heard == [MAIN_MENU]
    call.press("1")  # ...then an order for Summit: no plan asked
    assert call.heard[0] == said("order.intro")
    assert call_row(session, call.sid).plan == "SUMMIT"


def test_main_menu_before_a_plan_asks_the_plan_again(caller: Caller, session: Any) -> None:
    offer = said("main.spanish_offer", "es-US")  # asked again, Spanish is offered again
    call = caller.dial().press("*8")
    assert call.heard == [PLAN_QUESTION, offer]
    call = caller.dial().press("8")  # a lone 8 at a one-key question
    assert call.heard == [PLAN_QUESTION, offer]
    assert call_row(session, call.sid).plan is None


def test_eight_at_a_number_question_is_eight_weeks(caller: Caller) -> None:
    call = at_weeks(caller).press("8#")
    assert call.enqueued is None and call.heard[-1] == WEEKS_CARE


# --- changing the plan ----------------------------------------------------------------------


@pytest.mark.parametrize("way", [Press("4"), Say("change plan"), Say("I need a different plan")])
def test_the_plan_can_be_changed_from_the_main_menu(
    caller: Caller, session: Any, way: Press | Say
) -> None:
    call = caller.dial().press("1")
    assert call_row(session, call.sid).plan == "SUMMIT"
    call = call.press(way.digits) if isinstance(way, Press) else call.say(way.words)
    assert call.heard == [said("main.plan.change")]
    call.say("lakeshore medicaid")
    assert call.heard == ["Lakeshore Medicaid.", MAIN_MENU]
    assert call_row(session, call.sid).plan == "LAKESHORE"
    # The next request is checked against the new plan: a Lakeshore member is found.
    call.press("1")
    answer(call, stop="exam", member=Press(OKAFOR + "#"), dob=Press("11231948"))
    assert call.heard[-1] == said("order.exam.ask")
    assert orders_of(session, call.sid)[0].plan == "LAKESHORE"


def test_the_plan_can_be_changed_after_main_menu_from_a_sub_flow(
    caller: Caller, session: Any
) -> None:
    call = at_status(caller).press("*8").press("4").press("*")
    assert call.heard[0].startswith("Summit Health Plan, press 1.")
    call.press("2")
    assert call.heard == ["Lakeshore Medicaid.", MAIN_MENU]
    assert call_row(session, call.sid).plan == "LAKESHORE"


# --- the first seconds: how soon a caller can answer the plan question ---------------------


def _question_words(heard: list[str]) -> int:
    """Words up to the end of the question itself: the greeting and its first sentence."""
    greeting, ask = heard[:2]  # then the offer of Spanish, heard by no one who answers
    question = ask[: ask.index("list.") + len("list.")]
    return words([greeting, question])


@pytest.fixture
def all_plan_outage(client: FlaskClient, token_for: Callable[[str], str]) -> None:
    body = {
        "title": "Portal maintenance",
        "message": "The portal is down for upgrades; orders by phone still work.",
        "starts_at": (utcnow() - dt.timedelta(hours=1)).isoformat(),
        "ends_at": (utcnow() + dt.timedelta(hours=3)).isoformat(),
    }
    headers = bearer(token_for("admin"))
    assert client.post("/api/v1/outages", json=body, headers=headers).status_code == 201


@pytest.mark.parametrize("outage", [False, True], ids=["no notice", "all-plan notice"])
def test_a_caller_who_knows_the_plan_is_through_in_under_8_seconds(
    caller: Caller, request: pytest.FixtureRequest, outage: bool
) -> None:
    if outage:
        request.getfixturevalue("all_plan_outage")
    call = caller.dial()
    # No notice before the question; the offer of Spanish after it.
    assert call.heard == [said("main.greeting"), PLAN_QUESTION, said("main.spanish_offer", "es-US")]
    assert seconds(_question_words(call.heard), answers=1) < 8
    assert call.say("summit health").heard[0] == "Summit Health Plan."
    if outage:  # the notice is heard once the plan is chosen, before the main menu
        assert call.heard[1].startswith("Portal maintenance:")
    assert call.heard[-1] == MAIN_MENU


def test_a_caller_who_does_not_know_it_is_through_in_under_30_seconds(caller: Caller) -> None:
    """The worst case: hearing the whole first prompt, then the whole list on `*`, and the
    last plan."""
    call = caller.dial()
    first = words(call.heard)
    listed = words(call.press("*").heard)
    assert call.press("7").heard[0] == "Cedar Valley Health Partners."
    assert seconds(first + listed, answers=2) < 30


def test_the_greeting_says_the_way_out(caller: Caller) -> None:
    ask = caller.dial().heard[1]
    assert "0, a person" in ask and "star 8, main menu" in ask


@pytest.fixture
def make_caller(client: FlaskClient) -> Callable[..., Caller]:
    def make(**kwargs: Any) -> Caller:
        return Caller(FlaskTransport(client), auth_token=AUTH_TOKEN, **kwargs)

    return make
