"""One turn of a call: the caller's input at the current node, then on to the next question."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rapidfuzz import fuzz

from ivr.engine.flow import INPUT_KINDS, Bundle, Node
from ivr.engine.prompts import Prompts
from ivr.engine.types import (
    ActionResult,
    Actions,
    CallState,
    Catalog,
    Event,
    Gather,
    Input,
    Match,
    Transfer,
    Turn,
    TurnAbandoned,
)
from ivr.match.spoken import parse_date_reason, spoken_digits, yes_no

ESCALATION = "_escalation"
MAX_HINTS = 80
_WORD = re.compile(r"[^\w\s']+")


class EngineError(RuntimeError):
    """The flow itself is broken in a way validation should have caught."""


@dataclass(frozen=True)
class Context:
    """What a turn may consult besides the call: prompts, catalogs, actions, the date."""

    prompts: Prompts
    catalogs: Mapping[str, Catalog] = field(default_factory=dict)
    actions: Actions | None = None
    today: dt.date | None = None
    low_confidence: float = 0.2
    gather_timeout: int = 6
    max_steps: int = 64


@dataclass(frozen=True)
class Heard:
    """What the caller's input meant at an input node."""

    outcome: str  # matched | repeat | operator | no_input | no_match | invalid | low_confidence
    next: str | None = None
    slots: Mapping[str, Any] = field(default_factory=dict)
    matched: str | None = None
    confidence: float | None = None
    reason_prompt: str | None = None


VISITS = "_visits"


def run_turn(bundle: Bundle, state: CallState, inp: Input, ctx: Context) -> Turn:
    """Apply the caller's input to the call and walk the flow to the next question.

    Args:
        bundle: the compiled flows the call is pinned to.
        state: the call's state after the previous turn.
        inp: what the caller did this turn (``kind="start"`` for a new call).
        ctx: prompts in the call's language, catalogs, actions and today's date.

    Returns:
        What to say and whether to gather, transfer or hang up, with the new state.
    """
    if inp.kind == "start":
        start = replace(state, node=bundle.start, attempts=0)
        event = Event(node=bundle.start, input_kind="start", raw=None, outcome="start")
        return _walk(bundle, start, ctx, [], event)

    node = bundle.nodes.get(state.node)
    if node is None:
        raise EngineError(f"call is at unknown node {state.node!r}")
    if node.kind not in INPUT_KINDS:
        # The call already ended here (transfer or hang-up); answer the same way again.
        event = Event(node=node.id, input_kind=inp.kind, raw=inp.raw or None, outcome="ended")
        return _walk(bundle, state, ctx, [], event)

    heard = _interpret(bundle, node, state, inp, ctx)
    event = Event(
        node=node.id,
        input_kind=inp.kind,
        raw=inp.raw or None,
        outcome=heard.outcome,
        matched=heard.matched,
        confidence=heard.confidence,
    )
    defaults = bundle.defaults_for(node)
    if heard.outcome == "matched" and heard.next:
        # An answer is a fresh start: an earlier escalation no longer explains a transfer.
        moved = state.moved(heard.next, **heard.slots)
        if node.kind == "menu" and heard.next in (state.slots.get(VISITS) or {}):
            # Choosing a question from a menu (change the exam) gives it fresh tries.
            visits = {k: v for k, v in state.slots[VISITS].items() if k != heard.next}
            moved = replace(moved, slots={**moved.slots, VISITS: visits})
        if ESCALATION in moved.slots:
            moved = replace(moved, slots={k: v for k, v in moved.slots.items() if k != ESCALATION})
        return _walk(bundle, moved, ctx, [], event)
    if heard.outcome == "operator":
        target = defaults.operator
        if target is None:
            raise EngineError(f"no operator node for flow {node.flow!r}")
        moved = state.moved(target, **{ESCALATION: f"caller asked for a person at {node.id}"})
        return _walk(bundle, moved, ctx, [], event)
    if heard.outcome == "repeat":
        return _ask(node, state, ctx, [], event, key="prompt")

    attempts = state.attempts + 1
    limit = node.get("attempts") or defaults.attempts
    if attempts >= limit:
        target = node.target("on_fail") or defaults.on_fail
        if target is None:
            raise EngineError(f"node {node.id} has nowhere to send a caller after {limit} tries")
        moved = state.moved(target, **{ESCALATION: f"{heard.outcome} at {node.id}"})
        return _walk(bundle, moved, ctx, [], event)
    values = {**state.slots, **heard.slots}
    says = [ctx.prompts.render(heard.reason_prompt or f"system.{heard.outcome}", values)]
    return _ask(node, replace(state, attempts=attempts), ctx, says, event, key="reprompt")


