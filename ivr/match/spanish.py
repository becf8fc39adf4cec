"""What a Spanish-speaking caller says for an exam, a diagnosis or a plan.

Used only by a call in Spanish (`for_spanish`): the English matchers never see these words.

- Exams: Spanish words are put the English matcher's way ("resonancia magnética de la
  columna lumbar" -> "mri lumbar spine", "tac de cráneo con y sin contraste" -> "ct skull
  with and without contrast"), and each exam's Spanish names (`data/exam_types_es.csv`) are
  added, so translated, to its aliases: modality, region and contrast are read as in English,
  and the follow-up question on contrast still comes. The line says the Spanish name.
- Diagnoses: Spanish lay terms (`data/diagnosis_synonyms_es.csv`, phrase -> ICD-10-CM code;
  a code's first phrase is how the line says it), and codes read out in Spanish ("eme
  cincuenta y cuatro punto cinco", letter names and Spanish numbers).
- Plans: Spanish names of the plans (`data/plans_es.csv`) beside the English ones.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

from ivr.match.catalog import ChoiceCatalog
from ivr.match.exams import ExamCatalog
from ivr.match.spoken import spoken_digits
from ivr.match.types import Match

if TYPE_CHECKING:
    from ivr.match.icd import DiagnosisIndex

SPANISH = "es-US"
DATA = Path(__file__).resolve().parents[2] / "data"
EXAMS_ES = DATA / "exam_types_es.csv"
DIAGNOSES_ES = DATA / "diagnosis_synonyms_es.csv"
PLANS_ES = DATA / "plans_es.csv"


def is_spanish(language: str | None) -> bool:
    return str(language or "").lower().startswith("es")


def fold(text: str) -> str:
    """Lower case, accents off (ñ too), punctuation to spaces: how Spanish text is compared."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("\u2019", "'"))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.findall(r"[a-z0-9]+", plain))


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        rows = csv.DictReader(fh)
        return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in rows]


def split_multi(value: str) -> list[str]:
    return [part.strip() for part in value.split("|") if part.strip()]


