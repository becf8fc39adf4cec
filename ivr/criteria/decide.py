"""Clinical criteria for imaging orders: which questions to ask by phone, and the outcome.

Pure: no Flask, no database, no clock (the caller passes the member's age in `facts`). The
format of data/criteria.yaml, conditions included, is documented in that file's header;
`ivr.criteria.rules` reads and checks it.
Conditions are three-valued: a question that may still be asked is unknown; an absent fact,
or a question skipped by its `when`, makes its comparisons false. Asking stops as soon as
`approve_if` is settled, so no question is asked whose answer cannot change the outcome; an
unsettled decision pends. Outcomes are `approved` or `pending_review`: only a physician denies.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["approved", "pending_review"]
OUTCOMES: tuple[Outcome, ...] = ("approved", "pending_review")
FACTS = {"age": "number", "plan": "text", "exam": "text", "modality": "text", "diagnoses": "codes"}
EXPECTS = ("yesno", "number")
DEFAULT_MAX = 999
BASE_LANGUAGE = "en-US"
_PATTERN = re.compile(r"[A-Z]([0-9A-Z]{0,2}|[0-9A-Z]{2}\.[0-9A-Z]{1,4})\*?")
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le
}  # fmt: skip
_YES = {"1", "yes", "y", "si", "sí", "true"}
_NO = {"2", "no", "n", "false"}
_UNANSWERED = {"en-US": "Not answered: {ids}.", "es-US": "Sin respuesta: {ids}."}
_NO_RULE = {
    "en-US": "No clinical rule covers this exam and diagnosis.",
    "es-US": "Ninguna regla clínica cubre este estudio y diagnóstico.",
}


class CriteriaError(ValueError):
    """The criteria file is invalid; `problems` lists each one with rule id and field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid criteria:\n  " + "\n  ".join(self.problems))


def _localized(texts: Mapping[str, str], language: str) -> str:
    return texts.get(language) or texts[BASE_LANGUAGE]


