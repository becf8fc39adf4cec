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
    Catalog,
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
MAX_CHOICES = 4  # entries one keypad answer may stand for and still be offered by ear
BACK_KEY = "9"  # "enter it again" at a choice among keyed entries
DATE_KEYS = 8  # a keyed date is MMDDYYYY
# The form field being changed ("intake/exam"): set by a form's change menu, read by the
# field's questions to offer keeping the answer they have.
CHANGING = "_changing"


@dataclass(frozen=True)
class Heard:
    """What the caller's input meant at an input node."""

    # matched | repeat | operator | main_menu | no_input | no_match | invalid | low_confidence
    outcome: str
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
    if offers_keep(node, state) and _keeps(inp, ctx):
        # The answer stays as it was, and needs no confirming again.
        sure = {f"{node.spec['slot']}_sure": True} if node.get("confirm_below") is not None else {}
        return Heard("matched", node.target("next"), sure, matched="keep")
    if inp.kind == "none" or (inp.kind == "dtmf" and not inp.digits):
        return Heard("no_input")
    if inp.kind == "speech" and not _clean(inp.speech):
        return Heard("no_input")
    out = way_out(bundle, node, inp, ctx)
    if out is not None:
        return out
    also = _also(node, inp, ctx)
    if also is not None:
        return also
    if inp.kind == "dtmf" and "dtmf" not in _modes(node):
        # Keys reach a speech-only question for the way out; any other key is no answer.
        return Heard("invalid", reason_prompt=_invalid_prompt(node, "not_speech"))
    if node.kind == "menu":
        return _menu(node, inp, ctx)
    if node.kind == "confirm":
        return _confirm(node, inp, ctx)
    if node.get("expect") == "choice":
        heard = _choice(node, inp, state)
    elif node.get("catalog"):
        heard = _catalog(node, inp, ctx)
    else:
        heard = _expect(node, inp, ctx)
    if heard.outcome == "matched" and node.get("catalog"):
        slot = node.spec["slot"]
        for left in (f"{slot}_open", f"{slot}_more", f"{slot}_added", f"{slot}_added_said"):
            if left not in heard.slots and state.slots.get(left) is not None:
                # A new answer that leaves nothing open clears what an earlier one left.
                heard = replace(heard, slots={**heard.slots, left: None})
    if heard.outcome == "matched" and node.get("validate"):
        return _validate(node, state, heard, ctx)
    return heard


def way_out(bundle: Bundle, node: Node, inp: Input, ctx: Context) -> Heard | None:
    """The way out of any question, one rule for every kind, or None for an answer.

    Keys (the whole entry, without the closing `#`): `*` repeats the question; `*0` reaches
    a person and `*8` the main menu, everywhere; `0` alone reaches a person wherever a lone 0
    is not itself an answer (a number question takes 0 weeks); `8` alone is the main menu at
    a one-key question (a menu, yes or no, a plan key) that has no 8 of its own: there the
    `*` of `*8` has already repeated the question when the 8 comes. Words: "agent",
    "representative"..., "main menu", "repeat"; at a question that takes free speech only an
    answer that is nothing but such a request, so "the patient asked to see a specialist" is
    an answer.
    """
    d = bundle.defaults_for(node)
    home = d.main_menu is not None
    if inp.kind == "dtmf":
        entry = inp.digits.strip().rstrip("#")
        if entry == d.repeat_key:
            return Heard("repeat")
        if entry == d.repeat_key + d.operator_key:
            return Heard("operator")
        if home and entry == d.repeat_key + d.main_menu_key:
            return Heard("main_menu")
        return _lone_key(node, entry, d.operator_key, d.main_menu_key if home else None, ctx)
    text = _clean(inp.speech)
    request = _only_phrase if node.get("expect") == "text" else _has_phrase_of
    if request(text, "words.operator", ctx):
        return Heard("operator", matched="operator", confidence=inp.confidence)
    if home and request(text, "words.main_menu", ctx):
        return Heard("main_menu", matched="main_menu", confidence=inp.confidence)
    if node.get("expect") == "text":
        return Heard("repeat") if request(text, "words.repeat", ctx) else None
    heard = _lone_key(
        node,
        spoken_digits(_strip_filler(text, ctx), ctx.prompts.language) or "",
        d.operator_key,
        None,
        ctx,
    )
    if heard is not None:
        return replace(heard, matched=heard.outcome, confidence=inp.confidence)
    # "Say it again" is a menu's own option where one says so (hear the number again).
    if _has_phrase(text, ctx.prompts.words("words.repeat")) and not _option_hit(node, text, ctx):
        return Heard("repeat")
    return None


