"""Exam types (imaging procedure codes) matched from what a caller says or keys in.

Speech is normalized first ("m r i" -> mri, "cat scan" -> ct, "w/o" -> without), then
modality, body region and contrast are read separately. A candidate whose modality
disagrees with a said modality is dropped, one whose region disagrees is pushed down,
and the contrast variant is chosen from the contrast words (none said: prefer the plain
study). Among what remains, rapidfuzz token similarity over the description and aliases
picks the exam.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rapidfuzz import fuzz

from ivr.match.spoken import spoken_digits
from ivr.match.types import Match

# Letter names a recognizer writes for spelled acronyms ("em are eye" = MRI).
_LETTER_NAMES = {
    "em": "m", "emm": "m", "are": "r", "ar": "r", "eye": "i", "see": "c", "sea": "c",
    "cee": "c", "tee": "t", "tea": "t", "pee": "p", "ay": "a", "ee": "e", "es": "s",
}  # fmt: skip
_ACRONYMS = (
    "mrcp mra mri mr ccta ctpa cta ct pet tte tee dse pe ap iv mpi spect cmr acl fdg ls "
    "ekg ecg muga"
).split()
_WORDS = {
    "cat": "ct", "catscan": "ct", "echocardiogram": "echo", "echocardiography": "echo",
    "echocardiograms": "echo", "angio": "angiogram", "angiography": "angiogram",
    "arteriogram": "angiogram", "angiograms": "angiogram", "gad": "gadolinium",
    "noncontrast": "non", "xray": "xray", "mammogram": "mammogram", "sonogram": "ultrasound",
    "wo": "without", "w": "with",
    # what a recognizer hears for the words
    "eco": "echo", "lumber": "lumbar", "carrot": "carotid",
}  # fmt: skip
_PAIRS = {
    ("mr", "angiogram"): "mra", ("mri", "angiogram"): "mra", ("ct", "angiogram"): "cta",
    ("echo", "cardiogram"): "echo", ("x", "ray"): "xray", ("ultra", "sound"): "ultrasound",
    ("magnetic", "resonance"): "mr", ("computed", "tomography"): "ct", ("with", "o"): "without",
    ("new", "clear"): "nuclear", ("cardio", "gram"): "echo", ("echo", "gram"): "echo",
}  # fmt: skip
_STOP = frozenset(
    "i im need needs an a the of my his her their your our for to on in at me we want wants "
    "would like get getting do doing please patient pt right left scan scans study exam test "
    "imaging image images procedure order ordering requesting request is it its this that "
    "with and or from she he they them some just um uh done have has had rule out where "
    "go goes going gonna can could should be any".split()
)
_BOTH = (("with", "without"), ("without", "with"), ("pre", "post"))
_CONTRAST_WORDS = frozenset("contrast dye gadolinium definity lumason iv enhanced pre post".split())
# Modality concepts said by a token; a study must carry every concept the caller said.
_MODALITY = {
    "ct": {"ct"}, "cta": {"ct", "angio"}, "ctpa": {"ct", "angio"}, "ccta": {"ct", "angio"},
    "mri": {"mri"}, "mr": {"mri"}, "mra": {"mri", "angio"}, "mrcp": {"mri"}, "cmr": {"mri"},
    "angiogram": {"angio"}, "pet": {"pet"}, "nuclear": {"nuclear"}, "spect": {"nuclear"},
    "muga": {"nuclear"}, "thallium": {"nuclear"}, "cardiolite": {"nuclear"},
    "lexiscan": {"nuclear"}, "sestamibi": {"nuclear"}, "myoview": {"nuclear"},
    "mpi": {"nuclear"}, "echo": {"echo"}, "tte": {"echo"}, "tee": {"echo"}, "dse": {"echo"},
    "ultrasound": {"ultrasound", "echo"}, "xray": {"xray"}, "mammogram": {"xray"},
    "fluoroscopy": {"xray"}, "dexa": {"xray"},
}  # fmt: skip
_COLUMN_MODALITY = {
    "CT": {"ct"}, "CTA": {"ct", "angio"}, "MRI": {"mri"}, "MRA": {"mri", "angio"},
    "PET": {"pet"}, "NUC": {"nuclear"}, "ECHO": {"echo"},
}  # fmt: skip
_REGIONS: dict[str, tuple[str, ...]] = {
    "head": ("head", "brain", "skull", "cranial", "intracranial", "cerebral", "willis"),
    "face": ("sinus", "face", "facial", "maxillofacial", "orbit", "eye", "eye socket"),
    "neck": ("neck", "throat", "carotid", "soft tissue neck"),
    "cspine": ("cervical", "cervical spine", "c spine", "neck spine", "neck bone"),
    "tspine": ("thoracic spine", "t spine", "mid back", "middle back", "upper back", "dorsal"),
    "lspine": ("lumbar", "l spine", "ls spine", "lumbosacral", "low back", "lower back", "back"),
    "chest": ("chest", "lung", "pulmonary", "thorax", "thoracic", "rib"),
    "heart": ("heart", "cardiac", "coronary", "myocardial", "cardio"),
    "abdomen": ("abdomen", "abdominal", "belly", "stomach", "liver", "pancreas", "kidney",
                "renal", "mesenteric", "gallbladder", "spleen", "bowel", "tummy"),
    "pelvis": ("pelvis", "pelvic", "prostate", "uterus", "ovary", "bladder", "fibroid"),
    "breast": ("breast",),
    "arm": ("shoulder", "elbow", "wrist", "hand", "arm", "forearm", "rotator cuff",
            "upper extremity", "finger"),
    "leg": ("leg", "thigh", "calf", "foot", "feet", "femur", "knee", "hip", "ankle", "toe",
            "lower extremity", "meniscus", "acl", "runoff"),
    "aorta": ("aorta", "aortic", "abdominal aorta"),
    "body": ("whole body", "full body", "total body", "head to toe", "skull base to mid thigh",
             "skull base to thigh"),
}  # fmt: skip
_REGION_PHRASES: dict[str, list[tuple[tuple[str, ...], str]]] = {}
for _region, _phrases in _REGIONS.items():
    for _phrase in _phrases:
        _REGION_PHRASES.setdefault(_phrase.split()[0], []).append((tuple(_phrase.split()), _region))
for _options in _REGION_PHRASES.values():
    _options.sort(key=lambda item: -len(item[0]))
# (said, study) -> score adjustment; said None = no contrast word, "n/a" = not applicable.
_CONTRAST_ADJ: dict[str | None, dict[str, int]] = {
    None: {"none": 0, "with": -6, "both": -4},
    "none": {"none": 5, "with": -25, "both": -25},
    "with": {"none": -25, "with": 5, "both": -3, "n/a": -5},
    "both": {"none": -25, "with": -8, "both": 5, "n/a": -5},
}
MIN_SCORE = 60.0  # below this, match() says nothing fits
_MARGIN = 5.0
_REGION_MISS = 30.0
_ONLY_VARIANT_MISS = -10
_UNSAID_MODALITY = 10.0
_UNSTRUCTURED = 12.0  # no modality, region or contrast word: fuzzy words alone
_CODE_RE = re.compile(r"[A-Z]?[0-9]{4,5}")


_VARIANT_ORDER = ("none", "with", "both")


def _one_study(contrasts: list[str]) -> tuple[str, ...]:
    """A family's contrasts when they are one study's variants: each of none, with and both
    at most once, and more than one of them (not four heart ultrasounds, all "none")."""
    if len(contrasts) < 2 or len(set(contrasts)) != len(contrasts):
        return ()
    if not set(contrasts) <= set(_VARIANT_ORDER):
        return ()
    return tuple(c for c in _VARIANT_ORDER if c in contrasts)


def _stem(tok: str) -> str:
    """Plural to singular, roughly ("arteries" -> artery, "sinuses" -> sinus, "lungs" -> lung)."""
    if len(tok) <= 3 or not tok.endswith("s") or tok.endswith(("ss", "us", "is")):
        return tok
    if tok.endswith("ies"):
        return tok[:-3] + "y"
    if tok.endswith(("ses", "xes")):
        return tok[:-2]
    return tok[:-1]


def _collapse(tokens: list[str]) -> list[str]:
    """Join runs of spelled letters into known acronyms ("c t a" -> cta)."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        j = i
        letters = ""
        while j < len(tokens) and (len(tokens[j]) == 1 or tokens[j] in _LETTER_NAMES):
            letters += _LETTER_NAMES.get(tokens[j], tokens[j])
            j += 1
        parts = _split_acronyms(letters) if j - i >= 2 else None
        if parts is None:
            out.append(tokens[i])
            i += 1
        else:
            out.extend(parts)
            i = j
    return out


