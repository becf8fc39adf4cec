"""Understanding the caller: what an answer means at the question the call is at.

Part of the pure engine (`runtime` walks the flow; this reads the input): no Flask, no
SQLAlchemy, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz

from ivr.engine.graph import Bundle, Node
from ivr.engine.types import (
    CallState,
    EngineError,
    Input,
    Match,
    call_action,
)
from ivr.match.spoken import (
    mentions_month,
    parse_date_reason,
    says_yes_and_no,
    spoken_digits,
    yes_no,
)

if TYPE_CHECKING:
    from ivr.engine.runtime import Context

_WORD = re.compile(r"[^\w\s']+")
# The form field being changed ("intake/exam"): set by a form's change menu, read by the
# field's questions to offer keeping the answer they have.
CHANGING = "_changing"


@dataclass(frozen=True)
class Heard:
    """What the caller's input meant at an input node."""

    outcome: str  # matched | repeat | operator | no_input | no_match | invalid | low_confidence
    next: str | None = None
    slots: Mapping[str, Any] = field(default_factory=dict)
    matched: str | None = None
    confidence: float | None = None
    reason_prompt: str | None = None
    scratch: Mapping[str, Any] = field(default_factory=dict)  # a validating action's notes


def qualified(node: Node, target: str) -> str:
    return target if "." in target else f"{node.flow}.{target}"


def _clean(text: str) -> str:
    return " ".join(_WORD.sub(" ", text.lower()).split())


def _has_phrase(text: str, phrases: tuple[str, ...]) -> str | None:
    padded = f" {text} "
    best = None
    for phrase in phrases:
        p = _clean(phrase)
        if p and f" {p} " in padded and (best is None or len(p) > len(best)):
            best = p
    return best


def _strip_filler(text: str, ctx: Context) -> str:
    words = set(_clean(" ".join(ctx.prompts.words("words.filler"))).split())
    return " ".join(w for w in text.split() if w not in words)


def offers_keep(node: Node, state: CallState) -> bool:
    """Asked again from "change one item", with an answer to keep: pound (Twilio posts
    nothing for a lone pound), silence or "keep it" keeps it."""
    where = node.get("keep_in")
    return (
        node.kind == "ask"
        and isinstance(where, str)
        and state.slots.get(CHANGING) == where
        and state.slots.get(node.spec["slot"]) not in (None, "")
    )


def _keeps(inp: Input, ctx: Context) -> bool:
    if inp.kind == "none":
        return True
    if inp.kind == "dtmf":
        return not inp.digits.strip().rstrip("#")
    text = _strip_filler(_clean(inp.speech), ctx)
    return not text or any(text == _clean(p) for p in ctx.prompts.words("words.keep"))


def interpret(bundle: Bundle, node: Node, state: CallState, inp: Input, ctx: Context) -> Heard:
    defaults = bundle.defaults_for(node)
    if offers_keep(node, state) and _keeps(inp, ctx):
        # The answer stays as it was, and needs no confirming again.
        sure = {f"{node.spec['slot']}_sure": True} if node.get("confirm_below") is not None else {}
        return Heard("matched", node.target("next"), sure, matched="keep")
    if inp.kind == "none" or (inp.kind == "dtmf" and not inp.digits):
        return Heard("no_input")
    if inp.kind == "speech" and not _clean(inp.speech):
        return Heard("no_input")
    if inp.kind == "dtmf":
        digits = inp.digits.strip()
        if digits.rstrip("#") == defaults.repeat_key:
            return Heard("repeat")
        if digits.rstrip("#") == defaults.operator_key and not _zero_is_answer(node):
            return Heard("operator")
    elif node.get("expect") != "text":
        text = _clean(inp.speech)
        if _has_phrase(text, ctx.prompts.words("words.operator")):
            return Heard("operator", matched="operator", confidence=inp.confidence)
        spoken = spoken_digits(_strip_filler(text, ctx))
        if spoken == defaults.operator_key and not _zero_is_answer(node):
            return Heard("operator", matched="operator", confidence=inp.confidence)
        # "Say it again" is a menu's own option where one says so (hear the number again).
        if _has_phrase(text, ctx.prompts.words("words.repeat")) and not _option_hit(
            node, text, ctx
        ):
            return Heard("repeat")
    if node.kind == "menu":
        return _menu(node, inp, ctx)
    if node.kind == "confirm":
        return _confirm(node, inp, ctx)
    heard = _catalog(node, inp, ctx) if node.get("catalog") else _expect(node, inp, ctx)
    if heard.outcome == "matched" and node.get("catalog"):
        opened = f"{node.spec['slot']}_open"
        if opened not in heard.slots and state.slots.get(opened) is not None:
            # A new answer that leaves nothing open clears what an earlier one left.
            heard = replace(heard, slots={**heard.slots, opened: None})
    if heard.outcome == "matched" and node.get("validate"):
        return _validate(node, state, heard, ctx)
    return heard


