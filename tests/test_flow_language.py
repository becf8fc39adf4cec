"""The flow language at the caller's level, with plain data and no Flask: sections run by
`call` and ended by `return`, the `form` node, menus that say their own options, and the
`language` node."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from ivr.engine import (
    ActionResult,
    Bundle,
    CallState,
    Context,
    FlowError,
    Input,
    Match,
    Prompts,
    Turn,
    compile_bundle,
    run_turn,
)

SILENCE = Input("none")


def key(digits: str) -> Input:
    return Input("dtmf", digits=digits)


def said(text: str, confidence: float | None = 0.9) -> Input:
    return Input("speech", speech=text, confidence=confidence)


def _table(lang: str) -> dict[str, Any]:
    spanish = lang == "es-US"
    return {
        "system": {
            "no_input": "No oí nada." if spanish else "I didn't hear you.",
            "no_match": "No entendí." if spanish else "I didn't get that.",
            "low_confidence": "No quedó claro." if spanish else "That wasn't clear.",
            "catalog_choice": "Para {label}, oprima {key}."
            if spanish
            else "For {label}, press {key}.",
            "catalog_choice_joiner": " ",
        },
        "words": {
            "operator": ["agente"] if spanish else ["agent"],
            "repeat": ["repetir"] if spanish else ["repeat"],
            "yes": ["sí"] if spanish else ["yes"],
            "no": ["no"],
            "back": ["sin cambios"] if spanish else ["no change", "go back"],
            "keep": ["conservar"] if spanish else ["keep", "keep it"],
            "menu": {
                "order": ["pedido"] if spanish else ["order", "new order"],
                "status": ["estado"] if spanish else ["status"],
            },
            "f": {
                "member": ["miembro"] if spanish else ["member"],
                "fruit": ["fruta"] if spanish else ["fruit"],
                "visit": ["visita"] if spanish else ["visit", "day"],
                "submit": ["enviar"] if spanish else ["submit"],
                "change": ["cambiar"] if spanish else ["change"],
            },
        },
        "q": {
            "menu": "Pulse 1, 2, 3 o 4." if spanish else "Press 1, 2, 3 or 4.",
            "member": "¿Número de miembro?" if spanish else "Member number?",
            "fruit": "¿Qué fruta?" if spanish else "Which fruit?",
            "fruit_sure": "¿Dijo {fruit_name}?" if spanish else "Did you say {fruit_name}?",
            "fruit_keep": "Para conservar {fruit_name}, oprima numeral."
            if spanish
            else "To keep {fruit_name}, press pound.",
            "day": "¿Qué día?" if spanish else "Which day?",
            "note": "¿Alguna nota?" if spanish else "Any note?",
            "code": "¿Código?" if spanish else "Code?",
            "code_sure": "¿{code_name}?" if spanish else "{code_name}?",
            "code_keyed": "{code:code}, {code_name}: 1 o 2."
            if spanish
            else "{code:code}, {code_name}: 1 or 2.",
            "code_choose": "¿Cuál? {choices} Otra vez, 9."
            if spanish
            else "Which? {choices} Again, 9.",
            "code_none": "Ningún código." if spanish else "No code.",
            "code_many": "Demasiados." if spanish else "Too many.",
            "skip": "Nota, o numeral." if spanish else "A note, or pound.",
            "skip_bad": "Dígala, o numeral." if spanish else "Say it, or pound.",
            "review": "Enviar 1, cambiar 2, repetir 3."
            if spanish
            else "Submit 1, change 2, again 3.",
        },
        "r": {
            "hello": "Hola." if spanish else "Hello.",
            "tip": "Un consejo." if spanish else "A tip.",
            "extra": "Algo más." if spanish else "Something else.",
            "visit_bad": "No hay visitas ese día." if spanish else "No visits that day.",
            "tally": "Contando." if spanish else "Tallying.",
            "readback": "{member}, {fruit_name}, {day}.",
            "code_readback": "{code_name}, {note}.",
        },
        "end": {
            "bye": "Adiós." if spanish else "Goodbye.",
            "agent": "Un agente." if spanish else "An agent.",
            "help": "Ayuda." if spanish else "Some help.",
        },
    }


EN = Prompts("en-US", _table("en-US"))
ES = Prompts("es-US", _table("es-US"))
ENDINGS = {
    "bye": {"kind": "hangup", "prompt": "end.bye"},
    "agent": {"kind": "transfer", "queue": "general", "reason": "caller_request"},
    "help": {"kind": "transfer", "queue": "general", "reason": "retries_exhausted"},
}


class Fruits:
    """A catalog whose scores the test chooses: "apel" is a guess, "apple" sure."""

    ENTRIES = {"1": Match("APPLE", "apple", 100, "1"), "2": Match("PEAR", "pear", 100, "2")}
    SPOKEN = {"apple": Match("APPLE", "apple", 96), "apel": Match("APPLE", "apple", 70)}

    def by_key(self, digits: str) -> Match | None:
        return self.ENTRIES.get(digits)

    def match(self, text: str) -> Match | None:
        return self.SPOKEN.get(text.strip().lower())

    def choices(self) -> Sequence[tuple[str, str]]:
        return [("1", "apple"), ("2", "pear")]

    def hints(self) -> Sequence[str]:
        return ["apple", "pear"]


class Services:
    """Actions by name, each call recorded."""

    def __init__(self, member: str | None = None) -> None:
        self.member = member
        self.calls: list[str] = []

    def __call__(
        self,
        name: str,
        params: Mapping[str, Any],
        slots: Mapping[str, Any],
        scratch: Mapping[str, Any],
    ) -> ActionResult:
        self.calls.append(name)
        if name == "caller_member":
            return (
                ActionResult("found", {"member": self.member})
                if self.member
                else (ActionResult("none"))
            )
        if name == "check_visit":
            return ActionResult("ok" if slots.get("day") != "13" else "no_visits")
        return ActionResult("ok")


def ctx(services: Services | None = None, prompts: Prompts = EN) -> Context:
    return Context(
        prompts=prompts,
        catalogs={"fruits": Fruits()},
        actions=services or Services(),
        today=dt.date(2024, 6, 15),
        languages={"en-US": EN, "es-US": ES},
    )


def bundle(nodes: Mapping[str, Any], **flows: Any) -> Bundle:
    doc = {
        "start": next(iter(nodes)),
        "defaults": {"operator": "agent", "on_fail": "help"},
        "nodes": {**ENDINGS, **nodes},
    }
    return compile_bundle(
        {"main": doc, **flows},
        prompts=[EN, ES],
        catalogs={"fruits"},
        actions={"caller_member", "save_draft", "check_visit"},
        queues={"general"},
    )


def start(b: Bundle, c: Context | None = None) -> Turn:
    return run_turn(b, CallState(node=""), Input("start"), c or ctx())


def run(b: Bundle, turn: Turn, *inputs: Input, c: Context | None = None) -> Turn:
    for inp in inputs:
        turn = run_turn(b, turn.state, inp, c or ctx())
    return turn


# --- call and return ------------------------------------------------------------------------

SECTIONS = bundle(
    {
        "menu": {
            "kind": "menu",
            "prompt": "q.menu",
            "options": {
                "1": {"next": "tip_then_menu"},
                "2": {"next": "tip_then_bye"},
                "3": {"next": "orphan"},
                "4": {"next": "again"},
            },
        },
        "tip_then_menu": {"kind": "call", "node": "tip", "next": "menu"},
        "tip_then_bye": {"kind": "call", "node": "tip", "next": "extra_then_bye"},
        "extra_then_bye": {"kind": "call", "flow": "extra", "next": "bye"},
        "tip": {"kind": "say", "prompt": "r.tip", "next": "tip_done"},
        "tip_done": {"kind": "return"},
        "orphan": {"kind": "return"},
        "again": {"kind": "call", "node": "menu", "next": "bye"},
    },
    extra={
        "start": "said",
        "nodes": {
            "said": {"kind": "say", "prompt": "r.extra", "next": "done"},
            "done": {"kind": "return"},
        },
    },
)


def test_a_section_returns_to_where_each_call_said() -> None:
    first = start(SECTIONS)
    back = run(SECTIONS, first, key("1"))
    assert back.say == ("A tip.", "Press 1, 2, 3 or 4.")
    assert back.state.node == "main.menu" and back.state.stack == ()
    done = run(SECTIONS, first, key("2"))
    assert done.say == ("A tip.", "Something else.", "Goodbye.")
    assert done.hangup and done.state.stack == ()


def test_the_stack_holds_the_way_back_while_a_section_listens() -> None:
    turn = run(SECTIONS, start(SECTIONS), key("4"))
    assert turn.state.node == "main.menu" and turn.state.stack == ("main.bye",)
    # The stack is part of the call state: the next turn, on any worker, returns the same way.
    resumed = run_turn(SECTIONS, CallState(node="main.menu", stack=("main.bye",)), key("1"), ctx())
    assert resumed.state.stack == ("main.bye",)


def test_a_return_with_no_call_open_hands_the_caller_to_a_person() -> None:
    turn = run(SECTIONS, start(SECTIONS), key("3"))
    assert turn.transfer is not None
    assert turn.transfer.reason == "retries_exhausted: nothing to return to at main.orphan"
    assert turn.transfer.queue == "general"


def test_calls_nested_without_end_stop_at_a_person() -> None:
    turn = start(SECTIONS)
    for _ in range(16):
        turn = run(SECTIONS, turn, key("4"))
        assert turn.gather is not None
    turn = run(SECTIONS, turn, key("4"))
    assert (
        turn.transfer is not None
        and turn.transfer.reason == "retries_exhausted: calls too deep at main.again"
    )


# --- menus that say their own options -------------------------------------------------------

SPOKEN_MENU = bundle(
    {
        "pick": {
            "kind": "menu",
            "options": {
                "1": {"next": "bye", "words": "words.menu.order"},
                "2": {"next": "agent", "words": "words.menu.status"},
            },
        }
    }
)


def test_a_menu_without_a_prompt_says_each_option_and_its_key() -> None:
    turn = start(SPOKEN_MENU)
    assert turn.say == ("For order, press 1. For status, press 2.",)
    again = run(SPOKEN_MENU, turn, key("7"))
    assert again.say == ("I didn't get that.", "For order, press 1. For status, press 2.")
    assert run(SPOKEN_MENU, turn, said("new order")).hangup


def test_the_options_are_said_in_the_calls_language() -> None:
    turn = start(SPOKEN_MENU, ctx(prompts=ES))
    assert turn.say == ("Para pedido, oprima 1. Para estado, oprima 2.",)


# --- the language node ----------------------------------------------------------------------

SPANISH = bundle(
    {
        "hello": {"kind": "say", "prompt": "r.hello", "next": "to_spanish"},
        "to_spanish": {"kind": "language", "language": "es-US", "next": "pick"},
        "pick": {
            "kind": "menu",
            "options": {
                "1": {"next": "bye", "words": "words.menu.order"},
                "2": {"next": "agent", "words": "words.menu.status"},
            },
        },
    }
)


def test_the_language_node_switches_the_rest_of_the_call() -> None:
    turn = start(SPANISH)
    assert turn.say == ("Hello.", "Para pedido, oprima 1. Para estado, oprima 2.")
    assert turn.state.language == "es-US"
    # The next turn is run with the call's saved language, as voice builds its context.
    bye = run_turn(SPANISH, turn.state, key("1"), ctx(prompts=ES))
    assert bye.say == ("Adiós.",) and bye.state.language == "es-US"


# --- the form node --------------------------------------------------------------------------


def form_nodes() -> dict[str, Any]:
    return {
        "hello": {"kind": "say", "prompt": "r.hello", "next": "visit"},
        "visit": {
            "kind": "form",
            "save": "save_draft",
            "fields": {
                "member": {
                    "words": "words.f.member",
                    "first": "known_member",
                    "slot": "member",
                    "expect": "digits",
                    "min_digits": 4,
                    "max_digits": 6,
                    "prompt": "q.member",
                },
                "fruit": {
                    "words": "words.f.fruit",
                    "slot": "fruit",
                    "catalog": "fruits",
                    "confirm_below": 90,
                    "confirm": "q.fruit_sure",
                    "prompt": "q.fruit",
                },
                "day": {
                    "words": "words.f.visit",
                    "check": "check_visit",
                    "check_failed": "r.visit_bad",
                    "questions": [
                        {"slot": "day", "expect": "digits", "prompt": "q.day"},
                        {"slot": "note", "expect": "text", "prompt": "q.note"},
                    ],
                },
            },
            "before_readback": "tally",
            "readback": "r.readback",
            "menu": {
                "prompt": "q.review",
                "submit": "words.f.submit",
                "change": "words.f.change",
                "back": "words.back",
            },
            "next": "bye",
        },
        "known_member": {
            "kind": "action",
            "action": "caller_member",
            "outcomes": {"found": "known_done"},
            "next": "known_done",
        },
        "known_done": {"kind": "return"},
        "tally": {"kind": "say", "prompt": "r.tally", "next": "tally_done"},
        "tally_done": {"kind": "return"},
    }


def form_bundle() -> Bundle:
    return bundle(form_nodes())


FORM = form_bundle()
READBACK = ("Tallying.", "1234, apple, 14.", "Submit 1, change 2, again 3.")


def through_the_form(services: Services) -> Turn:
    c = ctx(services)
    turn = start(FORM, c)
    assert turn.say == ("Hello.", "Member number?")
    turn = run(FORM, turn, key("1234"), c=c)
    assert turn.say == ("Which fruit?",)
    turn = run(FORM, turn, said("apel"), c=c)  # heard, but not surely: asked to confirm
    assert turn.say == ("Did you say apple?",) and turn.state.node == "main.confirm_fruit"
    turn = run(FORM, turn, key("1"), c=c)
    assert turn.say == ("Which day?",)
    turn = run(FORM, turn, key("13"), said("mornings"), c=c)
    assert turn.say == ("No visits that day.", "Which day?")  # the check asks again
    turn = run(FORM, turn, key("14"), said("mornings"), c=c)
    assert turn.say == READBACK
    return turn


def test_a_form_asks_each_field_confirms_a_guess_checks_and_reads_back() -> None:
    services = Services()
    turn = through_the_form(services)
    assert {k: turn.state.slots.get(k) for k in ("member", "fruit", "day", "note")} == {
        "member": "1234",
        "fruit": "APPLE",
        "day": "14",
        "note": "mornings",
    }
    assert services.calls.count("save_draft") == 3  # once for each field
    assert turn.state.stack == ()
    assert run(FORM, turn, key("1")).hangup


def test_change_one_item_asks_only_it_then_reads_back_again() -> None:
    services = Services()
    turn = through_the_form(services)
    menu = run(FORM, turn, key("2"))
    assert menu.say == (
        "For member, press 1. For fruit, press 2. For visit, press 3. For no change, press 9.",
    )
    asked = run(FORM, menu, said("fruit"))
    assert asked.say == ("Which fruit?",) and asked.state.node == "main.ask_fruit"
    back = run(FORM, asked, key("2"))
    assert back.say == ("Tallying.", "1234, pear, 14.", "Submit 1, change 2, again 3.")
    assert back.state.stack == ()


@pytest.mark.parametrize("back", [key("9"), said("go back")])
def test_go_back_from_change_one_item_changes_nothing(back: Input) -> None:
    services = Services()
    turn = through_the_form(services)
    saved = services.calls.count("save_draft")
    back_at = run(FORM, run(FORM, turn, key("2")), back)
    assert back_at.say == ("Submit 1, change 2, again 3.",)
    answers = {k: v for k, v in turn.state.slots.items() if k != "_visits"}
    assert {k: v for k, v in back_at.state.slots.items() if k != "_visits"} == answers
    assert back_at.state.stack == ()
    assert services.calls.count("save_draft") == saved


def test_a_form_that_names_no_back_words_offers_no_go_back() -> None:
    """A version published before forms had "go back" must compile, and sound, as it was
    published: the change menu gains 9 only when the form's menu names its words."""
    form = form_bundle().nodes["main.visit/change"]
    assert "9" in form.spec["options"]
    nodes = form_nodes()
    nodes["visit"]["menu"].pop("back")
    old = bundle(nodes)
    assert "9" not in old.nodes["main.visit/change"].spec["options"]