def _split_acronyms(letters: str) -> list[str] | None:
    """Greedy split of letters into known acronyms, or None."""
    parts: list[str] = []
    while letters:
        head = next((a for a in _ACRONYMS if letters.startswith(a)), None)
        if head is None:
            return None
        parts.append(head)
        letters = letters[len(head) :]
    return parts


def tokens(text: str) -> list[str]:
    """Canonical tokens of spoken or written exam text."""
    raw = re.findall(r"[a-z0-9]+", text.lower().replace("'", "").replace("w/o", " wo "))
    toks = [_WORDS.get(t, t) for t in _collapse(raw)]
    out: list[str] = []
    for tok in toks:
        if out and (out[-1], tok) in _PAIRS:
            out[-1:] = _PAIRS[(out[-1], tok)].split()
        else:
            out.append(tok)
    return [_stem(t) for t in out]


def _contrast(toks: list[str]) -> str | None:
    """Contrast the caller asked for: "none", "with", "both" or None (not said)."""
    kept = [t for t in toks if t not in ("and", "or", "then", "also")]
    text = " " + " ".join(kept) + " "
    if any(f" {a} {b} " in text for a, b in _BOTH):
        return "both"
    if " non " in text or " no contrast " in text or " no dye " in text or " plain " in text:
        return "none"
    for i, tok in enumerate(kept):
        if tok == "without" and (i + 1 == len(kept) or kept[i + 1] in _CONTRAST_WORDS):
            return "none"
    return "with" if any(t in _CONTRAST_WORDS for t in kept) else None


