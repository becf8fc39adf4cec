"""data/criteria.yaml read and checked: every problem found, each naming the rule, the question
or the condition it is in (`CriteriaError` lists them all)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import yaml

from ivr.criteria.decide import (
    _ORDER,
    _PATTERN,
    BASE_LANGUAGE,
    EXPECTS,
    FACTS,
    OUTCOMES,
    Criteria,
    CriteriaError,
    Question,
    Rule,
    _is_num,
    _names,
)

_TOP_KEYS = {"default", "rules"}
_RULE_KEYS = {"id", "title", "exams", "diagnoses", "questions", "approve_if", "reasons"}
_QUESTION_KEYS = {"id", "expect", "max", "when", "text"}
_OPS = {"eq", "ne", "gt", "gte", "lt", "lte", "in", "match"}
_ID = re.compile(r"[a-z][a-z0-9_]*")


_KINDS: dict[str, Callable[[Any], bool]] = {
    "yesno": lambda v: isinstance(v, bool),
    "number": _is_num,
    "text": lambda v: isinstance(v, str),
    "codes": lambda v: isinstance(v, str) and bool(_PATTERN.fullmatch(v)),
}


_KIND_NAMES = {"codes": "diagnosis code or prefix", "number": "number", "text": "quoted text"}


def _leaf_problem(kind: str, op: Any, x: Any) -> str | None:
    listy = op in ("in", "match")
    if op not in _OPS:
        return f"unknown operator {op!r}"
    if (op == "match") != (kind == "codes"):
        return "only diagnoses take match, and only match"
    if listy and (not isinstance(x, list) or not x):
        return f"{op} takes a non-empty list"
    if op in _ORDER and kind != "number":
        return f"{op} needs a number question or fact"
    if not all(_KINDS[kind](v) for v in (x if listy else [x])):
        return f"{op} operand {x!r} is not a {_KIND_NAMES.get(kind, kind)}"
    return None


def _check_cond(cond: Any, names: Mapping[str, str], where: str, problems: list[str]) -> None:
    if isinstance(cond, bool):
        return
    if not isinstance(cond, Mapping) or not cond:
        problems.append(f"{where}: a condition is true, false or a non-empty mapping")
        return
    for key, arg in cond.items():
        if key in ("all", "any") and (not isinstance(arg, list) or not arg):
            problems.append(f"{where}: {key} takes a non-empty list")
        elif key in ("all", "any", "not"):
            for c in arg if key != "not" else [arg]:
                _check_cond(c, names, where, problems)
        elif key not in names:
            problems.append(f"{where}: unknown question or fact {key!r}")
        elif isinstance(arg, Mapping) and not arg:
            problems.append(f"{where}: {key}: no operator")
        else:
            for op, x in arg.items() if isinstance(arg, Mapping) else [("eq", arg)]:
                if (problem := _leaf_problem(names[key], op, x)) is not None:
                    problems.append(f"{where}: {key}: {problem}")


def _mapping(raw: Any, keys: set[str], where: str, problems: list[str]) -> Mapping[Any, Any]:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: expected a mapping")
        return {}
    problems += [f"{where}: unknown key {k!r}" for k in raw if k not in keys]
    return raw


def _texts(raw: Any, where: str, problems: list[str]) -> dict[str, str]:
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) and v for v in raw.values()):
        problems.append(f"{where}: a mapping of language to non-empty text")
        return {}
    if BASE_LANGUAGE not in raw:
        problems.append(f"{where}: missing {BASE_LANGUAGE}")
    return {str(k): v for k, v in raw.items()}


def _question(raw: Any, where: str, names: dict[str, str], problems: list[str]) -> Question:
    raw = _mapping(raw, _QUESTION_KEYS, where, problems)
    qid, expect, qmax = raw.get("id"), raw.get("expect"), raw.get("max")
    if not isinstance(qid, str) or not _ID.fullmatch(qid):
        problems.append(f"{where}.id: {qid!r} is not a lower_case id")
    elif qid in names:
        problems.append(f"{where}.id: {qid!r} repeats a question id or names a fact")
    if expect not in EXPECTS:
        problems.append(f"{where}.expect: unknown {expect!r} (one of {', '.join(EXPECTS)})")
    if qmax is not None and (expect != "number" or type(qmax) is not int or qmax < 1):
        problems.append(f"{where}.max: a positive whole number, for number questions only")
    if "when" in raw:
        _check_cond(raw["when"], names, f"{where}.when", problems)
    texts = _texts(raw.get("text"), f"{where}.text", problems)
    if isinstance(qid, str) and expect in EXPECTS:
        names[qid] = str(expect)
    return Question(str(qid), expect, texts, qmax, raw.get("when"))


def _rule(raw: Any, where: str, exam_codes: Collection[str] | None, problems: list[str]) -> Rule:
    rid = raw.get("id") if isinstance(raw, Mapping) else None
    good_id = isinstance(rid, str) and bool(_ID.fullmatch(rid))
    where = f"rule {rid}" if good_id else where
    raw = _mapping(raw, _RULE_KEYS, where, problems)
    if not good_id:
        problems.append(f"{where}.id: {rid!r} is not a lower_case id")
    if not isinstance(raw.get("title"), str):
        problems.append(f"{where}.title: required text")
    exams, diagnoses = raw.get("exams"), raw.get("diagnoses", [])
    if not isinstance(exams, list) or not exams or not all(isinstance(e, str) for e in exams):
        problems.append(f"{where}.exams: a non-empty list of quoted exam codes")
        exams = []
    problems += [f"{where}.exams: unknown exam code {e!r}" for e in exams
                 if exam_codes is not None and e not in exam_codes]  # fmt: skip
    if not isinstance(diagnoses, list) or not all(_KINDS["codes"](p) for p in diagnoses):
        problems.append(f"{where}.diagnoses: a list of codes like M54.50 or prefixes like M54.5*")
        diagnoses = []
    names, questions = dict(FACTS), raw.get("questions", [])
    if not isinstance(questions, list):
        problems.append(f"{where}.questions: a list")
        questions = []
    qs = [_question(q, f"{where}.questions[{i}]", names, problems) for i, q in enumerate(questions)]
    if "approve_if" not in raw:
        problems.append(f"{where}.approve_if: required")
    _check_cond(raw.get("approve_if"), names, f"{where}.approve_if", problems)
    used = _names(raw.get("approve_if")).union(*(_names(q.when) for q in qs))
    problems += [f"{where}.questions: {q.id!r} is never used by approve_if or when"
                 for q in qs if q.id not in used]  # fmt: skip
    reasons = _texts(raw.get("reasons"), f"{where}.reasons", problems)
    exams = tuple(e.strip().upper() for e in exams)
    return Rule(str(rid), str(raw.get("title")), exams, tuple(diagnoses), tuple(qs),
                raw.get("approve_if", False), reasons)  # fmt: skip


def parse_rules(data: Any, exam_codes: Collection[str] | None = None) -> Criteria:
    """Criteria from parsed YAML; CriteriaError lists every problem found."""
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise CriteriaError(["the file holds a mapping with default and rules"])
    problems += [f"unknown top-level key {k!r}" for k in data if k not in _TOP_KEYS]
    default = data.get("default", "approved")
    if default not in OUTCOMES:
        problems.append(f"default: {default!r} is not one of {', '.join(OUTCOMES)}")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        problems.append("rules: a non-empty list")
        raw_rules = []
    rules = [_rule(r, f"rules[{i}]", exam_codes, problems) for i, r in enumerate(raw_rules)]
    ids = [r.id for r in rules]
    problems += [f"rule {i}: id used twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    if problems:
        raise CriteriaError(problems)
    return Criteria(default, tuple(rules))


def load_rules(path: str | Path, exam_codes: Collection[str] | None = None) -> Criteria:
    """Load and validate a criteria YAML file; unknown exam codes are checked when given."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CriteriaError([f"{path}: not valid YAML: {exc}"]) from exc
    return parse_rules(data, exam_codes)
