"""Tests for ivr.match.exams: imaging exam types from keypad codes and speech."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.engine.types import Catalog
from ivr.match.exams import ExamCatalog, tokens

ROOT = Path(__file__).resolve().parent.parent
EXAMS_CSV = ROOT / "data" / "exam_types.csv"
PHRASES_CSV = Path(__file__).resolve().parent / "data" / "exam_phrases.csv"


CATALOG = ExamCatalog.from_csv(EXAMS_CSV)


@pytest.fixture(scope="module")
def catalog() -> ExamCatalog:
    return CATALOG


def code_of(catalog: ExamCatalog, text: str) -> str | None:
    match = catalog.match(text)
    return match.value if match else None


def test_is_a_catalog(catalog: ExamCatalog) -> None:
    as_protocol: Catalog = catalog  # as the engine sees it
    assert as_protocol.choices() == []


@pytest.mark.parametrize(
    ("phrase", "code"),
    [
        ("heart echo", "93306"),
        ("echo", "93306"),
        ("back MRI", "72148"),
        ("head ct", "70450"),
        ("chest ct", "71250"),
        ("see tee head", "70450"),
        ("CT of my head", "70450"),
        ("cat scan of the chest with contrast", "71260"),
        ("CT head w/o contrast", "70450"),
        ("CT head w/wo", "70470"),
        ("MRI brain w and wo", "70553"),
        ("m r i brain with gadolinium", "70552"),
        ("emm are eye of the low back", "72148"),
        ("the patient needs an mri of the lumbar spine with and without contrast", "72158"),
        ("c t a of the neck", "70498"),
        ("mr angiogram of the head", "70544"),
        ("pet scan", "78815"),
        ("p e t c t for cancer", "78815"),
        ("stress echo", "93350"),
        ("stress echo with contrast", "C8930"),
        ("cardiac echo with contrast", "C8929"),
        ("t e e", "93312"),
        ("m r c p", "74183"),
        ("ct for kidney stones", "74176"),
        ("heart mri", "75561"),
        ("ct of the heart", "75574"),
        ("ultrasound of the heart", "93306"),
    ],
)
def test_spoken_exams(catalog: ExamCatalog, phrase: str, code: str) -> None:
    match = catalog.match(phrase)
    assert match is not None and match.value == code, (phrase, match)
    assert 0 <= match.score <= 100


@pytest.mark.parametrize(
    ("phrase", "region_codes"),
    [
        ("heart echo", {"93306", "93308", "93312", "93350", "C8929", "C8930"}),
        ("heart mri", {"75561"}),
        ("heart ct", {"75574", "78431"}),
        ("head ct", {"70450", "70460", "70470", "70496"}),
        ("head mri", {"70551", "70552", "70553", "70544"}),
        ("chest ct", {"71250", "71260", "71270", "71275"}),
    ],
)
def test_heart_head_and_chest_are_not_confused(
    catalog: ExamCatalog, phrase: str, region_codes: set[str]
) -> None:
    found = catalog.top(phrase, 3)
    assert found and found[0].value in region_codes
    # whatever else is offered is a study of the same part of the body
    assert all(m.value in region_codes for m in found if m.score >= 80), found


@pytest.mark.parametrize(
    ("contrast", "code"),
    [("", "70450"), ("with contrast", "70460"), ("with and without contrast", "70470"),
     ("without contrast", "70450"), ("no dye", "70450"), ("w/o", "70450"),
     ("with dye", "70460"), ("without and with", "70470")],
)  # fmt: skip
def test_contrast_variants(catalog: ExamCatalog, contrast: str, code: str) -> None:
    assert code_of(catalog, f"ct head {contrast}") == code


def test_normalizes_recognizer_spellings() -> None:
    assert tokens("m r i of the low back")[:1] == ["mri"]
    assert tokens("see tee a head") == ["cta", "head"]
    assert tokens("cat scan with i v contrast") == ["ct", "scan", "with", "iv", "contrast"]
    assert "without" in tokens("CT head w/o")


@pytest.mark.parametrize(
    ("keys", "code"),
    [("70450", "70450"), ("72148#", "72148"), ("c8929", "C8929"), ("99999", None), ("", None)],
)
def test_keypad_codes(catalog: ExamCatalog, keys: str, code: str | None) -> None:
    match = catalog.by_key(keys)
    assert (match.value if match else None) == code
    if match:
        assert match.score == 100 and match.label


def test_spoken_procedure_code(catalog: ExamCatalog) -> None:
    match = catalog.match("seven two one four eight")
    assert match is not None and match.value == "72148" and match.score == 100
    match = catalog.match("c eight nine two nine")
    assert match is not None and match.value == "C8929"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "purple elephant", "hello", "i want to check on an order", "chest x ray",
     "mammogram"],
)  # fmt: skip
def test_nonsense_and_studies_not_covered(catalog: ExamCatalog, text: str) -> None:
    match = catalog.match(text)
    assert match is None or match.score < 70, match


def test_builds_from_database_rows() -> None:
    rows = (
        {"code": "70450", "modality": "CT", "body_region": "head", "contrast": "none",
         "description": "CT of the head without contrast", "aliases": "head CT|brain CT"},
        {"code": "93306", "modality": "ECHO", "body_region": "heart", "contrast": "none",
         "description": "Heart ultrasound (echocardiogram)", "aliases": ""},
        {"code": "", "description": "skipped: no code"},
    )  # fmt: skip
    catalog = ExamCatalog(rows)
    assert [e.code for e in catalog.exams] == ["70450", "93306"]
    assert code_of(catalog, "heart echo") == "93306"
    assert code_of(catalog, "brain ct") == "70450"


def test_hints(catalog: ExamCatalog) -> None:
    hints = catalog.hints()
    assert 0 < len(hints) <= 60
    assert len(set(hints)) == len(hints) and all(isinstance(h, str) and h for h in hints)


def test_labelled_phrases_accuracy(catalog: ExamCatalog) -> None:
    with PHRASES_CSV.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    wrong = []
    for row in rows:
        match = catalog.match(row["phrase"])
        if match is None or match.value != row["expected_code"]:
            wrong.append((row["phrase"], row["expected_code"], match))
    assert 1 - len(wrong) / len(rows) >= 0.90, wrong


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_never_raises(text: str) -> None:
    found = CATALOG.top(text, 3)
    assert all(0 <= m.score <= 100 for m in found)
    assert [m.score for m in found] == sorted((m.score for m in found), reverse=True)
    CATALOG.match(text)
    CATALOG.by_key(text)


# --- an exam said without its contrast, of a study the catalog has in several -----------


@pytest.mark.parametrize(
    ("said", "code", "left_open"),
    [
        ("MRI of the brain", "70551", "contrast_none_with_both"),
        ("CT abdomen and pelvis", "74176", "contrast_none_with_both"),
        ("lumbar MRI", "72148", "contrast_none_both"),
        ("MRI of the brain without contrast", "70551", None),
        ("chest CT with contrast", "71260", None),
        ("neck CT", "70490", None),  # one variant only
        ("echocardiogram", "93306", None),  # four heart ultrasounds are not one study's variants
        ("seven zero five five one", "70551", None),  # a code is exact
    ],
)
def test_an_unsaid_contrast_is_left_open(
    catalog: ExamCatalog, said: str, code: str, left_open: str | None
) -> None:
    match = catalog.match(said)
    assert match is not None and (match.value, match.open) == (code, left_open)


def test_a_keyed_code_leaves_nothing_open(catalog: ExamCatalog) -> None:
    match = catalog.by_key("70551")
    assert match is not None and match.open is None


@pytest.mark.parametrize(
    ("code", "contrast", "variant"),
    [("70551", "with", "70552"), ("70551", "both", "70553"), ("72148", "both", "72158"),
     ("72148", "with", None), ("70490", "with", None), ("93306", "with", None)],
)  # fmt: skip
def test_the_variant_of_a_study(
    catalog: ExamCatalog, code: str, contrast: str, variant: str | None
) -> None:
    found = catalog.variant(code, contrast)
    assert (found.value if found else None) == variant