def _regions(toks: list[str]) -> set[str]:
    found: set[str] = set()
    i = 0
    while i < len(toks):
        for phrase, region in _REGION_PHRASES.get(toks[i], ()):
            if tuple(toks[i : i + len(phrase)]) == phrase:
                found.add(region)
                i += len(phrase)
                break
        else:
            if toks[i] == "spine":
                found |= {"cspine", "tspine", "lspine"}
            i += 1
    return found


def _modalities(toks: list[str]) -> set[str]:
    found: set[str] = set()
    for prev, tok in zip(["", *toks], toks, strict=False):
        if prev != "without":
            found |= _MODALITY.get(tok, set())
    return found


# How contrast is said ("without", "then with", "non-contrast"): read by _contrast(), kept
# out of the words compared, so "pre and post contrast" fits an alias said "with and without".
_CONTRAST_SAID = frozenset("without then non no plain".split())


def _core(toks: list[str]) -> str:
    return " ".join(
        t for t in toks if t not in _STOP and t not in _CONTRAST_WORDS and t not in _CONTRAST_SAID
    )


@dataclass(frozen=True)
class Said:
    """What the caller's words say: the core words, modality, region and contrast."""

    core: str
    modalities: frozenset[str]
    regions: frozenset[str]
    contrast: str | None


@dataclass(frozen=True)
class Exam:
    code: str
    label: str
    contrast: str
    modalities: frozenset[str]
    primary: frozenset[str]
    regions: frozenset[str]
    cores: tuple[str, ...]
    aliases: tuple[str, ...]
    family: tuple[str, str]
    variants: bool = False
    spoken: str | None = None  # how the line says it, when not as the label
    # The contrasts of this one study the catalog has ("none", "with", "both", in that
    # order) when it has more than one; empty when the family is not one study's variants.
    contrasts: tuple[str, ...] = ()

    def matched(self, score: float, *, open: str | None = None) -> Match:
        return Match(self.code, self.label, score, self.code, spoken=self.spoken, open=open)


