"""Clinical criteria: the rules in data/criteria.yaml, asking, deciding, and validation."""

from __future__ import annotations

import csv
import textwrap
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.criteria import (
    Criteria,
    CriteriaError,
    Decision,
    Question,
    Rule,
    load_rules,
    parse_answer,
    parse_rules,
)

DATA = Path(__file__).resolve().parents[1] / "data"
CRITERIA_PATH = DATA / "criteria.yaml"
with (DATA / "exam_types.csv").open(encoding="utf-8", newline="") as fh:
    EXAMS = {row["code"]: row for row in csv.DictReader(fh)}
CRITERIA = load_rules(CRITERIA_PATH, exam_codes=set(EXAMS))


def facts(exam: str, diagnoses: list[str], age: int | None) -> dict[str, Any]:
    modality = EXAMS[exam]["modality"] if exam in EXAMS else None
    return {"age": age, "plan": "SUMMIT", "exam": exam, "modality": modality,
            "diagnoses": diagnoses}  # fmt: skip


def intake(
    exam: str, diagnoses: list[str], age: int | None, script: Mapping[str, Any]
) -> tuple[list[str], Decision]:
    """Ask as the phone flow does, answering from `script`; the questions asked and the result."""
    rule = CRITERIA.rule_for(exam, diagnoses)
    f = facts(exam, diagnoses, age)
    asked: list[str] = []
    answers: dict[str, Any] = {}
    while rule is not None and (q := CRITERIA.next_question(rule, answers, f)) is not None:
        assert q.id not in asked, "a question was asked twice"
        asked.append(q.id)
        answers[q.id] = parse_answer(q, script[q.id])
        assert answers[q.id] is not None, f"script answer for {q.id} does not parse"
    return asked, CRITERIA.decide(rule, answers, f)


A, P = "approved", "pending_review"
# Warning signs asked one at a time (issue 10): any yes is the old single question's yes.
LUMBAR_FLAGS = ["red_flag_trauma", "red_flag_cancer", "red_flag_infection", "red_flag_weakness"]
CERVICAL_FLAGS = ["red_flag_trauma", "red_flag_cancer", "red_flag_infection", "red_flag_weakness",
                  "red_flag_cord"]  # fmt: skip
KIDNEY_SIGNS = ["uncontrolled_pain", "infection_sign", "reduced_kidney_function"]
SINUS_SIGNS = ["complication_eye_swelling", "complication_vision", "complication_brain"]


def none_of(ids: list[str], no: str = "2") -> dict[str, str]:
    return dict.fromkeys(ids, no)


