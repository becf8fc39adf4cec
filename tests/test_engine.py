"""The pure engine, turn by turn, as a caller would notice it: plain data, no Flask, no database.

Small inline flows exercise each node kind; the real flows/main.yaml and prompts/en-US.yaml
(with a few plans, and a stand-in for each flow main.yaml goes to) check what callers of the
line actually hear.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.engine import (
    ActionResult,
    Bundle,
    CallState,
    Context,
    EngineError,
    Input,
    Prompts,
    Turn,
    compile_bundle,
    run_turn,
)
from ivr.engine.hearing import _key_length
from ivr.match.catalog import ChoiceCatalog, Entry

ROOT = Path(__file__).resolve().parent.parent
QUEUES = {"general", "orders", "helpdesk", "clinical"}
TODAY = dt.date(2024, 6, 15)

# --- inputs ----------------------------------------------------------------------------

SILENCE = Input("none")


def key(digits: str) -> Input:
    return Input("dtmf", digits=digits)


def said(text: str, confidence: float | None = None) -> Input:
    return Input("speech", speech=text, confidence=confidence)


# --- a few plans, as data/plans.csv has them ------------------------------------------------

PLANS = ChoiceCatalog(
    [
        Entry(
            "SUMMIT",
            "Summit Health Plan",
            "1",
            ("summit", "summit health", "summit health plan", "sumit"),
        ),
        Entry(
            "LAKESHORE",
            "Lakeshore Medicaid",
            "2",
            ("lakeshore", "lake shore", "lakeshore medicaid", "lakeshore health"),
        ),
        Entry("PRAIRIE", "Prairie Care Advantage", "3", ("prairie", "prairie care", "perry care")),
        Entry("HARBOR", "Harbor Family Health", "4", ("harbor", "harbour", "harbor family")),
    ]
)
PLAN_LABELS = {"SUMMIT": "Summit Health Plan", "LAKESHORE": "Lakeshore Medicaid"}

# --- the real default flow ------------------------------------------------------------------


def _load(rel: str) -> Any:
    return yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))


def main_docs() -> dict[str, Any]:
    """The real flows/main.yaml, and a one-node stand-in for each flow it goes to.

    These tests are about the main flow; whether every real flow compiles is
    test_flow_validation's business.
    """
    main = _load("flows/main.yaml")
    docs: dict[str, Any] = {"main": main}
    for spec in main["nodes"].values():
        if spec.get("kind") == "goto" and spec["flow"] != "main":
            stub = docs.setdefault(spec["flow"], {"start": None, "nodes": {}})
            name = spec.get("node") or "entry"
            stub["start"] = stub["start"] or name
            stub["nodes"][name] = {"kind": "transfer", "queue": "general", "reason": "stub"}
    return docs


REAL_EN = Prompts("en-US", _load("prompts/en-US.yaml"))
REAL_ES = Prompts("es-US", _load("prompts/es-US.yaml"))  # the line offers Spanish (9)
MAIN_NODES: dict[str, Any] = _load("flows/main.yaml")["nodes"]
MENU_OPTIONS = {str(k): v["next"] for k, v in MAIN_NODES["main_menu"]["options"].items()}


@functools.cache
def real_bundle() -> Bundle:
    """Compiled on first use, so a broken flow file fails these tests, not collection."""
    return compile_bundle(
        main_docs(),
        prompts=[REAL_EN, REAL_ES],
        catalogs={"plans"},
        actions={"announce_outages"},
        queues=QUEUES,
    )


def _no_outages(name: str, params: Any, slots: Any, scratch: Any) -> ActionResult:
    """The main flow's only action: no outage notice is active in these tests."""
    assert name == "announce_outages"
    return ActionResult("none")


REAL_CTX = Context(
    prompts=REAL_EN,
    catalogs={"plans": PLANS},
    actions=_no_outages,
    today=TODAY,
    languages={"en-US": REAL_EN, "es-US": REAL_ES},
)
AT_PLAN = CallState(node="main.select_plan")
AT_MENU = CallState(
    node="main.main_menu", slots={"plan": "SUMMIT", "plan_name": "Summit Health Plan"}
)


def real(state: CallState, inp: Input) -> Turn:
    return run_turn(real_bundle(), state, inp, REAL_CTX)


def real_run(state: CallState, *inputs: Input) -> Turn:
    return run(real_bundle(), state, *inputs, ctx=REAL_CTX)


def real_start() -> Turn:
    return real(CallState(node=""), Input("start"))


def t(prompt_key: str) -> str:
    """The real English text of a prompt key."""
    return REAL_EN.text(prompt_key)


# --- small inline flows ---------------------------------------------------------------------

TABLE: dict[str, Any] = {
    "system": {
        "date": "{month} {day}, {year}",
        "no_input": "I didn't hear you.",
        "no_match": "I didn't get that.",
        "low_confidence": "That wasn't clear.",
        "catalog_choice": "{label} is {key}.",
        "catalog_choice_joiner": " ",
    },
    "words": {
        "operator": ["agent", "representative", "a person"],
        "repeat": ["repeat", "say that again"],
        "main_menu": ["main menu"],
        "filler": ["press", "please", "i", "want", "my", "the", "to"],
        "yes": ["yes", "yeah"],
        "no": ["no", "nope"],
        "menu": {"order": ["new order", "order"], "status": ["status", "check status"]},
        "change": ["change", "fix"],
        "months": "January February March April May June July August September October "
        "November December".split(),
    },
    "q": {
        "menu": "Press 1 for orders, 2 for status.",
        "menu_again": "Or say it: 1 for orders, 2 for status.",
        "pick": "Press 1 for a PIN, 2 for a ZIP code, 3 for a date of birth, 4 for a member ID.",
        "menu_one": "Press 1 for orders.",
        "member": "Enter your member number.",
        "member_again": "Enter the member number on the card.",
        "member_bad": "A member number has four to six digits.",
        "pin": "Enter your PIN.",
        "zip": "Enter your ZIP code.",
        "dob": "Enter the date of birth.",
        "dob_bad": "That is not a valid date of birth.",
        "sure": "Is {member} right?",
        "urgent": "Is it urgent?",
        "plan": "Which plan? {choices}",
        "plan_ok": "Did you say {plan_name}?",
        "dob_future": "A date of birth can't be in the future.",
        "npi": "Enter the physician's NPI.",
        "npi_bad": "An NPI has ten digits.",
        "npi_unknown": "{npi:digits} is not on file.",
        "symptoms": "Describe the symptoms.",
        "say_it": "Please say it in your own words.",
        "review": "Press 1 to submit, 2 to change something.",
    },
    "r": {
        "hello": "Hello.",
        "found": "Welcome, {member_name}, member {member:groups}.",
        "dob": "You said {dob:date}.",
        "missing": "We couldn't find that member.",
        "error": "Our system is down.",
        "next": "Moving on.",
        "retry": "Let's try another way.",
    },
    "end": {
        "agent": "Connecting you to a person.",
        "help": "Let me get you some help.",
        "orders": "Orders, please hold.",
        "bye": "Goodbye.",
        "yes": "You said yes.",
        "no": "You said no.",
        "gold": "Gold desk.",
        "silver": "Silver desk.",
        "two": "Tier two.",
    },
}
EN = Prompts("en-US", TABLE)
CTX = Context(prompts=EN, catalogs={"plans": PLANS}, today=TODAY)

ENDINGS: dict[str, Any] = {
    "agent": {
        "kind": "transfer",
        "queue": "general",
        "reason": "caller_request",
        "prompt": "end.agent",
    },
    "help": {
        "kind": "transfer",
        "queue": "general",
        "reason": "retries_exhausted",
        "prompt": "end.help",
    },
    "bye": {"kind": "hangup", "prompt": "end.bye"},
}


