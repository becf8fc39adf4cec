"""compile_bundle rejects broken flows, naming file, node and field; the real flows compile.

Plain data throughout (no Flask, no database), except the last tests, which run the
`ivr check-flows` command the way a developer would.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ivr.engine import (
    CallState,
    Context,
    FlowError,
    Input,
    Prompts,
    compile_bundle,
    run_turn,
)

ROOT = Path(__file__).resolve().parent.parent
IVR = ROOT / ".venv" / "bin" / "ivr"
MAIN = "flows/main.yaml"
ACTIONS = {"find_member", "check_npi"}
CATALOGS = {"plans"}
QUEUES = {"general", "orders"}

SYSTEM = {
    "no_input": "x",
    "no_match": "x",
    "low_confidence": "x",
    "catalog_choice": "{label} {key}",
    "catalog_choice_joiner": " ",
}
WORDS = {
    "operator": ["agent"],
    "repeat": ["repeat"],
    "back": ["go back"],  # a form's change menu's "go back"
    "menu": {"order": ["order"]},
}
TEXTS = {
    "hello": "Hello.",
    "menu": "Press 1 or 2.",
    "menu3": "Press 1, 2 or 3.",
    "chose": "You chose {choice}.",
    "hi_member": "Hello, member {member:digits}.",
    "found": "Found {member_name}.",
    "member": "Your member number?",
    "bad": "That's not it.",
    "agent": "Hold on.",
    "bye": "Bye.",
}


def table(*drop: str) -> dict[str, Any]:
    """A prompt table with every key the base flow uses, less the p.<name> keys in `drop`."""
    texts = {k: v for k, v in TEXTS.items() if k not in drop}
    return {"system": dict(SYSTEM), "words": dict(WORDS), "p": texts}


EN = Prompts("en-US", table())
ES = Prompts("es-US", table())


def base() -> dict[str, Any]:
    """A small valid bundle; each test breaks one thing."""
    return {
        "main": {
            "description": "test",
            "start": "hello",
            "defaults": {"operator": "agent", "on_fail": "agent", "attempts": 3},
            "nodes": {
                "hello": {"kind": "say", "prompt": "p.hello", "next": "menu"},
                "menu": {
                    "kind": "menu",
                    "prompt": "p.menu",
                    "options": {
                        "1": {"next": "member", "words": "words.menu.order"},
                        "2": {"next": "bye"},
                    },
                },
                "member": {
                    "kind": "ask",
                    "prompt": "p.member",
                    "invalid": "p.bad",
                    "slot": "member",
                    "expect": "digits",
                    "next": "lookup",
                },
                "lookup": {
                    "kind": "action",
                    "action": "find_member",
                    "outcomes": {"found": "bye"},
                    "next": "agent",
                },
                "agent": {
                    "kind": "transfer",
                    "queue": "general",
                    "reason": "caller_request",
                    "prompt": "p.agent",
                },
                "bye": {"kind": "hangup", "prompt": "p.bye"},
            },
        }
    }


def check(docs: dict[str, Any], **kw: Any) -> Any:
    options: dict[str, Any] = {
        "prompts": [EN, ES],
        "actions": ACTIONS,
        "catalogs": CATALOGS,
        "queues": QUEUES,
    }
    options.update(kw)
    return compile_bundle(docs, **options)


def problems_of(docs: dict[str, Any], **kw: Any) -> list[str]:
    with pytest.raises(FlowError) as exc:
        check(docs, **kw)
    assert exc.value.problems and str(exc.value) == "\n".join(exc.value.problems)
    return exc.value.problems


def assert_named(
    problems: list[str], file: str, node: str | None, field: str | None, text: str
) -> None:
    """One problem starts with the file and names the node (bare or flow.node) and field."""
    for problem in problems:
        if not problem.startswith((f"{file}: ", f"{file} field ")) or text not in problem:
            continue
        if node is not None and not re.search(rf"node '(\w+\.)?{re.escape(node)}'", problem):
            continue
        if field is not None and f"field '{field}'" not in problem:
            continue
        return
    pytest.fail(
        f"no problem naming {file} / {node} / {field} / {text!r} in:\n" + "\n".join(problems)
    )


def nodes(docs: dict[str, Any]) -> dict[str, Any]:
    nodes_: dict[str, Any] = docs["main"]["nodes"]
    return nodes_


def test_the_base_flow_is_valid() -> None:
    bundle = check(base())
    assert bundle.start == "main.hello"
    assert set(bundle.nodes) == {f"main.{n}" for n in nodes(base())}


Mutation = Callable[[dict[str, Any]], None]


def _set(node: str, field: str, value: Any) -> Mutation:
    def mutate(docs: dict[str, Any]) -> None:
        nodes(docs)[node][field] = value

    return mutate


def _del(node: str, field: str) -> Mutation:
    def mutate(docs: dict[str, Any]) -> None:
        del nodes(docs)[node][field]

    return mutate


def _add(name: str, spec: dict[str, Any], option: str | None = None) -> Mutation:
    """Add a node, reachable from menu option `option` when given."""

    def mutate(docs: dict[str, Any]) -> None:
        nodes(docs)[name] = spec
        if option is not None:
            nodes(docs)["menu"]["options"][option] = {"next": name}

    return mutate


def _option(key: Any, option: Any) -> Mutation:
    def mutate(docs: dict[str, Any]) -> None:
        nodes(docs)["menu"]["options"][key] = option

    return mutate


def _no_default_on_fail(docs: dict[str, Any]) -> None:
    del docs["main"]["defaults"]["on_fail"]


def _defaults(field: str, value: Any) -> Mutation:
    def mutate(docs: dict[str, Any]) -> None:
        docs["main"]["defaults"][field] = value

    return mutate


def _both(*mutations: Mutation) -> Mutation:
    def mutate(docs: dict[str, Any]) -> None:
        for m in mutations:
            m(docs)

    return mutate


def _top(field: str, value: Any) -> Mutation:
    def mutate(docs: dict[str, Any]) -> None:
        docs["main"][field] = value

    return mutate


def _form(**changes: Any) -> Mutation:
    """Menu option 3 leads to a small form; `changes` replace its fields."""
    form: dict[str, Any] = {
        "kind": "form",
        "fields": {
            "member": {
                "words": "words.menu.order",
                "slot": "member",
                "expect": "digits",
                "prompt": "p.member",
            }
        },
        "readback": "p.hi_member",
        "menu": {"prompt": "p.menu3", "submit": "words.menu.order", "change": "words.repeat"},
        "next": "bye",
    }
    form.update(changes)
    return _add("intake", form, option="3")


def _menu3(docs: dict[str, Any]) -> None:
    nodes(docs)["menu"]["prompt"] = "p.menu3"


CASES: list[Any] = [
    pytest.param(
        _set("bye", "kind", "hang_up"), "bye", "kind", "unknown kind 'hang_up'", id="unknown-kind"
    ),
    pytest.param(_del("member", "slot"), "member", "slot", "required", id="missing-field"),
    pytest.param(_del("hello", "next"), "hello", "next", "required", id="missing-next"),
    pytest.param(
        _set("hello", "colour", "red"), "hello", "colour", "not a field", id="unknown-field"
    ),
    pytest.param(_top("owner", "me"), None, "owner", "unknown top-level field", id="top-field"),
    pytest.param(
        _set("member", "next", "lookupp"),
        "member",
        "next",
        "unknown node 'main.lookupp'",
        id="next-unknown",
    ),
    pytest.param(
        _option("2", {"next": "byebye"}),
        "menu",
        "options.2.next",
        "unknown node 'main.byebye'",
        id="option-next-unknown",
    ),
    pytest.param(
        _set("lookup", "outcomes", {"found": "nowhere"}),
        "lookup",
        "outcomes.found",
        "unknown node 'main.nowhere'",
        id="outcome-unknown",
    ),
    pytest.param(
        _add("orphan", {"kind": "say", "prompt": "p.hello", "next": "bye"}),
        "orphan",
        None,
        "unreachable",
        id="unreachable",
    ),
    pytest.param(_no_default_on_fail, "member", "on_fail", "dead end", id="no-on-fail-anywhere"),
    pytest.param(
        _set("lookup", "action", "find_membr"),
        "lookup",
        "action",
        "unknown action 'find_membr'",
        id="unknown-action",
    ),
    pytest.param(
        _set("member", "validate", "check_np"),
        "member",
        "validate",
        "unknown action 'check_np'",
        id="unknown-validate-action",
    ),
    pytest.param(
        _both(_del("member", "expect"), _set("member", "catalog", "plnas")),
        "member",
        "catalog",
        "unknown catalog 'plnas'",
        id="unknown-catalog",
    ),
    pytest.param(
        _set("agent", "queue", "generl"), "agent", "queue", "unknown queue 'generl'", id="queue"
    ),
    pytest.param(_option("x", {"next": "bye"}), "menu", "options.x", "keypad", id="key-x"),
    pytest.param(_option("", {"next": "bye"}), "menu", "options.", "keypad", id="key-empty"),
    pytest.param(
        _option("3", {"next": "bye", "say": "hi"}), "menu", "options.3", "only", id="option-field"
    ),
    pytest.param(_set("menu", "options", {}), "menu", "options", "at least one", id="no-options"),
    pytest.param(
        _add("go", {"kind": "goto", "flow": "ordr"}, option="3"),
        "go",
        "flow",
        "unknown flow 'ordr'",
        id="goto-unknown-flow",
    ),
    pytest.param(
        _set("member", "catalog", "plans"),
        "member",
        "catalog",
        "exactly one of catalog or expect",
        id="catalog-and-expect",
    ),
    pytest.param(
        _del("member", "expect"),
        "member",
        "catalog",
        "exactly one of catalog or expect",
        id="neither-catalog-nor-expect",
    ),
    pytest.param(
        _set("member", "expect", "zipcode"), "member", "expect", "'zipcode'", id="unknown-expect"
    ),
    pytest.param(_set("member", "attempts", 0), "member", "attempts", "positive", id="attempts-0"),
    pytest.param(
        _set("member", "attempts", "3"), "member", "attempts", "positive", id="attempts-str"
    ),
    pytest.param(
        _defaults("attempts", 0), None, "defaults.attempts", "positive", id="default-attempts-0"
    ),
    pytest.param(
        _set("member", "max_visits", 0), "member", "max_visits", "positive", id="max-visits-0"
    ),
    pytest.param(
        _defaults("operator", "agnet"),
        None,
        "defaults.operator",
        "unknown node 'main.agnet'",
        id="default-operator-unknown",
    ),
    pytest.param(_defaults("timeout", 5), None, "defaults.timeout", "unknown", id="default-field"),
    pytest.param(
        _set("member", "input", ["keys"]), "member", "input", "dtmf and/or speech", id="input"
    ),
    pytest.param(
        _set("hello", "prompt", ["p.hello"]), "hello", "prompt", "prompt key", id="prompt-list"
    ),
    pytest.param(
        _set("member", "invalid", 3), "member", "invalid", "prompt key or a mapping", id="invalid"
    ),
    pytest.param(
        _top("start", "hi"), None, "start", "start node 'hi' is not a node", id="start-unknown"
    ),
    # --- the flow language: sections, language, menus that name their keys, placeholders
    pytest.param(
        _add("sub", {"kind": "call", "next": "bye"}, option="3"),
        "sub",
        "node",
        "a call names the node (or flow) it runs",
        id="call-names-nothing",
    ),
    pytest.param(
        _add("sub", {"kind": "call", "flow": "billing", "next": "bye"}, option="3"),
        "sub",
        "flow",
        "unknown flow 'billing'",
        id="call-unknown-flow",
    ),
    pytest.param(
        _add("sub", {"kind": "call", "node": "sectoin", "next": "bye"}, option="3"),
        "sub",
        "node",
        "unknown node 'main.sectoin'",
        id="call-unknown-node",
    ),
    pytest.param(
        _add("spanish", {"kind": "language", "language": "fr-FR", "next": "bye"}, option="3"),
        "spanish",
        "language",
        "no prompts for language 'fr-FR'",
        id="language-unknown",
    ),
    pytest.param(
        _set("menu", "prompt", "p.menu3"),
        "menu",
        "prompt",
        "prompt 'p.menu3' in prompts/en-US.yaml announces 3, which is not an option",
        id="menu-announces-a-key-it-lacks",
    ),
    pytest.param(
        _option("3", {"next": "bye"}),
        "menu",
        "prompt",
        "prompt 'p.menu' in prompts/es-US.yaml never announces option 3",
        id="menu-never-announces-an-option",
    ),
    pytest.param(
        _set("hello", "prompt", "p.chose"),
        "hello",
        "prompt",
        "prompt 'p.chose' in prompts/en-US.yaml says {choice}, which nothing before this node",
        id="placeholder-nothing-fills",
    ),
    pytest.param(
        _set("hello", "prompt", "p.hi_member"),
        "hello",
        "prompt",
        "prompt 'p.hi_member' in prompts/es-US.yaml says {member}, which nothing before",
        id="placeholder-filled-only-later",
    ),
    pytest.param(
        _both(_menu3, _form(readback=None)),
        "intake",
        "readback",
        "must be a prompt key",
        id="form-readback-not-a-key",
    ),
    pytest.param(
        _both(
            _menu3,
            _form(fields={"member": {"slot": "member", "expect": "digits", "prompt": "p.member"}}),
        ),
        "intake",
        "fields.member.words",
        "required: what callers say to change this field",
        id="form-field-without-words",
    ),
    pytest.param(
        _both(
            _menu3,
            _form(
                fields={
                    "member": {
                        "words": "words.menu.order",
                        "slot": "member",
                        "expect": "digits",
                        "prompt": "p.member",
                        "confirm": "p.member",
                    }
                }
            ),
        ),
        "intake",
        "fields.member.confirm",
        "confirm-if-unsure needs confirm_below",
        id="form-confirm-without-threshold",
    ),
    pytest.param(
        _both(_menu3, _form(colour="red")),
        "intake",
        "colour",
        "not a field of a form",
        id="form-field",
    ),
    pytest.param(
        _both(
            _menu3, _form(), _add("ask_member", {"kind": "say", "prompt": "p.hello", "next": "bye"})
        ),
        "ask_member",
        None,
        "also made by form 'intake'",
        id="form-node-clash",
    ),
    pytest.param(
        _both(_menu3, _form(menu={"prompt": "p.menu3", "change": "words.repeat"})),
        "intake",
        "menu.submit",
        "the words callers say to choose it are required",
        id="form-menu-without-submit",
    ),
]


@pytest.mark.parametrize(("mutate", "node", "field", "text"), CASES)
def test_broken_flow_is_rejected_naming_file_node_and_field(
    mutate: Mutation, node: str | None, field: str | None, text: str
) -> None:
    docs = base()
    mutate(docs)
    assert_named(problems_of(docs), MAIN, node, field, text)


def test_missing_main_flow() -> None:
    docs = {"orders": base()["main"]}
    problems = problems_of(docs)
    assert_named(problems, "flows", None, None, "no 'main' flow")


def test_a_say_loop_that_never_asks_is_rejected() -> None:
    docs = base()
    nodes(docs)["hello"]["next"] = "hello_again"
    nodes(docs)["hello_again"] = {"kind": "say", "prompt": "p.hello", "next": "hello"}
    nodes(docs)["bye"] = {"kind": "say", "prompt": "p.bye", "next": "bye"}
    problems = problems_of(docs)
    assert_named(problems, MAIN, None, None, "main.hello -> main.hello_again -> main.hello")
    assert_named(problems, MAIN, "bye", None, "loops without asking anything: main.bye -> main.bye")


def test_a_loop_through_an_action_or_goto_is_rejected_too() -> None:
    docs = base()
    nodes(docs)["lookup"]["next"] = "again"
    nodes(docs)["again"] = {"kind": "goto", "flow": "main", "node": "lookup"}
    assert_named(problems_of(docs), MAIN, None, None, "loops without asking anything")


def test_input_node_without_on_fail_is_fine_with_a_default() -> None:
    docs = base()
    assert "on_fail" not in nodes(docs)["member"]
    check(docs)
    del docs["main"]["defaults"]["on_fail"]
    nodes(docs)["member"]["on_fail"] = "agent"
    problems = problems_of(docs)  # the menu still has none
    assert_named(problems, MAIN, "menu", "on_fail", "dead end")
    assert not any("'member'" in p or "main.member'" in p for p in problems), problems


@pytest.mark.parametrize(
    ("missing_in", "other"), [("es-US", "en-US"), ("en-US", "es-US")], ids=["es", "en"]
)
def test_prompt_missing_in_one_language_names_that_file(missing_in: str, other: str) -> None:
    broken = Prompts(missing_in, table("member"))
    fine = Prompts(other, table())
    problems = problems_of(base(), prompts=[fine, broken])
    assert_named(problems, MAIN, "member", "prompt", f"prompts/{missing_in}.yaml")
    assert not any(f"prompts/{other}.yaml" in p for p in problems), problems


def test_invalid_reasons_and_option_words_need_prompts_too() -> None:
    docs = base()
    nodes(docs)["member"]["invalid"] = {"default": "p.bad", "too_short": "p.short"}
    nodes(docs)["menu"]["options"]["1"]["words"] = "words.menu.ordr"
    problems = problems_of(docs)
    assert_named(problems, MAIN, "member", "invalid.too_short", "prompts/en-US.yaml")
    assert_named(problems, MAIN, "menu", "options.1.words", "prompts/es-US.yaml")


def test_a_language_missing_a_key_the_engine_speaks() -> None:
    tbl = table()
    del tbl["system"]["no_input"]
    problems = problems_of(base(), prompts=[EN, Prompts("es-US", tbl)])
    assert_named(problems, "prompts/es-US.yaml", None, None, "'system.no_input'")


def test_every_problem_is_reported_at_once_with_the_given_file_names() -> None:
    docs = base()
    nodes(docs)["lookup"]["action"] = "nope"
    nodes(docs)["agent"]["queue"] = "nowhere"
    nodes(docs)["hello"]["colour"] = "red"
    problems = problems_of(docs, files={"main": "flows-v7/main.yaml"})
    assert len(problems) >= 3
    assert all(p.startswith("flows-v7/main.yaml: ") for p in problems), problems


def test_name_checks_are_skipped_when_names_are_not_given() -> None:
    docs = base()
    nodes(docs)["lookup"]["action"] = "anything"
    nodes(docs)["agent"]["queue"] = "anywhere"
    check(docs, actions=None, catalogs=None, queues=None)


def test_other_flows_are_named_by_their_own_file() -> None:
    docs = base()
    nodes(docs)["go"] = {"kind": "goto", "flow": "orders"}
    nodes(docs)["menu"]["options"]["3"] = {"next": "go"}
    nodes(docs)["menu"]["prompt"] = "p.menu3"
    docs["orders"] = {
        "start": "ask",
        "defaults": {"operator": "main.agent", "on_fail": "main.agent"},
        "nodes": {
            "ask": {
                "kind": "menu",
                "options": {"1": {"next": "main.byee", "words": "words.menu.order"}},
            }
        },
    }
    problems = problems_of(docs)
    assert_named(problems, "flows/orders.yaml", "ask", "options.1.next", "'main.byee'")
    docs["orders"]["nodes"]["ask"]["options"]["1"]["next"] = "main.bye"
    check(docs)


# --- things a call would otherwise trip on ------------------------------------------------


@pytest.mark.parametrize("key", ["12", "89", "9*#", "**"])
def test_a_multi_key_menu_option_is_rejected(key: str) -> None:
    docs = base()
    nodes(docs)["menu"]["options"][key] = {"next": "bye"}
    assert_named(problems_of(docs), MAIN, "menu", f"options.{key}", "keypad")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout", "soon"),
        ("timeout", 0),
        ("min_digits", "four"),
        ("max_digits", 0),
        ("attempts", True),
        ("max_visits", "2"),
        ("confirm_below", "high"),
    ],
    ids=repr,
)
def test_a_limit_that_is_not_a_number_is_rejected(field: str, value: Any) -> None:
    docs = base()
    nodes(docs)["member"][field] = value
    if field == "confirm_below":  # only for catalog questions
        del nodes(docs)["member"]["expect"]
        nodes(docs)["member"]["catalog"] = "plans"
    assert_named(problems_of(docs), MAIN, "member", field, "must be a")


def test_unquoted_yes_no_keys_in_yaml_are_named_as_written() -> None:
    doc = yaml.safe_load(
        textwrap.dedent(
            """
            start: hello
            defaults: {operator: t, on_fail: t}
            nodes:
              hello: {kind: say, prompt: p.hello, next: t, no: t}
              t: {kind: transfer, queue: general, reason: r}
            """
        )
    )
    assert False in doc["nodes"]["hello"]
    problems = problems_of({"main": doc})
    assert_named(problems, MAIN, "hello", "no", "not a field of a say node")


def test_zero_without_any_operator_is_rejected_or_harmless() -> None:
    docs = base()
    del docs["main"]["defaults"]["operator"]
    try:
        bundle = check(docs)
    except FlowError as exc:
        assert any("operator" in problem for problem in exc.problems), exc.problems
        return
    run_turn(bundle, CallState(node="main.menu"), Input("dtmf", digits="0"), Context(EN))


# --- the real flows and prompts --------------------------------------------------------------


def _real_prompts() -> list[Prompts]:
    return [
        Prompts(p.stem, yaml.safe_load(p.read_text(encoding="utf-8")))
        for p in sorted((ROOT / "prompts").glob("*.yaml"))
    ]


def _real_queues() -> set[str]:
    with (ROOT / "data" / "queues.csv").open(newline="", encoding="utf-8") as fh:
        return {row["name"].strip() for row in csv.DictReader(fh)}


def test_the_real_flows_compile_in_every_language() -> None:
    docs = {
        p.stem: yaml.safe_load(p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "flows").glob("*.yaml"))
    }
    prompts = _real_prompts()
    assert {"en-US", "es-US"} <= {p.language for p in prompts}
    assert {"general", "orders", "helpdesk", "clinical"} <= _real_queues()
    files = {name: f"flows/{name}.yaml" for name in docs}
    # Action and catalog names are the app's registry: `ivr check-flows` below checks them.
    bundle = compile_bundle(docs, files=files, prompts=prompts, queues=_real_queues())
    assert bundle.start == "main.greeting"
    assert "main" in {n.flow for n in bundle.nodes.values()}


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'ivr.db'}"}
    env.pop("IVR_FLOWS_DIR", None)
    return subprocess.run(
        [str(IVR), "check-flows", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_check_flows_names_the_problem_and_exits_1(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    doc = base()["main"]
    doc["nodes"]["bye"]["kind"] = "hang_up"
    doc["nodes"]["hello"]["prompt"] = "main.greeting"  # a real prompt key
    (flows / "main.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    done = _cli(tmp_path, "--dir", str(flows))
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "flows/main.yaml: node 'bye' field 'kind': unknown kind 'hang_up'" in out
    assert "problem(s) found" in out
    assert "ok:" not in out


def test_check_flows_passes_the_real_flows(tmp_path: Path) -> None:
    done = _cli(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok:")
    assert "main" in done.stdout and "en-US" in done.stdout and "es-US" in done.stdout


# --- Outcomes the actions declare ------------------------------------------------------------

OUTCOMES = {
    "find_member": frozenset({"found", "not_found", "error"}),
    "check_npi": frozenset({"ok", "bad_check_digit", "unknown", "error"}),
}


def test_an_outcome_the_action_never_returns_is_refused() -> None:
    docs = base()
    nodes(docs)["lookup"]["outcomes"] = {"found": "bye", "fonud": "agent"}
    problems = problems_of(docs, actions=OUTCOMES)
    assert_named(problems, MAIN, "lookup", "outcomes.fonud", "never returns 'fonud'")
    assert len(problems) == 1, problems


def test_an_invalid_reason_the_validating_action_never_returns_is_refused() -> None:
    docs = base()
    member = nodes(docs)["member"]
    member["validate"] = "check_npi"
    member["invalid"] = {"default": "p.bad", "bad_check_digit": "p.bad", "not_on_file": "p.bad"}
    problems = problems_of(docs, actions=OUTCOMES)
    assert_named(problems, MAIN, "member", "invalid.not_on_file", "never returns 'not_on_file'")
    assert len(problems) == 1, problems


def test_engine_reasons_and_error_are_always_allowed() -> None:
    docs = base()
    member = nodes(docs)["member"]
    member["validate"] = "check_npi"
    member["invalid"] = {"default": "p.bad", "unknown": "p.bad", "error": "p.bad"}
    nodes(docs)["lookup"]["outcomes"] = {"found": "bye", "error": "agent"}
    assert check(docs, actions=OUTCOMES).warnings == ()


def test_an_outcome_left_to_the_ok_path_is_warned_of_not_refused() -> None:
    """`next` takes every outcome the node does not list: where it is also the 'ok' path,
    a caller whose NPI is not on file would go on as if it were."""
    docs = base()
    lookup = nodes(docs)["lookup"]
    lookup.update(action="check_npi", outcomes={"bad_check_digit": "agent"}, next="bye")
    bundle = check(docs, actions=OUTCOMES)
    assert bundle.warnings == (
        f"{MAIN}: node 'main.lookup' field 'outcomes': action 'check_npi' can return "
        "'unknown', which goes to next 'bye' like 'ok'",
    )
    lookup["outcomes"]["unknown"] = "agent"
    assert check(docs, actions=OUTCOMES).warnings == ()
    # A node whose `next` catches every failure while 'ok' has its own key is fine.
    lookup.update(outcomes={"ok": "bye"}, next="agent")
    assert check(docs, actions=OUTCOMES).warnings == ()


def test_an_unprompted_validation_outcome_is_warned_of() -> None:
    docs = base()
    member = nodes(docs)["member"]
    member["validate"] = "check_npi"
    member["invalid"] = {"bad_check_digit": "p.bad"}
    bundle = check(docs, actions=OUTCOMES)
    assert bundle.warnings == (
        f"{MAIN}: node 'main.member' field 'invalid': no prompt for 'check_npi' returning "
        "'unknown'",
    )
    member["invalid"] = "p.bad"  # one prompt for every reason
    assert check(docs, actions=OUTCOMES).warnings == ()


def test_names_alone_check_no_outcomes() -> None:
    docs = base()
    nodes(docs)["lookup"]["outcomes"] = {"whatever": "bye"}
    assert check(docs, actions=set(OUTCOMES)).warnings == ()


def test_the_real_flows_route_every_outcome_their_actions_declare() -> None:
    from ivr.actions.registry import outcomes_by_action
    from ivr.versions import read_flow_files

    docs, files = read_flow_files(ROOT / "flows")
    declared = outcomes_by_action()
    used = {
        spec.get("action") or spec.get("validate")
        for doc in docs.values()
        for spec in doc["nodes"].values()
    }
    assert used - {None} <= set(declared)
    bundle = compile_bundle(
        docs, files=files, prompts=_real_prompts(), actions=declared, queues=_real_queues()
    )
    assert bundle.warnings == ()


def test_check_flows_shows_warnings_and_exits_0(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    doc = base()["main"]
    doc["nodes"]["hello"]["prompt"] = "main.greeting"
    for name, key in (("menu", "main.menu.prompt"), ("member", "order.member.ask")):
        doc["nodes"][name]["prompt"] = key
    doc["nodes"]["member"].pop("invalid")
    doc["nodes"]["agent"]["prompt"] = "main.agent"
    doc["nodes"]["bye"]["prompt"] = "order.goodbye"
    doc["nodes"]["menu"]["options"]["1"].pop("words")
    # The real main menu prompt announces 3 and 4 (change the plan) too: the menu must offer
    # them. (0 it leaves to the way-out rule, said once in the greeting.)
    doc["nodes"]["menu"]["options"].update({"3": {"next": "bye"}, "4": {"next": "bye"}})
    doc["nodes"]["lookup"] = {
        "kind": "action",
        "action": "check_facility",
        "params": {"value": "1234567893"},
        "outcomes": {"unknown": "agent"},
        "next": "bye",
    }
    (flows / "main.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    done = _cli(tmp_path, "--dir", str(flows))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert (
        "warning: flows/main.yaml: node 'main.lookup' field 'outcomes': action 'check_facility' "
        "can return 'not_in_network', which goes to next 'bye' like 'ok'"
    ) in done.stderr
    assert done.stdout.startswith("ok: ")


# --- the flow language -----------------------------------------------------------------------


def test_a_form_compiles_to_questions_a_readback_and_a_change_menu() -> None:
    docs = base()
    _both(_menu3, _form())(docs)
    bundle = check(docs)
    assert {"main.intake", "main.ask_member", "main.intake/menu", "main.intake/change"} <= set(
        bundle.nodes
    )
    assert bundle.nodes["main.intake"].kind == "call"


def test_a_placeholder_after_an_ask_that_fills_it_is_fine() -> None:
    docs = base()
    nodes(docs)["member"]["next"] = "greet"
    nodes(docs)["greet"] = {"kind": "say", "prompt": "p.hi_member", "next": "lookup"}
    check(docs)


def test_a_placeholder_an_action_fills_is_held_to_what_it_declares() -> None:
    docs = base()
    nodes(docs)["lookup"]["outcomes"] = {"found": "found"}
    nodes(docs)["found"] = {"kind": "say", "prompt": "p.found", "next": "bye"}
    check(docs)  # an action that declares nothing may fill anything
    check(docs, action_slots={"find_member": {"member_name"}})
    problems = problems_of(docs, action_slots={"find_member": {"member_id"}})
    assert_named(problems, MAIN, "found", "prompt", "says {member_name}")
    assert all("prompts/" in p and "p.found" in p for p in problems)


def test_a_menu_without_a_prompt_says_its_options_words() -> None:
    docs = base()
    del nodes(docs)["menu"]["prompt"]
    assert_named(problems_of(docs), MAIN, "menu", "options.2.words", "needs words")
    nodes(docs)["menu"]["options"]["2"]["words"] = "words.repeat"
    check(docs)


def test_a_return_is_followed_back_to_every_call() -> None:
    docs = base()
    nodes(docs)["hello"]["next"] = "ask_first"
    nodes(docs)["ask_first"] = {"kind": "call", "node": "member", "next": "greet"}
    nodes(docs)["member"]["next"] = "member_done"
    nodes(docs)["member_done"] = {"kind": "return"}
    nodes(docs)["greet"] = {"kind": "say", "prompt": "p.hi_member", "next": "menu"}
    nodes(docs)["menu"]["options"]["1"]["next"] = "lookup"
    check(docs)


# How a keypad answer of no fixed length ends, said in each language.
ENDS_WITH_POUND = {"en-US": "then press pound", "es-US": "luego la tecla numeral"}


def _open_length(spec: Any) -> bool:
    """A question answered by keypad whose length the line can't know: it ends on `#`."""
    if "dtmf" not in (spec.get("input") or ("dtmf", "speech")) or spec.get("catalog"):
        return False
    expect = spec.get("expect")
    if expect == "digits_or_date":
        return True
    return expect == "digits" and spec.get("min_digits") != spec.get("max_digits")


