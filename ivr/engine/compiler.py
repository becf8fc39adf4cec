"""Compile a bundle of YAML flow documents, reporting every problem in one `FlowError`."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from ivr.engine.checks import Checker
from ivr.engine.forms import expand_forms
from ivr.engine.graph import (
    DEFAULT_KEYS,
    ENTRY_FLOW,
    FLOW_KEYS,
    SCHEMA,
    Bundle,
    Defaults,
    FlowError,
    Node,
    problem,
    qualify,
)
from ivr.engine.prompts import Prompts


def compile_bundle(
    docs: Mapping[str, Any],
    *,
    files: Mapping[str, str] | None = None,
    prompts: Collection[Prompts] = (),
    actions: Collection[str] | Mapping[str, Collection[str]] | None = None,
    catalogs: Collection[str] | None = None,
    queues: Collection[str] | None = None,
    action_slots: Mapping[str, Collection[str]] | None = None,
    start_slots: Collection[str] | None = None,
) -> Bundle:
    """Validate every flow document and compile them into one `Bundle`.

    Args:
        docs: flow name -> the parsed YAML document of that flow.
        files: flow name -> file name, used in error messages.
        prompts: every language's prompts; each referenced key must exist in all.
        actions: names of registered actions (None skips the check), or each name with
            the outcomes it can return: then `outcomes:` and `invalid:` keys are checked
            against them, and outcomes a flow leaves to a surprising place are warned of
            (`Bundle.warnings`).
        catalogs: names of known catalogs (None skips the check).
        queues: names of known agent queues (None skips the check).
        action_slots: action name -> the slots it may fill, for the placeholder check
            (None: an action may fill anything, so only what no action precedes is checked).
        start_slots: the slots a call holds when it starts (the line's calls: none); given,
            a branch on a slot no path to it fills is a problem (None skips that check).

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
        problems.append(problem("flows", None, None, f"no '{ENTRY_FLOW}' flow to start calls"))

    for flow, doc in docs.items():
        file = files.setdefault(flow, f"flows/{flow}.yaml")
        if not isinstance(doc, Mapping):
            problems.append(problem(file, None, None, "a flow must be a mapping"))
            continue
        for key in set(doc) - FLOW_KEYS:
            problems.append(problem(file, None, key, "unknown top-level field"))
        defaults[flow] = _defaults(file, flow, doc.get("defaults") or {}, problems)
        raw_nodes = doc.get("nodes")
        if not isinstance(raw_nodes, Mapping) or not raw_nodes:
            problems.append(problem(file, None, "nodes", "a flow needs at least one node"))
            continue
        raw_nodes = expand_forms(file, raw_nodes, problems)
        start = doc.get("start")
        if not isinstance(start, str) or start not in raw_nodes:
            problems.append(problem(file, None, "start", f"start node {start!r} is not a node"))
        else:
            starts[flow] = f"{flow}.{start}"
        for name, spec in raw_nodes.items():
            node = _node(file, flow, str(name), spec, problems)
            if node is not None:
                nodes[node.id] = node

    entry = defaults.get(ENTRY_FLOW)
    if entry is not None:
        # A flow without its own operator, on_fail or main menu uses the main flow's.
        for flow, d in list(defaults.items()):
            defaults[flow] = replace(
                d,
                operator=d.operator or entry.operator,
                on_fail=d.on_fail or entry.on_fail,
                main_menu=d.main_menu or entry.main_menu,
                main_menu_keeps=d.main_menu_keeps or entry.main_menu_keeps,
            )
    bundle = Bundle(nodes=nodes, starts=starts, defaults=defaults, files=files)
    warnings: list[str] = []
    check = Checker(
        bundle,
        problems,
        prompts,
        actions,
        catalogs,
        queues,
        warnings,
        action_slots=action_slots,
        start_slots=start_slots,
    )
    check.run()
    if problems:
        raise FlowError(problems)
    return replace(bundle, warnings=tuple(warnings))


def _defaults(file: str, flow: str, raw: Any, problems: list[str]) -> Defaults:
    if not isinstance(raw, Mapping):
        problems.append(problem(file, None, "defaults", "must be a mapping"))
        return Defaults()
    for key in set(raw) - DEFAULT_KEYS:
        problems.append(problem(file, None, f"defaults.{key}", "unknown field"))
    attempts = raw.get("attempts", 3)
    if not isinstance(attempts, int) or attempts < 1:
        problems.append(problem(file, None, "defaults.attempts", "must be a positive integer"))
        attempts = 3
    keys: dict[str, str] = {}
    for name, default in (("operator_key", "0"), ("repeat_key", "*"), ("main_menu_key", "8")):
        keys[name] = str(raw.get(name, default))
        if len(keys[name]) != 1 or keys[name] not in "0123456789*":
            problems.append(problem(file, None, f"defaults.{name}", "must be one keypad key"))
            keys[name] = default
    keeps = raw.get("main_menu_keeps", [])
    if not isinstance(keeps, list) or not all(isinstance(k, str) for k in keeps):
        problems.append(problem(file, None, "defaults.main_menu_keeps", "must be a list of slots"))
        keeps = []
    main_menu = raw.get("main_menu")
    return Defaults(
        operator=qualify(flow, raw["operator"]) if isinstance(raw.get("operator"), str) else None,
        on_fail=qualify(flow, raw["on_fail"]) if isinstance(raw.get("on_fail"), str) else None,
        attempts=attempts,
        main_menu=qualify(flow, main_menu) if isinstance(main_menu, str) else None,
        main_menu_keeps=tuple(keeps),
        operator_key=keys["operator_key"],
        repeat_key=keys["repeat_key"],
        main_menu_key=keys["main_menu_key"],
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
        problems.append(problem(file, name, None, "a node must be a mapping"))
        return None
    spec = {_yes_no_key(k): v for k, v in spec.items()}
    if isinstance(spec.get("cases"), Mapping):
        spec["cases"] = {str(_yes_no_key(k)): v for k, v in spec["cases"].items()}
    kind = spec.get("kind")
    if kind not in SCHEMA:
        problems.append(problem(file, name, "kind", f"unknown kind {kind!r}"))
        return None
    required, optional, _ = SCHEMA[kind]
    for missing in sorted(required - set(spec)):
        problems.append(problem(file, name, missing, f"required for a {kind} node"))
    for extra in sorted(set(spec) - required - optional - {"kind"}):
        problems.append(problem(file, name, extra, f"not a field of a {kind} node"))
    return Node(id=f"{flow}.{name}", flow=flow, kind=kind, spec=dict(spec))