def _also(node: Node, inp: Input, ctx: Context) -> Heard | None:
    """One of a question's answers beside its catalog (`also:`), by its key or its words:
    `9` or "español" at the plan question."""
    options: Mapping[Any, Mapping[str, Any]] = node.get("also") or {}
    if not options:
        return None
    if inp.kind == "dtmf":
        pressed = inp.digits.strip().rstrip("#")
        for key, option in options.items():
            if pressed == str(key):
                return Heard("matched", qualified(node, option["next"]), matched=str(key))
        return None
    text = _strip_filler(_clean(inp.speech), ctx)
    for key, option in options.items():
        words = ctx.prompts.words(str(option.get("words", "")))
        if _has_phrase(text, words) or spoken_digits(text, ctx.prompts.language) == str(key):
            return Heard(
                "matched",
                qualified(node, option["next"]),
                matched=str(key),
                confidence=inp.confidence,
            )
    return None


def _lone_key(
    node: Node, entry: str, operator_key: str, main_menu_key: str | None, ctx: Context
) -> Heard | None:
    # A menu's own 0 is the way to a person too: heard as asking for one at this question.
    if entry == operator_key and (node.kind == "menu" or not _is_answer(node, entry, ctx)):
        return Heard("operator")
    if (
        main_menu_key is not None
        and entry == main_menu_key
        and keys_expected(node, ctx) == 1
        and not _is_answer(node, entry, ctx)
    ):
        return Heard("main_menu")
    return None


def _is_answer(node: Node, entry: str, ctx: Context) -> bool:
    """Whether the keys `entry` are an answer the question itself takes."""
    if node.kind == "menu":
        return entry in {str(k) for k in node.spec["options"]}
    if entry in {str(k) for k in node.get("also") or {}}:
        return True
    if node.kind == "confirm" or node.get("expect") == "yesno":
        return yes_no(entry, ctx.prompts.language) is not None
    catalog = ctx.catalogs.get(node.get("catalog", ""))
    if catalog is not None:
        return catalog.by_key(entry) is not None
    if node.get("expect") in ("digits", "digits_or_date"):
        return _fits(node, entry)
    return False  # a date, free speech


def _modes(node: Node) -> tuple[str, ...]:
    return tuple(node.get("input") or ("dtmf", "speech"))


def keys_expected(node: Node, ctx: Context) -> int | None:
    """How many keys answer the question, when that is fixed: its Gather's numDigits."""
    if node.kind == "menu":
        options = node.get("options") or {}
        return 1 if all(len(str(k)) == 1 for k in options) else None
    if node.kind == "confirm" or node.get("expect") in ("yesno", "choice"):
        return 1
    if node.get("expect") == "text" and node.get("skip_key"):
        return 1  # the one key that skips (or a way out: 0, or * then a key)
    if node.kind != "ask":
        return None
    count: int | None = None
    catalog = ctx.catalogs.get(node.get("catalog", ""))
    if catalog is not None:
        count = _key_length(catalog)
    elif node.get("expect") == "date":
        # MMDDYYYY: the 8th key answers at once; `#` still ends a shorter entry, and
        # numDigits never cuts speech.
        count = DATE_KEYS
    lo, hi = node.get("min_digits"), node.get("max_digits")
    if lo is not None and lo == hi:
        count = int(lo)
    if count is not None and any(len(str(k)) != count for k in node.get("also") or {}):
        return None  # an `also` key of another length: `#` ends the entry
    return count