def make(
    nodes: Mapping[str, Any],
    *,
    defaults: Mapping[str, Any] | None = None,
    flows: Mapping[str, Any] | None = None,
    actions: set[str] | None = None,
) -> Bundle:
    """A main flow starting at the first of `nodes`, with agent/help/bye endings added."""
    endings = dict(ENDINGS)
    if "'bye'" not in repr(nodes) and "'main.bye'" not in repr(flows):
        del endings["bye"]  # an unused node would be unreachable
    doc = {
        "start": next(iter(nodes)),
        "defaults": {"operator": "agent", "on_fail": "help", **(defaults or {})},
        "nodes": {**endings, **nodes},
    }
    return compile_bundle(
        {"main": doc, **(flows or {})},
        prompts=[EN],
        catalogs={"plans"},
        actions=actions or set(),
        queues=QUEUES,
    )


def start(bundle: Bundle, ctx: Context = CTX, **slots: Any) -> Turn:
    return run_turn(bundle, CallState(node="", slots=slots), Input("start"), ctx)


def public(slots: Mapping[str, Any]) -> dict[str, Any]:
    """The slots a flow fills, without the engine's own bookkeeping (_visits, _escalation)."""
    return {k: v for k, v in slots.items() if not k.startswith("_")}


def at(node: str, **slots: Any) -> CallState:
    return CallState(node=node, slots=slots)


def run(bundle: Bundle, state: CallState, *inputs: Input, ctx: Context = CTX) -> Turn:
    """Feed inputs one turn after another; the last turn."""
    turn = None
    for inp in inputs:
        turn = run_turn(bundle, state, inp, ctx)
        state = turn.state
    assert turn is not None
    return turn


def assert_asks(turn: Turn, node: str) -> None:
    assert turn.gather is not None, turn
    assert turn.gather.action_node == node
    assert turn.state.node == node
    assert turn.transfer is None and not turn.hangup


def assert_transfers(turn: Turn, queue: str, reason: str) -> None:
    assert turn.gather is None, turn
    assert turn.transfer is not None, turn
    assert (turn.transfer.queue, turn.transfer.reason) == (queue, reason)
    assert not turn.hangup


MEMBER_FLOW = make(
    {
        "pick": {
            "kind": "menu",
            "prompt": "q.pick",
            "options": {
                "1": {"next": "pin"},
                "2": {"next": "zip"},
                "3": {"next": "dob"},
                "4": {"next": "member"},
            },
        },
        "member": {
            "kind": "ask",
            "prompt": "q.member",
            "reprompt": "q.member_again",
            "invalid": "q.member_bad",
            "slot": "member",
            "expect": "digits",
            "min_digits": 4,
            "max_digits": 6,
            "next": "bye",
        },
        "pin": {"kind": "ask", "prompt": "q.pin", "slot": "pin", "expect": "digits", "next": "bye"},
        "zip": {
            "kind": "ask",
            "prompt": "q.zip",
            "slot": "zip",
            "expect": "digits",
            "min_digits": 5,
            "max_digits": 5,
            "next": "bye",
        },
        "dob": {
            "kind": "ask",
            "prompt": "q.dob",
            "invalid": {"default": "q.dob_bad", "future": "q.dob_future"},
            "slot": "dob",
            "expect": "date",
            "next": "dob_said",
        },
        "dob_said": {"kind": "say", "prompt": "r.dob", "next": "bye"},
    }
)


# === the real default flow ==================================================================


def test_start_greets_then_asks_for_the_plan_by_name_or_key() -> None:
    turn = real_start()
    assert turn.say[0] == t("main.greeting")
    # The question, not the list of plans: `*` reads the list (see the repeat test).
    assert turn.say[1] == t("main.plan.ask")
    # Then Spanish is offered, in Spanish (9 or "español").
    assert turn.say[2] == REAL_ES.text("main.spanish_offer")
    assert getattr(turn.say[2], "language", None) == "es-US"
    assert len(turn.say) == 3
    assert_asks(turn, "main.select_plan")
    assert turn.gather is not None
    assert set(turn.gather.input) == {"dtmf", "speech"}
    assert {"Summit Health Plan", "Lakeshore Medicaid", "lake shore"} <= set(turn.gather.hints)
    assert turn.gather.num_digits == 1
    assert turn.state.attempts == 0 and public(turn.state.slots) == {}
    assert turn.event.outcome == "start" and turn.event.input_kind == "start"


@pytest.mark.parametrize(
    ("inp", "plan"),
    [
        (key("1"), "SUMMIT"),
        (key("2"), "LAKESHORE"),
        (key("1#"), "SUMMIT"),
        (said("summit health"), "SUMMIT"),
        (said("Summit Health Plan."), "SUMMIT"),
        (said("lake shore medicaid"), "LAKESHORE"),
        (said("sumit health plan"), "SUMMIT"),
        (said("press two"), "LAKESHORE"),
        (said("one"), "SUMMIT"),
    ],
    ids=repr,
)
def test_plan_by_key_or_by_name_then_the_main_menu(inp: Input, plan: str) -> None:
    turn = real(AT_PLAN, inp)
    label = PLAN_LABELS[plan]
    assert turn.event.outcome == "matched" and turn.event.matched == plan
    assert public(turn.state.slots) == {"plan": plan, "plan_name": label}
    assert turn.say == (f"{label}.", t("main.menu.prompt"))
    assert_asks(turn, "main.main_menu")
    assert turn.state.attempts == 0


# Keys no plan has: plan keys are 1 to 7, 8 is the main menu and 9 asks for Spanish.
NO_PLAN = "12"


def test_unknown_plan_key_is_no_match_with_the_reprompt() -> None:
    turn = real(AT_PLAN, key(NO_PLAN))
    assert turn.event.outcome == "no_match"
    assert turn.say[0] == t("system.no_match")
    assert turn.say[1].startswith(t("main.plan.reprompt").split("{")[0].strip())
    assert "Summit Health Plan, press 1." in turn.say[1]  # {choices} filled in
    assert_asks(turn, "main.select_plan")
    assert turn.state.attempts == 1


@pytest.mark.parametrize(
    ("inp", "kind"),
    [
        (key(NO_PLAN), "no_match"),
        (said("xylophone quartet zebra"), "no_match"),
        (SILENCE, "no_input"),
        (key(""), "no_input"),
        (said(""), "no_input"),
        (said("  ?! "), "no_input"),
    ],
    ids=repr,
)
def test_three_failures_transfer_to_general_naming_node_and_kind(inp: Input, kind: str) -> None:
    state = AT_PLAN
    for attempt in (1, 2):
        turn = real(state, inp)
        assert turn.event.outcome == kind
        assert turn.say[0] == t(f"system.{kind}")
        assert_asks(turn, "main.select_plan")
        assert turn.state.attempts == attempt
        state = turn.state
    turn = real(state, inp)
    assert turn.event.outcome == kind
    assert_transfers(turn, "general", f"retries_exhausted: {kind} at main.select_plan")
    assert turn.say == (t("main.agent_help"),)
    assert turn.state.node == "main.agent_help"


def test_mixed_failures_count_together() -> None:
    turn = real_run(AT_PLAN, key(NO_PLAN), said("zzz qqq", confidence=0.05), SILENCE)
    assert_transfers(turn, "general", "retries_exhausted: no_input at main.select_plan")


def test_low_confidence_counts_as_a_failure() -> None:
    turn = real(AT_PLAN, said("mmph grrk", confidence=0.05))
    assert turn.event.outcome == "low_confidence"
    assert turn.say[0] == t("system.low_confidence")
    assert turn.state.attempts == 1


