"""ICD-10-CM diagnoses from what a caller says: a code read out, or words for the condition.

The index covers every ICD-10-CM code in `simple_icd_10_cm` (descriptions and inclusion
terms; seventh-character extensions through their parent) plus lay terms from
`data/diagnosis_synonyms.csv`. A query's words select candidates through an inverted
index; candidates are scored by IDF-weighted recall and precision of their words, so the
most general description covering everything said wins. A non-billable category resolves
to its most general billable code (the "unspecified" one, initial encounter).

Scores: 100 for an exact code or phrase, >= 90 confident, lower: read the top choice back.
"""

from __future__ import annotations

import csv
import gc
import heapq
import math
import re
import threading
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol, cast

from rapidfuzz import fuzz, process

from ivr.match.heard import DEFAULT_TERMS, SoundIndex, load_terms, repair
from ivr.match.icd_text import LAY_WORDS, STOP, flagged_words, parse_code, words
from ivr.match.types import Match

DEFAULT_SYNONYMS = Path(__file__).resolve().parents[2] / "data" / "diagnosis_synonyms.csv"
CONFIDENT = 90.0
MIN_SCORE = 50.0
_FAR_BEHIND = 0.15  # entries this far below the best are not worth finding
_BETA2 = 2.0  # recall (everything said is covered) counts twice precision (nothing extra)
_SYNONYM_BONUS = 0.03
_CLOSE = 0.03  # a runner-up this close makes the best a guess
_RESCORE = 24  # best entries checked further
_MARKED_PRIOR = 0.93
_LOST_PENALTY = 0.3  # share of the words said that a category's billable code drops
# What callers add around a condition, dropped from what they say only.
_FILLER = STOP | frozenset(
    "patient pt some kind um uh er like having got get getting being very really bad "
    "think thinks maybe possible probably suspected rule out "
    # the sentence around the answer: "uh the doctor thinks she's been having..."
    "shes hes theyre hed shed weve doctor doc wants wanted says said thought so well keeps "
    "kept just now also ok okay yeah yes".split()
)
# Two complaints in one breath ("chest pain and shortness of breath"): the first is the
# answer, the second is offered as an additional diagnosis.
_COMPLAINTS = re.compile(r"\b(?:and also|as well as|along with|and|also|plus)\b", re.IGNORECASE)
_SIDES = frozenset({"right", "left", "bilateral"})
# Words that say little about the condition: they weigh this much of their IDF.
_GENERIC = {"unspecified": 0.2, "other": 0.5, "specified": 0.5, "site": 0.5, "part": 0.5,
            "region": 0.3}  # fmt: skip
# Words that put a condition in a special setting: a code that says one, when the caller
# did not, is a worse fit ("brain aneurysm" is not "cerebrovascular syphilis").
_MARKED = frozenset(
    "secondary congenital newborn neonatal perinatal fetal fetus maternal pregnancy puerperium "
    "childbirth juvenile postprocedural postoperative intraoperative syphilitic tuberculous "
    "drug induced alcoholic poisoning adverse underdosing sequela inflammatory personal "
    "family history screening status pathological".split()
)
_DURATION = re.compile(
    r"\b(?:for|since|over|about|the|past|last|almost|nearly|more|than|\s)*"
    r"(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|several|few|couple|[0-9]+)"
    r"(?:\s+of)?\s+(?:days?|weeks?|months?|years?)(?:\s+(?:now|ago))?\b"
)
# Chapters a caller rarely means unless saying so: pregnancy, perinatal, congenital,
# external causes.
_CHAPTER_PRIOR = {"O": 0.93, "P": 0.93, "Q": 0.93, "V": 0.85, "W": 0.85, "X": 0.85, "Y": 0.85}
# A letter is entered by the keypad key that carries it (M54.50: 6 5 4 5 0).
_KEYPAD = {
    letter: key
    for key, letters in {
        "2": "ABC", "3": "DEF", "4": "GHI", "5": "JKL",
        "6": "MNO", "7": "PQRS", "8": "TUV", "9": "WXYZ",
    }.items()
    for letter in letters
}  # fmt: skip
MAX_KEYED = 4  # candidates of one keypad entry a caller can choose from by ear
_ASIDE = re.compile(r"\s*[(\[][^)\]]*[)\]]")
# A word found in codes of this many ICD-10-CM categories (the first three characters)
# names a kind of condition, not one: "pain" (43), "infection" (115), "fracture" (33),
# "aneurysm" (16), where "headache" (10), "stroke" (9) or "sciatica" (2) name the condition.
_CATEGORY_SPREAD = 14
_RAW_WORD = re.compile(r"[a-z][a-z']*")
_import_lock = threading.Lock()
_default_lock = threading.Lock()
_default: DiagnosisIndex | None = None