class ExamCatalog:
    """Imaging exam types from rows with code, modality, body_region, contrast, description,
    spoken (optional) and aliases (`|`-separated) columns: the CSV or the same keys from the
    database."""

    def __init__(self, rows: Iterable[Mapping[str, str]], *, cutoff: float = MIN_SCORE) -> None:
        self.cutoff = cutoff
        exams: list[Exam] = []
        families: dict[tuple[str, str], set[str]] = {}
        for row in rows:
            code = (row.get("code") or "").strip().upper()
            label = (row.get("description") or "").strip()
            if not code or not label:
                continue
            aliases = tuple(a.strip() for a in (row.get("aliases") or "").split("|") if a.strip())
            texts = [tokens(t) for t in (label, *aliases)]
            primary = _COLUMN_MODALITY.get((row.get("modality") or "").upper(), set())
            modalities = primary | _modalities(texts[0])
            if "echo" in primary:
                modalities |= {"ultrasound"}
            regions = _regions(tokens(row.get("body_region") or ""))
            for toks in texts:
                regions |= _regions(toks)
            cores = tuple(dict.fromkeys(_core(toks) for toks in texts))
            contrast = (row.get("contrast") or "n/a").strip().lower()
            family = ((row.get("modality") or "").upper(), (row.get("body_region") or "").lower())
            families.setdefault(family, set()).add(contrast)
            exams.append(
                Exam(code, label, contrast, frozenset(modalities), frozenset(primary),
                     frozenset(regions), cores, aliases, family,
                     spoken=(row.get("spoken") or "").strip() or None)
            )  # fmt: skip
        # Contrast picks among variants of one study; a study with no variants is only
        # nudged down when the caller asked for a different contrast.
        counts: dict[tuple[str, str], list[str]] = {}
        for e in exams:
            counts.setdefault(e.family, []).append(e.contrast)
        self.exams = tuple(
            replace(
                e,
                variants=len(families[e.family]) > 1,
                contrasts=_one_study(counts[e.family]),
            )
            for e in exams
        )
        self._by_code = {e.code: e for e in self.exams}

    def variant(self, code: str, contrast: str) -> Match | None:
        """The exam `code`'s variant with `contrast` ("none", "with", "both"), if the catalog
        has it."""
        exam = self._by_code.get(code.upper())
        if exam is None or contrast not in exam.contrasts:
            return None
        found = next(
            (e for e in self.exams if e.family == exam.family and e.contrast == contrast), None
        )
        return found.matched(100.0) if found else None

    @classmethod
    def from_csv(cls, path: str | Path) -> ExamCatalog:
        with Path(path).open(newline="", encoding="utf-8") as fh:
            return cls(list(csv.DictReader(fh)))

    def by_key(self, digits: str) -> Match | None:
        code = re.sub(r"[\s#*.-]", "", digits or "").upper()
        exam = self._by_code.get(code)
        return exam.matched(100.0) if exam else None

    def _spoken_code(self, text: str) -> Match | None:
        """A procedure code read out ("seven two one four eight", "c 8929")."""
        raw = re.findall(r"[a-z0-9]+", text.lower())
        letter = ""
        if raw and raw[0] in ("c", "see", "sea", "cee"):
            letter, raw = "C", raw[1:]
        digits = spoken_digits(" ".join(raw)) if raw else None
        if digits and _CODE_RE.fullmatch(letter + digits):
            return self.by_key(letter + digits)
        return None

    @staticmethod
    def _score(exam: Exam, said: Said) -> float:
        """Alias similarity adjusted for modality, region and contrast agreement."""
        if said.modalities and not said.modalities <= exam.modalities:
            return 0.0
        best = 0.0
        for alias in exam.cores:
            set_ratio = fuzz.token_set_ratio(said.core, alias)
            best = max(best, 0.6 * set_ratio + 0.4 * fuzz.token_sort_ratio(said.core, alias))
        if said.modalities:  # CT said: a CT angiogram or a cardiac PET-CT is a worse fit
            best -= _UNSAID_MODALITY * len(exam.primary - said.modalities)
        if said.regions and not said.regions & exam.regions:
            best -= _REGION_MISS
        if not (said.modalities or said.regions or said.contrast) and best < 100:
            best -= _UNSTRUCTURED  # only an exact alias is sure without any of them
        adjust = _CONTRAST_ADJ[said.contrast].get(exam.contrast, 0)
        return best + (adjust if exam.variants else max(adjust, _ONLY_VARIANT_MISS))

    def top(self, text: str, n: int = 3) -> list[Match]:
        """The n best exams for text, best first, scores 0-100 (empty when nothing fits)."""
        if not isinstance(text, str):
            return []
        code = self._spoken_code(text)
        if code is not None:
            return [code]
        toks = tokens(text)
        core = _core(toks)
        if not core:
            return []
        said = Said(core, frozenset(_modalities(toks)), frozenset(_regions(toks)), _contrast(toks))
        scored = sorted(((self._score(e, said), e) for e in self.exams), key=lambda p: -p[0])
        if not scored:
            return []
        best = scored[0][0]
        margin = best - scored[1][0] if len(scored) > 1 else 100.0
        if margin < _MARGIN:  # two exams alike: a close call, not a confident match
            best -= 2 * (_MARGIN - margin)
        out: list[Match] = []
        for score, exam in scored[:n]:
            score = max(0.0, min(100.0, best, score))
            if score >= self.cutoff:
                # Said without its contrast, a study the catalog has in several: ask.
                unsaid = said.contrast is None and len(exam.contrasts) > 1
                opened = "contrast_" + "_".join(exam.contrasts) if unsaid else None
                out.append(exam.matched(round(score, 1), open=opened))
        return out

    def match(self, text: str) -> Match | None:
        found = self.top(text, 1)
        return found[0] if found else None

    def choices(self) -> Sequence[tuple[str, str]]:
        return []

    @property
    def key_digits(self) -> int | None:
        """How many keys a keyed code takes (5 for CPT), so the keypad answer ends on its
        last digit; None when the codes a keypad can enter differ in length."""
        lengths = {len(e.code) for e in self.exams if e.code.isdigit()}
        return lengths.pop() if len(lengths) == 1 else None

    def hints(self) -> Sequence[str]:
        words = ["with contrast", "without contrast", "with and without contrast", "cat scan"]
        firsts = [e.aliases[0] for e in self.exams if e.aliases]
        return list(dict.fromkeys([*firsts, *words]))[:60]
