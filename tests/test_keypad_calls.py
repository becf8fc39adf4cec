"""Keypad-only callers (speech fails in a noisy office): every task finishes by keys alone.

Whole calls through `ivr.simulate.Caller` that never say a word: an order request with the
diagnosis entered as its ICD-10-CM code on the keypad (the letter by its key), the choice
among the few codes some keys stand for, a wrong code asked again and then a person, and
symptoms and history skipped, left for the clinician and noted on the order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from ivr.services.orders import LEFT_FOR_REVIEW
from ivr.simulate import Caller, SimulatedCall
from ivr.store.models import OrderStatus
from tests.conftest import bearer
from tests.said import prompts, said
from tests.test_intake import (
    AGENT_HELP,
    ASK_DIAGNOSIS,
    ASK_FACILITY,
    ASK_HISTORY,
    ASK_SYMPTOMS,
    DELUCA,
    DIAGNOSIS_REPROMPT,
    LAKESIDE,
    LOPEZ,
    LUMBAR_REASON,
    NO_RED_FLAG,
    ORDER_NUMBER_READ,
    RED_FLAGS,
    REFERENCE_READ,
    REVIEW_MENU,
    WEEKS_SYMPTOMS,
    WHITFIELD,
    call_row,
    order_of,
    readback,
)

LOW_BACK_PAIN = "6 5 4 5 0 #"  # M54.50: M is on 6
HEADACHE = "7519#"  # R51.9: R is on 7, as are P and Q (P51.9, Q51.9)
FRACTURE = "7720012#"  # S72.001A: S and the 7th character A (also B, C) by their keys


def keys(call: SimulatedCall, digits: str) -> SimulatedCall:
    """Press keys at a question that takes them (every question, for a keypad-only caller)."""
    gather = call.gather
    assert gather is not None, call.heard
    assert "dtmf" in (gather.get("input") or "").split(), (gather.get("input"), call.heard)
    return call.press(digits.replace(" ", ""))


def to_diagnosis(caller: Caller, *, member: str = LOPEZ, dob: str = "03051960",
                 exam: str = "70450") -> SimulatedCall:  # fmt: skip
    """A keypad-only call at the diagnosis question: plan 1, new order, NPI, patient, exam."""
    call = keys(keys(caller.dial(), "1"), "1")
    for digits in (WHITFIELD, member + "#", dob, exam):
        keys(call, digits)
    assert call.heard[-1] == ASK_DIAGNOSIS, call.heard
    return call


def read_back(diagnosis_name: str) -> str:
    """The review's readback of a head CT for Maria Lopez, keyed at Lakeside."""
    return said(
        "order.review.readback",
        exam_name="CT of the head without contrast",
        member_name="Maria Lopez",
        member_dob="1960-03-05",
        diagnosis_name=diagnosis_name,
        ordering_name="Dr. Alan Whitfield",
        facility_name="Lakeside Diagnostic Imaging",
    )


def skip_both(call: SimulatedCall) -> SimulatedCall:
    assert call.heard[-1] == ASK_SYMPTOMS, call.heard
    keys(call, "#")
    assert call.heard == [ASK_HISTORY]
    keys(call, "#")
    assert call.heard == [ASK_FACILITY]
    return call


def test_a_keypad_only_order_request_gets_an_order_number(
    caller: Caller, session: Any, client: FlaskClient, token_for: Callable[[str], str]
) -> None:
    """CT of the head, the tension headache's code read back, symptoms and history skipped."""
    call = keys(to_diagnosis(caller), "444209#")  # G44.209: G is on 4
    assert call.heard == [
        said(
            "order.diagnosis.keyed_confirm",
            diagnosis="G44.209",
            diagnosis_name="Tension-type headache, unspecified, not intractable",
        )
    ]
    assert call.heard[0].startswith("G 44.209, Tension-type headache")
    assert call.gather is not None and call.gather.get("numDigits") == "1"
    keys(call, "1")
    skip_both(call)
    keys(call, LAKESIDE)
    assert readback(call) == read_back("Tension-type headache, unspecified, not intractable")
    assert call.heard[-1] == REVIEW_MENU
    keys(call, "1")
    assert ORDER_NUMBER_READ.search(call.text), call.heard

    order = order_of(session, call.sid)
    assert order.status == OrderStatus.APPROVED
    assert (order.exam_code, order.diagnosis_codes) == ("70450", ["G44.209"])
    assert (order.symptoms, order.clinical_history) == (LEFT_FOR_REVIEW, LEFT_FOR_REVIEW)
    assert (order.symptoms_confidence, order.clinical_history_confidence) == (None, None)
    noted = [e.after for e in order.events if e.kind == "updated" and "symptoms" in e.after]
    assert noted == [{"symptoms": LEFT_FOR_REVIEW, "clinical_history": LEFT_FOR_REVIEW}]

    response = client.get(
        f"/api/v1/orders/{order.order_number}", headers=bearer(token_for("agent"))
    )
    body = response.get_json()
    assert body["symptoms"] == body["clinical_history"] == LEFT_FOR_REVIEW
    assert body["left_for_clinical_review"] == ["symptoms", "clinical_history"]