def _values(node: Node, state: CallState, ctx: Context) -> dict[str, Any]:
    values = {k: v for k, v in state.slots.items() if not k.startswith("_")}
    catalog = ctx.catalogs.get(node.get("catalog", ""))
    if catalog is not None:
        choice = [
            ctx.prompts.render("system.catalog_choice", {"key": key, "label": label})
            for key, label in catalog.choices()
        ]
        joiner = ctx.prompts.text("system.catalog_choice_joiner") or " "
        values["choices"] = joiner.join(choice)
    return values


def _ask(
    node: Node, state: CallState, ctx: Context, says: list[str], event: Event, *, key: str
) -> Turn:
    prompt_key = node.get(key) if key == "prompt" else node.get("reprompt") or node.get("prompt")
    says.append(ctx.prompts.render(prompt_key, _values(node, state, ctx)))
    return Turn(
        say=tuple(s for s in says if s), state=state, event=event, gather=_gather(node, ctx)
    )


def _gather(node: Node, ctx: Context) -> Gather:
    hints: list[str] = []
    num_digits: int | None = None
    if node.kind == "menu":
        options = node.get("options") or {}
        for option in options.values():
            hints.extend(ctx.prompts.words(option.get("words", "")))
        if all(len(str(k)) == 1 for k in options):
            num_digits = 1
    elif node.kind == "confirm":
        num_digits = 1
        hints.extend(ctx.prompts.words("words.yes") + ctx.prompts.words("words.no"))
    elif node.kind == "ask":
        catalog = ctx.catalogs.get(node.get("catalog", ""))
        if catalog is not None:
            hints.extend(catalog.hints())
            keys = [k for k, _ in catalog.choices()]
            if keys and all(len(k) == 1 for k in keys):
                num_digits = 1
        if node.get("expect") == "yesno":
            num_digits = 1
        lo, hi = node.get("min_digits"), node.get("max_digits")
        if lo is not None and lo == hi:
            num_digits = int(lo)
    hint_key = node.get("hints")
    if isinstance(hint_key, str):
        hints = list(ctx.prompts.words(hint_key)) + hints
    unique = tuple(dict.fromkeys(h for h in hints if h))[:MAX_HINTS]
    return Gather(
        action_node=node.id,
        input=tuple(node.get("input") or ("dtmf", "speech")),
        hints=unique,
        num_digits=num_digits,
        timeout=int(node.get("timeout") or ctx.gather_timeout),
    )


def _walk(bundle: Bundle, state: CallState, ctx: Context, says: list[str], event: Event) -> Turn:
    """Run silent nodes (say, action, branch, goto) until one listens or ends the call."""
    visited: list[str] = []
    for _ in range(ctx.max_steps):
        node = bundle.node(state.node)
        state = replace(state, node=node.id)
        visited.append(node.id)
        kind = node.kind
        if kind in INPUT_KINDS:
            visits = dict(state.slots.get(VISITS) or {})
            count = int(visits.get(node.id, 0)) + 1
            limit = node.get("max_visits")
            if limit and count > limit:
                target = node.target("on_fail") or bundle.defaults_for(node).on_fail
                visits[node.id] = 0
                state = state.moved(
                    _required(target, node),
                    **{VISITS: visits, ESCALATION: f"too many tries at {node.id}"},
                )
                continue
            visits[node.id] = count
            state = replace(state, slots={**state.slots, VISITS: visits})
            turn = _ask(node, state, ctx, says, event, key="prompt")
            return replace(turn, visited=tuple(visited))
        if kind == "say":
            says.append(ctx.prompts.render(node.spec["prompt"], _values(node, state, ctx)))
            state = state.moved(_required(node.target("next"), node))
        elif kind == "action":
            result = _act(node, state, ctx)
            outcomes = node.get("outcomes") or {}
            target = outcomes.get(result.outcome) or node.spec["next"]
            state = state.moved(_qualified(node, target), **result.slots)
        elif kind == "branch":
            value = state.slots.get(node.spec["slot"])
            target = (node.get("cases") or {}).get(_case(value)) or node.spec["default"]
            state = state.moved(_qualified(node, target))
        elif kind == "goto":
            flow = node.spec["flow"]
            target = f"{flow}.{node.get('node')}" if node.get("node") else bundle.starts[flow]
            state = state.moved(target)
        elif kind == "transfer":
            if node.get("prompt"):
                says.append(ctx.prompts.render(node.spec["prompt"], _values(node, state, ctx)))
            # A reason may name what the call collected: "ticket {ticket_number}".
            reason = str(
                state.slots.get(ESCALATION) or _fill(node.spec["reason"], _values(node, state, ctx))
            )
            transfer = Transfer(queue=str(node.spec["queue"]), reason=reason)
            return Turn(
                say=tuple(s for s in says if s),
                state=state,
                event=event,
                transfer=transfer,
                visited=tuple(visited),
            )
        elif kind == "hangup":
            if node.get("prompt"):
                says.append(ctx.prompts.render(node.spec["prompt"], _values(node, state, ctx)))
            return Turn(
                say=tuple(s for s in says if s),
                state=state,
                event=event,
                hangup=True,
                visited=tuple(visited),
            )
        else:  # pragma: no cover - compile_bundle rejects unknown kinds
            raise EngineError(f"unknown node kind {kind!r}")
    raise EngineError(f"more than {ctx.max_steps} silent steps from {event.node}")