def test_a_success_resets_attempts() -> None:
    turn = real_run(AT_PLAN, key(NO_PLAN), SILENCE, key("1"))
    assert_asks(turn, "main.main_menu")
    assert turn.state.attempts == 0
    turn = real_run(turn.state, key(NO_PLAN), key(NO_PLAN))
    assert_asks(turn, "main.main_menu")  # two misses here, not four
    assert turn.state.attempts == 2
    turn = real(turn.state, key(NO_PLAN))
    assert_transfers(turn, "general", "retries_exhausted: no_match at main.main_menu")


@pytest.mark.parametrize("inp", [key("*"), key("*#"), said("repeat that"), said("say it again")])
def test_star_repeats_the_question_without_counting_an_attempt(inp: Input) -> None:
    first = real(AT_PLAN, key(NO_PLAN))
    assert first.state.attempts == 1
    turn = real(first.state, inp)
    assert turn.event.outcome == "repeat"
    # The plan question's `repeat:` says the plans and their keys, not the reprompt.
    assert turn.say == (
        "Summit Health Plan, press 1. Lakeshore Medicaid, press 2. Prairie Care Advantage, "
        "press 3. Harbor Family Health, press 4.",
    )
    assert_asks(turn, "main.select_plan")
    assert turn.state.attempts == 1
    # Still two tries left, not one.
    turn = real(turn.state, key(NO_PLAN))
    assert_asks(turn, "main.select_plan")
    assert_transfers(
        real(turn.state, key(NO_PLAN)), "general", "retries_exhausted: no_match at main.select_plan"
    )


def test_many_repeats_never_transfer() -> None:
    turn = real_run(AT_MENU, *[key("*")] * 10)
    assert_asks(turn, "main.main_menu")
    assert turn.say == (t("main.menu.prompt"),)
    assert turn.state.attempts == 0


@pytest.mark.parametrize("state", [AT_PLAN, AT_MENU], ids=lambda s: s.node)
@pytest.mark.parametrize(
    "inp",
    [key("0"), key("0#"), said("representative"), said("I want to talk to an agent")],
    ids=repr,
)
def test_operator_from_any_question(state: CallState, inp: Input) -> None:
    turn = real(replace_attempts(state, 2), inp)
    assert turn.event.outcome == "operator"
    assert_transfers(turn, "general", f"caller_request: caller asked for a person at {state.node}")
    assert turn.say == (t("main.agent"),)
    assert turn.state.node == "main.agent"


def replace_attempts(state: CallState, attempts: int) -> CallState:
    return CallState(node=state.node, slots=state.slots, attempts=attempts)


@pytest.mark.parametrize(
    ("inp", "choice"),
    [
        (key("1"), "1"),
        (key("2"), "2"),
        (key("3#"), "3"),
        (said("one"), "1"),
        (said("press two"), "2"),
        (said("Three."), "3"),
        (said("new order"), "1"),
        (said("I need a new order please"), "1"),
        (said("check status"), "2"),
        (said("cancel my order"), "2"),
        (said("portal"), "3"),
        (said("reset my password"), "3"),
    ],
    ids=repr,
)
def test_main_menu_by_key_spoken_number_or_words(inp: Input, choice: str) -> None:
    turn = real(AT_MENU, inp)
    assert turn.event.outcome == "matched" and turn.event.matched == choice
    target = MENU_OPTIONS[choice]
    assert turn.visited[0] == f"main.{target}"
    node = MAIN_NODES[target]
    if node["kind"] == "transfer":  # no escalation: the node's own reason
        assert_transfers(turn, node["queue"], node["reason"])
        assert turn.say == (t(node["prompt"]),)
    elif node["kind"] == "goto":
        assert turn.state.node.startswith(f"{node['flow']}.")
    else:
        assert turn.gather is not None or turn.transfer is not None or turn.hangup


def test_main_menu_options_lead_to_known_flows_or_queues() -> None:
    for choice, target in MENU_OPTIONS.items():
        node = MAIN_NODES[target]
        if target == "change_plan":  # the plan question again
            assert node["kind"] == "ask" and node["slot"] == "plan", node
            continue
        assert node["kind"] in ("goto", "transfer"), (choice, node)
        if node["kind"] == "goto":
            assert (ROOT / "flows" / f"{node['flow']}.yaml").exists(), node["flow"]
        else:
            assert node["queue"] in QUEUES


@pytest.mark.parametrize(
    "inp",
    [key("*#*#"), key("9"), key("12"), key("1" * 40), key("4815162342" * 4), said("banana")],
    ids=repr,
)
def test_main_menu_garbage_is_no_match(inp: Input) -> None:
    turn = real(AT_MENU, inp)
    assert turn.event.outcome == "no_match"
    assert turn.say == (t("system.no_match"), t("main.menu.reprompt"))
    assert_asks(turn, "main.main_menu")
    assert turn.state.attempts == 1
    assert public(turn.state.slots) == dict(AT_MENU.slots)


def test_main_menu_low_confidence_speech() -> None:
    turn = real(AT_MENU, said("mmph grrk", confidence=0.1))
    assert turn.event.outcome == "low_confidence"
    assert turn.say == (t("system.low_confidence"), t("main.menu.reprompt"))
    assert turn.state.attempts == 1


def test_main_menu_gather_hints_and_single_key() -> None:
    turn = real(AT_PLAN, key("1"))
    assert turn.gather is not None
    assert turn.gather.num_digits == 1
    assert {"new order", "portal", "status", "representative"} <= set(turn.gather.hints)


@pytest.mark.parametrize("text", ["a", "in", "log", "real", "new"])
def test_a_stray_word_at_the_main_menu_is_not_a_choice(text: str) -> None:
    """One word of a longer phrase ('a' of 'a person', 'in' of 'log in') is not a choice."""
    turn = real(AT_MENU, said(text))
    assert turn.event.outcome in ("no_match", "low_confidence")
    assert turn.transfer is None


@pytest.mark.parametrize("inp", [key("1"), SILENCE, said("hello?")], ids=repr)
def test_a_turn_after_a_transfer_answers_the_same_transfer(inp: Input) -> None:
    first = real(AT_MENU, key("0"))
    assert first.state.node == "main.agent"
    again = real(first.state, inp)
    assert again.event.outcome == "ended"
    assert again.transfer == first.transfer
    assert again.say == first.say
    assert again.state == first.state


def test_unknown_node_is_an_engine_error() -> None:
    with pytest.raises(EngineError, match="main.nowhere"):
        real(CallState(node="main.nowhere"), key("1"))


# === input kinds on small inline flows =======================================================


@pytest.mark.parametrize(
    ("inp", "member"),
    [
        (key("1234"), "1234"),
        (key("123456"), "123456"),
        (key("01234#"), "01234"),
        (said("one two three four"), "1234"),
        (said("my number is four one seven two"), "4172"),
        (said("double five six seven"), "5567"),
    ],
    ids=repr,
)
def test_digits_within_min_and_max(inp: Input, member: str) -> None:
    first = run_turn(MEMBER_FLOW, at("main.pick"), key("4"), CTX)
    assert first.say == ("Enter your member number.",)
    assert first.gather is not None and first.gather.num_digits is None
    turn = run_turn(MEMBER_FLOW, first.state, inp, CTX)
    assert turn.event.outcome == "matched" and turn.event.matched == member
    assert public(turn.state.slots) == {"member": member}
    assert turn.hangup and turn.say == ("Goodbye.",)


@pytest.mark.parametrize(
    # A lone 0 is not among them: it asks for a person (test_zero_alone_...).
    "inp",
    [key("123"), key("1234567"), said("blue"), key("1"), key("12*4")],
    ids=repr,
)
def test_digits_outside_min_and_max_are_invalid(inp: Input) -> None:
    turn = run_turn(MEMBER_FLOW, at("main.member"), inp, CTX)
    assert turn.event.outcome == "invalid"
    assert turn.say == (
        "A member number has four to six digits.",
        "Enter the member number on the card.",
    )
    assert_asks(turn, "main.member")
    assert turn.state.attempts == 1