def test_a_field_its_first_section_filled_is_not_asked() -> None:
    turn = start(FORM, ctx(Services(member="5678")))
    assert turn.say == ("Hello.", "Which fruit?")
    assert turn.state.slots["member"] == "5678"


def test_a_sure_answer_is_not_confirmed() -> None:
    turn = run(FORM, start(FORM), key("1234"), said("apple"))
    assert turn.say == ("Which day?",)


# --- keypad-only answers: codes whose letters are keyed, free text skipped ---------------------


class Codes:
    """Codes with a letter, each letter entered by its keypad key (A, B, C on 2)."""

    CODES = {"A1": "alpha one", "B1": "bravo one", "C1": "charlie one", "D7": "delta seven"}
    PAD = {"A": "2", "B": "2", "C": "2", "D": "3"}

    def keyed(self, digits: str) -> list[Match]:
        return [
            Match(code, label, 100.0)
            for code, label in self.CODES.items()
            if self.PAD[code[0]] + code[1:] == digits
        ] + ([Match(f"X{i}", "x", 100.0) for i in range(5)] if digits == "99" else [])

    def by_key(self, digits: str) -> Match | None:
        return None

    def match(self, text: str) -> Match | None:
        return next((Match(c, n, 95.0) for c, n in self.CODES.items() if n == text), None)

    def choices(self) -> Sequence[tuple[str, str]]:
        return []

    def hints(self) -> Sequence[str]:
        return []