def _fill(template: str, values: Mapping[str, Any]) -> str:
    try:
        return str(template).format_map({k: v for k, v in values.items() if v is not None})
    except (KeyError, ValueError, IndexError, AttributeError):
        return str(template)


def _required(target: str | None, node: Node) -> str:
    if not target:
        raise EngineError(f"node {node.id} has no next node")
    return target


def _qualified(node: Node, target: str) -> str:
    return target if "." in target else f"{node.flow}.{target}"


def _case(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _act(node: Node, state: CallState, ctx: Context) -> ActionResult:
    if ctx.actions is None:
        return ActionResult(outcome="error")
    try:
        return ctx.actions(node.spec["action"], node.get("params") or {}, state.slots)
    except TurnAbandoned:
        raise
    except Exception:  # noqa: BLE001 - a failing service sends the caller on, never a 500
        return ActionResult(outcome="error")


# --- understanding the caller ----------------------------------------------------------


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


def _interpret(bundle: Bundle, node: Node, state: CallState, inp: Input, ctx: Context) -> Heard:
    defaults = bundle.defaults_for(node)
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
    if ctx.actions is None:
        result = ActionResult(outcome="error")
    else:
        try:
            result = ctx.actions(node.spec["validate"], params, slots)
        except TurnAbandoned:
            raise
        except Exception:  # noqa: BLE001 - a failing check is a retry, never a 500
            result = ActionResult(outcome="error")
    if result.outcome != "ok":
        return Heard(
            "invalid",
            slots={**heard.slots, **result.slots},
            matched=heard.matched,
            confidence=heard.confidence,
            reason_prompt=_invalid_prompt(node, result.outcome),
        )
    return replace(heard, slots={**heard.slots, **result.slots})


def _option_hit(node: Node, text: str, ctx: Context) -> bool:
    if node.kind != "menu":
        return False
    options: Mapping[Any, Mapping[str, Any]] = node.spec["options"]
    return any(
        _has_phrase(text, ctx.prompts.words(option.get("words", ""))) for option in options.values()
    )


def _zero_is_answer(node: Node) -> bool:
    """At a digits question, 0 is a digit, not a request for a person."""
    return node.kind == "ask" and node.get("expect") in ("digits", "date")


def _menu(node: Node, inp: Input, ctx: Context) -> Heard:
    options: Mapping[Any, Mapping[str, Any]] = node.spec["options"]
    by_key = {str(k): v for k, v in options.items()}
    if inp.kind == "dtmf":
        option = by_key.get(inp.digits.rstrip("#"))
        if option is None:
            return Heard("no_match", matched=None)
        pressed = inp.digits.rstrip("#")
        return Heard("matched", _qualified(node, option["next"]), option.get("set") or {}, pressed)
    text = _strip_filler(_clean(inp.speech), ctx)
    key = spoken_digits(text) if text else None
    if key is not None and key in by_key:
        option = by_key[key]
        return Heard("matched", _qualified(node, option["next"]), option.get("set") or {}, key)
    best: tuple[float, str] | None = None
    for k, option in by_key.items():
        phrases = ctx.prompts.words(option.get("words", ""))
        hit = _has_phrase(text, phrases)
        score = (
            100.0 + len(hit)
            if hit
            else max((fuzz.token_sort_ratio(text, _clean(p)) for p in phrases), default=0.0)
        )
        if best is None or score > best[0]:
            best = (score, k)
    if best is None or best[0] < 85:
        return _low_or_no_match(inp, ctx)
    option = by_key[best[1]]
    return Heard(
        "matched",
        _qualified(node, option["next"]),
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
    slots: dict[str, Any] = {slot: match.value, f"{slot}_name": match.label}
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
    # digits
    digits = inp.digits.rstrip("#") if inp.kind == "dtmf" else spoken_digits(inp.speech)
    lo, hi = int(node.get("min_digits") or 1), int(node.get("max_digits") or 32)
    if not digits or not digits.isdigit() or not lo <= len(digits) <= hi:
        return Heard("invalid", reason_prompt=invalid)
    return Heard("matched", node.target("next"), {slot: digits}, matched=digits)