class _CodeSet(Protocol):
    """The part of simple_icd_10_cm used here."""

    def get_all_codes(self, with_dots: bool) -> list[str]: ...
    def get_description(self, code: str) -> str: ...
    def get_inclusion_term(self, code: str) -> list[str]: ...
    def get_children(self, code: str) -> list[str]: ...
    def is_valid_item(self, code: str) -> bool: ...
    def is_leaf(self, code: str) -> bool: ...
    def is_chapter_or_block(self, code: str) -> bool: ...
    def is_extended_subcategory(self, code: str) -> bool: ...


def _code_set() -> _CodeSet:
    """simple_icd_10_cm, imported quietly (it calls a deprecated importlib API on import)."""
    with _import_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import simple_icd_10_cm  # type: ignore[import-untyped]

        return cast(_CodeSet, simple_icd_10_cm)


_PLAIN = frozenset(
    "unspecified other without complications complication not nos "
    "initial encounter closed fracture for of and or the with".split()
)


def _generality(
    code: str, description: str, said: set[str], parent: set[str]
) -> tuple[float, bool]:
    """How plainly a child code (description, its words) restates its parent's words
    (higher = the default to bill)."""
    desc = description.lower()
    added = {w for w in said - parent - _PLAIN if not w.startswith("no_")}
    score = 2.0 * desc.count("unspecified") - len(added)
    if "without complication" in desc:
        score += 3
    if "with unspecified" in desc:
        score -= 2
    if " without " in desc or "not intractable" in desc:
        score += 0.5
    return score, code.endswith("9")


def keypad_form(code: str) -> str:
    """The keys that enter an ICD-10-CM code: its letters by their keypad digit, no dot."""
    return "".join(_KEYPAD.get(ch, ch) for ch in code.upper() if ch.isalnum())


def said_description(description: str) -> str:
    """A description as said: ICD's (parenthesized) and [bracketed] asides left out."""
    return " ".join(_ASIDE.sub("", description).split())


def _f_measure(precision: float, recall: float) -> float:
    if precision <= 0.0 or recall <= 0.0:
        return 0.0
    return (1 + _BETA2) * precision * recall / (_BETA2 * precision + recall)