def test_keys_that_fit_several_codes_offer_them_in_words(caller: Caller, session: Any) -> None:
    call = keys(to_diagnosis(caller), HEADACHE)
    # The codes a caller rarely means (newborn, congenital) last; each said in words.
    choices = " ".join(
        prompts().render("system.catalog_choice", {"key": i, "label": label})
        for i, label in enumerate(
            [
                "Headache, unspecified",
                "Umbilical hemorrhage of newborn, unspecified",
                "Congenital malformation of uterus and cervix, unspecified",
            ],
            start=1,
        )
    )
    assert call.heard == [said("order.diagnosis.choose", choices=choices)]
    assert call.gather is not None and call.gather.get("numDigits") == "1"
    keys(call, "5")  # no fifth: asked again
    assert call.heard[-1] == said("order.diagnosis.choose", choices=choices)
    keys(call, "1")
    skip_both(call)
    keys(call, LAKESIDE)
    assert readback(call) == read_back("Headache, unspecified")
    keys(call, "1")
    assert order_of(session, call.sid).diagnosis_codes == ["R51.9"]


def test_letters_inside_a_code_are_entered_by_their_keys(caller: Caller, session: Any) -> None:
    """S72.001A: the 7th character A is on 2, with B and C; S06.0X0A: the X placeholder."""
    call = keys(to_diagnosis(caller), FRACTURE)
    heard = call.heard[0]
    assert "initial encounter for closed fracture, press 1." in heard
    assert "initial encounter for open fracture type I or II" in heard
    keys(call, "1")
    assert call.heard == [ASK_SYMPTOMS]
    assert order_of(session, call.sid).diagnosis_codes == ["S72.001A"]

    call = keys(to_diagnosis(caller), "7060902#")
    assert call.heard[0].startswith("S 06.0 X 0 A, Concussion without loss of consciousness")


def test_nine_at_the_choice_enters_the_code_again(caller: Caller) -> None:
    call = keys(keys(to_diagnosis(caller), HEADACHE), "9")
    assert call.heard == [ASK_DIAGNOSIS]
    keys(call, LOW_BACK_PAIN)
    assert call.heard[0].startswith("M 54.50, Low back pain, unspecified")
    keys(call, "2")  # not right: enter it again
    assert call.heard == [ASK_DIAGNOSIS]


def test_too_many_codes_for_the_keys_are_asked_again(caller: Caller) -> None:
    call = keys(to_diagnosis(caller), "440211#")  # G40.211, G40.A11, ... and H40.211
    assert call.heard == [said("order.diagnosis.too_many"), DIAGNOSIS_REPROMPT]


def test_a_wrong_keypad_code_is_asked_again_then_a_person(caller: Caller, session: Any) -> None:
    call = keys(to_diagnosis(caller), "654#")  # M54: a category, not a billable code
    assert call.heard == [said("order.diagnosis.no_code"), DIAGNOSIS_REPROMPT]
    keys(call, "11111#")
    assert call.heard == [said("order.diagnosis.no_code"), DIAGNOSIS_REPROMPT]
    keys(call, "654#")
    assert call.heard == [AGENT_HELP]
    assert call.enqueued == "orders"
    row = call_row(session, call.sid)
    assert row.transfer_reason == "intake_help: invalid at order.ask_diagnosis"
    draft = order_of(session, call.sid)
    assert (draft.status, draft.exam_code, draft.diagnosis_codes) == (
        OrderStatus.DRAFT,
        "70450",
        [],
    )


def test_skipped_symptoms_and_history_pend_as_the_criteria_say(
    caller: Caller, session: Any
) -> None:
    """A lumbar MRI under 50 with 3 weeks of symptoms pends, skipped answers or not."""
    call = to_diagnosis(caller, member=DELUCA, dob="02071998", exam="72148")
    keys(call, LOW_BACK_PAIN)
    keys(call, "1")
    skip_both(call)
    keys(call, LAKESIDE)
    assert call.heard[-1] == WEEKS_SYMPTOMS  # the weeks first
    keys(call, "3#")  # under six weeks: weeks of care can't decide, the warning signs can
    for question, key in zip(RED_FLAGS, NO_RED_FLAG, strict=True):  # one sign at a time
        assert call.heard[-1] == question
        keys(call, key)
    assert call.heard[-1] == REVIEW_MENU
    keys(call, "1")
    assert REFERENCE_READ.search(call.text), call.heard
    order = order_of(session, call.sid)
    assert order.status == OrderStatus.PENDING_REVIEW
    assert order.decision_reason == LUMBAR_REASON
    assert (order.symptoms, order.clinical_history) == (LEFT_FOR_REVIEW, LEFT_FOR_REVIEW)


def test_symptoms_said_after_a_skip_replace_the_note(caller: Caller, session: Any) -> None:
    call = keys(keys(to_diagnosis(caller), LOW_BACK_PAIN), "1")
    skip_both(call)
    keys(call, LAKESIDE)
    keys(call, "2")  # change one item
    keys(call, "5")  # the symptoms and history
    assert call.heard == [ASK_SYMPTOMS]
    call.say("Back pain for two weeks", confidence=0.8)
    keys(call, "#")
    assert call.heard[-1] == REVIEW_MENU
    order = order_of(session, call.sid)
    assert (order.symptoms, order.clinical_history) == ("Back pain for two weeks", LEFT_FOR_REVIEW)
    assert order.symptoms_confidence == pytest.approx(0.8)


@pytest.mark.parametrize("language", ["es-US"])
def test_the_keyed_code_is_read_back_in_spanish(language: str) -> None:
    assert said("order.diagnosis.keyed_confirm", language, diagnosis="M54.50").startswith(
        "M 54.50, "
    )