def test_every_open_length_keypad_question_says_to_press_pound() -> None:
    from ivr.versions import read_flow_files

    docs, files = read_flow_files(ROOT / "flows")
    bundle = compile_bundle(docs, files=files, prompts=_real_prompts())  # forms' asks too
    tables = {
        p.stem: yaml.safe_load(p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "prompts").glob("*.yaml"))
    }
    criteria = yaml.safe_load((ROOT / "data" / "criteria.yaml").read_text(encoding="utf-8"))
    asked = 0
    for name, node in bundle.nodes.items():
        spec = node.spec
        if node.kind != "ask" or not _open_length(spec):
            continue
        for key in (spec["prompt"], spec.get("reprompt") or spec["prompt"]):
            for language, words in ENDS_WITH_POUND.items():
                text: Any = tables[language]
                for part in key.split("."):
                    text = text[part]
                if text == "{criteria_question}":  # said from data/criteria.yaml
                    questions = [
                        q["text"][language]
                        for rule in criteria["rules"]
                        for q in rule.get("questions", ())
                        if q.get("expect") == "number"
                    ]
                    assert questions
                    assert all(words in q for q in questions), (name, language)
                    continue
                assert words in text, (name, key, language, text)
                asked += 1
    # member id, helpdesk identifier and factor, order number, status proof: prompt and
    # reprompt in two languages
    assert asked == 5 * 2 * 2
