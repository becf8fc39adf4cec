"""The placeholder check: every `{name}` a prompt says must be something the call can have
filled by the time the node speaks, or the caller would hear a blank ("You chose .").

What a node fills is read from the flow (an ask's slot and the names its catalog or text
answer adds, a menu option's `set`) and, for actions, from what each declares it fills.
An action that declares nothing may fill anything, so names after it are not held to this.
The analysis is "filled on some path from the start of the call", carried along every
edge the runtime can take, a `return` back to the `next` of every `call`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ivr.engine.graph import ENTRY_FLOW, INPUT_KINDS, Node
from ivr.engine.prompts import placeholders

if TYPE_CHECKING:
    from ivr.engine.checks import Checker

ANY = "*"  # an action that did not say what it fills


def check_placeholders(checker: Checker) -> None:
    """Report each prompt placeholder no path to its node can fill, in every language, and
    each branch on a slot no path to it fills (a misspelt slot would always go `default`)."""
    if not checker.prompts or ENTRY_FLOW not in checker.b.starts:
        return
    filled = _filled_on_arrival(checker)
    for node_id, before in filled.items():
        node = checker.b.nodes[node_id]
        slot = node.get("slot")
        # Only when what a call holds at its start is known: else any slot may be set.
        if checker.start_slots is None or node.kind != "branch" or not isinstance(slot, str):
            continue
        if ANY not in before and _base(slot) not in before:
            checker.add(node, "slot", f"branches on {slot!r}, which nothing before it fills")
    for prompts in checker.prompts:
        lang_file = f"prompts/{prompts.language}.yaml"
        for node_id, before in filled.items():
            if ANY in before:
                continue
            node = checker.b.nodes[node_id]
            after = before | _fills(node, checker)
            local = {"choices"} if node.get("catalog") or node.get("expect") == "choice" else set()
            for fld, key in checker.prompt_keys(node):
                if key not in prompts:
                    continue  # reported as a missing prompt
                known = (after if fld.startswith("invalid") else before) | local
                if fld == "choice":
                    known = known | {"key", "label"}
                if ANY in known:
                    continue
                try:
                    names = {_base(n) for n in placeholders(prompts.text(key))}
                except ValueError:
                    continue  # reported as a malformed prompt
                for name in sorted(names - known):
                    checker.add(
                        node,
                        fld,
                        f"prompt '{key}' in {lang_file} says {{{name}}}, "
                        "which nothing before this node fills",
                    )


def _base(name: str) -> str:
    """`{order.number}` or `{codes[0]}` reads the slot `order` / `codes`."""
    for sep in (".", "["):
        name = name.split(sep, 1)[0]
    return name


def _fills(node: Node, checker: Checker) -> set[str]:
    """The names a node may add to the call's slots."""
    out: set[str] = set()
    if node.kind == "ask" and isinstance(node.get("slot"), str):
        slot = node.spec["slot"]
        out.add(slot)
        if node.get("catalog"):
            out |= {f"{slot}_name", f"{slot}_sure", f"{slot}_choices", f"{slot}_open"}
        if node.get("expect") == "choice":
            out.add(f"{slot}_name")
        if node.get("expect") == "text":
            out |= {f"{slot}_confidence", f"{slot}_skipped"}
        if isinstance(node.get("validate"), str):
            out |= _action_fills(node.spec["validate"], checker)
    elif node.kind == "menu":
        for option in (node.get("options") or {}).values():
            if isinstance(option, Mapping) and isinstance(option.get("set"), Mapping):
                out |= {str(k) for k in option["set"]}
    elif node.kind == "action" and isinstance(node.get("action"), str):
        out |= _action_fills(node.spec["action"], checker)
    return out


def _action_fills(action: str, checker: Checker) -> set[str]:
    declared = (checker.action_slots or {}).get(action)
    return {ANY} if declared is None else set(declared)


def _filled_on_arrival(checker: Checker) -> dict[str, set[str]]:
    """Node -> the names that may be filled when the call arrives there."""
    bundle = checker.b
    returns_to = [
        t for n in bundle.nodes.values() if n.kind == "call" for f, t in n.targets() if f == "next"
    ]

    def successors(node: Node) -> list[str]:
        out = [t for _, t in node.targets()]
        if node.kind == "return":
            out += returns_to
        d = bundle.defaults_for(node)
        if node.kind in INPUT_KINDS or node.kind in ("call", "return"):
            out += [t for t in (d.operator, d.on_fail, d.main_menu) if t]
        resolved = []
        for target in out:
            if target.endswith(".@start"):
                target = bundle.starts.get(target.split(".", 1)[0], "")
            if target in bundle.nodes:
                resolved.append(target)
        return resolved

    arrival: dict[str, set[str]] = {bundle.starts[ENTRY_FLOW]: set(checker.start_slots or ())}
    todo = [bundle.starts[ENTRY_FLOW]]
    while todo:
        node = bundle.nodes[todo.pop()]
        leaving = arrival[node.id] | _fills(node, checker)
        for target in successors(node):
            known = arrival.get(target)
            if known is None or not leaving <= known:
                arrival[target] = leaving | (known or set())
                todo.append(target)
    return arrival