# -- exams ---------------------------------------------------------------------------------
# Spanish words (folded) -> the English matcher's words; longer phrases first. A word not
# here passes through: English said in a Spanish call ("MRI", "CT", "lumbar") still counts.
_EXAM_GLOSSARY: dict[str, str] = {
    # modality
    "resonancia magnetica nuclear": "mri", "resonancia magnetica": "mri", "resonancia": "mri",
    "imagen por resonancia": "mri", "rm": "mri", "rmn": "mri", "erre eme": "mri",
    "angiorresonancia": "mra", "angioresonancia": "mra", "angio resonancia": "mra",
    "angiografia por resonancia": "mra",
    "angiotomografia": "cta", "angiotac": "cta", "angio tac": "cta", "angio tomografia": "cta",
    "angiografia por tomografia": "cta",
    "tomografia por emision de positrones": "pet",
    "tomografia axial computarizada": "ct", "tomografia computarizada": "ct",
    "tomografia computada": "ct", "tomografia": "ct", "tac": "ct", "tc": "ct", "te ce": "ct",
    "escaner": "ct", "scanner": "ct",
    "ecocardiograma": "echocardiogram", "ecocardiografia": "echocardiogram", "eco": "echo",
    "ultrasonido": "ultrasound", "ecografia": "ultrasound", "sonografia": "ultrasound",
    "sonograma": "ultrasound", "transesofagico": "tee", "transtoracico": "chest",
    "radiografia": "xray", "rayos x": "xray", "rayos equis": "xray", "placa": "xray",
    "mamografia": "mammogram", "densitometria": "dexa", "angiografia": "angiogram",
    "angiograma": "angiogram", "gammagrafia": "nuclear", "nuclear": "nuclear",
    "medicina nuclear": "nuclear", "perfusion miocardica": "myocardial perfusion",
    "perfusion": "perfusion", "esfuerzo": "stress", "estres": "stress", "ejercicio": "stress",
    "reposo": "rest", "seguimiento": "follow up", "limitado": "limited",
    "completo": "complete", "muga": "muga", "bombeo": "pumping",
    # contrast
    "sin y luego con": "without and then with", "sin y despues con": "without and then with",
    "con y sin": "with and without", "sin y con": "without and with", "con": "with",
    "sin": "without", "medio de contraste": "contrast", "contraste": "contrast",
    "contrastado": "with contrast", "contrastada": "with contrast", "tinte": "dye",
    "simple": "non", "gadolinio": "gadolinium",
    # body
    "cabeza": "head", "cerebro": "brain", "cerebral": "brain", "craneo": "skull",
    "senos paranasales": "sinus", "senos nasales": "sinus", "sinusal": "sinus",
    "huesos de la cara": "facial bones", "cara": "face", "facial": "face", "orbitas": "orbit",
    "orbita": "orbit", "ojo": "eye", "ojos": "eye", "cuello": "neck",
    "tejidos blandos": "soft tissue", "carotidas": "carotid", "carotida": "carotid",
    "columna cervical": "cervical spine", "cervical": "cervical",
    "columna dorsal": "thoracic spine", "columna toracica": "thoracic spine",
    "dorsal": "thoracic spine", "columna lumbar": "lumbar spine", "lumbar": "lumbar",
    "lumbosacra": "lumbosacral", "espalda baja": "low back", "espalda": "back",
    "columna": "spine", "torax": "chest", "toracica": "thoracic", "toracico": "thoracic",
    "pecho": "chest", "pulmones": "lung", "pulmon": "lung", "pulmonar": "lung",
    "corazon": "heart", "cardiaco": "cardiac", "cardiaca": "cardiac",
    "coronarias": "coronary", "coronaria": "coronary", "coronario": "coronary",
    "arterias": "arteries", "venas": "veins", "abdomen": "abdomen", "abdominal": "abdomen",
    "abdominopelvica": "abdomen pelvis", "abdominopelvico": "abdomen pelvis",
    "barriga": "belly", "panza": "belly", "vientre": "belly", "estomago": "stomach",
    "higado": "liver", "pancreas": "pancreas", "rinones": "kidney", "rinon": "kidney",
    "vesicula": "gallbladder", "pelvis": "pelvis", "pelvica": "pelvis", "pelvico": "pelvis",
    "prostata": "prostate", "utero": "uterus", "ovarios": "ovary", "ovario": "ovary",
    "vejiga": "bladder", "senos": "breast", "seno": "breast", "mamas": "breast",
    "mama": "breast", "mamaria": "breast", "hombro": "shoulder", "hombros": "shoulder",
    "codo": "elbow", "muneca": "wrist", "mano": "hand", "brazo": "arm",
    "piernas": "leg", "pierna": "leg", "muslo": "thigh", "pies": "foot", "pie": "foot",
    "rodilla": "knee", "rodillas": "knee", "cadera": "hip", "tobillo": "ankle",
    "menisco": "meniscus", "manguito rotador": "rotator cuff",
    "miembros inferiores": "lower extremity", "extremidades inferiores": "lower extremity",
    "miembros superiores": "upper extremity", "extremidades superiores": "upper extremity",
    "cuerpo entero": "whole body", "cuerpo completo": "whole body",
    "todo el cuerpo": "whole body", "base del craneo": "skull base", "aorta": "aorta",
    "esofago": "esophagus", "escurrimiento": "runoff", "derecha": "right", "derecho": "right",
    "izquierda": "left", "izquierdo": "left", "ambos": "both", "ambas": "both",
}  # fmt: skip
# Spanish words that say nothing about the exam.
_EXAM_DROP = frozenset(
    "de del la el los las un una unos unas al a por para favor quiero necesito necesita "
    "necesitamos queremos pedir solicitar solicito ordenar orden estudio examen prueba "
    "imagen imagenes procedimiento paciente la doctora doctor medico que se le lo es y o "
    "este esta ese esa mi su sus hacer hacerle hacerse un eh este pues bueno llamo llamando "
    "tipo como".split()
)
_LONGEST = max(len(k.split()) for k in _EXAM_GLOSSARY)
_EXAM_PHRASES = {tuple(k.split()): v for k, v in _EXAM_GLOSSARY.items()}


def exam_words(text: str) -> str:
    """Spanish exam words as the English exam matcher reads them."""
    toks = fold(text).split()
    out: list[str] = []
    i = 0
    while i < len(toks):
        for size in range(min(_LONGEST, len(toks) - i), 0, -1):
            english = _EXAM_PHRASES.get(tuple(toks[i : i + size]))
            if english is not None:
                out.append(english)
                i += size
                break
        else:
            if toks[i] not in _EXAM_DROP:
                out.append(toks[i])
            i += 1
    return " ".join(out)