def _key_length(catalog: Catalog) -> int | None:
    """The one length of every key of a catalog (plan keys 1, facility NPIs 10), or None.

    A catalog whose keys are not listed (exam codes) may say it with `key_digits`.
    """
    keys = [k for k, _ in catalog.choices()]
    lengths = {len(k) for k in keys}
    if len(lengths) == 1 and all(k.isdigit() for k in keys):
        return lengths.pop()
    declared = getattr(catalog, "key_digits", None)
    return declared if isinstance(declared, int) and declared > 0 else None


def _has_phrase_of(text: str, key: str, ctx: Context) -> bool:
    return _has_phrase(text, ctx.prompts.words(key)) is not None


def _only_phrase(text: str, key: str, ctx: Context) -> bool:
    """The whole answer, its filler words aside, is one of the phrases `key` lists."""
    said = _strip_filler(text, ctx)
    return any(said in (_clean(p), _strip_filler(_clean(p), ctx)) for p in ctx.prompts.words(key))


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
    key = spoken_digits(text, ctx.prompts.language) if text else None
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
    # A catalog keyed by codes with letters (diagnoses) says which entries keys stand for;
    # only a question that confirms (confirm_below: its form reads back or offers a choice).
    keyed = getattr(catalog, "keyed", None)
    if inp.kind == "dtmf" and callable(keyed) and node.get("confirm_below") is not None:
        return _keyed(node, list(keyed(inp.digits.rstrip("#"))))
    if inp.kind == "dtmf":
        match = catalog.by_key(inp.digits.rstrip("#"))
    else:
        text = _strip_filler(_clean(inp.speech), ctx)
        digits = spoken_digits(text, ctx.prompts.language) if text else None
        match = catalog.by_key(digits) if digits else None
        if match is None:  # "um I ten": digits, but not a key; the words may still be a code
            match = catalog.match(inp.speech)
        if match is not None and inp.confidence is not None and inp.confidence < ctx.low_confidence:
            if match.score < 90:
                return Heard("low_confidence", confidence=inp.confidence)
    if match is None:
        heard = _low_or_no_match(inp, ctx) if inp.kind == "speech" else Heard("no_match")
        invalid = node.get("invalid")
        if heard.outcome == "no_match" and (
            isinstance(invalid, str) or (isinstance(invalid, Mapping) and "default" in invalid)
        ):
            # The node's own reason ("I couldn't find that imaging provider").
            return replace(heard, outcome="invalid", reason_prompt=_invalid_prompt(node, "default"))
        return heard
    slot = node.spec["slot"]
    slots: dict[str, Any] = {slot: match.value, f"{slot}_name": match.said}
    if match.open is not None:
        slots[f"{slot}_open"] = match.open  # for a follow-up question: which contrast?
    if match.more is not None:  # a second one said in the same breath: offered as more
        slots[f"{slot}_more"] = match.more.value
        slots[f"{slot}_more_name"] = match.more.said
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


def _keyed(node: Node, found: list[Match]) -> Heard:
    """Keys that stand for one or a few catalog entries (an ICD-10 code's letter entered by
    its keypad digit): one is read back (`{slot}_sure` "keyed"), a few are offered as a
    keypad menu (`{slot}_sure` "choose", the entries in `{slot}_choices`)."""
    slot = node.spec["slot"]
    if not found:
        return Heard("invalid", reason_prompt=_invalid_prompt(node, "no_code"))
    if len(found) > MAX_CHOICES:
        return Heard("invalid", reason_prompt=_invalid_prompt(node, "too_many_codes"))
    if len(found) == 1:
        match = found[0]
        one = {slot: match.value, f"{slot}_name": match.said, f"{slot}_sure": "keyed"}
        return Heard("matched", node.target("next"), slots=one, matched=match.value)
    choices = [[m.value, m.said] for m in found]
    several: dict[str, Any] = {f"{slot}_choices": choices, f"{slot}_sure": "choose"}
    return Heard("matched", node.target("next"), slots=several, matched=None)


