"""Form nodes: a list of fields, expanded at compile time into the plain nodes the runtime
already runs (ask, branch, confirm, action, say, menu, call and return).

In the spirit of VoiceXML's form interpretation algorithm: the form asks each field in turn
(a field a `first` section already filled is skipped), confirms an answer heard with low
confidence, reads everything back and offers "change one item", which asks that field again
and comes back to the readback. A keyed code (the letter by its key) that fits one entry
is read back (`keyed_confirm`), a few are offered as a keypad choice (`choose`). A field's
questions are a section run by `call` and ending in `return`, so the first pass and every
change share one copy of them.

A question's node is named ``ask_<slot>`` (or its own ``node:``) and its confirmation
``confirm_<slot>``, as hand-written ones were; the other nodes a form makes are named
``<form>/<field>/...``, so a problem in one names the form and the field.

Two question keys go beyond a plain ask: ``then: <section>`` calls a section after the
answer and before its confirmation (a follow-up the answer may need: which contrast, where
the pain is), and ``keep: <prompt>`` lets a caller who chose the field from "change one
item" keep the answer it has (pound, silence or "keep"), offered with that prompt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ivr.engine.graph import problem
from ivr.engine.hearing import CHANGING

FORM_KEYS = frozenset(
    {"kind", "fields", "save", "before_readback", "readback", "menu", "change_prompt", "next"}
)
FIELD_KEYS = frozenset({"words", "first", "questions", "check", "check_failed"})
MENU_KEYS = frozenset({"prompt", "reprompt", "submit", "change", "repeat", "back"})
# A question's own fields that make nodes beside its ask, not fields of the ask itself.
QUESTION_KEYS = frozenset({"confirm", "node", "keyed_confirm", "choose", "then"})
BACK_KEY = "9"  # "go back" in the change menu: the same key as the status line's menus


def expand_forms(file: str, nodes: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    """The flow's nodes with every `kind: form` node replaced by the nodes it stands for."""
    out: dict[str, Any] = {}
    for name, spec in nodes.items():
        if isinstance(spec, Mapping) and spec.get("kind") == "form":
            made = _form(file, str(name), spec, problems)
            for clash in sorted(set(made) & (set(nodes) - {name})):
                problems.append(problem(file, clash, None, f"also made by form '{name}'"))
            out.update(made)
        else:
            out[name] = spec
    return out


