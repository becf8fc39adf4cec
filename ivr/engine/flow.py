"""Flows as data: parse a bundle of YAML flow documents, validate it, compile it.

A bundle is every flow file at once: ``{"main": {...}, "orders": {...}}``. Nodes are
addressed as ``flow.node``; inside a file a bare name means a node of the same flow.
The entry point is the ``main`` flow's ``start`` node.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ivr.engine.prompts import SYSTEM_PROMPTS, SYSTEM_WORDS, Prompts, placeholders

ENTRY_FLOW = "main"
INPUT_KINDS = frozenset({"menu", "ask", "confirm"})
TERMINAL_KINDS = frozenset({"transfer", "hangup"})
INPUT_MODES = frozenset({"dtmf", "speech"})

# kind -> (required fields, optional fields, fields that name another node)
SCHEMA: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    "say": (frozenset({"prompt", "next"}), frozenset(), frozenset({"next"})),
    "menu": (
        frozenset({"prompt", "options"}),
        frozenset({"reprompt", "attempts", "on_fail", "input", "hints", "timeout", "max_visits"}),
        frozenset({"on_fail"}),
    ),
    "ask": (
        frozenset({"prompt", "slot", "next"}),
        frozenset(
            {
                "reprompt",
                "attempts",
                "on_fail",
                "input",
                "hints",
                "timeout",
                "catalog",
                "expect",
                "min_digits",
                "max_digits",
                "invalid",
                "validate",
                "params",
                "confirm_below",
                "max_visits",
            }
        ),
        frozenset({"next", "on_fail"}),
    ),
    "confirm": (
        frozenset({"prompt", "yes", "no"}),
        frozenset({"reprompt", "attempts", "on_fail", "input", "timeout", "max_visits"}),
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
}
PROMPT_FIELDS = ("prompt", "reprompt")
EXPECTS = frozenset({"digits", "date", "yesno", "text"})
FLOW_KEYS = frozenset({"description", "start", "defaults", "nodes"})
DEFAULT_KEYS = frozenset({"operator", "on_fail", "attempts", "operator_key", "repeat_key"})


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
        if self.kind == "menu":
            for key, option in (self.spec.get("options") or {}).items():
                if isinstance(option, Mapping) and isinstance(option.get("next"), str):
                    out.append((f"options.{key}.next", qualify(self.flow, option["next"])))
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
        return out


@dataclass(frozen=True)
class Defaults:
    operator: str | None = None
    on_fail: str | None = None
    attempts: int = 3
    operator_key: str = "0"
    repeat_key: str = "*"


@dataclass(frozen=True)
class Bundle:
    """A compiled, validated set of flows; one instance is shared by all calls."""

    nodes: Mapping[str, Node]
    starts: Mapping[str, str]
    defaults: Mapping[str, Defaults]
    files: Mapping[str, str] = field(default_factory=dict)

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


def _problem(file: str, node: str | None, fld: str | None, msg: str) -> str:
    where = file
    if node:
        where += f": node '{node}'"
    if fld is not None:
        where += f" field '{fld}'"
    return f"{where}: {msg}"


def compile_bundle(
    docs: Mapping[str, Any],
    *,
    files: Mapping[str, str] | None = None,
    prompts: Collection[Prompts] = (),
    actions: Collection[str] | None = None,
    catalogs: Collection[str] | None = None,
    queues: Collection[str] | None = None,
) -> Bundle:
    """Validate every flow document and compile them into one `Bundle`.

    Args:
        docs: flow name -> the parsed YAML document of that flow.
        files: flow name -> file name, used in error messages.
        prompts: every language's prompts; each referenced key must exist in all.
        actions: names of registered actions (None skips the check).
        catalogs: names of known catalogs (None skips the check).
        queues: names of known agent queues (None skips the check).

    Returns:
        The compiled bundle.

    Raises:
        FlowError: listing every problem found.
    """
    files = dict(files or {})
    problems: list[str] = []
    nodes: dict[str, Node] = {}
    starts: dict[str, str] = {}
    defaults: dict[str, Defaults] = {}
    if ENTRY_FLOW not in docs:
        problems.append(_problem("flows", None, None, f"no '{ENTRY_FLOW}' flow to start calls"))

    for flow, doc in docs.items():
        file = files.setdefault(flow, f"flows/{flow}.yaml")
        if not isinstance(doc, Mapping):
            problems.append(_problem(file, None, None, "a flow must be a mapping"))
            continue
        for key in set(doc) - FLOW_KEYS:
            problems.append(_problem(file, None, key, "unknown top-level field"))
        defaults[flow] = _defaults(file, flow, doc.get("defaults") or {}, problems)
        raw_nodes = doc.get("nodes")
        if not isinstance(raw_nodes, Mapping) or not raw_nodes:
            problems.append(_problem(file, None, "nodes", "a flow needs at least one node"))
            continue
        start = doc.get("start")
        if not isinstance(start, str) or start not in raw_nodes:
            problems.append(_problem(file, None, "start", f"start node {start!r} is not a node"))
        else:
            starts[flow] = f"{flow}.{start}"
        for name, spec in raw_nodes.items():
            node = _node(file, flow, str(name), spec, problems)
            if node is not None:
                nodes[node.id] = node

    entry = defaults.get(ENTRY_FLOW)
    if entry is not None:
        # A flow without its own operator or on_fail uses the main flow's.
        for flow, d in list(defaults.items()):
            defaults[flow] = replace(
                d, operator=d.operator or entry.operator, on_fail=d.on_fail or entry.on_fail
            )
    bundle = Bundle(nodes=nodes, starts=starts, defaults=defaults, files=files)
    check = _Checker(bundle, problems, prompts, actions, catalogs, queues)
    check.run()
    if problems:
        raise FlowError(problems)
    return bundle


def _defaults(file: str, flow: str, raw: Any, problems: list[str]) -> Defaults:
    if not isinstance(raw, Mapping):
        problems.append(_problem(file, None, "defaults", "must be a mapping"))
        return Defaults()
    for key in set(raw) - DEFAULT_KEYS:
        problems.append(_problem(file, None, f"defaults.{key}", "unknown field"))
    attempts = raw.get("attempts", 3)
    if not isinstance(attempts, int) or attempts < 1:
        problems.append(_problem(file, None, "defaults.attempts", "must be a positive integer"))
        attempts = 3
    return Defaults(
        operator=qualify(flow, raw["operator"]) if isinstance(raw.get("operator"), str) else None,
        on_fail=qualify(flow, raw["on_fail"]) if isinstance(raw.get("on_fail"), str) else None,
        attempts=attempts,
        operator_key=str(raw.get("operator_key", "0")),
        repeat_key=str(raw.get("repeat_key", "*")),
    )


def _yes_no_key(key: Any) -> Any:
    """YAML 1.1 reads a bare `yes:`/`no:` key as a boolean; flows mean the word."""
    if key is True:
        return "yes"
    if key is False:
        return "no"
    return key


def _node(file: str, flow: str, name: str, spec: Any, problems: list[str]) -> Node | None:
    if not isinstance(spec, Mapping):
        problems.append(_problem(file, name, None, "a node must be a mapping"))
        return None
    spec = {_yes_no_key(k): v for k, v in spec.items()}
    if isinstance(spec.get("cases"), Mapping):
        spec["cases"] = {str(_yes_no_key(k)): v for k, v in spec["cases"].items()}
    kind = spec.get("kind")
    if kind not in SCHEMA:
        problems.append(_problem(file, name, "kind", f"unknown kind {kind!r}"))
        return None
    required, optional, _ = SCHEMA[kind]
    for missing in sorted(required - set(spec)):
        problems.append(_problem(file, name, missing, f"required for a {kind} node"))
    for extra in sorted(set(spec) - required - optional - {"kind"}):
        problems.append(_problem(file, name, extra, f"not a field of a {kind} node"))
    return Node(id=f"{flow}.{name}", flow=flow, kind=kind, spec=dict(spec))


class _Checker:
    """The cross-node checks: targets, reachability, dead ends, prompts, names."""

    def __init__(
        self,
        bundle: Bundle,
        problems: list[str],
        prompts: Collection[Prompts],
        actions: Collection[str] | None,
        catalogs: Collection[str] | None,
        queues: Collection[str] | None,
    ) -> None:
        self.b = bundle
        self.problems = problems
        self.prompts = prompts
        self.actions = actions
        self.catalogs = catalogs
        self.queues = queues

    def add(self, node: Node | None, fld: str | None, msg: str, flow: str | None = None) -> None:
        flow = node.flow if node else flow or ENTRY_FLOW
        self.problems.append(
            _problem(
                self.b.files.get(flow, f"flows/{flow}.yaml"), node.id if node else None, fld, msg
            )
        )

    def exists(self, target: str) -> bool:
        if target.endswith(".@start"):
            return target.split(".", 1)[0] in self.b.starts
        return target in self.b.nodes

    def run(self) -> None:
        for node in self.b.nodes.values():
            self.fields(node)
            for fld, target in node.targets():
                if not self.exists(target):
                    self.add(node, fld, f"names unknown node '{target}'")
        for flow, d in self.b.defaults.items():
            for fld, default in (("operator", d.operator), ("on_fail", d.on_fail)):
                if default and not self.exists(default):
                    self.add(None, f"defaults.{fld}", f"names unknown node '{default}'", flow)
        self.keys_in_all_languages()
        self.reachability()
        self.loops()

    def prompt_keys(self, node: Node) -> list[tuple[str, str]]:
        keys = [(f, node.spec[f]) for f in PROMPT_FIELDS if isinstance(node.spec.get(f), str)]
        invalid = node.spec.get("invalid")
        if isinstance(invalid, str):
            keys.append(("invalid", invalid))
        elif isinstance(invalid, Mapping):
            keys += [(f"invalid.{k}", v) for k, v in invalid.items() if isinstance(v, str)]
        return keys

    def fields(self, node: Node) -> None:
        spec = node.spec
        for fld in PROMPT_FIELDS:
            if fld in spec and not isinstance(spec[fld], str):
                self.add(node, fld, "must be a prompt key (a string)")
        for fld in ("attempts", "timeout", "min_digits", "max_digits", "max_visits"):
            value = spec.get(fld)
            if fld in spec and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                self.add(node, fld, "must be a positive integer")
        below = spec.get("confirm_below")
        if "confirm_below" in spec and (
            isinstance(below, bool) or not isinstance(below, int | float) or not 0 <= below <= 100
        ):
            self.add(node, "confirm_below", "must be a number from 0 to 100")
        if "input" in spec:
            modes = spec["input"]
            if not isinstance(modes, list) or not modes or not set(modes) <= INPUT_MODES:
                self.add(node, "input", "must be a list of dtmf and/or speech")
        if node.kind == "menu":
            self.menu(node)
        if node.kind == "ask":
            has_catalog, has_expect = "catalog" in spec, "expect" in spec
            if has_catalog == has_expect:
                self.add(node, "catalog", "an ask node needs exactly one of catalog or expect")
            if has_expect and spec["expect"] not in EXPECTS:
                self.add(node, "expect", f"unknown validator {spec['expect']!r}")
            if has_catalog and self.catalogs is not None and spec["catalog"] not in self.catalogs:
                self.add(node, "catalog", f"unknown catalog {spec['catalog']!r}")
        if node.kind == "ask" and "validate" in spec and self.actions is not None:
            if spec["validate"] not in self.actions:
                self.add(node, "validate", f"unknown action {spec['validate']!r}")
        invalid = spec.get("invalid")
        if invalid is not None and not isinstance(invalid, str | Mapping):
            self.add(node, "invalid", "must be a prompt key or a mapping of reasons to keys")
        if node.kind == "action" and self.actions is not None:
            if spec.get("action") not in self.actions:
                self.add(node, "action", f"unknown action {spec.get('action')!r}")
        if node.kind == "transfer" and self.queues is not None:
            if spec.get("queue") not in self.queues:
                self.add(node, "queue", f"unknown queue {spec.get('queue')!r}")
        if node.kind == "goto" and spec.get("flow") not in self.b.starts:
            self.add(node, "flow", f"unknown flow {spec.get('flow')!r}")

    def menu(self, node: Node) -> None:
        options = node.spec.get("options")
        if not isinstance(options, Mapping) or not options:
            self.add(node, "options", "a menu needs at least one option")
            return
        for key, option in options.items():
            if not (
                isinstance(key, str | int) and len(str(key)) == 1 and str(key) in "0123456789*#"
            ):
                self.add(node, f"options.{key}", "an option key must be one keypad key")
            if not isinstance(option, Mapping) or not isinstance(option.get("next"), str):
                self.add(node, f"options.{key}", "an option needs a next node")
            elif set(option) - {"next", "words", "set"}:
                self.add(node, f"options.{key}", "only next, words and set are allowed")
            elif "set" in option and not isinstance(option["set"], Mapping):
                self.add(node, f"options.{key}.set", "must map slot names to values")

    def keys_in_all_languages(self) -> None:
        for prompts in self.prompts:
            lang_file = f"prompts/{prompts.language}.yaml"
            for key in SYSTEM_PROMPTS + SYSTEM_WORDS:
                if key not in prompts:
                    self.problems.append(f"{lang_file}: missing key '{key}' the engine needs")
            for node in self.b.nodes.values():
                keys = self.prompt_keys(node)
                if node.kind in ("transfer", "hangup") and isinstance(node.spec.get("prompt"), str):
                    keys = [("prompt", node.spec["prompt"])]
                for fld, key in keys:
                    if key not in prompts:
                        self.add(node, fld, f"prompt '{key}' missing from {lang_file}")
                        continue
                    try:
                        placeholders(prompts.text(key))
                    except ValueError as exc:
                        self.add(node, fld, f"prompt '{key}' in {lang_file} is malformed: {exc}")
                if node.kind == "menu":
                    for key, option in (node.spec.get("options") or {}).items():
                        words = option.get("words") if isinstance(option, Mapping) else None
                        if isinstance(words, str) and words not in prompts:
                            self.add(
                                node, f"options.{key}.words", f"'{words}' missing from {lang_file}"
                            )

    def reachability(self) -> None:
        if ENTRY_FLOW not in self.b.starts:
            return
        seen: set[str] = set()
        todo = [self.b.starts[ENTRY_FLOW]]
        for d in self.b.defaults.values():
            todo += [t for t in (d.operator, d.on_fail) if t]
        while todo:
            current = todo.pop()
            if current.endswith(".@start"):
                current = self.b.starts.get(current.split(".", 1)[0], "")
            if current in seen or current not in self.b.nodes:
                continue
            seen.add(current)
            todo.extend(t for _, t in self.b.nodes[current].targets())
        for node_id, node in self.b.nodes.items():
            if node_id not in seen:
                self.add(node, None, "unreachable from the start of the call")
        for node in self.b.nodes.values():
            if node.kind in INPUT_KINDS and not node.spec.get("on_fail"):
                if not self.b.defaults_for(node).on_fail:
                    self.add(node, "on_fail", "no on_fail here and no defaults.on_fail: dead end")
            if node.kind in INPUT_KINDS and not self.b.defaults_for(node).operator:
                self.add(
                    node,
                    None,
                    "no defaults.operator: a caller asking for a person has nowhere to go",
                )

    def loops(self) -> None:
        """A cycle through nodes that never listen would spin forever."""
        silent = {i: n for i, n in self.b.nodes.items() if n.kind not in INPUT_KINDS}
        state: dict[str, int] = {}

        def visit(node_id: str, path: list[str]) -> None:
            state[node_id] = 1
            for _, target in silent[node_id].targets():
                if target.endswith(".@start"):
                    target = self.b.starts.get(target.split(".", 1)[0], "")
                if target not in silent:
                    continue
                if state.get(target) == 1:
                    cycle = " -> ".join(path[path.index(target) :] + [target])
                    self.add(silent[node_id], None, f"loops without asking anything: {cycle}")
                elif target not in state:
                    visit(target, path + [target])
            state[node_id] = 2

        for node_id in silent:
            if node_id not in state:
                visit(node_id, [node_id])