CASES = [
    # lumbar spine MRI: the weeks first (they settle most requests), then the warning signs
    ("72148", ["M54.50"], 40, {"weeks_symptoms": "3", "red_flag_trauma": "1"},
     ["weeks_symptoms", "red_flag_trauma"], A),  # under 6 weeks: weeks of care can't decide
    ("72148", ["M54.50"], 40, {"weeks_symptoms": "3", **none_of(LUMBAR_FLAGS[:2]),
                               "red_flag_infection": "1"},
     ["weeks_symptoms", *LUMBAR_FLAGS[:3]], A),
    ("72148", ["M54.50"], 51, {}, [], A),  # over 50 is itself a warning sign
    ("72148", ["M54.50"], 50, {"weeks_symptoms": "8", "weeks_conservative_care": "2",
                               **none_of(LUMBAR_FLAGS[:3]), "red_flag_weakness": "yes"},
     ["weeks_symptoms", "weeks_conservative_care", *LUMBAR_FLAGS], A),
    ("72148", ["M54.50"], 50, {"weeks_symptoms": "3", **none_of(LUMBAR_FLAGS)},
     ["weeks_symptoms", *LUMBAR_FLAGS], P),
    ("72158", ["M54.41"], 35, {"weeks_symptoms": "8", "weeks_conservative_care": "6"},
     ["weeks_symptoms", "weeks_conservative_care"], A),  # no warning sign asked
    ("72148", ["m5450"], 35, {"weeks_symptoms": "8", "weeks_conservative_care": "2#",
                              **none_of(LUMBAR_FLAGS, "no")},
     ["weeks_symptoms", "weeks_conservative_care", *LUMBAR_FLAGS], P),
    # cervical spine MRI: the same order
    ("72141", ["M54.2"], 55, {}, [], A),
    ("72156", ["M50.120"], 30, {"weeks_symptoms": "2", "red_flag_trauma": "1"},
     ["weeks_symptoms", "red_flag_trauma"], A),
    ("72156", ["M50.120"], 30, {"weeks_symptoms": "2", **none_of(CERVICAL_FLAGS[:4]),
                                "red_flag_cord": "1"},
     ["weeks_symptoms", *CERVICAL_FLAGS], A),
    ("72141", ["M54.12"], 30, {"weeks_symptoms": "2", **none_of(CERVICAL_FLAGS)},
     ["weeks_symptoms", *CERVICAL_FLAGS], P),
    ("72141", ["M54.2"], 30, {"weeks_symptoms": "10", "weeks_conservative_care": "7"},
     ["weeks_symptoms", "weeks_conservative_care"], A),
    # chest CT for cough
    ("71250", ["R05.3"], 60, {"chest_xray_done": "2"}, ["chest_xray_done"], P),
    ("71260", ["R05.3"], 60, {"chest_xray_done": "1", "chest_xray_abnormal": "1"},
     ["chest_xray_done", "chest_xray_abnormal"], A),
    ("71250", ["R05.9"], 60, {"chest_xray_done": "1", "chest_xray_abnormal": "2",
                              "weeks_cough": "9"},
     ["chest_xray_done", "chest_xray_abnormal", "weeks_cough"], A),
    ("71270", ["R05.3"], 60, {"chest_xray_done": "1", "chest_xray_abnormal": "2",
                              "weeks_cough": "8"},
     ["chest_xray_done", "chest_xray_abnormal", "weeks_cough"], P),
    # heart imaging: any diagnosis
    ("78452", ["I20.9"], 64, {"days_since_evaluation": "30"}, ["days_since_evaluation"], A),
    ("93350", [], 64, {"days_since_evaluation": "60"}, ["days_since_evaluation"], A),
    ("75574", ["R07.9"], 64, {"days_since_evaluation": "61"}, ["days_since_evaluation"], P),
    ("78431", ["I25.10"], 70, {"days_since_evaluation": "400"}, ["days_since_evaluation"], P),
    # brain MRI for headache
    ("70551", ["R51.9"], 30, {"sudden_worst_headache": "1"}, ["sudden_worst_headache"], A),
    ("70553", ["G43.909"], 30, {"sudden_worst_headache": "2", "neuro_deficit": "1"},
     ["sudden_worst_headache", "neuro_deficit"], A),
    ("70552", ["R51.9"], 30, {"sudden_worst_headache": "2", "neuro_deficit": "2",
                              "cancer_history": "1"},
     ["sudden_worst_headache", "neuro_deficit", "cancer_history"], A),
    ("70551", ["R51.9"], 30, {"sudden_worst_headache": "2", "neuro_deficit": "2",
                              "cancer_history": "2"},
     ["sudden_worst_headache", "neuro_deficit", "cancer_history"], P),  # new_headache skipped
    ("70551", ["R51.9"], 62, {"sudden_worst_headache": "2", "neuro_deficit": "2",
                              "cancer_history": "2", "new_headache": "1"},
     ["sudden_worst_headache", "neuro_deficit", "cancer_history", "new_headache"], A),
    ("70551", ["G44.209"], 62, {"sudden_worst_headache": "2", "neuro_deficit": "2",
                                "cancer_history": "2", "new_headache": "2"},
     ["sudden_worst_headache", "neuro_deficit", "cancer_history", "new_headache"], P),
    # knee MRI
    ("73721", ["S83.511A"], 25, {"injury_with_instability": "1"}, ["injury_with_instability"], A),
    ("73721", ["M25.561"], 45, {"injury_with_instability": "2", "weeks_conservative_care": "6"},
     ["injury_with_instability", "weeks_conservative_care"], A),
    ("73721", ["M23.91"], 45, {"injury_with_instability": "2", "weeks_conservative_care": "4"},
     ["injury_with_instability", "weeks_conservative_care"], P),
    # PET-CT: a confirmed cancer diagnosis
    ("78815", ["C34.90"], 66, {}, [], A),
    ("78816", ["R91.1", "C43.9"], 66, {}, [], A),
    ("78815", ["R91.1"], 66, {}, [], P),
    ("78815", [], 66, {}, [], P),
    # CT for kidney stones
    ("74176", ["N20.0"], 40, {"first_stone_episode": "1"}, ["first_stone_episode"], A),
    ("74176", ["N20.1"], 40, {"first_stone_episode": "2", "uncontrolled_pain": "1"},
     ["first_stone_episode", "uncontrolled_pain"], A),
    ("74176", ["N20.1"], 40, {"first_stone_episode": "2", **none_of(KIDNEY_SIGNS[:2]),
                              "reduced_kidney_function": "1"},
     ["first_stone_episode", *KIDNEY_SIGNS], A),
    ("74150", ["N23"], 40, {"first_stone_episode": "2", **none_of(KIDNEY_SIGNS)},
     ["first_stone_episode", *KIDNEY_SIGNS], P),
    # sinus CT
    ("70486", ["J32.9"], 40, {"complication_eye_swelling": "1"}, ["complication_eye_swelling"],
     A),
    ("70486", ["J32.9"], 40, {**none_of(SINUS_SIGNS[:2]), "complication_brain": "1"},
     SINUS_SIGNS[:3], A),
    ("70486", ["J32.0"], 40, {**none_of(SINUS_SIGNS), "weeks_symptoms": "14",
                              "medical_treatment_tried": "1"},
     [*SINUS_SIGNS, "weeks_symptoms", "medical_treatment_tried"], A),
    ("70486", ["J01.90"], 40, {**none_of(SINUS_SIGNS), "weeks_symptoms": "14",
                               "medical_treatment_tried": "2"},
     [*SINUS_SIGNS, "weeks_symptoms", "medical_treatment_tried"], P),
    ("70486", ["J01.90"], 40, {**none_of(SINUS_SIGNS), "weeks_symptoms": "4"},
     [*SINUS_SIGNS, "weeks_symptoms"], P),
    # no rule: the default applies
    ("93306", ["I50.9"], 70, {}, [], A),
    ("72148", ["S83.511A"], 40, {}, [], A),
    ("73700", ["N20.0"], 40, {}, [], A),
]  # fmt: skip