class SpanishExams:
    """The exam catalog for a Spanish call: Spanish names matched, Spanish names said."""

    def __init__(self, english: ExamCatalog, spanish: Iterable[Mapping[str, str]]) -> None:
        self.labels: dict[str, str] = {}
        added: dict[str, list[str]] = {}
        firsts: list[str] = []
        for row in spanish:
            code = (row.get("code") or "").strip().upper()
            label = (row.get("description") or "").strip()
            if not code or not label:
                continue
            self.labels[code] = label
            aliases = split_multi(row.get("aliases") or "")
            added[code] = [exam_words(t) for t in (label, *aliases)]
            firsts.append(aliases[0] if aliases else label)
        self._firsts = firsts
        rows = [
            {
                "code": e.code,
                "modality": e.family[0],
                "body_region": e.family[1],
                "contrast": e.contrast,
                "description": e.label,
                "spoken": e.spoken or "",
                "aliases": "|".join([*e.aliases, *added.get(e.code, [])]),
            }
            for e in english.exams
        ]
        self._inner = ExamCatalog(rows, cutoff=english.cutoff)
        self.exams = self._inner.exams

    def _said(self, found: Match | None) -> Match | None:
        if found is None:
            return None
        label = self.labels.get(found.value)
        return replace(found, label=label, spoken=None) if label else found

    def top(self, text: str, n: int = 3) -> list[Match]:
        if not isinstance(text, str):
            return []
        return [m for m in (self._said(f) for f in self._inner.top(exam_words(text), n)) if m]

    def match(self, text: str) -> Match | None:
        found = self.top(text, 1)
        return found[0] if found else None

    def by_key(self, digits: str) -> Match | None:
        return self._said(self._inner.by_key(digits))

    def variant(self, code: str, contrast: str) -> Match | None:
        return self._said(self._inner.variant(code, contrast))

    def choices(self) -> Sequence[tuple[str, str]]:
        return []

    @property
    def key_digits(self) -> int | None:
        return self._inner.key_digits

    def hints(self) -> Sequence[str]:
        words = ["con contraste", "sin contraste", "con y sin contraste", "resonancia"]
        return list(dict.fromkeys([*self._firsts, *words]))[:60]


# -- diagnoses -----------------------------------------------------------------------------
# Letter names in Spanish, as a recognizer writes them (folded).
LETTERS: dict[str, str] = {
    "a": "A", "be": "B", "be grande": "B", "be larga": "B", "ce": "C", "se": "C", "de": "D",
    "e": "E", "efe": "F", "ge": "G", "je": "G", "hache": "H", "ache": "H", "i": "I",
    "i latina": "I", "jota": "J", "ka": "K", "ca": "K", "ele": "L", "eme": "M", "ene": "N",
    "o": "O", "pe": "P", "cu": "Q", "erre": "R", "ere": "R", "ese": "S", "te": "T", "u": "U",
    "uve": "V", "ve": "V", "ve chica": "V", "ve corta": "V", "doble ve": "W", "doble u": "W",
    "uve doble": "W", "equis": "X", "ye": "Y", "i griega": "Y", "zeta": "Z", "seta": "Z",
}  # fmt: skip
_LETTER_PHRASES = {tuple(k.split()): v for k, v in LETTERS.items()}
_CODE_LEAD = frozenset("el codigo diagnostico es icd 10 diez cm numero del la eh este".split())
_POINT = frozenset({"punto", "coma", "decimal"})
# What callers add around a condition: dropped before comparing.
_DX_DROP = frozenset(
    "el la los las un una unos unas de del al a en con por para que se le lo les su sus mi "
    "y o es esta estan tiene tienen tuvo ha han hay muy mucho mucha poco paciente pacienta "
    "senor senora doctor doctora diagnostico codigo el eh este pues bueno como tipo algo "
    "posible probable sospecha descartar creo parece presenta presentando sufre sufriendo "
    "problema problemas".split()
)
_DURATION = re.compile(
    r"\b(?:desde|hace|por|durante|mas|de|unos|unas|como|\s)*"
    r"(?:un|una|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|varios|varias|"
    r"algunos|algunas|[0-9]+)\s+(?:dias?|semanas?|mes|meses|anos?)\b"
)
CONFIDENT = 90.0
MIN_SCORE = 75.0
_CLOSE = 3.0
_TOKEN_SAME = 85  # a word said this close to a phrase's word is that word (typos, plurals)


