"""One turn of a call: the caller's input at the current node, then on to the next question."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ivr.engine.graph import INPUT_KINDS, Bundle, Node
from ivr.engine.hearing import interpret, keys_expected, offers_keep, qualified
from ivr.engine.menus import menu_prompt
from ivr.engine.prompts import Prompts
from ivr.engine.types import (
    Actions,
    CallState,
    Catalog,
    EngineError,
    Event,
    Gather,
    Input,
    Spoken,
    Transfer,
    Turn,
    call_action,
)

ESCALATION = "_escalation"
MAX_HINTS = 80


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
    # Every language's prompts, so a `language` node can switch the rest of the call.
    languages: Mapping[str, Prompts] = field(default_factory=dict)


VISITS = "_visits"
MAX_STACK = 16  # open calls; deeper means a section calls itself without end


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

    heard = interpret(bundle, node, state, inp, ctx)
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
        moved = state.moved(heard.next, **heard.slots).noted(heard.scratch)
        chosen = {heard.next, _called(bundle, heard.next)}
        if node.kind == "menu" and chosen & set(state.slots.get(VISITS) or {}):
            # Choosing a question from a menu (change the exam) gives it fresh tries, also
            # when the menu calls the section that asks it.
            visits = {k: v for k, v in state.slots[VISITS].items() if k not in chosen}
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
    if heard.outcome == "main_menu" and defaults.main_menu:
        # Home, keeping only what the flow keeps (the plan): every open section is closed
        # and the next task starts fresh; what an action saved (a draft) stays saved.
        kept = {k: state.slots[k] for k in defaults.main_menu_keeps if k in state.slots}
        home = replace(state, node=defaults.main_menu, slots=kept, attempts=0, stack=())
        return _walk(bundle, home, ctx, [], event)
    if heard.outcome == "repeat":
        return _ask(node, state, ctx, [], event, key="repeat")

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
        # A question may say its choices its own way (`choice:`, e.g. "{label}, press {key}.").
        line = node.get("choice") or "system.catalog_choice"
        choice = [
            ctx.prompts.render(line, {"key": key, "label": label})
            for key, label in catalog.choices()
        ]
        joiner = ctx.prompts.text("system.catalog_choice_joiner") or " "
        values["choices"] = joiner.join(choice)
    elif node.get("expect") == "choice":
        # The entries the caller's keys stood for, each with its key: 1, 2, ...
        entries = state.slots.get(str(node.get("choices"))) or []
        choice = [
            ctx.prompts.render("system.catalog_choice", {"key": i, "label": said})
            for i, (_value, said) in enumerate(entries, start=1)
        ]
        joiner = ctx.prompts.text("system.catalog_choice_joiner") or " "
        values["choices"] = joiner.join(choice)
    return values


def _called(bundle: Bundle, node_id: str) -> str | None:
    node = bundle.nodes.get(node_id)
    called = node.called() if node is not None and node.kind == "call" else None
    return bundle.node(called).id if called else None


def _ask(
    node: Node, state: CallState, ctx: Context, says: list[str], event: Event, *, key: str
) -> Turn:
    prompt_key = node.get(key) if key == "prompt" else node.get(key) or node.get("prompt")
    if prompt_key is None:  # a menu that says its own options
        says.append(menu_prompt(node.spec["options"], ctx.prompts))
    else:
        says.append(ctx.prompts.render(prompt_key, _values(node, state, ctx)))
    keep = offers_keep(node, state)
    if keep and isinstance(node.get("keep"), str):
        says.append(ctx.prompts.render(node.spec["keep"], _values(node, state, ctx)))
    offer = _offer(node, ctx) if key != "repeat" else None  # not after the list `*` reads
    if offer:
        says.append(offer)
    return Turn(
        say=tuple(s for s in says if s),
        state=state,
        event=event,
        gather=_gather(node, ctx),
    )


def _gather(node: Node, ctx: Context) -> Gather:
    hints: list[str] = []
    finish_on_key = "#"
    if node.kind == "menu":
        options = node.get("options") or {}
        for option in options.values():
            hints.extend(ctx.prompts.words(option.get("words", "")))
        # The way out is not a menu option, but "representative" is said at menus most.
        hints.extend(ctx.prompts.words("words.operator"))
    elif node.kind == "confirm":
        hints.extend(ctx.prompts.words("words.yes") + ctx.prompts.words("words.no"))
    elif node.kind == "ask":
        catalog = ctx.catalogs.get(node.get("catalog", ""))
        if catalog is not None:
            hints.extend(catalog.hints())
        for option in (node.get("also") or {}).values():
            hints.extend(ctx.prompts.words(str(option.get("words", ""))))
        if node.get("expect") == "text" and node.get("skip_key"):
            # The one key that skips is the whole keypad answer: taken at once, `#` too.
            finish_on_key = ""
    hint_key = node.get("hints")
    if isinstance(hint_key, str):
        hints = list(ctx.prompts.words(hint_key)) + hints
    unique = tuple(dict.fromkeys(h for h in hints if h))[:MAX_HINTS]
    modes = tuple(node.get("input") or ("dtmf", "speech"))
    return Gather(
        action_node=node.id,
        # Keys are heard at every question, a speech-only one too: `0`, `*` and `*8`, and
        # pound to keep an answer when a change re-asks it.
        input=modes if "dtmf" in modes else ("dtmf", *modes),
        hints=unique,
        num_digits=keys_expected(node, ctx),
        finish_on_key=finish_on_key,
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
            params = node.get("params") or {}
            result = call_action(
                ctx.actions, node.spec["action"], params, state.slots, state.scratch
            )
            outcomes = node.get("outcomes") or {}
            target = outcomes.get(result.outcome) or node.spec["next"]
            state = state.moved(qualified(node, target), **result.slots).noted(result.scratch)
        elif kind == "branch":
            value = state.slots.get(node.spec["slot"])
            target = (node.get("cases") or {}).get(_case(value)) or node.spec["default"]
            state = state.moved(qualified(node, target))
        elif kind == "goto":
            flow = node.spec["flow"]
            target = f"{flow}.{node.get('node')}" if node.get("node") else bundle.starts[flow]
            state = state.moved(target)
        elif kind == "call":
            back = _required(node.target("next"), node)
            if len(state.stack) >= MAX_STACK:
                target = _required(bundle.defaults_for(node).on_fail, node)
                state = state.moved(target, **{ESCALATION: f"calls too deep at {node.id}"})
                continue
            state = replace(state.moved(_required(node.called(), node)), stack=(*state.stack, back))
        elif kind == "return":
            if not state.stack:
                # Reached without a call: the flow is wrong, the caller still gets a person.
                target = _required(bundle.defaults_for(node).on_fail, node)
                state = state.moved(target, **{ESCALATION: f"nothing to return to at {node.id}"})
                continue
            state = replace(state.moved(state.stack[-1]), stack=state.stack[:-1])
        elif kind == "language":
            language = str(node.spec["language"])
            ctx = replace(ctx, prompts=ctx.languages.get(language, ctx.prompts))
            in_language = getattr(ctx.catalogs, "in_language", None)
            if callable(in_language):  # catalogs that understand the language's words
                ctx = replace(ctx, catalogs=in_language(language))
            state = replace(state.moved(_required(node.target("next"), node)), language=language)
        elif kind == "transfer":
            if node.get("prompt"):
                says.append(ctx.prompts.render(node.spec["prompt"], _values(node, state, ctx)))
            # A reason may name what the call collected: "ticket {ticket_number}". A caller
            # sent here by a question (out of tries, or asking for a person) keeps the flow's
            # reason and adds what happened where: "intake_help: invalid at order.ask_npi".
            reason = _fill(node.spec["reason"], _values(node, state, ctx))
            escalation = state.slots.get(ESCALATION)
            if escalation:
                reason = f"{reason}: {escalation}"
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


def _offer(node: Node, ctx: Context) -> str | None:
    """A question's `offer` (the line in another language, "Para español, oprima 9."), in
    that language and its voice; nothing once the call speaks that language."""
    offer = node.get("offer")
    if not isinstance(offer, Mapping):
        return None
    language = offer.get("language")
    other = ctx.languages.get(language) if isinstance(language, str) else None
    if other is None or language == ctx.prompts.language:
        return None
    return Spoken(other.render(str(offer.get("prompt")), {}), other.language)


def _fill(template: str, values: Mapping[str, Any]) -> str:
    try:
        return str(template).format_map({k: v for k, v in values.items() if v is not None})
    except (KeyError, ValueError, IndexError, AttributeError):
        return str(template)


def _required(target: str | None, node: Node) -> str:
    if not target:
        raise EngineError(f"node {node.id} has no next node")
    return target


def _case(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)