@pytest.mark.parametrize(("exam", "diagnoses", "age", "script", "asked", "outcome"), CASES)
def test_intake(
    exam: str, diagnoses: list[str], age: int, script: dict[str, Any], asked: list[str],
    outcome: str,
) -> None:  # fmt: skip
    got_asked, decision = intake(exam, diagnoses, age, script)
    assert got_asked == asked
    assert decision.outcome == outcome
    rule = CRITERIA.rule_for(exam, diagnoses)
    assert decision.rule_id == (rule.id if rule else None)
    if outcome == P:
        assert decision.reasons and decision.reason_text("es-US") != decision.reason_text()
        assert "Not answered" not in decision.reason_text()
    else:
        assert decision.reasons == [] and decision.reason_text() == ""


def test_every_rule_has_approved_and_pended_cases() -> None:
    rules = [(CRITERIA.rule_for(c[0], c[1]), c[5]) for c in CASES]
    seen = {(rule.id, outcome) for rule, outcome in rules if rule is not None}
    assert len(CRITERIA.rules) >= 8
    for rule in CRITERIA.rules:
        assert {(rule.id, A), (rule.id, P)} <= seen, rule.id


def test_all_codes_exist() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import simple_icd_10_cm as cm  # type: ignore[import-untyped]
    all_codes = [c for c in cm.get_all_codes(True) if "-" not in c]
    for rule in CRITERIA.rules:
        assert set(rule.exams) <= set(EXAMS), rule.id
        patterns = list(rule.diagnoses)
        for node in [rule.approve_if, *(q.when for q in rule.questions)]:
            patterns += _match_patterns(node)
        for pattern in patterns:
            code = pattern.rstrip("*")
            if pattern.endswith("*"):
                assert any(c.startswith(code) for c in all_codes), (rule.id, pattern)
                assert len(code) < 3 or cm.is_valid_item(code), (rule.id, pattern)
            else:
                assert cm.is_valid_item(code), (rule.id, pattern)