_SOUNDS = (("ch", "\0"), ("ll", "y"), ("qu", "k"), ("ce", "se"), ("ci", "si"), ("c", "k"),
           ("z", "s"), ("v", "b"), ("h", ""), ("\0", "ch"))  # fmt: skip


def _sounds(word: str) -> str:
    """A Spanish word as it sounds: a recognizer may write "rodiya" for rodilla, "cabesa"
    for cabeza (ll/y, z/s/soft c, b/v and a silent h sound alike in US Spanish)."""
    for written, said in _SOUNDS:
        word = word.replace(written, said)
    return word


def _dx_words(text: str) -> tuple[str, ...]:
    words = fold(_DURATION.sub(" ", fold(text))).split()
    return tuple(_sounds(w) for w in words if w not in _DX_DROP)


def code_words(text: str) -> str | None:
    """An ICD-10-CM code read out in Spanish as the English code parser reads it ("eme
    cincuenta y cuatro punto cinco" -> "M 54 . 5"); None when the words are not a code."""
    toks = _code_tokens(text)
    while toks and toks[0] in _CODE_LEAD:
        toks = toks[1:]
    letter, size = _letter_at(toks, 0)
    if letter is None:
        return None
    out, i, numbers = [letter], size, list[str]()
    while i <= len(toks):
        tok = toks[i] if i < len(toks) else None
        is_number = tok is not None and (
            tok.isdigit()
            or spoken_digits(tok, SPANISH) is not None
            or (tok == "y" and bool(numbers))
            or tok in ("doble", "triple")
        )
        if numbers and not is_number:
            digits = spoken_digits(" ".join(numbers), SPANISH)
            if digits is None:
                return None
            out.append(digits)
            numbers = []
        if tok is None:
            break
        if is_number:
            numbers.append(tok)
            i += 1
        elif tok in _POINT or tok == ".":
            out.append(".")
            i += 1
        else:
            letter, size = _letter_at(toks, i)
            if letter is None:
                return None
            out.append(letter)
            i += size
    return " ".join(out) if len(out) > 1 else None