def _choice(node: Node, inp: Input, state: CallState) -> Heard:
    """One of the entries the caller's keys stood for, by its place in the list (1, 2, ...);
    BACK_KEY goes to `again` (enter the keys again)."""
    slot = node.spec["slot"]
    choices = list(state.slots.get(str(node.spec.get("choices"))) or [])
    pressed = _entered_digits(inp)
    if pressed == BACK_KEY and node.target("again"):
        return Heard("matched", node.target("again"), matched=pressed)
    if not pressed.isdigit() or not 1 <= int(pressed) <= len(choices):
        return Heard("invalid", reason_prompt=_invalid_prompt(node, "default"))
    value, said = choices[int(pressed) - 1]
    slots = {slot: value, f"{slot}_name": said, f"{slot}_choices": None}
    return Heard("matched", node.target("next"), slots=slots, matched=str(value))


def _expect(node: Node, inp: Input, ctx: Context) -> Heard:
    expect, slot = node.spec["expect"], node.spec["slot"]
    invalid = _invalid_prompt(node, "default")
    if expect == "text":
        skip = node.get("skip_key")
        if inp.kind != "speech":
            if skip and inp.digits.strip() == str(skip):
                # Left for the clinician: nothing said, and the call knows it was skipped.
                slots = {slot: "", f"{slot}_confidence": None, f"{slot}_skipped": True}
                return Heard("matched", node.target("next"), slots, matched="skipped")
            return Heard("invalid", reason_prompt=_invalid_prompt(node, "not_speech"))
        text = inp.speech.strip()
        said: dict[str, Any] = {slot: text, f"{slot}_confidence": inp.confidence}
        if skip:
            said[f"{slot}_skipped"] = False
        return Heard("matched", node.target("next"), said, matched=None, confidence=inp.confidence)
    if expect == "yesno":
        answer = yes_no(inp.raw, ctx.prompts.language)
        if answer is None:
            return _low_or_no_match(inp, ctx)
        return Heard("matched", node.target("next"), {slot: answer}, matched=str(answer).lower())
    if expect == "date":
        raw = inp.digits.rstrip("#") if inp.kind == "dtmf" else inp.speech
        day, _reason = parse_date_reason(raw, today=ctx.today, language=ctx.prompts.language)
        if day is None:
            return Heard("invalid", reason_prompt=_invalid_prompt(node, _reason or "default"))
        iso = day.isoformat()
        return Heard("matched", node.target("next"), {slot: iso}, matched=iso)
    if expect == "digits_or_date":
        return _digits_or_date(node, inp, ctx)
    # digits
    digits = _entered_digits(inp, ctx.prompts.language)
    if not _fits(node, digits):
        return Heard("invalid", reason_prompt=invalid)
    return Heard("matched", node.target("next"), {slot: digits}, matched=digits)


def _entered_digits(inp: Input, language: str = "en-US") -> str:
    """The keys pressed (without the closing #), or the digits said."""
    if inp.kind == "dtmf":
        return inp.digits.rstrip("#")
    return spoken_digits(inp.speech, language) or ""


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
    digits = _entered_digits(inp, ctx.prompts.language)
    if _fits(node, digits) and len(digits) != 8:
        return Heard("matched", node.target("next"), {slot: digits}, matched=digits)
    if inp.kind == "dtmf" and len(digits) != 8:
        return Heard("invalid", reason_prompt=_invalid_prompt(node, "default"))
    raw = digits if inp.kind == "dtmf" else inp.speech
    day, reason = parse_date_reason(raw, today=ctx.today, language=ctx.prompts.language)
    if day is not None:
        keyed = f"{day:%m%d%Y}"
        return Heard("matched", node.target("next"), {slot: keyed}, matched=keyed)
    if reason == "unreadable" and inp.kind == "speech" and not mentions_month(raw):
        reason = "default"  # nothing in it says it was meant as a date
    return Heard("invalid", reason_prompt=_invalid_prompt(node, reason or "default"))