def test_three_invalid_answers_transfer() -> None:
    turn = run(MEMBER_FLOW, at("main.member"), key("1"), key("12"), key("123"))
    assert_transfers(turn, "general", "retries_exhausted: invalid at main.member")
    assert turn.say == ("Let me get you some help.",)


@pytest.mark.parametrize("inp", [key("0"), key("0#"), said("zero")], ids=repr)
def test_zero_is_a_digit_at_a_digits_question(inp: Input) -> None:
    turn = run_turn(MEMBER_FLOW, at("main.pin"), inp, CTX)
    assert turn.event.outcome == "matched"
    assert public(turn.state.slots) == {"pin": "0"}
    assert turn.transfer is None


def test_representative_by_voice_still_works_at_a_digits_question() -> None:
    turn = run_turn(MEMBER_FLOW, at("main.pin"), said("representative"), CTX)
    assert turn.event.outcome == "operator"
    assert_transfers(turn, "general", "caller_request: caller asked for a person at main.pin")


def test_fixed_length_digits_gather_that_many() -> None:
    turn = run_turn(MEMBER_FLOW, at("main.pick"), key("2"), CTX)
    assert_asks(turn, "main.zip")
    assert turn.gather is not None and turn.gather.num_digits == 5


def test_a_date_question_ends_on_its_eighth_key_and_still_on_pound() -> None:
    turn = run_turn(MEMBER_FLOW, at("main.pick"), key("3"), CTX)
    assert_asks(turn, "main.dob")
    assert turn.gather is not None and turn.gather.num_digits == 8
    assert turn.gather.finish_on_key == "#"
    assert set(turn.gather.input) == {"dtmf", "speech"}  # numDigits never cuts speech


class _CodeCatalog(ChoiceCatalog):
    """Keys not listed, but a known length: how the exam catalog declares its codes."""

    key_digits = 5

    def choices(self) -> list[tuple[str, str]]:
        return []


@pytest.mark.parametrize(
    ("catalog", "expected"),
    [
        (PLANS, 1),
        (ChoiceCatalog([Entry("A", "Alpha", "2358850222"), Entry("B", "Beta", "1696037682")]), 10),
        (ChoiceCatalog([Entry("A", "Alpha", "9"), Entry("B", "Beta", "10")]), None),
        (ChoiceCatalog([Entry("A", "Alpha", "")]), None),
        (_CodeCatalog([Entry("A", "Alpha", "")]), 5),
    ],
    ids=["plan keys", "NPIs", "mixed lengths", "no keys", "declared"],
)
def test_a_catalog_question_ends_on_the_last_key_of_its_one_key_length(
    catalog: ChoiceCatalog, expected: int | None
) -> None:
    assert _key_length(catalog) == expected


@pytest.mark.parametrize(
    "inp",
    [
        key("03141980"),
        key("03141980#"),
        said("march fourteenth nineteen eighty"),
        said("03 14 1980"),
    ],
    ids=repr,
)
def test_date_of_birth(inp: Input) -> None:
    turn = run_turn(MEMBER_FLOW, at("main.dob"), inp, CTX)
    assert turn.event.outcome == "matched" and turn.event.matched == "1980-03-14"
    assert public(turn.state.slots) == {"dob": "1980-03-14"}
    assert turn.say == ("You said March 14, 1980.", "Goodbye.")  # read back for the ear


@pytest.mark.parametrize(
    ("inp", "heard"),
    [
        (key("06162024"), "A date of birth can't be in the future."),
        (key("01012030"), "A date of birth can't be in the future."),
        (key("1"), "That is not a valid date of birth."),
        (key("13452001"), "That is not a valid date of birth."),
        (said("purple"), "That is not a valid date of birth."),
    ],
    ids=repr,
)
def test_future_or_unreadable_date_is_invalid_with_the_reasons_prompt(
    inp: Input, heard: str
) -> None:
    turn = run_turn(MEMBER_FLOW, at("main.dob"), inp, CTX)
    assert turn.event.outcome == "invalid"
    assert turn.say == (heard, "Enter the date of birth.")
    assert_asks(turn, "main.dob")
    assert "dob" not in turn.state.slots


def test_the_date_check_uses_the_date_it_is_handed() -> None:
    today = run_turn(MEMBER_FLOW, at("main.dob"), key("06152024"), CTX)
    assert public(today.state.slots) == {"dob": "2024-06-15"}
    no_clock = Context(prompts=EN, today=None)
    later = run_turn(MEMBER_FLOW, at("main.dob"), key("06162024"), no_clock)
    assert public(later.state.slots) == {"dob": "2024-06-16"}


YES_NO_FLOW = make(
    {
        # Asked first, so the confirmation's {member} is always filled (the checker holds).
        "member": {
            "kind": "ask",
            "prompt": "q.member",
            "slot": "member",
            "expect": "digits",
            "next": "pick",
        },
        "pick": {
            "kind": "menu",
            "prompt": "q.menu",
            "options": {"1": {"next": "urgent"}, "2": {"next": "sure"}},
        },
        "sure": {"kind": "confirm", "prompt": "q.sure", "yes": "said_yes", "no": "said_no"},
        "urgent": {
            "kind": "ask",
            "prompt": "q.urgent",
            "slot": "urgent",
            "expect": "yesno",
            "next": "route",
        },
        "route": {
            "kind": "branch",
            "slot": "urgent",
            "cases": {"yes": "said_yes", "no": "said_no"},
            "default": "agent",
        },
        "said_yes": {"kind": "hangup", "prompt": "end.yes"},
        "said_no": {"kind": "hangup", "prompt": "end.no"},
    }
)
YES = [key("1"), said("yes"), said("yeah"), said("yes that's correct")]
NO = [key("2"), said("no"), said("nope"), said("no that's wrong")]


def test_confirm_reads_back_slots_and_listens_for_one_key() -> None:
    turn = run_turn(YES_NO_FLOW, at("main.pick", member="1234"), key("2"), CTX)
    assert turn.say == ("Is 1234 right?",)
    assert_asks(turn, "main.sure")
    assert turn.gather is not None and turn.gather.num_digits == 1
    assert {"yes", "yeah", "no", "nope"} <= set(turn.gather.hints)


@pytest.mark.parametrize(
    ("inp", "answer"), [(i, "yes") for i in YES] + [(i, "no") for i in NO], ids=repr
)
def test_confirm_yes_or_no(inp: Input, answer: str) -> None:
    turn = run_turn(YES_NO_FLOW, at("main.sure", member="1234"), inp, CTX)
    assert turn.event.outcome == "matched" and turn.event.matched == answer
    assert turn.hangup and turn.say == (f"You said {answer}.",)
    assert turn.state.node == f"main.said_{answer}"


@pytest.mark.parametrize(
    ("inp", "outcome"),
    [(said("maybe"), "no_match"), (key("3"), "no_match"), (said("hmm", 0.05), "low_confidence")],
    ids=repr,
)
def test_confirm_unclear_answer_reprompts(inp: Input, outcome: str) -> None:
    turn = run_turn(YES_NO_FLOW, at("main.sure", member="1234"), inp, CTX)
    assert turn.event.outcome == outcome
    assert_asks(turn, "main.sure")
    assert turn.say[-1] == "Is 1234 right?"


def test_operator_at_a_confirm() -> None:
    turn = run_turn(YES_NO_FLOW, at("main.sure"), key("0"), CTX)
    assert_transfers(turn, "general", "caller_request: caller asked for a person at main.sure")


