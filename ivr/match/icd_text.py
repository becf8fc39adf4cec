"""Words and codes as the diagnosis matcher compares them, from ICD-10-CM's text and from
what callers say: lay words put the ICD way ("broken" -> fracture), spelled letters joined,
nonessential modifiers flagged, and an ICD-10-CM code read out ("M 54 point 50").
"""

from __future__ import annotations

import re

from ivr.match.spoken import TEENS, TENS, UNITS, spoken_digits

STOP = frozenset(
    "a an the of and or in on at to for by from with due my i im ive have has had "
    "is are was been be it its this that he she his her their they nos".split()
)
_LAY = {
    "hurts": "pain", "hurt": "pain", "hurting": "pain", "ache": "pain", "aches": "pain",
    "aching": "pain", "achy": "pain", "sore": "pain", "soreness": "pain", "painful": "pain",
    "broken": "fracture", "broke": "fracture", "break": "fracture", "fractured": "fracture",
    "cracked": "fracture", "tumor": "neoplasm", "tumour": "neoplasm", "tumors": "neoplasm",
    "cancer": "malignant neoplasm", "cancers": "malignant neoplasm", "torn": "tear",
    "malignancy": "malignant neoplasm", "stones": "calculus", "stone": "calculus",
    "ii": "2", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    # one word for an organ, whether the text says the noun or the adjective
    "lower": "low", "pancreatic": "pancreas", "hepatic": "liver", "renal": "kidney",
    "pulmonary": "lung", "cardiac": "heart", "gastric": "stomach", "cerebral": "brain",
    "spinal": "spine", "abdominal": "abdomen", "pelvic": "pelvis", "colonic": "colon",
    "rectal": "rectum", "ovarian": "ovary", "uterine": "uterus", "prostatic": "prostate",
    "mammary": "breast", "vertebral": "vertebra", "intestinal": "intestine",
    "esophageal": "esophagus", "bronchial": "bronchus", "femoral": "femur",
    "ureteral": "ureter", "trouble": "difficulty", "blurry": "blurred", "sprained": "sprain",
    "strained": "strain", "enlargement": "enlarged", "swollen": "swelling",
}  # fmt: skip
_NEGATED = re.compile(r"\b((?:without|not) [^,;()\[\]]*?)(?=,|;|$|\bwith\b|\(|\[)")
_NEGATORS = frozenset({"without", "not", "no"})
_BACK = {("low", "back"): "lumbar", ("mid", "back"): "thoracic", ("middle", "back"): "thoracic",
         ("upper", "back"): "thoracic"}  # fmt: skip
_BOILERPLATE = re.compile(r"\b(not elsewhere classified|not otherwise specified|nos)\b")
_LETTER_NAMES = {
    "eye": "i", "see": "c", "sea": "c", "cee": "c", "bee": "b", "be": "b", "dee": "d",
    "ee": "e", "ef": "f", "eff": "f", "gee": "g", "aitch": "h", "jay": "j", "kay": "k",
    "el": "l", "em": "m", "en": "n", "oh": "o", "pee": "p", "cue": "q", "queue": "q",
    "are": "r", "ar": "r", "es": "s", "ess": "s", "tee": "t", "tea": "t", "you": "u",
    "vee": "v", "ex": "x", "why": "y", "zee": "z", "zed": "z",
}  # fmt: skip
_CODE_FILLER = frozenset("code diagnosis dx is its the um uh number".split())
_CODE_PREFIX = re.compile(r"^\s*(?:i\s*c\s*d|icd)(?:[\s-]*(?:10|ten))?(?:[\s-]*cm)?\b")
_NUMBER_WORDS = frozenset([*UNITS, *TEENS, *TENS, "double", "triple", "hundred"])
_SEPARATORS = frozenset(". point dot decimal".split())
_TOKEN = re.compile(r"[()\[\]]|[a-z0-9]+")
_WORD = re.compile(r"[a-z0-9]+")
_CODE_RE = re.compile(r"[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}")