def _code_tokens(text: str) -> list[str]:
    """Folded words, numbers apart from letters ("m54.5" -> m 54 . 5), dots kept."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.findall(r"[a-z]+|[0-9]+|\.(?=\s*[0-9a-z])", plain)


def _letter_at(toks: list[str], i: int) -> tuple[str | None, int]:
    for size in (2, 1):
        found = _LETTER_PHRASES.get(tuple(toks[i : i + size])) if i + size <= len(toks) else None
        if found is not None:
            return found, size
    if i < len(toks) and len(toks[i]) == 1 and toks[i].isalpha():
        return toks[i].upper(), 1
    return None, 0


def said_code(code: str) -> str:
    """How the line says a code it has no Spanish name for: "código M 54.50"."""
    head, tail = code[:1], code[1:]
    return f"código {head} {tail}"


class SpanishDiagnoses:
    """Diagnoses for a Spanish call: Spanish lay terms and codes read out in Spanish; the
    English index for the codes themselves (validity, billable code, keypad entries)."""

    def __init__(self, english: DiagnosisIndex, spanish: Iterable[Mapping[str, str]]) -> None:
        self._english = english
        self.labels: dict[str, str] = {}
        self._phrases: list[tuple[tuple[str, ...], str]] = []
        self._exact: dict[tuple[str, ...], str] = {}
        for row in spanish:
            phrase, code = (row.get("phrase") or "").strip(), (row.get("code") or "").strip()
            words = _dx_words(phrase)
            if not words or not code:
                continue
            self.labels.setdefault(code, phrase)
            self._phrases.append((words, code))
            self._exact.setdefault(tuple(sorted(words)), code)
        # Every word of the Spanish table: an answer without any of them was said in English.
        self._spanish_words = frozenset(w for words, _ in self._phrases for w in words) | _DX_DROP

    def _said(self, code: str, score: float) -> Match:
        label = self.labels.get(code) or said_code(code)
        return Match(code, label, score)

    def top(self, text: str, n: int = 3) -> list[Match]:
        if not isinstance(text, str) or not text.strip():
            return []
        spoken_code = code_words(text)
        if spoken_code is not None:
            found = self._english.top(spoken_code, 1)
            return [self._said(m.value, m.score) for m in found]
        said = _dx_words(text)
        if not said:
            return []
        exact = self._exact.get(tuple(sorted(said)))
        if exact is not None:
            return [self._said(exact, 100.0)]
        return self._phrased(said, n) or self._in_english(text, n)

    def _in_english(self, text: str, n: int) -> list[Match]:
        """Words the Spanish table lacks, said the English way ("low back pain"). Spanish words
        among them: read back, since a Spanish sentence may share a word with a rare English
        term; only English words: as sure as the English matcher is."""
        english = not {_sounds(w) for w in fold(text).split()} & self._spanish_words
        out: list[Match] = []
        for found in self._english.top(text, n):
            if found.score >= CONFIDENT and not found.open:
                label = self.labels.get(found.value) or found.label
                score = found.score if english else CONFIDENT - 1
                out.append(Match(found.value, label, score, spoken=found.spoken))
        return out

    def _phrased(self, said: tuple[str, ...], n: int) -> list[Match]:
        best: dict[str, float] = {}
        for words, code in self._phrases:
            score = _cover(words, said)
            if score > best.get(code, 0.0):
                best[code] = score
        ranked = sorted(best.items(), key=lambda item: -item[1])[:n]
        out: list[Match] = []
        for rank, (code, score) in enumerate(ranked):
            if rank == 0 and len(ranked) > 1 and ranked[1][1] >= score - _CLOSE:
                score = min(score, CONFIDENT - 1)  # two conditions alike: read it back
            if score >= MIN_SCORE:
                out.append(self._said(code, round(score, 1)))
        return out

    def match(self, text: str) -> Match | None:
        found = self.top(text, 1)
        return found[0] if found else None

    def by_key(self, digits: str) -> Match | None:
        return None

    def keyed(self, digits: str) -> list[Match]:
        return [self._said(m.value, m.score) for m in self._english.keyed(digits)]

    def spoken(self, code: str) -> str:
        return self.labels.get(code) or said_code(code)

    def choices(self) -> Sequence[tuple[str, str]]:
        return []

    def hints(self) -> Sequence[str]:
        return list(dict.fromkeys(self.labels.values()))[:40]


def _cover(phrase: tuple[str, ...], said: tuple[str, ...]) -> float:
    """0-100: how much of a phrase the caller said (most), and of what the caller said the
    phrase covers (some): "dolor de espalda baja" covers "dolor de espalda" but not the
    other way round."""
    found = 0.0
    used: set[int] = set()
    for word in phrase:
        best, at = 0.0, -1
        for i, other in enumerate(said):
            if i in used:
                continue
            ratio = 100.0 if word == other else fuzz.ratio(word, other)
            if ratio > best:
                best, at = ratio, i
        if best >= _TOKEN_SAME:
            found += best / 100
            used.add(at)
    recall = found / len(phrase)
    precision = found / len(said)
    return 100 * (0.8 * recall + 0.2 * precision)


# -- plans ---------------------------------------------------------------------------------
def spanish_plans(english: ChoiceCatalog, spanish: Iterable[Mapping[str, str]]) -> ChoiceCatalog:
    """The plans with their Spanish names added (the keys and names stay)."""
    extra = {
        (row.get("code") or "").strip().upper(): tuple(split_multi(row.get("aliases") or ""))
        for row in spanish
    }
    return ChoiceCatalog(
        (replace(e, aliases=(*e.aliases, *extra.get(e.value, ()))) for e in english.entries),
        cutoff=english.cutoff,
    )


# -- one place the catalogs become Spanish -------------------------------------------------
@functools.cache
def rows_of(path: Path) -> tuple[dict[str, str], ...]:
    """A Spanish data file's rows, read once per process."""
    return tuple(read_rows(path))


def for_spanish(name: str, catalog: object) -> object:
    """The Spanish form of catalog `name` (plans, exams, diagnoses); others as they are."""
    from ivr.match.icd import DiagnosisIndex

    if name == "plans" and isinstance(catalog, ChoiceCatalog):
        return spanish_plans(catalog, rows_of(PLANS_ES))
    if name == "exams" and isinstance(catalog, ExamCatalog):
        return SpanishExams(catalog, rows_of(EXAMS_ES))
    if name == "diagnoses" and isinstance(catalog, DiagnosisIndex):
        return _spanish_diagnoses(catalog)
    return catalog


_diagnoses: dict[int, SpanishDiagnoses] = {}


def _spanish_diagnoses(english: DiagnosisIndex) -> SpanishDiagnoses:
    found = _diagnoses.get(id(english))
    if found is None or found._english is not english:
        found = _diagnoses[id(english)] = SpanishDiagnoses(english, rows_of(DIAGNOSES_ES))
    return found