def _match_patterns(node: Any) -> list[str]:
    if isinstance(node, list):
        return [p for n in node for p in _match_patterns(n)]
    if not isinstance(node, dict):
        return []
    found = list(node["match"]) if "match" in node else []
    return found + [p for v in node.values() for p in _match_patterns(v)]


def test_texts_in_both_languages() -> None:
    for rule in CRITERIA.rules:
        assert set(rule.reasons) == {"en-US", "es-US"}, rule.id
        for q in rule.questions:
            assert set(q.texts) == {"en-US", "es-US"}, (rule.id, q.id)
            hint = "Press 1 for yes, 2 for no." if q.expect == "yesno" else "press pound."
            assert q.text("en-US").endswith(hint), (rule.id, q.id)
            assert q.text("fr-CA") == q.text("en-US")


def test_first_matching_rule_in_file_order() -> None:
    data = yaml.safe_load(CRITERIA_PATH.read_text(encoding="utf-8"))
    first = {"id": "any_lumbar", "title": "t", "exams": ["72148"], "approve_if": False,
             "reasons": {"en-US": "Always reviewed."}}  # fmt: skip
    data["rules"].insert(0, first)
    criteria = parse_rules(data)
    assert _id(criteria.rule_for("72148", ["M54.50"])) == "any_lumbar"
    assert _id(criteria.rule_for("72141", ["M54.2"])) == "cervical_mri_neck_pain"
    decision = criteria.decide(criteria.rules[0], {}, {})
    assert (decision.outcome, decision.reasons) == (P, ["Always reviewed."])


def test_default_pending_review_gives_a_reason() -> None:
    criteria = Criteria("pending_review", CRITERIA.rules)
    decision = criteria.decide(criteria.rule_for("93306", []), {}, {})
    assert (decision.outcome, decision.rule_id) == (P, None)
    assert "No clinical rule" in decision.reason_text()
    assert "Ninguna regla" in decision.reason_text("es-US")


def test_unanswered_questions_pend_and_are_named() -> None:
    rule = _rule("lumbar_mri_low_back_pain")
    decision = CRITERIA.decide(rule, dict.fromkeys(LUMBAR_FLAGS, False), {"age": 30})
    assert decision.outcome == P
    assert decision.reasons[-1] == "Not answered: weeks_symptoms, weeks_conservative_care."
    assert decision.reason_text("es-US").endswith("Sin respuesta: weeks_symptoms, "
                                                  "weeks_conservative_care.")  # fmt: skip
    # Missing age: a missing fact is false, so the questions decide; the weeks come first
    # (six of each settle most requests), the warning signs when they don't.
    assert _id(CRITERIA.next_question(rule, {}, {})) == "weeks_symptoms"
    assert _id(CRITERIA.next_question(rule, {"weeks_symptoms": 3}, {})) == "red_flag_trauma"