@pytest.mark.parametrize(
    ("inp", "answer", "value"),
    [(i, "yes", True) for i in YES] + [(i, "no", False) for i in NO],
    ids=repr,
)
def test_yesno_fills_a_boolean_that_branches_as_yes_or_no(
    inp: Input, answer: str, value: bool
) -> None:
    first = run_turn(YES_NO_FLOW, at("main.pick"), key("1"), CTX)
    assert_asks(first, "main.urgent")
    assert first.gather is not None and first.gather.num_digits == 1
    turn = run_turn(YES_NO_FLOW, first.state, inp, CTX)
    assert turn.event.outcome == "matched" and turn.event.matched == str(value).lower()
    assert public(turn.state.slots) == {"urgent": value}
    assert turn.hangup and turn.say == (f"You said {answer}.",)


# --- branch ----------------------------------------------------------------------------------

TIER_FLOW = make(
    {
        "route": {
            "kind": "branch",
            "slot": "tier",
            "cases": {"gold": "gold", "silver": "silver", "2": "two", "yes": "gold"},
            "default": "agent",
        },
        "gold": {"kind": "hangup", "prompt": "end.gold"},
        "silver": {"kind": "hangup", "prompt": "end.silver"},
        "two": {"kind": "hangup", "prompt": "end.two"},
    }
)


@pytest.mark.parametrize(
    ("slots", "heard"),
    [
        ({"tier": "gold"}, "Gold desk."),
        ({"tier": "silver"}, "Silver desk."),
        ({"tier": 2}, "Tier two."),
        ({"tier": "2"}, "Tier two."),
        ({"tier": True}, "Gold desk."),
    ],
    ids=repr,
)
def test_branch_on_slot_values(slots: dict[str, Any], heard: str) -> None:
    turn = start(TIER_FLOW, **slots)
    assert turn.hangup and turn.say == (heard,)
    assert turn.visited[0] == "main.route"


@pytest.mark.parametrize(
    "slots", [{}, {"tier": "bronze"}, {"tier": None}, {"tier": False}], ids=repr
)
def test_branch_default(slots: dict[str, Any]) -> None:
    turn = start(TIER_FLOW, **slots)
    assert_transfers(turn, "general", "caller_request")  # the node's reason: no escalation
    assert turn.say == ("Connecting you to a person.",)


@pytest.mark.parametrize(("answer", "node"), [("yes", "main.said_yes"), ("nope", "main.said_no")])
def test_yes_no_branch_written_in_plain_yaml_routes(answer: str, node: str) -> None:
    """YAML 1.1 reads bare `yes:`/`no:` keys as booleans; the flow still means the words."""
    doc = yaml.safe_load(
        textwrap.dedent(
            """
            start: urgent
            defaults: {operator: agent, on_fail: agent}
            nodes:
              urgent: {kind: ask, prompt: q.urgent, slot: urgent, expect: yesno, next: route}
              route:
                kind: branch
                slot: urgent
                cases: {yes: said_yes, no: said_no}
                default: agent
              said_yes: {kind: hangup, prompt: end.yes}
              said_no: {kind: hangup, prompt: end.no}
              agent: {kind: transfer, queue: general, reason: caller_request}
            """
        )
    )
    assert True in doc["nodes"]["route"]["cases"]  # what PyYAML hands over
    bundle = compile_bundle({"main": doc}, prompts=[EN], queues=QUEUES)
    turn = run_turn(bundle, at("main.urgent"), said(answer), CTX)
    assert turn.state.node == node and turn.hangup


def test_confirm_written_in_plain_yaml_compiles_and_routes() -> None:
    doc = yaml.safe_load(
        textwrap.dedent(
            """
            start: sure
            defaults: {operator: agent, on_fail: agent}
            nodes:
              sure: {kind: confirm, prompt: q.urgent, yes: said_yes, no: said_no}
              said_yes: {kind: hangup, prompt: end.yes}
              said_no: {kind: hangup, prompt: end.no}
              agent: {kind: transfer, queue: general, reason: caller_request}
            """
        )
    )
    bundle = compile_bundle({"main": doc}, prompts=[EN], queues=QUEUES)
    assert run_turn(bundle, at("main.sure"), key("1"), CTX).state.node == "main.said_yes"
    assert run_turn(bundle, at("main.sure"), key("2"), CTX).state.node == "main.said_no"


# --- actions ---------------------------------------------------------------------------------


class FakeActions:
    """Records calls; answers with a fixed result or raises."""

    def __init__(self, result: ActionResult | None = None, exc: Exception | None = None) -> None:
        self.result = result
        self.exc = exc
        self.calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def __call__(
        self,
        name: str,
        params: Mapping[str, Any],
        slots: Mapping[str, Any],
        scratch: Mapping[str, Any],
    ) -> ActionResult:
        self.calls.append((name, dict(params), dict(slots)))
        if self.exc is not None:
            raise self.exc
        assert self.result is not None
        return self.result


def lookup_flow(outcomes: Mapping[str, str]) -> Bundle:
    return make(
        {
            "member": {
                "kind": "ask",
                "prompt": "q.member",
                "slot": "member",
                "expect": "digits",
                "next": "lookup",
            },
            "lookup": {
                "kind": "action",
                "action": "find_member",
                "params": {"source": "card"},
                "outcomes": dict(outcomes),
                "next": "moving_on",
            },
            "welcome": {"kind": "say", "prompt": "r.found", "next": "bye"},
            "missing": {"kind": "say", "prompt": "r.missing", "next": "bye"},
            "trouble": {
                "kind": "transfer",
                "queue": "clinical",
                "reason": "lookup_failed",
                "prompt": "r.error",
            },
            "moving_on": {"kind": "say", "prompt": "r.next", "next": "bye"},
        },
        actions={"find_member"},
    )


LOOKUP = lookup_flow({"found": "welcome", "missing": "missing", "error": "trouble"})
LOOKUP_NO_ERROR_ROUTE = lookup_flow({"found": "welcome", "missing": "missing", "down": "trouble"})


def lookup(bundle: Bundle, actions: Any) -> Turn:
    ctx = Context(prompts=EN, actions=actions, today=TODAY)
    return run_turn(bundle, at("main.member"), key("1234"), ctx)


def test_action_is_called_with_params_and_slots_and_its_slots_are_merged() -> None:
    actions = FakeActions(ActionResult("found", {"member_name": "Dana", "member_id": "M1"}))
    turn = lookup(LOOKUP, actions)
    assert actions.calls == [("find_member", {"source": "card"}, {"member": "1234"})]
    assert turn.say == ("Welcome, Dana, member 1 2 3 4.", "Goodbye.")
    assert turn.hangup
    assert public(turn.state.slots) == {"member": "1234", "member_name": "Dana", "member_id": "M1"}
    assert turn.visited == ("main.lookup", "main.welcome", "main.bye")
    assert turn.event.outcome == "matched" and turn.event.node == "main.member"


@pytest.mark.parametrize(
    ("outcome", "heard"),
    [
        ("missing", "We couldn't find that member."),
        ("something_else", "Moving on."),
        ("", "Moving on."),
    ],
)
def test_action_outcome_picks_the_route_or_next(outcome: str, heard: str) -> None:
    turn = lookup(LOOKUP, FakeActions(ActionResult(outcome)))
    assert turn.say == (heard, "Goodbye.")


@pytest.mark.parametrize(
    "actions", [FakeActions(exc=RuntimeError("store down")), None], ids=["raises", "no-actions"]
)
def test_failing_action_takes_the_error_route(actions: Any) -> None:
    turn = lookup(LOOKUP, actions)
    assert_transfers(turn, "clinical", "lookup_failed")
    assert turn.say == ("Our system is down.",)
    assert public(turn.state.slots) == {"member": "1234"}


@pytest.mark.parametrize(
    "actions", [FakeActions(exc=ValueError("bad")), None], ids=["raises", "no-actions"]
)
def test_failing_action_without_error_route_goes_next(actions: Any) -> None:
    turn = lookup(LOOKUP_NO_ERROR_ROUTE, actions)
    assert turn.say == ("Moving on.", "Goodbye.")
    assert turn.hangup