def keyed_nodes(**question: Any) -> dict[str, Any]:
    code = {
        "slot": "code",
        "catalog": "codes",
        "confirm_below": 90,
        "confirm": "q.code_sure",
        "keyed_confirm": "q.code_keyed",
        "choose": "q.code_choose",
        "prompt": "q.code",
        "invalid": {"no_code": "q.code_none", "too_many_codes": "q.code_many"},
        **question,
    }
    return {
        "form": {
            "kind": "form",
            "fields": {
                "code": {"words": "words.f.fruit", **code},
                "note": {
                    "words": "words.f.visit",
                    "slot": "note",
                    "expect": "text",
                    "skip_key": "#",
                    "prompt": "q.skip",
                    "invalid": "q.skip_bad",
                },
            },
            "readback": "r.code_readback",
            "menu": {"submit": "words.f.submit", "change": "words.f.change"},
            "next": "bye",
        }
    }


def keyed_bundle(nodes: Mapping[str, Any] | None = None) -> Bundle:
    doc = {
        "start": "form",
        "defaults": {"operator": "agent", "on_fail": "help"},
        "nodes": {**ENDINGS, **(nodes or keyed_nodes())},
    }
    return compile_bundle(
        {"main": doc},
        prompts=[EN, ES],
        catalogs={"codes"},
        actions=set(),
        queues={"general"},
    )