def join_letters(toks: list[str]) -> list[str]:
    """Runs of single letters become one word ("c o p d" -> copd)."""
    out: list[str] = []
    run: list[str] = []
    for tok in [*toks, ""]:
        if len(tok) == 1 and tok.isalpha():
            run.append(tok)
            continue
        out.extend(["".join(run)] if len(run) >= 2 else run)
        run = []
        if tok:
            out.append(tok)
    return out


def words(text: str) -> list[str]:
    """Lower-case words of text, spelled letters joined, lay words put the ICD way."""
    return [w for w, _ in flagged_words(text)]


def flagged_words(text: str) -> list[tuple[str, bool]]:
    """words() of text, each with True when it was in (parentheses) or [brackets]: ICD's
    nonessential modifiers, which may be said but need not be."""
    folded = _BOILERPLATE.sub(" ", text.lower().replace("'", "").replace("\u2019", ""))
    # "without X" and "not X" name the usual case: words a caller need not say.
    folded = _NEGATED.sub(r"(\1)", folded)
    flags: list[bool] | None = None
    if "(" in folded or "[" in folded:
        toks, flags, depth = [], [], 0
        for tok in _TOKEN.findall(folded):
            if tok in ("(", "["):
                depth += 1
            elif tok in (")", "]"):
                depth = max(0, depth - 1)
            else:
                toks.append(tok)
                flags.append(depth > 0)
    else:
        toks = _WORD.findall(folded)
    if any(len(t) == 1 for t in toks):
        joined = join_letters(toks)
        flags = flags if len(joined) == len(toks) else None
        toks = joined
    out: list[tuple[str, bool]] = []
    for i, tok in enumerate(toks):
        flag = flags[i] if flags else False
        lay = _LAY.get(tok)
        if lay is None:
            out.append((tok, flag))
        else:
            out.extend((w, flag) for w in lay.split())
    for i in range(len(out) - 1, 0, -1):
        prev, (word, flag) = out[i - 1][0], out[i]
        if word == "back" and (prev, "back") in _BACK:
            out[i - 1 : i + 1] = [(_BACK[(prev, "back")], flag)]
        elif prev in _NEGATORS and word not in STOP:  # "without aura" -> one word: no_aura
            out[i - 1 : i + 1] = [("no_" + word, flag)]
    return out


def parse_code(text: str) -> str | None:
    """The code (no dot) in an utterance like "M 54.50", "m54.5", "m five four point five
    zero", "I ten", "s zero six point zero ex a a"; None when text is not a code."""
    toks: list[str] = []
    for tok in re.findall(r"[a-z0-9]+|\.", _CODE_PREFIX.sub(" ", text.lower())):
        toks.extend(re.findall(r"[a-z]+|[0-9]+|\.", tok))
    toks = [t for t in toks if t not in _CODE_FILLER]
    first = _LETTER_NAMES.get(toks[0], toks[0]) if toks else ""
    if len(first) != 1 or not first.isalpha():
        return None
    chars, group = [first.upper()], list[str]()
    for tok in [*toks[1:], "."]:
        is_number = tok.isdigit() or tok in _NUMBER_WORDS
        if group and not is_number:
            digits = spoken_digits(" ".join(group))
            if digits is None:
                return None
            chars.append(digits)
            group = []
        if is_number:
            group.append(tok)
        elif tok == "ex":
            chars.append("X")
        elif tok in _SEPARATORS:  # "dot" is a separator, not the letters D O T
            continue
        elif tok.isalpha() and len(tok) <= 4:  # letters after the first: "a", "xaa"
            chars.append(tok.upper())
        elif tok not in _SEPARATORS:
            return None
    code = "".join(chars)
    return code if _CODE_RE.fullmatch(code) else None


LAY_WORDS = frozenset(_LAY)  # callers' words the matcher puts the ICD way itself