# --- goto, hangup, endings -----------------------------------------------------------------

ORDERS_FLOW = {
    "start": "what",
    "defaults": {"operator": "main.agent", "on_fail": "main.help", "attempts": 2},
    "nodes": {
        "what": {
            "kind": "menu",
            "prompt": "q.menu",
            "reprompt": "q.menu_again",
            "options": {
                "1": {"next": "queue", "words": "words.menu.order"},
                "2": {"next": "main.bye"},
            },
        },
        "queue": {
            "kind": "transfer",
            "queue": "orders",
            "reason": "orders",
            "prompt": "end.orders",
        },
        "second": {"kind": "say", "prompt": "r.next", "next": "what"},
    },
}
GOTO = make(
    {
        "hello": {"kind": "say", "prompt": "r.hello", "next": "pick"},
        "pick": {
            "kind": "menu",
            "prompt": "q.menu",
            "options": {"1": {"next": "go"}, "2": {"next": "go_second"}},
        },
        "go": {"kind": "goto", "flow": "orders"},
        "go_second": {"kind": "goto", "flow": "orders", "node": "second"},
    },
    flows={"orders": ORDERS_FLOW},
)


def test_goto_another_flows_start() -> None:
    first = start(GOTO)
    assert first.say == ("Hello.", "Press 1 for orders, 2 for status.")
    assert_asks(first, "main.pick")
    turn = run_turn(GOTO, first.state, key("1"), CTX)
    assert turn.say == ("Press 1 for orders, 2 for status.",)
    assert_asks(turn, "orders.what")
    assert turn.visited == ("main.go", "orders.what")
    assert_transfers(run_turn(GOTO, turn.state, said("new order"), CTX), "orders", "orders")
    bye = run_turn(GOTO, turn.state, key("2"), CTX)
    assert bye.hangup and bye.state.node == "main.bye"


def test_goto_a_named_node_of_another_flow() -> None:
    turn = run_turn(GOTO, at("main.pick"), key("2"), CTX)
    assert turn.say == ("Moving on.", "Press 1 for orders, 2 for status.")
    assert_asks(turn, "orders.what")


def test_another_flow_uses_its_own_defaults() -> None:
    turn = run(GOTO, at("orders.what"), key("9"), key("9"))  # attempts: 2 there
    assert_transfers(turn, "general", "retries_exhausted: no_match at orders.what")
    assert turn.say == ("Let me get you some help.",)
    op = run_turn(GOTO, at("orders.what"), key("0"), CTX)
    assert_transfers(op, "general", "caller_request: caller asked for a person at orders.what")


def test_a_flow_without_its_own_defaults_uses_the_main_flows() -> None:
    sub = {
        "start": "what",
        "nodes": {
            "what": {
                "kind": "menu",
                "prompt": "q.menu_one",
                "options": {"1": {"next": "main.bye"}},
            }
        },
    }
    bundle = make({"go": {"kind": "goto", "flow": "sub"}}, flows={"sub": sub})
    op = run_turn(bundle, at("sub.what"), key("0"), CTX)
    assert_transfers(op, "general", "caller_request: caller asked for a person at sub.what")
    assert op.say == ("Connecting you to a person.",)
    failed = run(bundle, at("sub.what"), key("9"), SILENCE, key("9"))
    assert_transfers(failed, "general", "retries_exhausted: no_match at sub.what")
    assert failed.say == ("Let me get you some help.",)


def test_hangup_says_goodbye_and_ends() -> None:
    bundle = make({"hello": {"kind": "say", "prompt": "r.hello", "next": "bye"}})
    turn = start(bundle)
    assert turn.say == ("Hello.", "Goodbye.")
    assert turn.hangup and turn.gather is None and turn.transfer is None
    assert turn.state.node == "main.bye"
    again = run_turn(bundle, turn.state, key("1"), CTX)
    assert again.hangup and again.say == ("Goodbye.",) and again.event.outcome == "ended"


def test_an_escalated_transfer_answers_with_the_escalation_again() -> None:
    state = at("main.agent", _escalation="caller asked for a person at main.sure")
    turn = run_turn(YES_NO_FLOW, state, SILENCE, CTX)
    assert_transfers(turn, "general", "caller_request: caller asked for a person at main.sure")
    assert turn.event.outcome == "ended"


def test_a_recovered_caller_is_transferred_for_the_reason_they_chose() -> None:
    bundle = make(
        {
            "member": {
                "kind": "ask",
                "prompt": "q.member",
                "slot": "member",
                "expect": "digits",
                "min_digits": 4,
                "on_fail": "retry",
                "next": "menu",
            },
            "retry": {"kind": "say", "prompt": "r.retry", "next": "menu"},
            "menu": {
                "kind": "menu",
                "prompt": "q.menu",
                "options": {"1": {"next": "orders"}, "2": {"next": "orders"}},
            },
            "orders": {"kind": "transfer", "queue": "orders", "reason": "order_request"},
        }
    )
    recovered = run(bundle, at("main.member"), key("1"), key("1"), key("1"))
    assert_asks(recovered, "main.menu")
    assert recovered.say == ("Let's try another way.", "Press 1 for orders, 2 for status.")
    turn = run_turn(bundle, recovered.state, key("1"), CTX)
    assert_transfers(turn, "orders", "order_request")


def test_catalog_choices_fill_the_prompt() -> None:
    bundle = make(
        {
            "plan": {
                "kind": "ask",
                "prompt": "q.plan",
                "slot": "plan",
                "catalog": "plans",
                "next": "bye",
            }
        }
    )
    turn = start(bundle)
    assert turn.say == (
        "Which plan? Summit Health Plan is 1. Lakeshore Medicaid is 2. "
        "Prairie Care Advantage is 3. Harbor Family Health is 4.",
    )
    done = run_turn(bundle, turn.state, said("harbour"), CTX)
    assert public(done.state.slots) == {"plan": "HARBOR", "plan_name": "Harbor Family Health"}


# --- checked answers, free speech, option slots, visit limits, unsure matches ----------------

INTAKE = make(
    {
        "npi": {
            "kind": "ask",
            "prompt": "q.npi",
            "slot": "npi",
            "expect": "digits",
            "min_digits": 10,
            "max_digits": 10,
            "validate": "check_npi",
            "params": {"role": "ordering"},
            "invalid": {"default": "q.npi_bad", "unknown": "q.npi_unknown"},
            "next": "symptoms",
        },
        "symptoms": {
            "kind": "ask",
            "prompt": "q.symptoms",
            "slot": "symptoms",
            "expect": "text",
            "input": ["speech"],
            "invalid": "q.say_it",
            "next": "review",
        },
        "review": {
            "kind": "menu",
            "prompt": "q.review",
            "options": {
                "1": {"next": "bye", "set": {"changing": False}},
                "2": {"next": "npi", "words": "words.change", "set": {"changing": True}},
            },
        },
    },
    actions={"check_npi"},
)
NPI = "1234567893"


def with_actions(actions: Any) -> Context:
    return Context(prompts=EN, catalogs={"plans": PLANS}, actions=actions, today=TODAY)


def test_a_checked_answer_is_kept_when_the_service_says_ok() -> None:
    actions = FakeActions(ActionResult("ok", {"npi_name": "Dr. Lee"}))
    turn = run_turn(INTAKE, at("main.npi"), key(NPI), with_actions(actions))
    assert actions.calls == [("check_npi", {"role": "ordering", "value": NPI}, {"npi": NPI})]
    assert turn.event.outcome == "matched" and turn.event.matched == NPI
    assert public(turn.state.slots) == {"npi": NPI, "npi_name": "Dr. Lee"}
    assert_asks(turn, "main.symptoms")