def _invalid_prompt(node: Node, reason: str) -> str:
    invalid = node.get("invalid")
    if isinstance(invalid, Mapping):
        return str(invalid.get(reason) or invalid.get("default") or "system.no_match")
    return str(invalid or "system.no_match")


def _validate(node: Node, state: CallState, heard: Heard, ctx: Context) -> Heard:
    """Let a service check the answer (an NPI on file, a member of the plan)."""
    slot = node.spec["slot"]
    params = {**(node.get("params") or {}), "value": heard.slots.get(slot)}
    slots = {**state.slots, **heard.slots}
    # "error" is a retry, like any other answer the service refuses.
    result = call_action(ctx.actions, node.spec["validate"], params, slots, state.scratch)
    if result.outcome != "ok":
        return Heard(
            "invalid",
            slots={**heard.slots, **result.slots},
            matched=heard.matched,
            confidence=heard.confidence,
            reason_prompt=_invalid_prompt(node, result.outcome),
        )
    return replace(heard, slots={**heard.slots, **result.slots}, scratch=result.scratch)


def _option_hit(node: Node, text: str, ctx: Context) -> bool:
    if node.kind != "menu":
        return False
    options: Mapping[Any, Mapping[str, Any]] = node.spec["options"]
    return any(
        _has_phrase(text, ctx.prompts.words(option.get("words", ""))) for option in options.values()
    )


def _zero_is_answer(node: Node) -> bool:
    """At a digits question, 0 is a digit, not a request for a person."""
    return node.kind == "ask" and node.get("expect") in ("digits", "date", "digits_or_date")


def _menu(node: Node, inp: Input, ctx: Context) -> Heard:
    options: Mapping[Any, Mapping[str, Any]] = node.spec["options"]
    by_key = {str(k): v for k, v in options.items()}
    if inp.kind == "dtmf":
        option = by_key.get(inp.digits.rstrip("#"))
        if option is None:
            return Heard("no_match", matched=None)
        pressed = inp.digits.rstrip("#")
        return Heard("matched", qualified(node, option["next"]), option.get("set") or {}, pressed)
    text = _strip_filler(_clean(inp.speech), ctx)
    key = spoken_digits(text) if text else None
    if key is not None and key in by_key:
        option = by_key[key]
        return Heard("matched", qualified(node, option["next"]), option.get("set") or {}, key)
    answers = {str(o["answer"]): k for k, o in by_key.items() if o.get("answer")}
    if answers and says_yes_and_no(text, ctx.prompts.language):
        return _low_or_no_match(inp, ctx)  # "yeah, no": neither may be taken
    best: tuple[float, str] | None = None
    hits: list[str] = []
    for k, option in by_key.items():
        phrases = ctx.prompts.words(option.get("words", ""))
        hit = _has_phrase(text, phrases)
        hits += [hit] if hit else []
        score = (
            100.0 + len(hit)
            if hit
            else max((fuzz.token_sort_ratio(text, _clean(p)) for p in phrases), default=0.0)
        )
        if best is None or score > best[0]:
            best = (score, k)
    if answers and any(a not in b and b not in a for a in hits for b in hits):
        return _low_or_no_match(inp, ctx)  # two options' words, neither part of the other
    if answers and (best is None or best[0] < 100):
        # No option's own words, but a plain yes or no ("yeah", "that's right", "nope").
        answer = yes_no(text, ctx.prompts.language)
        if answer is not None and ("yes" if answer else "no") in answers:
            best = (100.0, answers["yes" if answer else "no"])
    if best is None or best[0] < 85:
        return _low_or_no_match(inp, ctx)
    option = by_key[best[1]]
    return Heard(
        "matched",
        qualified(node, option["next"]),
        option.get("set") or {},
        matched=best[1],
        confidence=inp.confidence,
    )


def _low_or_no_match(inp: Input, ctx: Context) -> Heard:
    if inp.confidence is not None and inp.confidence < ctx.low_confidence:
        return Heard("low_confidence", confidence=inp.confidence)
    return Heard("no_match", confidence=inp.confidence)


def _confirm(node: Node, inp: Input, ctx: Context) -> Heard:
    answer = yes_no(inp.raw, ctx.prompts.language)
    if answer is None:
        return _low_or_no_match(inp, ctx)
    target = node.target("yes" if answer else "no")
    return Heard("matched", target, matched="yes" if answer else "no", confidence=inp.confidence)


