"""What a phone recognizer hands over, put right before matching a diagnosis.

A recognizer writes a clinician's abbreviation as letters ("s o b", "a fib"), splits a
medical word into ordinary ones ("new monia", "high per tension") or misspells it
("osteoperosis"). Three repairs, in order:

- abbreviations and known sound-alikes from `data/spoken_terms.csv` (said, meant, kind)
  become the words they stand for ("chf" -> congestive heart failure); a sound-alike
  ("ammonia" -> pneumonia) is a guess;
- a run of words that together sound like one known word becomes that word ("a trial"
  -> atrial);
- an unknown word becomes the known word that sounds the same (`sound_key`), the closest
  in spelling among them.

The last two are guesses too: a caller who was heard through one is read the answer back.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz

from ivr.match.icd_text import join_letters

DEFAULT_TERMS = Path(__file__).resolve().parents[2] / "data" / "spoken_terms.csv"
_TOKEN = re.compile(r"[a-z0-9]+")
MAX_RUN = 4  # words a recognizer splits one word into ("die a beat ease")
_MIN_KEY = 3  # sound keys shorter than this say too little to repair by
_MIN_SIMILAR = 55.0  # spelling similarity a same-sounding word still needs
_MIN_JOINED = 68.0  # and words said together, to be taken as one
_STARTS = (("pn", "n"), ("ps", "s"), ("kn", "n"), ("wr", "r"), ("gn", "n"))
_GROUPS = (
    ("sch", "sk"), ("ph", "f"), ("gh", ""), ("th", "t"), ("sh", "s"), ("ch", "k"),
    ("ck", "k"), ("qu", "k"), ("x", "ks"), ("dg", "j"),
)  # fmt: skip
_SOFT = re.compile(r"c(?=[eiy])")
_SOFT_G = re.compile(r"g(?=[eiy])")
_VOWELS = re.compile(r"[aeiouyhw]")
_REPEAT = re.compile(r"(.)\1+")


def sound_key(word: str) -> str:
    """The consonants a word sounds with: "pneumonia" and "newmonia" -> nmn, "sciatica" and
    "sighattica" -> stk, "hypertension" and "hypertenshun" -> prtnsn."""
    w = "".join(_TOKEN.findall(word.lower()))
    for start, sound in _STARTS:
        if w.startswith(start):
            w = sound + w[len(start) :]
    for group, sound in _GROUPS:
        w = w.replace(group, sound)
    w = _SOFT.sub("s", w).replace("c", "k").replace("q", "k").replace("z", "s")
    w = _SOFT_G.sub("j", w)
    return _REPEAT.sub(r"\1", _VOWELS.sub("", w))


@dataclass(frozen=True)
class Term:
    meant: str
    guess: bool  # a sound-alike: read back what it leads to


def load_terms(path: Path | str | None = DEFAULT_TERMS) -> dict[tuple[str, ...], Term]:
    """said words -> what they stand for, from a CSV with said, meant and kind columns."""
    if path is None or not Path(path).exists():
        return {}
    with Path(path).open(newline="", encoding="utf-8") as fh:
        return {
            tuple(_TOKEN.findall(row["said"].lower())): Term(
                row["meant"].strip().lower(), (row.get("kind") or "").strip() == "sound_alike"
            )
            for row in csv.DictReader(fh)
            if row.get("said") and row.get("meant")
        }


class SoundIndex:
    """Known words by their sound key, to put a misheard word right."""

    def __init__(self, known: Iterable[str], weight: Callable[[str], float]) -> None:
        self._by_key: dict[str, list[str]] = {}
        for word in known:
            key = sound_key(word)
            if len(key) >= _MIN_KEY and word.isalpha():
                self._by_key.setdefault(key, []).append(word)
        self._weight = weight

    def find(self, heard: str) -> str | None:
        """The known word that sounds like `heard` and is spelled most like it; among words
        spelled alike the commoner (lower weight)."""
        found = self._by_key.get(sound_key(heard))
        if not found:
            return None
        _, word = max((fuzz.ratio(heard, w) - self._weight(w), w) for w in found)
        return word if fuzz.ratio(heard, word) >= _MIN_SIMILAR else None


def repair(
    text: str,
    terms: Mapping[tuple[str, ...], Term],
    known: Callable[[str], bool],
    sounds: SoundIndex,
    keep: frozenset[str] = frozenset(),
) -> tuple[str, bool]:
    """`text` with abbreviations spelled out and misheard words put right, and whether any
    repair was a guess. `known`: a word the matcher knows; `keep`: words never repaired nor
    joined (fillers, small words)."""
    toks = join_letters(_TOKEN.findall(text.lower().replace("'", "").replace("\u2019", "")))
    out: list[str] = []
    guessed = False
    longest = max((len(k) for k in terms), default=1)
    i = 0
    while i < len(toks):
        for size in range(min(longest, len(toks) - i), 0, -1):
            term = terms.get(tuple(toks[i : i + size]))
            if term is None and size == 1 and toks[i].startswith("a") and len(toks[i]) > 2:
                term = terms.get((toks[i][1:],))  # "a t i a": the article joined on
                term = term if term is not None and not known(toks[i]) else None
            if term is not None:
                out.append(term.meant)
                guessed |= term.guess
                i += size
                break
        else:
            joined = _joined(toks, i, known, sounds, keep)
            if joined is not None:
                word, size = joined
                out.append(word)
                guessed = True
                i += size
                continue
            tok = toks[i]
            if not known(tok) and tok not in keep and len(tok) >= 4 and tok.isalpha():
                near = sounds.find(tok)
                if near is not None:
                    out.append(near)
                    guessed = True
                    i += 1
                    continue
            out.append(tok)
            i += 1
    return " ".join(out), guessed


def _joined(
    toks: list[str],
    i: int,
    known: Callable[[str], bool],
    sounds: SoundIndex,
    keep: frozenset[str],
) -> tuple[str, int] | None:
    """A known word that words i.. said together sound like, when not every one of them is a
    known word of its own ("chest pain" stays two words)."""
    for size in range(min(MAX_RUN, len(toks) - i), 1, -1):
        run = toks[i : i + size]
        if not all(t.isalpha() for t in run) or any(t in keep and len(t) > 2 for t in run[1:]):
            continue  # "pain in the head" is words of their own; "die a beat ease" is one
        if all(known(t) and len(t) >= 4 for t in run):
            continue
        joined = "".join(run)
        if known(joined):
            return joined, size
        if run[0] in keep:  # "a kidney" is not "akidney": only a word exactly ("a trial")
            continue
        near = sounds.find(joined)
        if near is not None and len(near) >= 6 and near not in run:
            if fuzz.ratio(joined, near) >= _MIN_JOINED:
                return near, size
    return None