@dataclass(frozen=True)
class Question:
    id: str
    expect: Literal["yesno", "number"]
    texts: Mapping[str, str]
    max: int | None = None
    when: Any = None

    def text(self, language: str = BASE_LANGUAGE) -> str:
        return _localized(self.texts, language)


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    exams: tuple[str, ...]
    diagnoses: tuple[str, ...]  # patterns; empty = any diagnosis
    questions: tuple[Question, ...]
    approve_if: Any
    reasons: Mapping[str, str]

    def matches(self, exam: str, diagnoses: Sequence[str]) -> bool:
        if exam.strip().upper() not in self.exams:
            return False
        return not self.diagnoses or _match_any(diagnoses, self.diagnoses)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    rule_id: str | None
    reasons: list[str]  # in en-US, for the record
    localized: Mapping[str, list[str]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def approved(self) -> bool:
        return self.outcome == "approved"

    def reason_text(self, language: str = BASE_LANGUAGE) -> str:
        return " ".join(self.localized.get(language) or self.reasons)


def _norm(code: str) -> str:
    return code.strip().upper().replace(".", "")


def _match_any(codes: Iterable[Any], patterns: Iterable[str]) -> bool:
    pats = [(_norm(p.rstrip("*")), p.endswith("*")) for p in patterns]
    for code in codes:
        c = _norm(str(code))
        if any(c.startswith(p) if prefix else c == p for p, prefix in pats):
            return True
    return False


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and bool(a == b)


def _test(value: Any, arg: Any) -> bool:
    for op, x in arg.items() if isinstance(arg, Mapping) else [("eq", arg)]:
        if op == "match":
            ok = isinstance(value, list | tuple) and _match_any(value, x)
        elif op in ("eq", "ne", "in"):
            ok = any(_same(value, y) for y in x) if op == "in" else _same(value, x) == (op == "eq")
        else:
            ok = _is_num(value) and _ORDER[op](value, x)
        if not ok:
            return False
    return True


def _kleene(values: Iterable[bool | None], settles: bool) -> bool | None:
    """all (settles=False) or any (settles=True) in three-valued logic."""
    vs = list(values)
    return settles if settles in vs else None if None in vs else not settles


def _eval(cond: Any, values: Mapping[str, Any], pending: Collection[str]) -> bool | None:
    if isinstance(cond, bool):
        return cond
    out: list[bool | None] = []
    for key, arg in cond.items():
        if key in ("all", "any"):
            out.append(_kleene((_eval(c, values, pending) for c in arg), key == "any"))
        elif key == "not":
            v = _eval(arg, values, pending)
            out.append(None if v is None else not v)
        else:
            out.append(None if key in pending else key in values and _test(values[key], arg))
    return _kleene(out, False)


def _open(cond: Any, values: Mapping[str, Any], pending: Collection[str]) -> set[str]:
    """Pending question ids whose answers could still settle an unsettled condition."""
    if cond is None or _eval(cond, values, pending) is not None:
        return set()
    out: set[str] = set()
    for key, arg in cond.items():
        if key in ("all", "any"):
            out = out.union(*(_open(c, values, pending) for c in arg))
        elif key == "not":
            out |= _open(arg, values, pending)
        elif key in pending:
            out.add(key)
    return out


def _names(cond: Any) -> set[str]:
    if not isinstance(cond, Mapping):
        return set()
    out: set[str] = set()
    for key, arg in cond.items():
        subs = arg if key in ("all", "any") and isinstance(arg, list) else [arg]
        out |= set().union(*map(_names, subs)) if key in ("all", "any", "not") else {key}
    return out


def _state(
    rule: Rule, answers: Mapping[str, Any], facts: Mapping[str, Any]
) -> tuple[dict[str, Any], set[str]]:
    """Known values (facts and answers), and the questions that may still be asked."""
    values = {k: facts[k] for k in FACTS if facts.get(k) is not None}
    pending: set[str] = set()
    for q in rule.questions:
        if answers.get(q.id) is not None:
            values[q.id] = answers[q.id]
        elif _eval(True if q.when is None else q.when, values, pending) is not False:
            pending.add(q.id)
    return values, pending


def _relevant(rule: Rule, values: Mapping[str, Any], pending: set[str]) -> set[str]:
    relevant = _open(rule.approve_if, values, pending)
    while True:
        whens = [_open(q.when, values, pending) for q in rule.questions if q.id in relevant]
        more = set().union(*whens) - relevant
        if not more:
            return relevant
        relevant |= more


@dataclass(frozen=True)
class Criteria:
    default: Outcome
    rules: tuple[Rule, ...]

    def rule_for(self, exam: str, diagnoses: Sequence[str]) -> Rule | None:
        return next((r for r in self.rules if r.matches(exam, diagnoses)), None)

    def next_question(
        self, rule: Rule, answers: Mapping[str, Any], facts: Mapping[str, Any]
    ) -> Question | None:
        values, pending = _state(rule, answers, facts)
        relevant = _relevant(rule, values, pending)
        for q in rule.questions:
            if q.id in relevant and (q.when is None or _eval(q.when, values, pending) is True):
                return q
        return None

    def open_questions(
        self, rule: Rule, answers: Mapping[str, Any], facts: Mapping[str, Any]
    ) -> list[Question]:
        """Every question still unanswered whose answer may change the outcome, in the
        rule's order (the phone asks them one at a time, `next_question` first); empty once
        the outcome is settled."""
        if self.next_question(rule, answers, facts) is None:
            return []
        values, pending = _state(rule, answers, facts)
        relevant = _relevant(rule, values, pending)
        return [q for q in rule.questions if q.id in relevant and q.id in pending]

    def decide(
        self, rule: Rule | None, answers: Mapping[str, Any], facts: Mapping[str, Any]
    ) -> Decision:
        if rule is None:
            if self.default == "approved":
                return Decision("approved", None, [])
            localized = {k: [v] for k, v in _NO_RULE.items()}
            return Decision(self.default, None, localized[BASE_LANGUAGE], localized)
        values, pending = _state(rule, answers, facts)
        verdict = _eval(rule.approve_if, values, pending)
        if verdict:
            return Decision("approved", rule.id, [])
        localized = {lang: [text] for lang, text in rule.reasons.items()}
        if verdict is None:
            ids = ", ".join(
                q.id for q in rule.questions if q.id in _relevant(rule, values, pending)
            )
            for lang, texts in localized.items():
                texts.append(_localized(_UNANSWERED, lang).format(ids=ids))
        return Decision("pending_review", rule.id, list(localized[BASE_LANGUAGE]), localized)


def parse_answer(question: Question, raw: str | bool | int | None) -> bool | int | None:
    """A keypad or spoken answer as the question expects it, or None when it doesn't fit."""
    if raw is None:
        return None
    if question.expect == "yesno":
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().rstrip("#").strip().lower()
        return True if word in _YES else False if word in _NO else None
    if isinstance(raw, bool):
        return None
    text = str(raw).strip().rstrip("#").strip()
    if not (isinstance(raw, int) or (text.isascii() and text.isdigit())):
        return None
    n = int(text)
    return n if 0 <= n <= (question.max if question.max is not None else DEFAULT_MAX) else None
