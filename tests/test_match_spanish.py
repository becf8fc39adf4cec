"""Tests for ivr.match.spanish: exams, diagnoses, codes and plans as Spanish-speaking callers
say them, and English matching left as it was."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.engine.types import Catalog
from ivr.match.catalog import ChoiceCatalog, Entry
from ivr.match.exams import ExamCatalog
from ivr.match.icd import CONFIDENT, DiagnosisIndex, default_index
from ivr.match.spanish import (
    DIAGNOSES_ES,
    EXAMS_ES,
    PLANS_ES,
    SpanishDiagnoses,
    SpanishExams,
    code_words,
    exam_words,
    rows_of,
    spanish_plans,
)

ROOT = Path(__file__).resolve().parent.parent
ENGLISH_EXAMS = ExamCatalog.from_csv(ROOT / "data" / "exam_types.csv")
EXAMS = SpanishExams(ENGLISH_EXAMS, rows_of(EXAMS_ES))


@pytest.fixture(scope="module")
def index() -> DiagnosisIndex:
    return default_index()


@pytest.fixture(scope="module")
def diagnoses(index: DiagnosisIndex) -> SpanishDiagnoses:
    return SpanishDiagnoses(index, rows_of(DIAGNOSES_ES))


def plans() -> tuple[ChoiceCatalog, ChoiceCatalog]:
    with (ROOT / "data" / "plans.csv").open(encoding="utf-8") as fh:
        english = ChoiceCatalog(
            Entry(r["code"], r["name"], r["dtmf_key"], tuple(r["aliases"].split("|")))
            for r in csv.DictReader(fh)
        )
    return english, spanish_plans(english, rows_of(PLANS_ES))


def code_of(catalog: Catalog, text: str) -> str | None:
    found = catalog.match(text)
    return found.value if found else None


def test_they_are_catalogs(diagnoses: SpanishDiagnoses) -> None:
    exams: Catalog = EXAMS
    dx: Catalog = diagnoses
    assert exams.choices() == [] and dx.choices() == [] and dx.by_key("7519") is None


# --- exams ------------------------------------------------------------------------------


def test_every_exam_has_a_spanish_name_and_is_found_by_it() -> None:
    names = {r["code"]: r["description"] for r in rows_of(EXAMS_ES)}
    assert set(names) == {e.code for e in ENGLISH_EXAMS.exams}
    for code, name in names.items():
        found = EXAMS.match(name)
        assert found is not None and found.value == code, (name, found)
        assert found.said == name  # the line says it in Spanish
        assert "(" not in name


def test_every_spanish_alias_finds_its_exam_or_its_study() -> None:
    for row in rows_of(EXAMS_ES):
        for alias in row["aliases"].split("|"):
            found = EXAMS.match(alias)
            assert found is not None, alias
            family = {e.family for e in EXAMS.exams if e.code == row["code"]}
            assert {e.family for e in EXAMS.exams if e.code == found.value} == family, alias


@pytest.mark.parametrize(
    ("said", "code", "asks_contrast"),
    [
        ("resonancia magnética de la columna lumbar", "72148", True),
        ("una resonancia de la columna lumbar", "72148", True),
        ("resonancia lumbar con y sin contraste", "72158", False),
        ("tomografía de tórax", "71250", True),
        ("tac de tórax con contraste", "71260", False),
        ("tac de cráneo sin contraste", "70450", False),
        ("tomografía computarizada de la cabeza con y sin contraste", "70470", False),
        ("tomografía de abdomen y pelvis con contraste", "74177", False),
        ("angiotac de tórax", "71275", False),
        ("angiotomografía coronaria", "75574", False),
        ("resonancia de la rodilla derecha", "73721", False),
        ("resonancia del hombro izquierdo", "73221", False),
        ("ecocardiograma", "93306", False),
        ("ecocardiograma transesofágico", "93312", False),
        ("eco de estrés", "93350", False),
        ("prueba de esfuerzo nuclear", "78452", False),
        ("pet ct de cuerpo entero", "78816", False),
        ("angiorresonancia del cuello", "70547", False),
        ("resonancia de mamas", "77049", False),
        ("MRI lumbar spine", "72148", True),  # English words in a Spanish call
    ],
)
def test_exams_said_in_spanish(said: str, code: str, asks_contrast: bool) -> None:
    found = EXAMS.match(said)
    assert found is not None and found.value == code, found
    assert (found.open is not None) == asks_contrast


def test_contrast_variants_and_keys_are_named_in_spanish() -> None:
    found = EXAMS.variant("72148", "both")
    assert found is not None and (found.value, found.said) == (
        "72158",
        "resonancia magnética de la columna lumbar sin y luego con contraste",
    )
    keyed = EXAMS.by_key("70450")
    assert keyed is not None and keyed.said == "tomografía de la cabeza sin contraste"
    assert EXAMS.key_digits == ENGLISH_EXAMS.key_digits


def test_spanish_exam_words_read_the_english_way() -> None:
    assert exam_words("Resonancia magnética de la columna lumbar") == "mri lumbar spine"
    assert exam_words("TAC de cráneo con y sin contraste") == ("ct skull with and without contrast")
    assert exam_words("rayos x del pecho") == "xray chest"


def test_english_exam_matching_does_not_take_spanish_names() -> None:
    assert code_of(ENGLISH_EXAMS, "tac de cráneo con y sin contraste") != "70470"
    assert code_of(ENGLISH_EXAMS, "ecocardiograma transesofágico") is None


# --- diagnoses --------------------------------------------------------------------------


def test_the_spanish_lay_terms_are_common_billable_codes(index: DiagnosisIndex) -> None:
    rows = rows_of(DIAGNOSES_ES)
    codes = {r["code"] for r in rows}
    assert len(codes) >= 40
    for code in codes:
        assert index.billable(code) == code, code
    # No rare chapter for a lay phrase: pregnancy, perinatal, congenital, external causes.
    assert not {c for c in codes if c[0] in "OPQVWXY"}


def test_every_spanish_phrase_finds_its_code(diagnoses: SpanishDiagnoses) -> None:
    for row in rows_of(DIAGNOSES_ES):
        found = diagnoses.match(row["phrase"])
        assert found is not None and found.value == row["code"], (row, found)
        assert found.score >= CONFIDENT


@pytest.mark.parametrize(
    ("said", "code", "label"),
    [
        ("dolor de espalda baja", "M54.50", "dolor lumbar"),
        ("la paciente tiene dolor de espalda baja desde hace tres semanas", "M54.50", None),
        ("dolor de cabeza", "R51.9", "dolor de cabeza"),
        ("dolor de pecho", "R07.9", None),
        ("falta de aire", "R06.02", None),
        ("tiene mareos", "R42", None),
        ("convulsiones", "R56.9", None),
        ("migrana", "G43.909", None),  # the tilde lost on the way
        ("dolor de rodiya", "M25.569", "dolor de rodilla"),  # written as it sounds
        ("dolor de cabesa", "R51.9", None),
        ("convulciones", "R56.9", None),
        ("piedras en el riñón", "N20.0", None),
        ("un bulto en el seno", "N63.0", None),
        ("dolor de cabeza y mareos", "R51.9", None),  # two complaints: the first
    ],
)
def test_diagnoses_said_in_spanish(
    diagnoses: SpanishDiagnoses, said: str, code: str, label: str | None
) -> None:
    found = diagnoses.match(said)
    assert found is not None and found.value == code, found
    assert found.score >= CONFIDENT
    if label:
        assert found.said == label


@pytest.mark.parametrize(
    ("said", "code", "sure"),
    [
        ("eme cincuenta y cuatro punto cinco cero", "M54.50", True),
        ("eme cincuenta y cuatro punto cinco", "M54.50", False),  # a category: confirmed
        ("el código es erre cincuenta y uno punto nueve", "R51.9", True),
        ("erre cero seis punto cero dos", "R06.02", True),
        ("ese setenta y dos punto cero cero nueve a", "S72.009A", True),
        ("i diez", "I10", True),
        ("jota cuarenta y cuatro punto nueve", "J44.9", True),
        ("ge cuarenta y tres punto nueve cero nueve", "G43.909", True),
        ("hache noventa y uno punto nueve cero", "H91.90", True),
        ("ce cincuenta punto nueve uno nueve", "C50.919", True),
        ("de cuarenta y nueve punto seis", "D49.6", True),
        ("ka ochenta punto dos cero", "K80.20", True),
        ("ene veinte punto cero", "N20.0", True),
        ("M54.50", "M54.50", True),
    ],
)
def test_codes_read_out_in_spanish(
    diagnoses: SpanishDiagnoses, said: str, code: str, sure: bool
) -> None:
    found = diagnoses.match(said)
    assert found is not None and found.value == code, found
    assert (found.score >= CONFIDENT) is sure


@pytest.mark.parametrize(
    ("said", "letters"),
    [
        ("uve cero uno", "V 01"),
        ("doble ve diez", "W 10"),
        ("equis cincuenta y ocho", "X 58"),
        ("zeta cero cero punto cero cero", "Z 00 . 00"),
        ("i griega noventa y tres", "Y 93"),
        ("efe treinta y dos punto a", "F 32 . A"),
        ("ele cuarenta", "L 40"),
        ("o cero nueve", "O 09"),
        ("pe cero siete", "P 07"),
        ("cu sesenta y cinco", "Q 65"),
        ("te ochenta", "T 80"),
        ("u cero siete", "U 07"),
        ("a cero nueve", "A 09"),
        ("be veinte", "B 20"),
        ("e once punto nueve", "E 11 . 9"),
    ],
)
def test_spanish_letter_names(said: str, letters: str) -> None:
    assert code_words(said) == letters


@pytest.mark.parametrize("words", ["dolor de cabeza", "hola", "no sé", "", "a veces dolor"])
def test_words_are_not_codes(words: str) -> None:
    assert code_words(words) is None


def test_a_code_without_a_spanish_name_is_said_by_its_code(diagnoses: SpanishDiagnoses) -> None:
    found = diagnoses.match("eme diecisiete punto uno uno")  # M17.11, no Spanish name
    assert found is not None and (found.value, found.said) == ("M17.11", "código M 17.11")


def test_keyed_codes_are_named_in_spanish(diagnoses: SpanishDiagnoses) -> None:
    [found] = [m for m in diagnoses.keyed("65450") if m.value == "M54.50"]
    assert found.said == "dolor lumbar"


@pytest.mark.parametrize("said", ["dolor", "hola", "no sé", "quiero una cita"])
def test_nothing_confident_for_what_is_no_diagnosis(diagnoses: SpanishDiagnoses, said: str) -> None:
    found = diagnoses.match(said)
    assert found is None or found.score < CONFIDENT


def test_english_said_in_a_spanish_call(diagnoses: SpanishDiagnoses) -> None:
    found = diagnoses.match("low back pain")  # all English: as sure as in English
    assert found is not None and found.value == "M54.50" and found.score >= CONFIDENT
    assert found.said == "dolor lumbar"
    found = diagnoses.match("headache")
    assert found is not None and found.value == "R51.9" and found.score >= CONFIDENT
    # English and Spanish words together: read back for a yes or no.
    found = diagnoses.match("el paciente tiene migraine headache")
    assert found is None or found.score < CONFIDENT


def test_english_diagnosis_matching_does_not_take_spanish_words(index: DiagnosisIndex) -> None:
    for said in ("dolor de cabeza", "falta de aire", "eme cincuenta y cuatro punto cinco"):
        found = index.match(said)
        assert found is None or found.score < CONFIDENT, (said, found)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_never_raises(text: str) -> None:
    SpanishExams.top(EXAMS, text)
    code_words(text)
    exam_words(text)


# --- plans ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "code"),
    [
        ("el plan summit", "SUMMIT"),
        ("preri", "PRAIRIE"),
        ("medicaid lakeshore", "LAKESHORE"),
        ("harbor familia", "HARBOR"),
        ("pinnacle azul", "PINNACLE"),
        ("Cedar Valley", "CEDAR"),
    ],
)
def test_plans_said_in_spanish(said: str, code: str) -> None:
    _english, spanish = plans()
    assert code_of(spanish, said) == code


def test_english_plan_matching_does_not_take_spanish_names() -> None:
    english, spanish = plans()
    assert code_of(english, "pinnacle azul") != code_of(spanish, "pinnacle azul") or (
        code_of(english, "preri") is None
    )
    assert [e.key for e in english.entries] == [e.key for e in spanish.entries]
    assert all(not set(e.aliases) & {"preri", "harbor familia"} for e in english.entries)