class DiagnosisIndex:
    """Speech matcher over all of ICD-10-CM (Catalog protocol: by_key/choices/hints empty)."""

    def __init__(
        self,
        synonyms: Path | str | None = DEFAULT_SYNONYMS,
        terms: Path | str | None = DEFAULT_TERMS,
    ) -> None:
        self._cm = cm = _code_set()
        entries: list[tuple[str, str, int]] = []  # (text, code, kind: 0 desc 1 incl 2 lay)
        for code in cm.get_all_codes(True):
            if cm.is_chapter_or_block(code) or cm.is_extended_subcategory(code):
                continue
            entries.append((cm.get_description(code), code, 0))
            entries.extend(
                (t, code, 1) for t in cm.get_inclusion_term(code) if "classifiable" not in t
            )
        if synonyms is not None and Path(synonyms).exists():
            with Path(synonyms).open(newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    code = (row.get("code") or "").strip().upper()
                    if (row.get("phrase") or "").strip() and cm.is_valid_item(code):
                        entries.append((row["phrase"], code, 2))
        raw = [[(w, f) for w, f in flagged_words(text) if w not in STOP] for text, _, _ in entries]
        vocab = {w for toks in raw for w, _ in toks}
        self._canon = {w: self._singular(w, vocab) for w in vocab}
        self._known = set(self._canon)
        self._by_initial: dict[str, list[str]] = {}  # known words by first letter, for typos
        for w in sorted(self._known):
            self._by_initial.setdefault(w[0], []).append(w)
        self._billable: dict[str, str] = {}
        # each code's description words, while building (for choosing billable defaults)
        self._said = {
            code: {w for w, _ in toks}
            for (_, code, kind), toks in zip(entries, raw, strict=True)
            if kind == 0
        }
        self.codes: list[str] = []  # per entry: the billable code it stands for
        self.kinds: list[int] = []
        self.tokens: list[frozenset[str]] = []
        self.optional: dict[int, frozenset[str]] = {}  # words only in (parentheses)
        self.postings: dict[str, list[int]] = {}
        self.exact: dict[frozenset[str], int] = {}
        self.priors: dict[int, float] = {}
        self.mapped: set[int] = set()  # entries of a category, standing for its billable code
        self._words_of: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        self._keyed: dict[str, list[str]] = {}  # keypad form -> billable codes
        for code in cm.get_all_codes(True):
            if not cm.is_chapter_or_block(code) and cm.is_leaf(code):
                self._keyed.setdefault(keypad_form(code), []).append(code)
        for (text, code, kind), toks in zip(entries, raw, strict=True):
            required = frozenset(self._canon[w] for w, f in toks if not f)
            extra = {self._canon[w] for w, f in toks if f} - required
            canon = required | extra if extra else required
            if not required:
                continue
            doc = len(self.codes)
            self.codes.append(self.billable(code))
            if self.codes[-1] != code:
                self.mapped.add(doc)
            self.kinds.append(kind)
            self.tokens.append(canon)
            if canon != required:
                self.optional[doc] = canon - required
            for w in canon:
                self.postings.setdefault(w, []).append(doc)
            if "classified elsewhere" in text.lower():  # a manifestation: coded second
                self.priors[doc] = 0.9
            same = self.exact.get(required)
            if same is None or kind == 2 or (same in self.mapped and doc not in self.mapped):
                self.exact[required] = doc
        self._said = {}
        n = len(self.codes)
        self.idf = {w: math.log(n / len(docs)) + 0.5 for w, docs in self.postings.items()}
        self._unknown_idf = math.log(n) + 0.5
        self.weights = [
            sum(self._weight(w) for w in toks - self.optional.get(doc, frozenset()))
            for doc, toks in enumerate(self.tokens)
        ]
        self._terms = load_terms(terms)
        self._sounds = SoundIndex(self._known, self._weight)

    def _weight(self, word: str) -> float:
        return self.idf.get(word, self._unknown_idf) * _GENERIC.get(word, 1.0)

    @staticmethod
    def _singular(word: str, vocab: set[str]) -> str:
        for cut, add in (("ies", "y"), ("es", ""), ("s", "")):
            if word.endswith(cut) and len(word) > len(cut) + 2 and word[: -len(cut)] + add in vocab:
                return word[: -len(cut)] + add
        return word

    def _description_words(self, code: str) -> set[str]:
        found = self._said.get(code)
        return set(words(self._cm.get_description(code))) if found is None else found

    def billable(self, code: str) -> str:
        """code itself when billable, else its most general billable descendant."""
        found = self._billable.get(code)
        if found is not None:
            return found
        cm = self._cm
        if cm.is_leaf(code):
            found = code
        else:
            kids = cm.get_children(code)
            initial = next((k for k in kids if len(k) == 8 and k.endswith("A")), None)
            if initial is not None and cm.is_extended_subcategory(initial):
                found = initial  # seventh character A: initial encounter
            else:
                parent = self._description_words(code)
                found = self.billable(
                    max(
                        kids,
                        key=lambda c: _generality(
                            c, cm.get_description(c), self._description_words(c), parent
                        ),
                    )
                )
        self._billable[code] = found
        return found

    def _knows(self, word: str) -> bool:
        return (
            word in self._known
            or word in LAY_WORDS
            or self._singular(word, self._known) in self._known
        )

    def _query_words(self, text: str) -> list[str]:
        return self._heard(text)[0]

    def _heard(self, text: str) -> tuple[list[str], bool]:
        """The words of what was said as the index has them, and whether any was a guess
        (a sound-alike, a misspelling put right): then the answer is read back."""
        text, guessed = repair(
            _DURATION.sub(" ", text.lower()), self._terms, self._knows, self._sounds, _FILLER
        )
        out: list[str] = []
        for word in words(text):
            if word in _FILLER:
                continue
            canon = self._canon.get(word) or self._canon.get(self._singular(word, self._known))
            if canon is None and len(word) >= 4:
                bucket = self._by_initial.get(word[0], [])
                near = process.extractOne(word, bucket, scorer=fuzz.ratio, score_cutoff=90)
                canon = self._canon[near[0]] if near else None
                guessed |= canon is not None
            out.append(canon or word)
        return list(dict.fromkeys(out)), guessed

    # -- codes read out --------------------------------------------------------------
    def _code_match(self, text: str) -> Match | None:
        code = parse_code(text)
        if code is None:
            return None
        dotted = code if len(code) == 3 else code[:3] + "." + code[3:]
        score = 100.0
        while len(dotted) >= 3 and not self._cm.is_valid_item(dotted):
            dotted, score = dotted[:-1].rstrip("."), 60.0  # a character too many: its parent
        if len(dotted) < 3:
            return None
        final = self.billable(dotted)
        if final != dotted:
            score = min(score, 80.0)  # a category, not a billable code: confirm the choice
        return Match(final, self._cm.get_description(final), score)

    # -- words ---------------------------------------------------------------------
    def top(self, text: str, n: int = 3) -> list[Match]:
        """The n best billable codes for text, best first (empty when nothing fits)."""
        if not isinstance(text, str) or not text.strip():
            return []
        said_code = self._code_match(text)
        if said_code is not None:
            return [said_code]
        found = self._top_words(text, n)
        if (not found or found[0].score < CONFIDENT) and _COMPLAINTS.search(text):
            parts = [p for p in _COMPLAINTS.split(text) if p.strip()]
            if len(parts) >= 2:
                first, second = self._top_words(parts[0], n), self._top_words(parts[1], 1)
                if first and second and first[0].value != second[0].value:
                    more = second[0] if second[0].score >= CONFIDENT else None
                    return [replace(first[0], more=more), *first[1:]]
        return found

    def _top_words(self, text: str, n: int) -> list[Match]:
        query, guessed = self._heard(text)
        if all(len(w) <= 1 for w in query):  # nothing, or a lone letter
            return []
        best: dict[str, float] = {}
        for f, doc in self._score(query):
            code = self.codes[doc]
            if f > best.get(code, 0.0):
                best[code] = f
        ranked = sorted(best.items(), key=lambda item: (-item[1], len(item[0]), item[0]))
        out: list[Match] = []
        ceiling = 100.0
        if len(ranked) > 1 and ranked[0][1] - ranked[1][1] < _CLOSE and ranked[0][1] < 1.0:
            ceiling = CONFIDENT - 1  # a close second: read the first back
        if guessed:
            ceiling = min(ceiling, CONFIDENT - 1)  # heard through a guess: read it back
        general = self._general_word(text, query)
        for code, f in ranked[:n]:
            score = ceiling = min(100.0 * f, ceiling)
            if score >= MIN_SCORE:
                description = self._cm.get_description(code)
                # A bare general word ("pain") met by an unspecified code, or by a guess
                # among its many kinds ("cyst": of the kidney?): leave it open.
                vague = general is not None and (
                    "unspecified" in description.lower() or score < CONFIDENT
                )
                out.append(
                    Match(code, description, round(score, 1), open=general if vague else None)
                )
        return out

    def _general_word(self, text: str, query: list[str]) -> str | None:
        """The caller's one word when it names a kind of condition found all over the code
        set ("pain", "cancer", "infection"), else None: more words say which one."""
        said = [w for w in _RAW_WORD.findall(_DURATION.sub(" ", text.lower())) if w not in _FILLER]
        if len(said) != 1 or not query or any(c.isdigit() for c in text):
            return None
        spread = min(len({self.codes[d][:3] for d in self.postings.get(w, ())}) for w in query)
        return said[0] if spread >= _CATEGORY_SPREAD else None

    def _score(self, query: list[str]) -> list[tuple[float, int]]:
        """(score 0-1, entry) for the best entries: IDF-weighted F-measure of the words."""
        weights = {w: self._weight(w) for w in query}
        total = sum(weights.values())
        exact = self.exact.get(frozenset(query))
        pairs = list(weights.items())
        tokens, optional, doc_weights = self.tokens, self.optional, self.weights
        scored: list[tuple[float, int]] = []
        seen: set[int] = set()
        best, rest = 0.0, total
        # Entries are scored word by word, heaviest first; stop when an entry without any
        # word used so far could not come near the best (nor reach MIN_SCORE).
        for word in sorted(weights, key=weights.__getitem__, reverse=True):
            bound = _f_measure(1.0, rest / total) + _SYNONYM_BONUS
            if bound < max(MIN_SCORE / 100.0, best - _FAR_BEHIND):
                break
            rest -= weights[word]
            for doc in self.postings.get(word, ()):
                if doc in seen:
                    continue
                seen.add(doc)
                toks = tokens[doc]
                hit = 0.0
                for w, weight in pairs:
                    if w in toks:
                        hit += weight
                extra = optional.get(doc)
                required = hit - sum(weights[w] for w in extra & weights.keys()) if extra else hit
                f = _f_measure(required / doc_weights[doc], hit / total)
                f *= _CHAPTER_PRIOR.get(self.codes[doc][0], 1.0) * self.priors.get(doc, 1.0)
                f += _SYNONYM_BONUS if self.kinds[doc] == 2 else 0.0
                f = 1.0 if doc == exact else min(f, 0.99)
                best = max(best, f)
                scored.append((f, doc))
        scored = heapq.nlargest(_RESCORE, scored)
        for i, (f, doc) in enumerate(scored):
            described, kept = self._code_words(self.codes[doc])
            # Words said that the code itself drops: a category's words its billable
            # default no longer has, or a side ("left knee") the code leaves unspecified.
            mapped = doc in self.mapped
            lost = sum(
                weight
                for w, weight in pairs
                if w not in kept and (w in _SIDES or (mapped and w in self.tokens[doc]))
            )
            f *= 1.0 - _LOST_PENALTY * lost / total
            if (described & _MARKED) - weights.keys():
                f *= _MARKED_PRIOR
            scored[i] = (f, doc)
        return scored

    def _code_words(self, code: str) -> tuple[frozenset[str], frozenset[str]]:
        """Words of a code's description, and of it with its inclusion terms."""
        found = self._words_of.get(code)
        if found is None:
            cm = self._cm
            canon = self._canon
            described = frozenset(canon.get(w, w) for w in words(cm.get_description(code)))
            included = {canon.get(w, w) for t in cm.get_inclusion_term(code) for w in words(t)}
            found = self._words_of[code] = (described, described | included)
        return found

    def match(self, text: str) -> Match | None:
        found = self.top(text, 1)
        return found[0] if found else None

    def by_key(self, digits: str) -> Match | None:
        return None  # ICD-10 codes contain letters: one entry of keys may fit several

    def keyed(self, digits: str) -> list[Match]:
        """The billable codes whose keypad form is `digits` (each letter by its key), most
        at MAX_KEYED + 1: more than a caller can choose from by ear."""
        entered = digits.strip().rstrip("#")
        found = self._keyed.get(entered, []) if entered.isdigit() else []
        # The chapters a caller rarely means (newborn, congenital) after the others.
        codes = sorted(found, key=lambda c: (-_CHAPTER_PRIOR.get(c[0], 1.0), c))[: MAX_KEYED + 1]
        return [
            Match(code, self._cm.get_description(code), 100.0, spoken=self.spoken(code))
            for code in codes
        ]

    def spoken(self, code: str) -> str:
        """A code's description as the line says it (no asides in parentheses)."""
        return said_description(self._cm.get_description(code))

    def choices(self) -> Sequence[tuple[str, str]]:
        return []

    def hints(self) -> Sequence[str]:
        return []


def default_index() -> DiagnosisIndex:
    """The process-wide index, built at first use (several seconds: call it, or warm(), at
    start-up so no caller waits) and shared by threads."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = DiagnosisIndex()
                # The code tree and the index are ~0.7 M long-lived objects: a full garbage
                # collection rescanning them pauses a request for 0.1-0.3 s. Freezing moves
                # what exists now out of the collector's generations.
                gc.freeze()
    return _default


def warm() -> threading.Thread:
    """Build the process-wide index in a background thread (e.g. when a worker starts)."""
    thread = threading.Thread(target=default_index, name="icd-index", daemon=True)
    thread.start()
    return thread


_CODE_SHAPE = re.compile(r"[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?")


def valid_code(code: str) -> str | None:
    """`code` as the store keeps it ("R51.9", upper case, dotted) when it is an ICD-10-CM
    code (a category or a billable one); None when it is not one."""
    text = code.strip().upper() if isinstance(code, str) else ""
    if not _CODE_SHAPE.fullmatch(text):
        return None
    bare = text.replace(".", "")
    dotted = bare if len(bare) == 3 else bare[:3] + "." + bare[3:]
    return dotted if _code_set().is_valid_item(dotted) else None