def _form(file: str, name: str, spec: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    def bad(fld: str, msg: str) -> None:
        problems.append(problem(file, name, fld, msg))

    for extra in sorted(set(spec) - FORM_KEYS):
        bad(extra, "not a field of a form node")
    for required in ("fields", "readback", "next"):
        if required not in spec:
            bad(required, "required for a form node")
    if "readback" in spec and not isinstance(spec["readback"], str):
        bad("readback", "must be a prompt key (a string)")
        return {}
    fields = spec.get("fields")
    menu = spec.get("menu") or {}
    if not isinstance(fields, Mapping) or not fields:
        bad("fields", "a form needs at least one field")
        return {}
    if not isinstance(menu, Mapping):
        bad("menu", "must be a mapping")
        menu = {}
    for extra in sorted(set(menu) - MENU_KEYS):
        bad(f"menu.{extra}", "not a field of a form's menu")
    for required in ("submit", "change"):
        if required not in menu:
            bad(f"menu.{required}", "the words callers say to choose it are required")
    # A form whose menu names `back` words offers "go back" in its change menu, on BACK_KEY.
    # Only then: a version published before forms had it must compile as it was published.
    most = 8 if "back" in menu else 9
    if len(fields) > most:
        bad("fields", f"at most {most} fields, one keypad key each in the change menu")

    out: dict[str, Any] = {}
    review = f"{name}/review"
    names = [str(f) for f in fields]
    for i, (fname, fspec) in enumerate(fields.items()):
        following = f"{name}/{names[i + 1]}" if i + 1 < len(names) else review
        entry = name if i == 0 else f"{name}/{fname}"
        out.update(_field(file, name, str(fname), fspec, entry, following, spec, problems))

    readback = f"{name}/readback"
    if spec.get("before_readback"):
        out[review] = {"kind": "call", "node": spec["before_readback"], "next": readback}
    else:
        readback = review
    out[readback] = {"kind": "say", "prompt": spec.get("readback"), "next": f"{name}/menu"}
    out[f"{name}/menu"] = {
        "kind": "menu",
        **{k: menu[k] for k in ("prompt", "reprompt") if k in menu},
        "options": {
            # A plain yes submits and a plain no asks what to change, said or pressed.
            "1": {"next": spec.get("next"), "words": menu.get("submit"), "answer": "yes"},
            "2": {"next": f"{name}/change", "words": menu.get("change"), "answer": "no"},
            "3": {"next": readback, "words": menu.get("repeat", "words.repeat")},
        },
    }
    out[f"{name}/change"] = {
        "kind": "menu",
        **({"prompt": spec["change_prompt"]} if "change_prompt" in spec else {}),
        "options": {
            **{
                str(i + 1): {
                    "next": f"{name}/{f}/change",
                    "words": (fields[f] or {}).get("words"),
                    # A field that offers to keep its answers learns it is being changed.
                    **({"set": {CHANGING: f"{name}/{f}"}} if _keeps(fields[f]) else {}),
                }
                for i, f in enumerate(fields)
            },
            # Back to the readback's menu, changing nothing.
            **(
                {BACK_KEY: {"next": f"{name}/menu", "words": menu["back"]}}
                if "back" in menu
                else {}
            ),
        },
    }
    return out


def _keeps(field: Any) -> bool:
    """Whether a field's questions offer to keep their answers when it is changed."""
    if not isinstance(field, Mapping):
        return False
    questions = field.get("questions")
    if not isinstance(questions, list):
        return "keep" in field
    return any(isinstance(q, Mapping) and "keep" in q for q in questions)


def _field(
    file: str,
    form: str,
    name: str,
    spec: Any,
    entry: str,
    following: str,
    form_spec: Mapping[str, Any],
    problems: list[str],
) -> dict[str, Any]:
    where = f"{form}/{name}"

    def bad(fld: str, msg: str) -> None:
        problems.append(
            problem(file, form, f"fields.{name}.{fld}" if fld else f"fields.{name}", msg)
        )

    if not isinstance(spec, Mapping):
        bad("", "a field must be a mapping")
        return {}
    if "words" not in spec:
        bad("words", "required: what callers say to change this field")
    questions = spec.get("questions")
    if questions is None:
        # One question: its ask fields sit on the field itself.
        questions = [{k: v for k, v in spec.items() if k not in FIELD_KEYS}]
    elif set(spec) - FIELD_KEYS:
        for extra in sorted(set(spec) - FIELD_KEYS):
            bad(extra, "with questions, ask fields go in each question")
    if not isinstance(questions, list) or not questions:
        bad("questions", "a field needs at least one question")
        return {}
    if "check_failed" in spec and "check" not in spec:
        bad("check_failed", "only with check")

    slots = [q.get("slot") if isinstance(q, Mapping) else None for q in questions]
    if not all(isinstance(s, str) for s in slots):
        bad("slot", "every question needs a slot")
        return {}
    # A question's node keeps a plain name (ask_<slot>, or its own `node:`), as a hand-written
    # one had: transfer reasons, call events and reports name it.
    asks = [str(q.get("node") or f"ask_{s}") for q, s in zip(questions, slots, strict=True)]
    first_q = asks[0]
    out: dict[str, Any] = {}
    done = f"{where}/done"
    end = done
    if form_spec.get("save"):
        out[f"{where}/save"] = {"kind": "action", "action": form_spec["save"], "next": done}
        end = f"{where}/save"
    if "check" in spec:
        check = f"{where}/check"
        failed = f"{where}/check_failed"
        out[check] = {"kind": "action", "action": spec["check"], "outcomes": {"ok": end}}
        if "check_failed" in spec:
            out[check]["next"] = failed
            out[failed] = {"kind": "say", "prompt": spec["check_failed"], "next": first_q}
        else:
            out[check]["next"] = first_q
        end = check
    out[done] = {"kind": "return"}

    for j, (slot, question) in enumerate(zip(slots, questions, strict=True)):
        for key in ("then", "keep"):
            if key in question and not isinstance(question[key], str):
                what = "a section's node" if key == "then" else "a prompt key"
                bad(key, f"must name {what} (a string)")
        node = asks[j]
        after = asks[j + 1] if j + 1 < len(asks) else end
        ask = {k: v for k, v in question.items() if k not in QUESTION_KEYS}
        if "keep" in question:
            ask["keep_in"] = where
        keyed = [k for k in ("keyed_confirm", "choose") if k in question]
        if keyed and len(keyed) < 2:
            bad(keyed[0], "keyed_confirm and choose go together")
        if keyed and "confirm" not in question:
            bad(keyed[0], "a keyed answer is confirmed: it needs confirm and confirm_below")
        if "confirm" in question:
            if "confirm_below" not in question:
                bad("confirm", "confirm-if-unsure needs confirm_below")
            cases = {"yes": after}
            if len(keyed) == 2:
                # Keys that stood for one entry are read back; for a few, a keypad choice.
                cases["keyed"] = f"confirm_keyed_{slot}"
                cases["choose"] = f"choose_{slot}"
                out[f"confirm_keyed_{slot}"] = {
                    "kind": "confirm",
                    "prompt": question["keyed_confirm"],
                    "yes": after,
                    "no": node,
                }
                out[f"choose_{slot}"] = {
                    "kind": "ask",
                    "slot": slot,
                    "expect": "choice",
                    "choices": f"{slot}_choices",
                    "again": node,
                    "prompt": question["choose"],
                    "next": after,
                }
            out[f"{where}/{slot}_sure"] = {
                "kind": "branch",
                "slot": f"{slot}_sure",
                "cases": cases,
                "default": f"confirm_{slot}",
            }
            out[f"confirm_{slot}"] = {
                "kind": "confirm",
                "prompt": question["confirm"],
                "yes": after,
                "no": node,
            }
            after = f"{where}/{slot}_sure"
        if "then" in question:
            # The follow-up comes before the confirmation, which reads back its result.
            out[f"{where}/{slot}_then"] = {"kind": "call", "node": question["then"], "next": after}
            after = f"{where}/{slot}_then"
        out[node] = {"kind": "ask", **ask, "next": after}

    if "first" in spec:
        # The FIA's rule: a field already filled is not asked (a `first` section may fill it).
        out[entry] = {"kind": "call", "node": spec["first"], "next": f"{where}/filled"}
        out[f"{where}/filled"] = {
            "kind": "branch",
            "slot": slots[0],
            "cases": {"": f"{where}/ask"},
            "default": following,
        }
        out[f"{where}/ask"] = {"kind": "call", "node": first_q, "next": following}
    else:
        out[entry] = {"kind": "call", "node": first_q, "next": following}
    out[f"{where}/change"] = {"kind": "call", "node": first_q, "next": f"{form}/review"}
    return out