def keyed_ctx() -> Context:
    return Context(prompts=EN, catalogs={"codes": Codes()}, today=dt.date(2024, 6, 15))


def test_keys_for_one_code_read_it_back_and_two_enters_it_again() -> None:
    b, c = keyed_bundle(), keyed_ctx()
    turn = run(b, start(b, c), key("37#"), c=c)
    assert turn.say == ("D 7, delta seven: 1 or 2.",)
    assert turn.state.node == "main.confirm_keyed_code"
    again = run(b, turn, key("2"), c=c)
    assert again.say == ("Code?",) and again.state.node == "main.ask_code"
    on = run(b, turn, key("1"), c=c)
    assert on.say == ("A note, or pound.",) and on.state.slots["code"] == "D7"


def test_keys_for_a_few_codes_offer_a_keypad_choice() -> None:
    b, c = keyed_bundle(), keyed_ctx()
    turn = run(b, start(b, c), key("21"), c=c)
    assert turn.say == (
        "Which? For alpha one, press 1. For bravo one, press 2. For charlie one, press 3. "
        "Again, 9.",
    )
    assert turn.gather is not None and turn.gather.num_digits == 1
    assert run(b, turn, key("4"), c=c).say[-1] == turn.say[0]  # no fourth: asked again
    picked = run(b, turn, key("2"), c=c)
    assert picked.state.slots["code"] == "B1" and picked.state.slots["code_name"] == "bravo one"
    assert picked.say == ("A note, or pound.",)
    assert run(b, turn, key("9"), c=c).say == ("Code?",)


