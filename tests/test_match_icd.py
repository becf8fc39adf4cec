"""Tests for ivr.match.icd: ICD-10-CM diagnoses from spoken codes and lay words."""

from __future__ import annotations

import csv
import re
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.engine.types import Catalog
from ivr.match import icd
from ivr.match.icd import DiagnosisIndex, default_index, parse_code

ROOT = Path(__file__).resolve().parent.parent
PHRASES_CSV = Path(__file__).resolve().parent / "data" / "diagnosis_phrases.csv"
SYNONYMS_CSV = ROOT / "data" / "diagnosis_synonyms.csv"


@pytest.fixture(scope="module")
def index() -> DiagnosisIndex:
    return default_index()


def labelled() -> list[tuple[str, set[str]]]:
    with PHRASES_CSV.open(newline="", encoding="utf-8") as fh:
        return [
            (r["phrase"], {r["expected_code"], *filter(None, r["acceptable_codes"].split("|"))})
            for r in csv.DictReader(fh)
        ]


def test_is_a_catalog(index: DiagnosisIndex) -> None:
    as_protocol: Catalog = index
    assert as_protocol.by_key("5450") is None
    assert as_protocol.choices() == [] and as_protocol.hints() == []


@pytest.mark.parametrize(
    ("phrase", "codes"),
    [
        ("low back pain", {"M54.50"}),
        ("lumbago", {"M54.50"}),
        ("kidney stones", {"N20.0"}),
        ("type 2 diabetes", {"E11.9"}),
        ("type two diabetes", {"E11.9"}),
        ("headaches", {"R51.9"}),
        ("chest pain", {"R07.9"}),
        ("shortness of breath", {"R06.02"}),
        ("fatty liver", {"K76.0"}),
        ("gallbladder stones", {"K80.20"}),
        ("migraine without aura", {"G43.009"}),
        ("pain in my right shoulder", {"M25.511"}),
        ("sprained wrist", {"S63.509A"}),
        ("low back pain for six weeks", {"M54.50"}),
        ("fractured femur", {"S72.90XA"}),
        ("lump in the right breast", {"N63.10"}),
        ("hip osteoarthritis", {"M16.9"}),
        ("right sided sciatica", {"M54.31"}),
        ("a fib", {"I48.91"}),
        ("c o p d", {"J44.9"}),
        ("t i a", {"G45.9"}),
        ("alzheimer's", {"G30.9"}),
        ("brain aneurysm", {"I67.1"}),
    ],
)
def test_lay_words(index: DiagnosisIndex, phrase: str, codes: set[str]) -> None:
    match = index.match(phrase)
    assert match is not None and match.value in codes, (phrase, index.top(phrase))
    assert match.label and 0 <= match.score <= 100


@pytest.mark.parametrize(
    ("said", "code", "sure"),
    [
        ("M 54.50", "M54.50", True),
        ("M54.50", "M54.50", True),
        ("m five four point five zero", "M54.50", True),
        ("em fifty four point fifty", "M54.50", True),
        ("icd ten code m five four point five zero", "M54.50", True),
        ("R 07.9", "R07.9", True),
        ("the code is r zero seven point nine", "R07.9", True),
        ("I ten", "I10", True),
        ("eye one zero", "I10", True),
        ("i forty eight point nine one", "I48.91", True),
        ("s62.109a", "S62.109A", True),
        ("s zero six point zero ex a a", "S06.0XAA", True),
        ("c four a point nine", "C4A.9", True),
        # a category, not billable: its general billable code, read back to confirm
        ("m54.5", "M54.50", False),
        ("n twenty", "N20.9", False),
    ],
)
def test_code_utterances(index: DiagnosisIndex, said: str, code: str, sure: bool) -> None:
    match = index.match(said)
    assert match is not None and match.value == code, (said, match)
    assert (match.score >= icd.CONFIDENT) is sure


@pytest.mark.parametrize("text", ["a fib", "eye pain", "be careful", "see you later", "hello"])
def test_words_are_not_codes(text: str) -> None:
    assert parse_code(text) is None


@pytest.mark.parametrize(
    ("category", "billable"),
    [
        ("M54.5", "M54.50"),
        ("E11", "E11.9"),
        ("R51", "R51.9"),
        ("N20", "N20.9"),
        ("C34", "C34.90"),
        ("I26", "I26.99"),
        ("G43", "G43.909"),
        ("S62.109", "S62.109A"),
        ("I10", "I10"),
    ],
)
def test_category_maps_to_general_billable_code(
    index: DiagnosisIndex, category: str, billable: str
) -> None:
    assert index.billable(category) == billable


def test_results_are_billable(index: DiagnosisIndex) -> None:
    for phrase, _ in labelled()[:60]:
        for match in index.top(phrase, 3):
            assert index._cm.is_leaf(match.value), (phrase, match)


@pytest.mark.parametrize(
    "text", ["", "   ", "purple elephant", "the weather is nice", "can i talk to a person", "q"]
)
def test_nonsense(index: DiagnosisIndex, text: str) -> None:
    match = index.match(text)
    assert match is None or match.score < 60, match