@pytest.mark.parametrize(
    ("actions", "heard"),
    [
        (FakeActions(ActionResult("unknown")), "1 2 3 4 5 6 7 8 9 3 is not on file."),
        (FakeActions(ActionResult("something_else")), "An NPI has ten digits."),
        (FakeActions(exc=RuntimeError("registry down")), "An NPI has ten digits."),
        (None, "An NPI has ten digits."),
    ],
    ids=["unknown", "other-reason", "raises", "no-actions"],
)
def test_a_rejected_answer_is_asked_again_with_the_reason(actions: Any, heard: str) -> None:
    turn = run_turn(INTAKE, at("main.npi"), key(NPI), with_actions(actions))
    assert turn.event.outcome == "invalid"
    assert turn.say == (heard, "Enter the physician's NPI.")
    assert_asks(turn, "main.npi")
    assert turn.state.attempts == 1
    assert "npi" not in turn.state.slots


def test_a_malformed_answer_is_not_sent_to_the_check() -> None:
    actions = FakeActions(ActionResult("ok"))
    turn = run_turn(INTAKE, at("main.npi"), key("123"), with_actions(actions))
    assert turn.event.outcome == "invalid" and turn.say[0] == "An NPI has ten digits."
    assert actions.calls == []


def test_free_speech_is_kept_as_said_even_with_operator_words() -> None:
    text = "Headache for three weeks, she asked for a representative before"
    turn = run_turn(INTAKE, at("main.symptoms"), said(text, 0.83), CTX)
    assert turn.event.outcome == "matched"
    assert public(turn.state.slots) == {"symptoms": text, "symptoms_confidence": 0.83}
    assert_asks(turn, "main.review")


def test_free_speech_question_listens_for_speech_and_the_way_out_keys() -> None:
    first = run_turn(
        INTAKE, at("main.npi"), key(NPI), with_actions(FakeActions(ActionResult("ok")))
    )
    # `input: [speech]`: an answer is spoken, but 0, * and *0 are keys, heard everywhere.
    assert first.gather is not None and first.gather.input == ("dtmf", "speech")


@pytest.mark.parametrize(
    ("inp", "outcome", "heard"),
    [
        (key("5"), "invalid", "Please say it in your own words."),
        (SILENCE, "no_input", "I didn't hear you."),
    ],
    ids=repr,
)
def test_keys_or_silence_at_a_free_speech_question(inp: Input, outcome: str, heard: str) -> None:
    turn = run_turn(INTAKE, at("main.symptoms"), inp, CTX)
    assert turn.event.outcome == outcome
    assert turn.say[0] == heard
    assert_asks(turn, "main.symptoms")


def test_zero_is_still_the_operator_at_a_free_speech_question() -> None:
    turn = run_turn(INTAKE, at("main.symptoms"), key("0"), CTX)
    assert_transfers(turn, "general", "caller_request: caller asked for a person at main.symptoms")


@pytest.mark.parametrize(
    ("inp", "node", "changing"),
    [
        (key("1"), "main.bye", False),
        (said("change"), "main.npi", True),
        (key("2"), "main.npi", True),
    ],
    ids=repr,
)
def test_a_menu_option_can_set_slots(inp: Input, node: str, changing: bool) -> None:
    turn = run_turn(INTAKE, at("main.review", npi=NPI), inp, CTX)
    assert turn.state.node == node
    assert public(turn.state.slots) == {"npi": NPI, "changing": changing}


VISITS_FLOW = make(
    {
        "member": {
            "kind": "ask",
            "prompt": "q.member",
            "slot": "member",
            "expect": "digits",
            "max_visits": 2,
            "next": "lookup",
        },
        "lookup": {
            "kind": "action",
            "action": "find_member",
            "outcomes": {"found": "bye"},
            "next": "missing",
        },
        "missing": {"kind": "say", "prompt": "r.missing", "next": "member"},
    },
    actions={"find_member"},
)


def test_max_visits_stops_a_loop_back_to_the_same_question() -> None:
    ctx = with_actions(FakeActions(ActionResult("not_found")))
    turn = start(VISITS_FLOW, ctx)
    assert_asks(turn, "main.member")
    turn = run(VISITS_FLOW, turn.state, key("*"), key("1234"), key("*"), ctx=ctx)
    assert_asks(turn, "main.member")  # two visits; repeats are not visits
    turn = run_turn(VISITS_FLOW, turn.state, key("1234"), ctx)
    assert_transfers(turn, "general", "retries_exhausted: too many tries at main.member")
    assert turn.say == ("We couldn't find that member.", "Let me get you some help.")


def test_a_found_member_leaves_the_loop() -> None:
    ctx = with_actions(FakeActions(ActionResult("found")))
    turn = run(VISITS_FLOW, start(VISITS_FLOW, ctx).state, key("1234"), ctx=ctx)
    assert turn.hangup


SURE_FLOW = make(
    {
        "plan": {
            "kind": "ask",
            "prompt": "q.plan",
            "slot": "plan",
            "catalog": "plans",
            "confirm_below": 90,
            "next": "plan_sure",
        },
        "plan_sure": {
            "kind": "branch",
            "slot": "plan_sure",
            "cases": {"yes": "bye"},
            "default": "confirm_plan",
        },
        "confirm_plan": {"kind": "confirm", "prompt": "q.plan_ok", "yes": "bye", "no": "plan"},
    }
)


@pytest.mark.parametrize("inp", [key("1"), said("summit health"), said("sumit helth plan")])
def test_a_sure_catalog_match_goes_straight_on(inp: Input) -> None:
    turn = run_turn(SURE_FLOW, at("main.plan"), inp, CTX)
    assert turn.hangup
    assert public(turn.state.slots)["plan_sure"] is True


def test_an_unsure_catalog_match_is_confirmed() -> None:
    turn = run_turn(SURE_FLOW, at("main.plan"), said("summet"), CTX)
    assert turn.say == ("Did you say Summit Health Plan?",)
    assert_asks(turn, "main.confirm_plan")
    assert public(turn.state.slots)["plan_sure"] is False
    assert run_turn(SURE_FLOW, turn.state, said("yes"), CTX).hangup
    again = run_turn(SURE_FLOW, turn.state, said("no"), CTX)
    assert_asks(again, "main.plan")
    assert again.say[0].startswith("Which plan?")


# === purity ===================================================================================

PURITY_CASES = [  # None: the real flows
    (None, CallState(node=""), Input("start"), REAL_CTX),
    (None, AT_PLAN, said("sumit health plan", 0.6), REAL_CTX),
    (None, CallState(node="main.select_plan", attempts=2), key(NO_PLAN), REAL_CTX),
    (None, AT_MENU, said("new order"), REAL_CTX),
    (None, AT_MENU, key("0"), REAL_CTX),
    (None, AT_MENU, key("*"), REAL_CTX),
    (MEMBER_FLOW, at("main.dob", keep="me"), key("03141980"), CTX),
    (
        LOOKUP,
        at("main.member"),
        key("1234"),
        Context(prompts=EN, actions=FakeActions(ActionResult("found", {"member_name": "D"}))),
    ),
]


@pytest.mark.parametrize(("bundle", "state", "inp", "ctx"), PURITY_CASES)
def test_same_inputs_same_turn(
    bundle: Bundle | None, state: CallState, inp: Input, ctx: Context
) -> None:
    bundle = bundle or real_bundle()
    assert run_turn(bundle, state, inp, ctx) == run_turn(bundle, state, inp, ctx)


@pytest.mark.parametrize(("bundle", "state", "inp", "ctx"), PURITY_CASES)
def test_the_input_state_is_not_mutated(
    bundle: Bundle | None, state: CallState, inp: Input, ctx: Context
) -> None:
    bundle = bundle or real_bundle()
    before = copy.deepcopy(state)
    nodes_before = copy.deepcopy(dict(bundle.nodes))
    turn = run_turn(bundle, state, inp, ctx)
    assert state == before and dict(state.slots) == dict(before.slots)
    assert dict(bundle.nodes) == nodes_before
    assert turn.state.node in bundle.nodes