def test_keys_for_no_code_or_too_many_hear_why() -> None:
    b, c = keyed_bundle(), keyed_ctx()
    assert run(b, start(b, c), key("88"), c=c).say == ("No code.", "Code?")
    assert run(b, start(b, c), key("99"), c=c).say == ("Too many.", "Code?")


def test_a_spoken_code_is_matched_as_before() -> None:
    b, c = keyed_bundle(), keyed_ctx()
    turn = run(b, start(b, c), said("alpha one"), c=c)
    assert turn.say == ("A note, or pound.",) and turn.state.slots["code"] == "A1"


def test_pound_skips_a_free_text_question_and_says_so_in_the_slots() -> None:
    b, c = keyed_bundle(), keyed_ctx()
    turn = run(b, start(b, c), said("alpha one"), c=c)
    assert turn.gather is not None
    assert (turn.gather.num_digits, turn.gather.finish_on_key) == (1, "")
    assert run(b, turn, key("5"), c=c).say == ("Say it, or pound.", "A note, or pound.")
    skipped = run(b, turn, key("#"), c=c)
    assert {k: skipped.state.slots.get(k) for k in ("note", "note_skipped")} == {
        "note": "",
        "note_skipped": True,
    }
    spoken = run(b, turn, said("mornings"), c=c)
    assert (spoken.state.slots["note"], spoken.state.slots["note_skipped"]) == ("mornings", False)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"choose": None}, "keyed_confirm and choose go together"),
        ({"confirm": None}, "it needs confirm and confirm_below"),
    ],
)
def test_a_keyed_question_needs_both_prompts_and_a_confirm(
    change: dict[str, Any], problem: str
) -> None:
    nodes = keyed_nodes()
    code = nodes["form"]["fields"]["code"]
    for name, value in change.items():
        code.pop(name) if value is None else code.update({name: value})
    with pytest.raises(FlowError, match=problem):
        keyed_bundle(nodes)