def test_labelled_phrases_accuracy_and_calibration(index: DiagnosisIndex) -> None:
    rows = labelled()
    wrong, confidently_wrong = [], []
    for phrase, good in rows:
        match = index.match(phrase)
        if match is None or match.value not in good:
            wrong.append((phrase, match))
            if match is not None and match.score >= icd.CONFIDENT:
                confidently_wrong.append((phrase, match))
    assert 1 - len(wrong) / len(rows) >= 0.90, wrong
    assert len(confidently_wrong) <= 0.03 * len(rows), confidently_wrong


def test_default_index_is_built_once_across_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []

    class Slow:
        def __init__(self) -> None:
            time.sleep(0.05)
            built.append(1)

    monkeypatch.setattr(icd, "DiagnosisIndex", Slow)
    monkeypatch.setattr(icd, "_default", None)
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(default_index())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and len({id(r) for r in results}) == 1


def test_synonyms_file_is_general_vocabulary(index: DiagnosisIndex) -> None:
    with SYNONYMS_CSV.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    phrases = [r["phrase"].strip().lower() for r in rows]
    assert len(set(phrases)) == len(phrases)
    for row in rows:
        assert index._cm.is_valid_item(row["code"]) and index._cm.is_leaf(row["code"]), row

    def norm(text: str) -> str:
        return " ".join(re.findall(r"[a-z0-9]+", text.lower().replace("'", "")))

    tested = {norm(phrase) for phrase, _ in labelled()}
    copied = [p for p in phrases if norm(p) in tested]
    assert len(copied) <= 0.20 * len(phrases), copied


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.from_regex(r"[A-Za-z] ?[0-9]{1,2}(\.[0-9A-Za-z]{0,4})?"))
def test_never_raises(text: str) -> None:
    found = default_index().top(text, 3)
    assert all(0 <= m.score <= 100 for m in found)
    assert [m.score for m in found] == sorted((m.score for m in found), reverse=True)
    default_index().match(text)


# --- codes entered on the keypad: each letter by the key that carries it ----------------


@pytest.mark.parametrize(
    ("code", "keys"),
    [
        ("M54.50", "65450"),
        ("R51.9", "7519"),
        ("A00.0", "2000"),
        ("Z99.89", "99989"),
        ("S72.001A", "7720012"),  # a 7th character letter
        ("S06.0X0A", "7060902"),  # the X placeholder
        ("G40.A11", "440211"),  # a letter after the dot
        ("j01.90", "50190"),
    ],
)
def test_keypad_form_puts_each_letter_on_its_key(code: str, keys: str) -> None:
    assert icd.keypad_form(code) == keys


def test_keypad_letters_are_the_phone_keypad() -> None:
    pads = {"2": "ABC", "3": "DEF", "4": "GHI", "5": "JKL", "6": "MNO", "7": "PQRS",
            "8": "TUV", "9": "WXYZ"}  # fmt: skip
    for key, letters in pads.items():
        assert {icd.keypad_form(letter) for letter in letters} == {key}


def test_keys_for_one_billable_code_find_it(index: DiagnosisIndex) -> None:
    [found] = index.keyed("65450")
    assert (found.value, found.said) == ("M54.50", "Low back pain, unspecified")
    assert [m.value for m in index.keyed("65450#")] == ["M54.50"]


def test_keys_for_several_codes_find_each_the_likely_chapters_first(
    index: DiagnosisIndex,
) -> None:
    assert [m.value for m in index.keyed("7519")] == ["R51.9", "P51.9", "Q51.9"]
    assert [m.value for m in index.keyed("7720012")] == ["S72.001A", "S72.001B", "S72.001C"]
    assert [m.value for m in index.keyed("7060902")] == ["S06.0X0A"]


def test_every_keyed_code_is_billable_and_said_without_asides(index: DiagnosisIndex) -> None:
    for keys in ("7519", "7720012", "440211", "65450"):
        for match in index.keyed(keys):
            assert icd.keypad_form(match.value) == keys
            assert index._cm.is_leaf(match.value)
            assert "(" not in match.said and "[" not in match.said


def test_keys_for_too_many_codes_give_one_more_than_a_caller_can_choose(
    index: DiagnosisIndex,
) -> None:
    assert len(index.keyed("440211")) == icd.MAX_KEYED + 1


@pytest.mark.parametrize("keys", ["654", "11111", "", "#", "65*450", "6545O"])
def test_keys_no_billable_code_fits_find_nothing(index: DiagnosisIndex, keys: str) -> None:
    assert index.keyed(keys) == []


def test_a_description_is_said_without_its_asides() -> None:
    assert (
        icd.said_description("Localization-related (focal) (partial) epilepsy [NOS]")
        == "Localization-related epilepsy"
    )


# --- a bare general word leaves the diagnosis open (a follow-up asks which) ------------


@pytest.mark.parametrize(
    "word", ["pain", "cancer", "infection", "injury", "fracture", "tumor", "cyst", "lesion"]
)
def test_a_bare_kind_of_condition_is_left_open(index: DiagnosisIndex, word: str) -> None:
    match = index.match(word)
    assert match is not None and match.open == word


@pytest.mark.parametrize(
    "words",
    ["headache", "migraine", "stroke", "sciatica", "knee pain", "lung cancer", "R52", "M54.50"],
)
def test_a_named_condition_or_a_code_is_not_left_open(index: DiagnosisIndex, words: str) -> None:
    match = index.match(words)
    assert match is not None and match.open is None