def test_flow_documents_are_not_mutated_by_compile_or_turns() -> None:
    docs = main_docs()
    snapshot = copy.deepcopy(docs)
    bundle = compile_bundle(docs, prompts=[REAL_EN, REAL_ES], queues=QUEUES)
    run(bundle, CallState(node=""), Input("start"), key("1"), key("2"), ctx=REAL_CTX)
    assert docs == snapshot


ENGINE_ONLY = textwrap.dedent(
    """
    import sys, types
    pkg = types.ModuleType("ivr")
    pkg.__path__ = [{path!r}]
    sys.modules["ivr"] = pkg  # the engine alone, without the app package's __init__
    from ivr.engine import CallState, Context, Input, Prompts, compile_bundle, run_turn
    from ivr.match.catalog import ChoiceCatalog, Entry
    prompts = Prompts("en-US", {{"p": "Which plan? {{choices}}", "system": {{}}, "words": {{}}}})
    doc = {{"start": "q", "defaults": {{"on_fail": "t", "operator": "t"}}, "nodes": {{
        "q": {{"kind": "ask", "prompt": "p", "slot": "s", "catalog": "c", "next": "t"}},
        "t": {{"kind": "transfer", "queue": "g", "reason": "r"}}}}}}
    bundle = compile_bundle({{"main": doc}})
    ctx = Context(prompts=prompts, catalogs={{"c": ChoiceCatalog([Entry("A", "Alpha", "1")])}})
    turn = run_turn(bundle, CallState(node=""), Input("start"), ctx)
    turn = run_turn(bundle, turn.state, Input("speech", speech="alpha"), ctx)
    assert turn.transfer is not None, turn
    print(sorted(m for m in sys.modules if m.split(".")[0] in ("flask", "sqlalchemy", "werkzeug")))
    """
)


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_the_engine_runs_a_call_without_flask_or_sqlalchemy() -> None:
    assert _python(ENGINE_ONLY.format(path=str(ROOT / "ivr"))) == "[]"


def test_importing_ivr_engine_loads_neither_flask_nor_sqlalchemy() -> None:
    code = (
        "import sys, ivr.engine, ivr.match.catalog\n"
        "print(sorted(m for m in ('flask', 'sqlalchemy') if m in sys.modules))"
    )
    assert _python(code) == "[]"


# === property: the real flow always answers ====================================================

WORDS = [
    "one", "two", "three", "zero", "oh", "double", "hundred", "a", "press", "please", "new",
    "order", "status", "portal", "summit", "lake", "shore", "health", "plan", "agent", "repeat",
    "yes", "no", "the", "um", "1", "12", "#", "*", "ñandú", "",
]  # fmt: skip
SPEECH = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join),
)
DTMF = st.one_of(st.text(alphabet="0123456789*#", max_size=40), st.text(max_size=12))
NODES = st.sampled_from([AT_PLAN, AT_MENU])
CONFIDENCE = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0))
PROPERTY = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _answers(turn: Turn) -> None:
    assert (turn.gather is None) != (turn.transfer is None), turn
    assert not turn.hangup
    if turn.gather is not None:
        assert turn.state.node == turn.gather.action_node
        assert turn.say and all(turn.say)
    else:
        assert turn.transfer is not None and turn.transfer.queue in QUEUES
    assert turn.state.attempts <= 2


@PROPERTY
@given(state=NODES, text=SPEECH, confidence=CONFIDENCE, attempts=st.integers(0, 2))
def test_any_speech_gets_a_question_or_a_transfer(
    state: CallState, text: str, confidence: float | None, attempts: int
) -> None:
    before = replace_attempts(state, attempts)
    _answers(real(before, said(text, confidence)))


@PROPERTY
@given(state=NODES, digits=DTMF, attempts=st.integers(0, 2))
def test_any_keys_get_a_question_or_a_transfer(
    state: CallState, digits: str, attempts: int
) -> None:
    before = replace_attempts(state, attempts)
    _answers(real(before, key(digits)))


# --- the way out: *0, *8, a lone 0 or 8, and the main menu -----------------------------------

HOME_FLOW = make(
    {
        "menu": {
            "kind": "menu",
            "prompt": "q.menu",
            "options": {
                "1": {"next": "into", "words": "words.menu.order"},
                "2": {"next": "bye", "words": "words.menu.status"},
            },
        },
        "into": {"kind": "call", "flow": "sub", "next": "bye"},
    },
    defaults={"main_menu": "menu", "main_menu_keeps": ["plan"]},
    flows={
        "sub": {
            "start": "npi",
            "nodes": {
                "npi": {
                    "kind": "ask",
                    "prompt": "q.npi",
                    "slot": "npi",
                    "expect": "digits",
                    "min_digits": 10,
                    "max_digits": 10,
                    "next": "weeks",
                },
                "weeks": {
                    "kind": "ask",
                    "prompt": "q.member",
                    "slot": "weeks",
                    "expect": "digits",
                    "min_digits": 1,
                    "max_digits": 3,
                    "next": "urgent",
                },
                "urgent": {"kind": "confirm", "prompt": "q.urgent", "yes": "done", "no": "done"},
                "done": {"kind": "return"},
            },
        }
    },
)


def in_sub(node: str) -> CallState:
    return CallState(
        node=f"sub.{node}", slots={"plan": "GOLD", "npi": "1234567893"}, stack=("main.bye",)
    )


@pytest.mark.parametrize("node", ["npi", "weeks", "urgent"])
@pytest.mark.parametrize("inp", [key("*8"), key("*8#"), said("main menu"), said("the main menu")])
def test_main_menu_from_a_section_keeps_only_the_kept_slots(node: str, inp: Input) -> None:
    turn = run_turn(HOME_FLOW, in_sub(node), inp, CTX)
    assert turn.event.outcome == "main_menu"
    assert_asks(turn, "main.menu")
    assert turn.say == ("Press 1 for orders, 2 for status.",)
    assert public(turn.state.slots) == {"plan": "GOLD"}
    assert turn.state.stack == ()


@pytest.mark.parametrize(
    ("node", "inp", "outcome"),
    [
        ("npi", key("0"), "operator"),  # no NPI is 0
        ("npi", key("0#"), "operator"),
        ("weeks", key("0#"), "matched"),  # 0 weeks is an answer...
        ("weeks", key("*0"), "operator"),  # ...and *0 a person everywhere
        ("urgent", key("0"), "operator"),
        ("npi", key("*0#"), "operator"),
        ("urgent", key("8"), "main_menu"),  # a one-key question: the 8 of *8
        ("weeks", key("8"), "matched"),  # 8 weeks
        ("npi", key("8#"), "invalid"),  # not a one-key question: only *8 goes home
        ("npi", said("zero"), "operator"),
        ("npi", key("*"), "repeat"),
    ],
    ids=repr,
)
def test_the_way_out_rule(node: str, inp: Input, outcome: str) -> None:
    turn = run_turn(HOME_FLOW, in_sub(node), inp, CTX)
    assert turn.event.outcome == outcome
    if outcome == "operator":
        assert_transfers(
            turn, "general", f"caller_request: caller asked for a person at sub.{node}"
        )


def test_without_a_main_menu_star_eight_is_no_way_out() -> None:
    turn = run_turn(MEMBER_FLOW, at("main.member"), key("*8"), CTX)
    assert turn.event.outcome == "invalid"
    turn = run_turn(MEMBER_FLOW, at("main.member"), said("main menu"), CTX)
    assert turn.event.outcome == "invalid"
