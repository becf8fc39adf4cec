"""The checks of a bundle across its nodes: targets, reachability, dead ends and loops,
prompts in every language, and the names of actions, catalogs and queues."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from ivr.engine.fillable import check_placeholders
from ivr.engine.graph import (
    ENTRY_FLOW,
    EXPECTS,
    INPUT_KINDS,
    INPUT_MODES,
    PROMPT_FIELDS,
    Bundle,
    Node,
    problem,
)
from ivr.engine.menus import announced_keys
from ivr.engine.prompts import SYSTEM_PROMPTS, SYSTEM_WORDS, Prompts, placeholders

# Reasons the engine itself gives an ask node's `invalid:` mapping, besides a validating
# action's outcomes: a bad length or form, a non-spoken text answer, a date it can't take.
ENGINE_REASONS = frozenset(
    {
        "default",
        "not_speech",
        "empty",
        "unreadable",
        "impossible",
        "too_old",
        "future",
        "no_code",
        "too_many_codes",
    }
)


class Checker:
    """The cross-node checks: targets, reachability, dead ends, prompts, names."""

    def __init__(
        self,
        bundle: Bundle,
        problems: list[str],
        prompts: Collection[Prompts],
        actions: Collection[str] | Mapping[str, Collection[str]] | None,
        catalogs: Collection[str] | None,
        queues: Collection[str] | None,
        warnings: list[str] | None = None,
        action_slots: Mapping[str, Collection[str]] | None = None,
        start_slots: Collection[str] | None = None,
    ) -> None:
        self.b = bundle
        self.problems = problems
        self.prompts = prompts
        self.actions = actions
        # name -> the outcomes it can return, when the caller knows them.
        self.outcomes: Mapping[str, Collection[str]] = (
            actions if isinstance(actions, Mapping) else {}
        )
        self.catalogs = catalogs
        self.queues = queues
        self.warnings = warnings if warnings is not None else []
        self.action_slots = action_slots
        self.start_slots = start_slots

    def add(self, node: Node | None, fld: str | None, msg: str, flow: str | None = None) -> None:
        flow = node.flow if node else flow or ENTRY_FLOW
        self.problems.append(
            problem(
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
            named = (("operator", d.operator), ("on_fail", d.on_fail), ("main_menu", d.main_menu))
            for fld, default in named:
                if default and not self.exists(default):
                    self.add(None, f"defaults.{fld}", f"names unknown node '{default}'", flow)
        self.keys_in_all_languages()
        self.reachability()
        self.loops()
        check_placeholders(self)

    def prompt_keys(self, node: Node) -> list[tuple[str, str]]:
        keys = [(f, node.spec[f]) for f in PROMPT_FIELDS if isinstance(node.spec.get(f), str)]
        if isinstance(node.spec.get("choice"), str):
            keys.append(("choice", node.spec["choice"]))
        if node.kind == "ask" and isinstance(node.spec.get("keep"), str):
            keys.append(("keep", node.spec["keep"]))
        offer = node.spec.get("offer")
        if (
            node.kind == "ask"
            and isinstance(offer, Mapping)
            and isinstance(offer.get("prompt"), str)
        ):
            keys.append(("offer.prompt", offer["prompt"]))
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
            if spec.get("expect") == "choice" and not isinstance(spec.get("choices"), str):
                self.add(node, "choices", "a choice names the slot holding its entries")
            for fld, expect in (("choices", "choice"), ("again", "choice"), ("skip_key", "text")):
                if fld in spec and spec.get("expect") != expect:
                    self.add(node, fld, f"only with expect: {expect}")
            skip = spec.get("skip_key")
            if "skip_key" in spec and not (
                isinstance(skip, str) and len(skip) == 1 and skip in "123456789#"
            ):
                self.add(node, "skip_key", "must be one keypad key: 1 to 9 or #")
            if "choice" in spec and not has_catalog:
                self.add(node, "choice", "only a question with a catalog says choices")
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
        if node.kind == "action" and spec.get("action") in self.outcomes:
            self.action_outcomes(node)
        if node.kind == "ask" and spec.get("validate") in self.outcomes:
            self.validate_outcomes(node)
        if node.kind == "transfer" and self.queues is not None:
            if spec.get("queue") not in self.queues:
                self.add(node, "queue", f"unknown queue {spec.get('queue')!r}")
        if node.kind in ("goto", "call") and "flow" in spec and spec["flow"] not in self.b.starts:
            self.add(node, "flow", f"unknown flow {spec.get('flow')!r}")
        if node.kind == "call" and not ({"flow", "node"} & set(spec)):
            self.add(node, "node", "a call names the node (or flow) it runs")
        languages = {p.language for p in self.prompts}
        if node.kind == "language" and languages and spec.get("language") not in languages:
            self.add(node, "language", f"no prompts for language {spec.get('language')!r}")
        if node.kind == "ask" and "also" in spec:
            self.also(node)
        if node.kind == "ask" and "offer" in spec:
            offer = spec["offer"]
            if not (
                isinstance(offer, Mapping)
                and set(offer) == {"prompt", "language"}
                and isinstance(offer.get("prompt"), str)
            ):
                self.add(node, "offer", "must be {prompt, language}")
            elif languages and offer.get("language") not in languages:
                self.add(node, "offer.language", f"no prompts for language {offer['language']!r}")

    def also(self, node: Node) -> None:
        """An ask's answers beside its catalog: one keypad key each, not the way out's, each
        with a next node and words. (A catalog's keys are data: an `also` key is heard first.)"""
        also = node.spec.get("also")
        if not isinstance(also, Mapping) or not also:
            self.add(node, "also", "must map keypad keys to {next, words}")
            return
        d = self.b.defaults_for(node)
        taken = {d.operator_key, d.repeat_key}
        for key, option in also.items():
            k = str(key)
            if not (len(k) == 1 and k in "0123456789"):
                self.add(node, f"also.{key}", "a key must be one keypad digit")
            elif k in taken:
                self.add(node, f"also.{key}", f"key {k} is the way out's")
            if not isinstance(option, Mapping) or not isinstance(option.get("next"), str):
                self.add(node, f"also.{key}", "needs a next node")
            elif set(option) - {"next", "words"}:
                self.add(node, f"also.{key}", "only next and words are allowed")
            elif not isinstance(option.get("words"), str):
                self.add(node, f"also.{key}.words", "needs words (a words.* key)")

    def warn(self, node: Node, fld: str | None, msg: str) -> None:
        file = self.b.files.get(node.flow, f"flows/{node.flow}.yaml")
        self.warnings.append(problem(file, node.id, fld, msg))

    def action_outcomes(self, node: Node) -> None:
        """`outcomes:` keys the action can return; an unlisted outcome goes to `next`, which
        surprises a caller only where `next` is the action's "ok" path too."""
        name = node.spec["action"]
        can = set(self.outcomes[name])
        routes = node.spec.get("outcomes")
        listed = set(routes) if isinstance(routes, Mapping) else set()
        for key in sorted(listed - can, key=str):
            self.add(node, f"outcomes.{key}", f"action {name!r} never returns {key!r}")
        if "ok" in can and "ok" not in listed:
            for other in sorted(can - listed - {"ok", "error"}):
                self.warn(
                    node,
                    "outcomes",
                    f"action {name!r} can return {other!r}, which goes to next "
                    f"'{node.spec['next']}' like 'ok'",
                )

    def validate_outcomes(self, node: Node) -> None:
        """`invalid:` keys a validating action (or the engine) can give; an outcome with no
        key of its own and no `default` is heard as the generic "didn't get that"."""
        name = node.spec["validate"]
        can = set(self.outcomes[name])
        invalid = node.spec.get("invalid")
        if not isinstance(invalid, Mapping):
            if invalid is None:
                for other in sorted(can - {"ok", "error"}):
                    self.warn(node, "invalid", f"no prompt for {name!r} returning {other!r}")
            return
        for key in sorted(set(invalid) - can - ENGINE_REASONS, key=str):
            self.add(node, f"invalid.{key}", f"action {name!r} never returns {key!r}")
        if "default" not in invalid:
            for other in sorted(can - set(invalid) - {"ok", "error"}):
                self.warn(node, "invalid", f"no prompt for {name!r} returning {other!r}")

    def menu(self, node: Node) -> None:
        options = node.spec.get("options")
        if not isinstance(options, Mapping) or not options:
            self.add(node, "options", "a menu needs at least one option")
            return
        d = self.b.defaults_for(node)
        if d.main_menu and d.main_menu_key in {str(k) for k in options}:
            # `*8` at a one-key menu is `*` (the menu again), then 8: here this option.
            self.warn(
                node,
                f"options.{d.main_menu_key}",
                f"option {d.main_menu_key} is the main-menu key: *{d.main_menu_key} here "
                "chooses it instead of going to the main menu",
            )
        for key, option in options.items():
            if not (
                isinstance(key, str | int) and len(str(key)) == 1 and str(key) in "0123456789*#"
            ):
                self.add(node, f"options.{key}", "an option key must be one keypad key")
            if not isinstance(option, Mapping) or not isinstance(option.get("next"), str):
                self.add(node, f"options.{key}", "an option needs a next node")
            elif set(option) - {"next", "words", "set", "answer"}:
                self.add(node, f"options.{key}", "only next, words, set and answer are allowed")
            elif option.get("answer", "yes") not in ("yes", "no"):
                self.add(node, f"options.{key}.answer", "must be yes or no")
            elif "set" in option and not isinstance(option["set"], Mapping):
                self.add(node, f"options.{key}.set", "must map slot names to values")
            elif "prompt" not in node.spec and not isinstance(option.get("words"), str):
                self.add(node, f"options.{key}.words", "a menu that says its options needs words")

    def keys_in_all_languages(self) -> None:
        for prompts in self.prompts:
            lang_file = f"prompts/{prompts.language}.yaml"
            needed: tuple[str, ...] = SYSTEM_PROMPTS + SYSTEM_WORDS
            if any(d.main_menu for d in self.b.defaults.values()):
                needed += ("words.main_menu",)  # what callers say to go to the main menu
            for key in needed:
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
                for key, option in (node.spec.get("also") or {}).items():
                    words = option.get("words") if isinstance(option, Mapping) else None
                    if isinstance(words, str) and words not in prompts:
                        self.add(node, f"also.{key}.words", f"'{words}' missing from {lang_file}")
                if node.kind == "menu":
                    self.announced(node, prompts)
                    for key, option in (node.spec.get("options") or {}).items():
                        words = option.get("words") if isinstance(option, Mapping) else None
                        if isinstance(words, str) and words not in prompts:
                            self.add(
                                node, f"options.{key}.words", f"'{words}' missing from {lang_file}"
                            )

    def announced(self, node: Node, prompts: Prompts) -> None:
        """A hand-written menu prompt names every option's key and no other."""
        options = node.spec.get("options")
        if not isinstance(options, Mapping):
            return
        keys = {str(k) for k in options}
        # The way out works at every menu without being one of its options: a prompt may
        # say "or 0 for a person" when the flow has somewhere to send that caller.
        d = self.b.defaults_for(node)
        way_out = {d.operator_key} if d.operator else set()
        for fld in PROMPT_FIELDS:
            key = node.spec.get(fld)
            if not isinstance(key, str) or key not in prompts:
                continue
            said = announced_keys(prompts.text(key))
            where = f"prompt '{key}' in prompts/{prompts.language}.yaml"
            for missing in sorted(keys - said - {"*", "#"}):
                self.add(node, fld, f"{where} never announces option {missing}")
            for extra in sorted(said - keys - way_out):
                self.add(node, fld, f"{where} announces {extra}, which is not an option")

    def reachability(self) -> None:
        if ENTRY_FLOW not in self.b.starts:
            return
        seen: set[str] = set()
        todo = [self.b.starts[ENTRY_FLOW]]
        for d in self.b.defaults.values():
            todo += [t for t in (d.operator, d.on_fail, d.main_menu) if t]
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