def test_when_skips_questions() -> None:
    rule = _rule("chest_ct_chronic_cough")
    assert CRITERIA.next_question(rule, {"chest_xray_done": False}, {}) is None
    assert _id(CRITERIA.next_question(rule, {"chest_xray_done": True}, {})) == "chest_xray_abnormal"
    brain = _rule("brain_mri_headache")
    no = {"sudden_worst_headache": False, "neuro_deficit": False, "cancer_history": False}
    assert CRITERIA.next_question(brain, no, {"age": 50}) is None
    assert _id(CRITERIA.next_question(brain, no, {"age": 51})) == "new_headache"
    # Answers given out of turn still count, and a settled rule asks nothing more.
    assert CRITERIA.next_question(brain, {"cancer_history": True}, {"age": 30}) is None


def _rule(rule_id: str) -> Rule:
    return next(r for r in CRITERIA.rules if r.id == rule_id)


def _id(item: Rule | Question | None) -> str | None:
    return None if item is None else item.id


YESNO = Question("q", "yesno", {"en-US": "?"})
NUMBER = Question("n", "number", {"en-US": "?"}, max=52)


@pytest.mark.parametrize(
    ("question", "raw", "value"),
    [
        (YESNO, True, True), (YESNO, False, False), (YESNO, "1", True), (YESNO, "2", False),
        (YESNO, " Yes ", True), (YESNO, "no", False), (YESNO, "sí", True), (YESNO, 1, True),
        (YESNO, 2, False), (YESNO, "3", None), (YESNO, "", None), (YESNO, "maybe", None),
        (YESNO, None, None),
        (NUMBER, "0", 0), (NUMBER, "12", 12), (NUMBER, "012#", 12), (NUMBER, 52, 52),
        (NUMBER, "53", None), (NUMBER, -1, None), (NUMBER, "-1", None), (NUMBER, "1.5", None),
        (NUMBER, "six", None), (NUMBER, "", None), (NUMBER, True, None), (NUMBER, "٣", None),
        (Question("d", "number", {"en-US": "?"}), "999", 999),
        (Question("d", "number", {"en-US": "?"}), "1000", None),
    ],
)  # fmt: skip
def test_parse_answer(question: Question, raw: Any, value: bool | int | None) -> None:
    got = parse_answer(question, raw)
    assert got == value and type(got) is type(value)