def test_skip_key_and_choices_belong_to_their_own_questions() -> None:
    nodes = keyed_nodes()
    nodes["form"]["fields"]["code"]["skip_key"] = "#"
    with pytest.raises(FlowError, match="only with expect: text"):
        keyed_bundle(nodes)
    nodes = keyed_nodes()
    nodes["form"]["fields"]["note"]["skip_key"] = "0"
    with pytest.raises(FlowError, match="must be one keypad key"):
        keyed_bundle(nodes)


# --- a question's follow-up section, and keeping an answer when changing it ---------------


def follow_up_form() -> Bundle:
    nodes = form_nodes()
    fruit = nodes["visit"]["fields"]["fruit"]
    fruit.update({"then": "fruit_tip", "keep": "q.fruit_keep"})
    nodes["fruit_tip"] = {"kind": "say", "prompt": "r.tip", "next": "fruit_tip_done"}
    nodes["fruit_tip_done"] = {"kind": "return"}
    return bundle(nodes)


FOLLOW = follow_up_form()


def test_a_follow_up_section_runs_after_the_answer_and_before_its_confirmation() -> None:
    turn = run(FOLLOW, start(FOLLOW), key("1234"), said("apel"))
    assert turn.say == ("A tip.", "Did you say apple?")
    turn = run(FOLLOW, start(FOLLOW), key("1234"), said("apple"))
    assert turn.say == ("A tip.", "Which day?")


def at_readback(b: Bundle) -> Turn:
    turn = run(b, start(b), key("1234"), said("apple"), key("14"), said("mornings"))
    assert turn.say[-1] == READBACK[-1]
    return turn


@pytest.mark.parametrize("keep", [key("#"), SILENCE, said("keep it")])
def test_a_field_changed_by_mistake_keeps_its_answer(keep: Input) -> None:
    turn = at_readback(FOLLOW)
    asked = run(FOLLOW, turn, key("2"), key("2"))
    assert asked.say == ("Which fruit?", "To keep apple, press pound.")
    assert asked.gather is not None and "dtmf" in asked.gather.input
    kept = run(FOLLOW, asked, keep)
    assert kept.say == ("A tip.", *READBACK)  # not confirmed again, nothing else asked
    assert kept.state.slots["fruit"] == "APPLE"


def test_a_field_being_changed_still_takes_a_new_answer() -> None:
    asked = run(FOLLOW, at_readback(FOLLOW), key("2"), key("2"))
    changed = run(FOLLOW, asked, key("2"))
    assert changed.say == ("A tip.", "Tallying.", "1234, pear, 14.", READBACK[-1])


def test_keep_is_offered_only_when_changing() -> None:
    turn = run(FOLLOW, start(FOLLOW), key("1234"))
    assert turn.say == ("Which fruit?",)
    assert run(FOLLOW, turn, SILENCE).say == ("I didn't hear you.", "Which fruit?")
    # Another field chosen from the change menu: the fruit's question offers nothing.
    member = run(FOLLOW, at_readback(FOLLOW), key("2"), key("1"))
    assert member.say == ("Member number?",)


def test_a_form_without_keep_sets_nothing_when_changing() -> None:
    options = FORM.nodes["main.visit/change"].spec["options"]
    assert all("set" not in option for option in options.values())
    options = FOLLOW.nodes["main.visit/change"].spec["options"]
    assert options["2"]["set"] == {"_changing": "visit/fruit"}
    assert "set" not in options["1"]


def test_then_and_keep_must_name_a_section_and_a_prompt() -> None:
    nodes = form_nodes()
    nodes["visit"]["fields"]["fruit"].update({"then": 3, "keep": ["q.fruit_keep"]})
    with pytest.raises(FlowError) as err:
        bundle(nodes)
    text = str(err.value)
    assert "fields.fruit.then" in text and "fields.fruit.keep" in text
