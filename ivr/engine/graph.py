"""Flows as data: the compiled bundle, its nodes, and the schema each node kind follows.

A bundle is every flow file at once: ``{"main": {...}, "orders": {...}}``. Nodes are
addressed as ``flow.node``; inside a file a bare name means a node of the same flow.
The entry point is the ``main`` flow's ``start`` node. `compiler` builds a bundle from
the YAML documents; `checks` holds the checks across nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENTRY_FLOW = "main"
INPUT_KINDS = frozenset({"menu", "ask", "confirm"})
TERMINAL_KINDS = frozenset({"transfer", "hangup"})
INPUT_MODES = frozenset({"dtmf", "speech"})

# kind -> (required fields, optional fields, fields that name another node)
SCHEMA: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    "say": (frozenset({"prompt", "next"}), frozenset(), frozenset({"next"})),
    "menu": (
        frozenset({"options"}),
        frozenset(
            {
                "prompt",
                "reprompt",
                "repeat",
                "attempts",
                "on_fail",
                "input",
                "hints",
                "timeout",
                "max_visits",
            }
        ),
        frozenset({"on_fail"}),
    ),
    "ask": (
        frozenset({"prompt", "slot", "next"}),
        frozenset(
            {
                "reprompt",
                "repeat",
                "attempts",
                "on_fail",
                "input",
                "hints",
                "timeout",
                "catalog",
                "choice",
                "expect",
                "min_digits",
                "max_digits",
                "invalid",
                "validate",
                "params",
                "confirm_below",
                "max_visits",
                "choices",
                "again",
                "skip_key",
                # Asked again from a form's "change one item": `keep` is the prompt that
                # offers the answer it has; `keep_in` names the form's field (see forms).
                "keep",
                "keep_in",
                # Answers beside the catalog's: a key and words leading elsewhere, like a
                # menu's options (`9` or "español" at the plan question: Spanish).
                "also",
                # Said after the question in a language of its own, with its voice, unless
                # the call speaks it: {prompt, language} ("Para español, oprima 9.").
                "offer",
            }
        ),
        frozenset({"next", "on_fail", "again"}),
    ),
    "confirm": (
        frozenset({"prompt", "yes", "no"}),
        frozenset({"reprompt", "repeat", "attempts", "on_fail", "input", "timeout", "max_visits"}),
        frozenset({"yes", "no", "on_fail"}),
    ),
    "action": (
        frozenset({"action", "next"}),
        frozenset({"params", "outcomes"}),
        frozenset({"next"}),
    ),
    "branch": (frozenset({"slot", "cases", "default"}), frozenset(), frozenset({"default"})),
    "transfer": (frozenset({"queue", "reason"}), frozenset({"prompt"}), frozenset()),
    "hangup": (frozenset(), frozenset({"prompt"}), frozenset()),
    "goto": (frozenset({"flow"}), frozenset({"node"}), frozenset()),
    # A section of nodes run like a subroutine: `next` is where its `return` comes back to.
    "call": (frozenset({"next"}), frozenset({"flow", "node"}), frozenset({"next"})),
    "return": (frozenset(), frozenset(), frozenset()),
    "language": (frozenset({"language", "next"}), frozenset(), frozenset({"next"})),
}
# `repeat` is what `*` (or "repeat") says at the question, when not its prompt again.
PROMPT_FIELDS = ("prompt", "reprompt", "repeat")
EXPECTS = frozenset({"digits", "date", "digits_or_date", "yesno", "text", "choice"})
FLOW_KEYS = frozenset({"description", "start", "defaults", "nodes"})
DEFAULT_KEYS = frozenset(
    {
        "operator",
        "on_fail",
        "attempts",
        "operator_key",
        "repeat_key",
        "main_menu",
        "main_menu_key",
        "main_menu_keeps",
    }
)


class FlowError(ValueError):
    """Everything wrong with a bundle, each problem naming file, node and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Node:
    id: str  # qualified: "main.select_plan"
    flow: str
    kind: str
    spec: Mapping[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        return self.spec.get(name, default)

    def target(self, name: str) -> str | None:
        """A field naming another node, qualified."""
        value = self.spec.get(name)
        return qualify(self.flow, value) if isinstance(value, str) else None

    def targets(self) -> list[tuple[str, str]]:
        """Every (field, qualified node) this node can go to."""
        out: list[tuple[str, str]] = []
        for name in SCHEMA[self.kind][2]:
            target = self.target(name)
            if target:
                out.append((name, target))
        if self.kind in ("menu", "ask"):
            field_name = "options" if self.kind == "menu" else "also"
            for key, option in (self.spec.get(field_name) or {}).items():
                if isinstance(option, Mapping) and isinstance(option.get("next"), str):
                    out.append((f"{field_name}.{key}.next", qualify(self.flow, option["next"])))
        if self.kind == "action":
            for outcome, value in (self.spec.get("outcomes") or {}).items():
                if isinstance(value, str):
                    out.append((f"outcomes.{outcome}", qualify(self.flow, value)))
        if self.kind == "branch":
            for case, value in (self.spec.get("cases") or {}).items():
                if isinstance(value, str):
                    out.append((f"cases.{case}", qualify(self.flow, value)))
        if self.kind == "goto":
            flow = self.spec.get("flow")
            if isinstance(flow, str):
                node = self.spec.get("node")
                out.append(("flow", f"{flow}.{node}" if node else f"{flow}.@start"))
        if self.kind == "call":
            called = self.called()
            if called:
                out.append(("node" if "node" in self.spec else "flow", called))
        return out

    def called(self) -> str | None:
        """The node a `call` node runs: `node` (in `flow`, or this flow), or `flow`'s start."""
        flow, node = self.spec.get("flow"), self.spec.get("node")
        if isinstance(node, str):
            return f"{flow}.{node}" if isinstance(flow, str) else qualify(self.flow, node)
        return f"{flow}.@start" if isinstance(flow, str) else None


@dataclass(frozen=True)
class Defaults:
    """A flow's defaults; a flow without its own operator, on_fail or main menu uses main's.

    The way out of every question (see `hearing.way_out`): `repeat_key` repeats it;
    `repeat_key` + `operator_key` (`*0`) reaches a person and `repeat_key` + `main_menu_key`
    (`*8`) goes to `main_menu`, from any question; `operator_key` alone where it is not itself
    an answer, and `main_menu_key` alone at a one-key question where it is not an option.
    Going to the main menu keeps only the slots in `main_menu_keeps` (the plan) and closes
    every open `call`.
    """

    operator: str | None = None
    on_fail: str | None = None
    attempts: int = 3
    operator_key: str = "0"
    repeat_key: str = "*"
    main_menu: str | None = None
    main_menu_key: str = "8"
    main_menu_keeps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Bundle:
    """A compiled, validated set of flows; one instance is shared by all calls."""

    nodes: Mapping[str, Node]
    starts: Mapping[str, str]
    defaults: Mapping[str, Defaults]
    files: Mapping[str, str] = field(default_factory=dict)
    # What the checker found odd but allowed (`ivr check-flows` shows them).
    warnings: tuple[str, ...] = ()

    @property
    def start(self) -> str:
        return self.starts[ENTRY_FLOW]

    def node(self, node_id: str) -> Node:
        if node_id.endswith(".@start"):
            node_id = self.starts[node_id.split(".", 1)[0]]
        return self.nodes[node_id]

    def defaults_for(self, node: Node) -> Defaults:
        return self.defaults.get(node.flow) or self.defaults[ENTRY_FLOW]


def qualify(flow: str, name: str) -> str:
    return name if "." in name else f"{flow}.{name}"


def problem(file: str, node: str | None, fld: str | None, msg: str) -> str:
    where = file
    if node:
        where += f": node '{node}'"
    if fld is not None:
        where += f" field '{fld}'"
    return f"{where}: {msg}"