def _catalog(node: Node, inp: Input, ctx: Context) -> Heard:
    catalog = ctx.catalogs.get(node.spec["catalog"])
    if catalog is None:
        raise EngineError(f"catalog {node.spec['catalog']!r} is not loaded")
    match: Match | None
    if inp.kind == "dtmf":
        match = catalog.by_key(inp.digits.rstrip("#"))
    else:
        text = _strip_filler(_clean(inp.speech), ctx)
        digits = spoken_digits(text) if text else None
        match = catalog.by_key(digits) if digits else catalog.match(inp.speech)
        if match is not None and inp.confidence is not None and inp.confidence < ctx.low_confidence:
            if match.score < 90:
                return Heard("low_confidence", confidence=inp.confidence)
    if match is None:
        heard = _low_or_no_match(inp, ctx) if inp.kind == "speech" else Heard("no_match")
        if heard.outcome == "no_match" and node.get("invalid"):
            # The node's own reason ("I couldn't find that imaging provider").
            return replace(heard, outcome="invalid", reason_prompt=_invalid_prompt(node, "default"))
        return heard
    slot = node.spec["slot"]
    slots: dict[str, Any] = {slot: match.value, f"{slot}_name": match.said}
    if match.open is not None:
        slots[f"{slot}_open"] = match.open  # for a follow-up question: which contrast?
    if node.get("confirm_below") is not None:
        slots[f"{slot}_sure"] = inp.kind == "dtmf" or match.score >= float(
            node.spec["confirm_below"]
        )
    return Heard(
        "matched",
        node.target("next"),
        slots=slots,
        matched=match.value,
        confidence=round(match.score / 100, 3) if inp.kind == "speech" else None,
    )


def _expect(node: Node, inp: Input, ctx: Context) -> Heard:
    expect, slot = node.spec["expect"], node.spec["slot"]
    invalid = _invalid_prompt(node, "default")
    if expect == "text":
        if inp.kind != "speech":
            return Heard("invalid", reason_prompt=_invalid_prompt(node, "not_speech"))
        text = inp.speech.strip()
        return Heard(
            "matched",
            node.target("next"),
            {slot: text, f"{slot}_confidence": inp.confidence},
            matched=None,
            confidence=inp.confidence,
        )
    if expect == "yesno":
        answer = yes_no(inp.raw, ctx.prompts.language)
        if answer is None:
            return _low_or_no_match(inp, ctx)
        return Heard("matched", node.target("next"), {slot: answer}, matched=str(answer).lower())
    if expect == "date":
        raw = inp.digits.rstrip("#") if inp.kind == "dtmf" else inp.speech
        day, _reason = parse_date_reason(raw, today=ctx.today)
        if day is None:
            return Heard("invalid", reason_prompt=_invalid_prompt(node, _reason or "default"))
        iso = day.isoformat()
        return Heard("matched", node.target("next"), {slot: iso}, matched=iso)
    if expect == "digits_or_date":
        return _digits_or_date(node, inp, ctx)
    # digits
    digits = _entered_digits(inp)
    if not _fits(node, digits):
        return Heard("invalid", reason_prompt=invalid)
    return Heard("matched", node.target("next"), {slot: digits}, matched=digits)


def _entered_digits(inp: Input) -> str:
    """The keys pressed (without the closing #), or the digits said."""
    return inp.digits.rstrip("#") if inp.kind == "dtmf" else spoken_digits(inp.speech) or ""


def _fits(node: Node, digits: str) -> bool:
    """Only digits, as many as the question's min_digits to max_digits."""
    lo, hi = int(node.get("min_digits") or 1), int(node.get("max_digits") or 32)
    return digits.isdigit() and lo <= len(digits) <= hi


def _digits_or_date(node: Node, inp: Input, ctx: Context) -> Heard:
    """A number (an NPI) or a date of birth, the date kept as its keypad form MMDDYYYY.

    A spoken date is read as the `date` question reads it ("March fifth nineteen sixty"), so
    a date the intake takes is taken here; one the line can't read is said to be a date it
    didn't understand (`unreadable`), not a wrong answer.
    """
    slot = node.spec["slot"]
    digits = _entered_digits(inp)
    if _fits(node, digits) and len(digits) != 8:
        return Heard("matched", node.target("next"), {slot: digits}, matched=digits)
    if inp.kind == "dtmf" and len(digits) != 8:
        return Heard("invalid", reason_prompt=_invalid_prompt(node, "default"))
    raw = digits if inp.kind == "dtmf" else inp.speech
    day, reason = parse_date_reason(raw, today=ctx.today)
    if day is not None:
        keyed = f"{day:%m%d%Y}"
        return Heard("matched", node.target("next"), {slot: keyed}, matched=keyed)
    if reason == "unreadable" and inp.kind == "speech" and not mentions_month(raw):
        reason = "default"  # nothing in it says it was meant as a date
    return Heard("invalid", reason_prompt=_invalid_prompt(node, reason or "default"))