GOOD_RULE = """
  - id: r
    title: A rule
    exams: ["72148"]
    diagnoses: ["M54.5*"]
    questions:
      - id: q
        expect: yesno
        text: {en-US: "Yes or no?"}
    approve_if: {q: true}
    reasons: {en-US: "Because."}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "criteria.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_good_rule_loads(tmp_path: Path) -> None:
    criteria = load_rules(_write(tmp_path, "rules:" + GOOD_RULE), exam_codes={"72148"})
    assert criteria.default == A and [r.id for r in criteria.rules] == ["r"]


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("title: A rule", "title: A rule\n    colour: red", "rule r: unknown key 'colour'"),
        ("expect: yesno", "expect: maybe", "rule r.questions[0].expect: unknown 'maybe'"),
        ("expect: yesno", "expect: yesno\n        max: 4", "rule r.questions[0].max"),
        ("expect: yesno", "expect: number\n        max: 4.5", "rule r.questions[0].max"),
        ("{q: true}", "{q: {}}", "rule r.approve_if: q: no operator"),
        ("{q: true}", "{plan: [SUMMIT]}", "plan: eq operand ['SUMMIT'] is not a quoted text"),
        ("{q: true}", "{not: {q: true}, exam: {in: ['72148', 1]}}", "exam: in operand"),
        ("expect: yesno", "expect: yesno\n        hint: x", "questions[0]: unknown key 'hint'"),
        ("{q: true}", "{other: true}", "rule r.approve_if: unknown question or fact 'other'"),
        ("{q: true}", "{q: 3}", "rule r.approve_if: q: eq operand 3 is not a yesno"),
        ("{q: true}", "{q: {gt: 1}}", "rule r.approve_if: q: gt needs a number"),
        ("{q: true}", "{q: {about: true}}", "rule r.approve_if: q: unknown operator 'about'"),
        ("{q: true}", "{any: []}", "rule r.approve_if: any takes a non-empty list"),
        ("{q: true}", "{age: {gt: old}}", "rule r.approve_if: age: gt operand 'old'"),
        ("{q: true}", "{q: true, diagnoses: {in: [C]}}", "only diagnoses take match"),
        ("{q: true}", "{diagnoses: {match: [cancer]}}", "is not a diagnosis code or prefix"),
        ("{q: true}", "{age: {gt: 50}}", "'q' is never used"),
        ('{en-US: "Yes or no?"}', '{es-US: "¿Sí o no?"}', "questions[0].text: missing en-US"),
        ('{en-US: "Because."}', "{en-US: ''}", "rule r.reasons: a mapping of language"),
        ('["72148"]', '["99999"]', "rule r.exams: unknown exam code '99999'"),
        ('["72148"]', "[72148]", "rule r.exams: a non-empty list of quoted exam codes"),
        ('["M54.5*"]', '["M54.5%"]', "rule r.diagnoses"),
        ("- id: r", "- id: Bad Rule", "rules[0].id: 'Bad Rule' is not a lower_case id"),
        ("- id: q", "- id: age", "questions[0].id: 'age' repeats a question id or names a fact"),
        ("    approve_if: {q: true}\n", "", "rule r.approve_if: required"),
        ("expect: yesno", "expect: yesno\n        when: {q: true}",
         "questions[0].when: unknown question or fact 'q'"),  # only earlier questions
    ],
)  # fmt: skip
def test_validation_errors(tmp_path: Path, old: str, new: str, problem: str) -> None:
    assert old in GOOD_RULE
    path = _write(tmp_path, "rules:" + GOOD_RULE.replace(old, new, 1))
    with pytest.raises(CriteriaError) as err:
        load_rules(path, exam_codes={"72148"})
    assert any(problem in p for p in err.value.problems), err.value.problems


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("default: denied\nrules:" + GOOD_RULE, "default: 'denied' is not one of"),
        ("rules: []", "rules: a non-empty list"),
        ("colour: red\nrules:" + GOOD_RULE, "unknown top-level key 'colour'"),
        ("rules:" + GOOD_RULE + GOOD_RULE, "rule r: id used twice"),
        ("- just a list", "the file holds a mapping"),
        ("rules: [\n", "not valid YAML"),
    ],
)
def test_file_level_validation_errors(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(CriteriaError) as err:
        load_rules(_write(tmp_path, text))
    assert any(problem in p for p in err.value.problems), err.value.problems
    assert problem in str(err.value)


def test_several_problems_reported_at_once(tmp_path: Path) -> None:
    bad = GOOD_RULE.replace("expect: yesno", "expect: maybe").replace("{q: true}", "{x: 1}")
    with pytest.raises(CriteriaError) as err:
        load_rules(_write(tmp_path, "rules:" + bad))
    assert len(err.value.problems) >= 2


ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 10_000), st.text(max_size=5),
    st.floats(allow_nan=True), st.lists(st.integers(), max_size=2),
)  # fmt: skip
AGES = st.one_of(st.none(), st.integers(0, 120))
DIAGNOSES = st.lists(st.sampled_from(["M54.50", "C34.90", "R05.3", "N20.0", "", "zz"]), max_size=3)


@settings(max_examples=300, deadline=None)
@given(st.data(), st.sampled_from(CRITERIA.rules), AGES, DIAGNOSES)
def test_decide_never_raises(data: st.DataObject, rule: Rule, age: int | None,
                             diagnoses: list[str]) -> None:  # fmt: skip
    ids = [q.id for q in rule.questions]
    answers = data.draw(st.dictionaries(st.sampled_from(ids), ANY_VALUE) if ids else st.just({}))
    f = {"age": age, "exam": rule.exams[0], "diagnoses": diagnoses}
    decision = CRITERIA.decide(rule, answers, f)
    assert decision.outcome in (A, P) and decision.rule_id == rule.id
    assert isinstance(decision.reason_text("es-US"), str)
    question = CRITERIA.next_question(rule, answers, f)
    assert question is None or question.id not in answers or answers[question.id] is None


def _valid_answer(q: Question) -> st.SearchStrategy[bool | int]:
    return st.booleans() if q.expect == "yesno" else st.integers(0, q.max or 999)


@settings(max_examples=300, deadline=None)
@given(st.data(), st.sampled_from(CRITERIA.rules), AGES)
def test_asking_stops_only_when_settled(data: st.DataObject, rule: Rule, age: int | None) -> None:
    """Once no question is left, answering the unasked ones cannot change the outcome."""
    f = {"age": age}
    answers: dict[str, Any] = {}
    for _ in range(len(rule.questions) + 1):
        q = CRITERIA.next_question(rule, answers, f)
        if q is None:
            break
        answers[q.id] = data.draw(_valid_answer(q))
    assert q is None
    decision = CRITERIA.decide(rule, answers, f)
    assert "Not answered" not in decision.reason_text()
    rest = {q.id: data.draw(_valid_answer(q)) for q in rule.questions if q.id not in answers}
    assert CRITERIA.decide(rule, {**answers, **rest}, f).outcome == decision.outcome


@pytest.mark.parametrize(
    ("rule_id", "signs", "exam"),
    [
        ("lumbar_mri_low_back_pain", LUMBAR_FLAGS, "72148"),
        ("cervical_mri_neck_pain", CERVICAL_FLAGS, "72141"),
        ("sinus_ct_sinusitis", SINUS_SIGNS, "70486"),
        ("ct_kidney_stone", KIDNEY_SIGNS, "74176"),
    ],
)
def test_a_list_question_split_in_one_question_a_sign_decides_as_before(
    rule_id: str, signs: list[str], exam: str
) -> None:
    """Issue 10: a yes/no question that listed several conditions is one question each, asked
    in turn; a yes to any of them settles the rule as the old question's yes did (approved,
    nothing more asked), and no to all of them goes on to the rest as the old no did."""
    rule = _rule(rule_id)
    f = {"age": 30, "exam": exam, "diagnoses": []}
    # What comes before the signs: a recurring stone; for the spine, too few weeks of
    # symptoms for the weeks alone to approve (they are asked first).
    before: dict[str, Any] = {
        "ct_kidney_stone": {"first_stone_episode": False},
        "lumbar_mri_low_back_pain": {"weeks_symptoms": 3},
        "cervical_mri_neck_pain": {"weeks_symptoms": 3},
    }.get(rule_id, {})
    for n, sign in enumerate(signs):
        answers = {**before, **dict.fromkeys(signs[:n], False)}
        assert _id(CRITERIA.next_question(rule, answers, f)) == sign
        answers[sign] = True
        assert CRITERIA.next_question(rule, answers, f) is None
        assert CRITERIA.decide(rule, answers, f).outcome == A
    answers = {**before, **dict.fromkeys(signs, False)}
    following = CRITERIA.next_question(rule, answers, f)
    assert following is None or following.id not in signs
    assert CRITERIA.decide(rule, answers, f).outcome == P  # nothing else answered yet
    for q in rule.questions:
        if q.id in signs:  # each asks one thing: no list of conditions to hold in mind
            question = q.text("en-US").removesuffix(" Press 1 for yes, 2 for no.")
            assert question.count(",") <= 1 and len(question.split()) <= 12, question
