"""Normalize what a caller says or presses: digit strings, yes/no answers, dates of birth."""

from __future__ import annotations

import datetime
import re
import unicodedata

UNITS: dict[str, int] = {
    "zero": 0,
    "oh": 0,
    "o": 0,
    "nought": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
}
TEENS: dict[str, int] = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS: dict[str, int] = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_REPEAT = {"double": 2, "triple": 3}
_MULTIPLIERS = {"hundred": 100, "thousand": 1000}
FILLERS = frozenset("uh uhh um umm uhm er erm ah hmm and the number is its it my".split())
_ORDINALS: dict[str, str] = {
    "first": "one",
    "second": "two",
    "third": "three",
    "fourth": "four",
    "fifth": "five",
    "sixth": "six",
    "seventh": "seven",
    "eighth": "eight",
    "ninth": "nine",
    "tenth": "ten",
    "eleventh": "eleven",
    "twelfth": "twelve",
    "thirteenth": "thirteen",
    "fourteenth": "fourteen",
    "fifteenth": "fifteen",
    "sixteenth": "sixteen",
    "seventeenth": "seventeen",
    "eighteenth": "eighteen",
    "nineteenth": "nineteen",
    "twentieth": "twenty",
    "thirtieth": "thirty",
    "primero": "one",
}
MONTHS: dict[str, int] = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sep": 9,
    "sept": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
    "enero": 1,
    "febrero": 2,
    "marzo": 3,
    "abril": 4,
    "mayo": 5,
    "junio": 6,
    "julio": 7,
    "agosto": 8,
    "septiembre": 9,
    "setiembre": 9,
    "octubre": 10,
    "noviembre": 11,
    "diciembre": 12,
}
# Spanish numbers, said as the English words the readers below take ("veintiuno" is "twenty
# one", "mil novecientos" "one thousand nine hundred"), read when the call is in Spanish.
_ES_WORDS: dict[str, tuple[str, ...]] = {
    "cero": ("zero",),
    "uno": ("one",),
    "una": ("one",),
    "un": ("one",),
    "dos": ("two",),
    "tres": ("three",),
    "cuatro": ("four",),
    "cinco": ("five",),
    "seis": ("six",),
    "siete": ("seven",),
    "ocho": ("eight",),
    "nueve": ("nine",),
    "diez": ("ten",),
    "once": ("eleven",),
    "doce": ("twelve",),
    "trece": ("thirteen",),
    "catorce": ("fourteen",),
    "quince": ("fifteen",),
    "dieciseis": ("sixteen",),
    "diecisiete": ("seventeen",),
    "dieciocho": ("eighteen",),
    "diecinueve": ("nineteen",),
    "veinte": ("twenty",),
    "treinta": ("thirty",),
    "cuarenta": ("forty",),
    "cincuenta": ("fifty",),
    "sesenta": ("sixty",),
    "setenta": ("seventy",),
    "ochenta": ("eighty",),
    "noventa": ("ninety",),
    "cien": ("one", "hundred"),
    "ciento": ("one", "hundred"),
    "doscientos": ("two", "hundred"),
    "trescientos": ("three", "hundred"),
    "cuatrocientos": ("four", "hundred"),
    "quinientos": ("five", "hundred"),
    "seiscientos": ("six", "hundred"),
    "setecientos": ("seven", "hundred"),
    "ochocientos": ("eight", "hundred"),
    "novecientos": ("nine", "hundred"),
    "mil": ("thousand",),
    "y": ("and",),  # "treinta y uno"
    "doble": ("double",),
    "triple": ("triple",),
    "numero": ("number",),
    "es": ("is",),
    "el": ("the",),
    "mi": ("my",),
    "primero": ("first",),
}
_ES_WORDS.update(
    {
        f"veinti{es}": ("twenty", en)
        for es, en in (
            ("uno", "one"),
            ("un", "one"),
            ("dos", "two"),
            ("tres", "three"),
            ("cuatro", "four"),
            ("cinco", "five"),
            ("seis", "six"),
            ("siete", "seven"),
            ("ocho", "eight"),
            ("nueve", "nine"),
        )
    }
)


def _spanish(toks: list[str], language: str) -> list[str]:
    """Spanish number words as the English ones (a lone "mil" is "one thousand")."""
    if not str(language).lower().startswith("es"):
        return toks
    out: list[str] = []
    for tok in toks:
        words = _ES_WORDS.get(tok, (tok,))
        if words == ("thousand",) and not (
            out
            and (out[-1] in UNITS or out[-1] in TEENS or out[-1] in TENS or out[-1] == "hundred")
        ):
            words = ("one", "thousand")
        out.extend(words)
    return out


_DATE_FILLERS = FILLERS | frozenset(
    "of on in born i was birthday date birth de del her his patient patients shes hes she he "
    "so well okay ok".split()
)
_DIGITS_RE = re.compile(r"[0-9]+")
_ORDINAL_DIGITS_RE = re.compile(r"([0-9]{1,2})(?:st|nd|rd|th)")
_MIN_YEAR = 1900


def _tokens(text: str) -> list[str]:
    """Lower-case, accent-free word tokens; apostrophes are dropped and punctuation splits."""
    folded = unicodedata.normalize("NFKD", text.lower().replace("'", "").replace("\u2019", ""))
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return re.findall(r"[^\W_]+", plain)


def _is_digits(tok: str) -> bool:
    """True for a run of ASCII digits."""
    return _DIGITS_RE.fullmatch(tok) is not None


def _read_small(toks: list[str], i: int, words_only: bool = False) -> tuple[int, str, int] | None:
    """Read a number below 100 at toks[i]: (value, digit text, next index)."""
    tok = toks[i]
    if tok in TEENS:
        return TEENS[tok], str(TEENS[tok]), i + 1
    if tok in TENS:
        value = TENS[tok]
        if i + 1 < len(toks) and UNITS.get(toks[i + 1], 0) > 0:
            value += UNITS[toks[i + 1]]
            return value, str(value), i + 2
        return value, str(value), i + 1
    if tok in UNITS:
        return UNITS[tok], str(UNITS[tok]), i + 1
    if not words_only and _is_digits(tok):
        return (int(tok) if len(tok) <= 2 else 0), tok, i + 1
    return None


def _read_multiplied(toks: list[str], value: int, i: int) -> tuple[int, int]:
    """Apply 'hundred'/'thousand' at toks[i] to value and absorb the following remainder."""
    total = value * _MULTIPLIERS[toks[i]]
    i += 1
    if toks[i - 1] == "thousand" and i < len(toks):
        small = _read_small(toks, i, words_only=True)
        if small and small[0] > 0 and small[2] < len(toks) and toks[small[2]] == "hundred":
            total += small[0] * 100
            i = small[2] + 1
    if i < len(toks):
        small = _read_small(toks, i, words_only=True)
        if small and small[0] > 0:
            total += small[0]
            i = small[2]
    return total, i


def _digits_from_tokens(toks: list[str], fillers: frozenset[str] = FILLERS) -> str | None:
    """Digit string for a token list, or None when any token is not number-like or filler."""
    toks = [t for t in toks if t not in fillers]
    out: list[str] = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if tok in _REPEAT:
            digit = str(UNITS[nxt]) if nxt in UNITS else nxt
            if len(digit) != 1 or not _is_digits(digit):
                return None
            out.append(digit * _REPEAT[tok])
            i += 2
            continue
        if tok == "a" and nxt in _MULTIPLIERS:
            total, i = _read_multiplied(toks, 1, i + 1)
            out.append(str(total))
            continue
        small = _read_small(toks, i)
        if small is None:
            return None
        value, text, j = small
        if j < len(toks) and toks[j] in _MULTIPLIERS and 0 < value and len(text) <= 2:
            total, i = _read_multiplied(toks, value, j)
            out.append(str(total))
            continue
        out.append(text)
        i = j
    digits = "".join(out)
    return digits or None


def spoken_digits(text: str, language: str = "en-US") -> str | None:
    """Digits spoken or typed in text ("four one seven", "double five"; in Spanish "cinco
    cinco cero"), else None."""
    if not isinstance(text, str):
        return None
    return _digits_from_tokens(_spanish(_tokens(text), language))


def is_garbage_dtmf(digits: str) -> bool:
    """True for keypad input that is empty, non-keypad, only */#, or one digit mashed 4+ times."""
    core = digits.strip().strip("#*")
    if not core or re.fullmatch(r"[0-9*#]+", core) is None:
        return True
    return len(core) >= 4 and len(set(core)) == 1


_EN_STRONG_YES = frozenset("yes yeah yea yep yup correct affirmative".split())
_EN_WEAK_YES = frozenset("right sure ok okay alright absolutely definitely exactly one".split())
_EN_STRONG_NO = frozenset("no nope nah incorrect negative".split())
_EN_WEAK_NO = frozenset("wrong two".split())
_ES_STRONG_YES = frozenset("si correcto afirmativo claro".split())
_ES_WEAK_YES = frozenset(
    "cierto exacto exactamente efectivamente supuesto asi vale uno bien acuerdo".split()
)
_ES_STRONG_NO = frozenset("no incorrecto negativo".split())
_ES_WEAK_NO = frozenset("falso dos".split())
_YN_FILLERS = frozenset(
    "that thats is it its i im am a uh um umm er ah oh well so please thanks thank you sir "
    "maam the very much all es eso esta de por favor gracias senor senora muy".split()
)
_NEGATORS = frozenset("not no isnt".split())
_UNSURE = (
    "not sure",
    "dont know",
    "no idea",
    "maybe",
    "unsure",
    "not certain",
    "no se",
    "tal vez",
    "quizas",
    "no estoy seguro",
    "no estoy segura",
)


# What a recognizer writes for a yes or a no said without the word ("uh huh", "mm hmm").
_EN_PHRASES: dict[tuple[str, ...], str] = {
    ("uh", "huh"): "yes",
    ("uhhuh",): "yes",
    ("mm", "hmm"): "yes",
    ("mhm",): "yes",
    ("mmhmm",): "yes",
    ("mmhm",): "yes",
    ("go", "ahead"): "yes",
    ("i", "dont", "think", "so"): "no",
}
_LONGEST_PHRASE = max(len(k) for k in _EN_PHRASES)


def _said_as_words(toks: list[str]) -> list[str]:
    """Tokens with a yes or no said as a sound or a phrase ("mm hmm") put as the word."""
    out: list[str] = []
    i = 0
    while i < len(toks):
        for size in range(min(_LONGEST_PHRASE, len(toks) - i), 0, -1):
            word = _EN_PHRASES.get(tuple(toks[i : i + size]))
            if word is not None:
                out.append(word)
                i += size
                break
        else:
            out.append(toks[i])
            i += 1
    return out


def yes_no(text: str, language: str = "en-US") -> bool | None:
    """True/False for a spoken or keypad (1 = yes, 2 = no) answer; None if unclear."""
    if not isinstance(text, str):
        return None
    toks = _said_as_words(_tokens(text))
    joined = " " + " ".join(toks) + " "
    if not toks or any(f" {p} " in joined for p in _UNSURE):
        return None
    strong_yes, weak_yes = _EN_STRONG_YES | {"1"}, set(_EN_WEAK_YES)
    strong_no, weak_no = _EN_STRONG_NO | {"2"}, set(_EN_WEAK_NO)
    if str(language).lower().startswith("es"):
        strong_yes |= _ES_STRONG_YES
        weak_yes |= _ES_WEAK_YES
        strong_no |= _ES_STRONG_NO
        weak_no |= _ES_WEAK_NO
    signals, unknown = _yes_no_signals(toks, strong_yes, weak_yes, strong_no, weak_no)
    answers = {answer for answer, _ in signals}
    if len(answers) != 1:
        return None
    if unknown and not any(strong for _, strong in signals):
        return None
    return answers.pop()


def says_yes_and_no(text: str, language: str = "en-US") -> bool:
    """True when text holds both a yes and a no ("no, that's right"): no answer can be taken."""
    if not isinstance(text, str):
        return False
    strong_yes, weak_yes = _EN_STRONG_YES, _EN_WEAK_YES - {"one"}
    strong_no, weak_no = _EN_STRONG_NO, _EN_WEAK_NO - {"two"}
    if str(language).lower().startswith("es"):
        strong_yes, weak_yes = strong_yes | _ES_STRONG_YES, weak_yes | _ES_WEAK_YES - {"uno"}
        strong_no, weak_no = strong_no | _ES_STRONG_NO, weak_no | _ES_WEAK_NO - {"dos"}
    toks = _said_as_words(_tokens(text))
    signals, _ = _yes_no_signals(toks, strong_yes, weak_yes, strong_no, weak_no)
    return len({answer for answer, _ in signals}) > 1


def _yes_no_signals(
    toks: list[str],
    strong_yes: frozenset[str] | set[str],
    weak_yes: frozenset[str] | set[str],
    strong_no: frozenset[str] | set[str],
    weak_no: frozenset[str] | set[str],
) -> tuple[list[tuple[bool, bool]], int]:
    """Each yes or no heard, as (answer, strong), and how many other words there were."""
    yes_words = strong_yes | weak_yes
    signals: list[tuple[bool, bool]] = []  # (answer, strong)
    unknown = 0
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok in _NEGATORS:
            j = i + 1
            while j < len(toks) and toks[j] in ("es", "esta", "eso", "that", "thats"):
                j += 1
            if j < len(toks) and toks[j] in yes_words:
                signals.append((False, True))
                i = j + 1
                continue
        if tok in strong_yes or tok in weak_yes:
            signals.append((True, tok in strong_yes))
        elif tok in strong_no or tok in weak_no:
            signals.append((False, tok in strong_no))
        elif tok not in _YN_FILLERS and tok != "not":
            unknown += 1
        i += 1
    return signals, unknown


def _check_date(
    year: int, month: int, day: int, today: datetime.date | None
) -> tuple[datetime.date | None, str | None]:
    """Validate date parts as a date of birth."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None, "impossible"
    if year < _MIN_YEAR:
        return None, "too_old"
    try:
        value = datetime.date(year, month, day)
    except ValueError:
        return None, "impossible"
    if today is not None and value > today:
        return None, "future"
    return value, None


def _split_day_year(digits: str) -> tuple[int, int] | None:
    """Split 'D YYYY' or 'DD YYYY' digit text into (day, year)."""
    if len(digits) not in (5, 6):
        return None
    return int(digits[:-4]), int(digits[-4:])


def _numeric_date(toks: list[str]) -> tuple[int, int, int] | list[tuple[int, int, int]] | None:
    """(year, month, day) from a month-less date, or a list of candidates when ambiguous."""
    if len(toks) == 3 and all(_is_digits(t) for t in toks):
        a, b, c = toks
        if len(a) == 4 and len(b) <= 2 and len(c) <= 2:
            return int(a), int(b), int(c)
        if len(a) <= 2 and len(b) <= 2 and len(c) == 4:
            return int(c), int(a), int(b)
        return None
    digits = _digits_from_tokens(toks, _DATE_FILLERS)
    if digits is None or (len(toks) == 1 and len(digits) != 8):
        return None  # keypad entry must be the full MMDDYYYY
    year = int(digits[-4:]) if len(digits) >= 6 else 0
    if len(digits) == 8:
        return year, int(digits[:2]), int(digits[2:4])
    if len(digits) == 6:
        return year, int(digits[0]), int(digits[1])
    if len(digits) == 7:
        return [(year, int(digits[0]), int(digits[1:3])), (year, int(digits[:2]), int(digits[2]))]
    return None


def _date_digits(toks: list[str]) -> str | None:
    """Digits in date tokens: '' when only filler, None when unreadable."""
    if all(t in _DATE_FILLERS for t in toks):
        return ""
    return _digits_from_tokens(toks, _DATE_FILLERS)


def _month_date(toks: list[str], at: int) -> tuple[int, int, int] | None:
    """(year, month, day) from tokens with a month name at index `at`."""
    before, after = _date_digits(toks[:at]), _date_digits(toks[at + 1 :])
    if before is None or after is None:
        return None
    if before and after:
        if len(before) <= 2 and len(after) == 4:
            return int(after), MONTHS[toks[at]], int(before)
        if len(before) == 4 and len(after) <= 2:
            return int(before), MONTHS[toks[at]], int(after)
        return None
    split = _split_day_year(before + after)
    return None if split is None else (split[1], MONTHS[toks[at]], split[0])


def parse_date_reason(
    text: str, *, today: datetime.date | None = None, language: str = "en-US"
) -> tuple[datetime.date | None, str | None]:
    """Date of birth from keypad MMDDYYYY or speech (in Spanish "cinco de marzo de mil
    novecientos sesenta"), plus a reason code when None."""
    if not isinstance(text, str):
        return None, "empty"
    toks: list[str] = []
    for tok in _spanish(_tokens(text), language):
        match = _ORDINAL_DIGITS_RE.fullmatch(tok)
        toks.append(match.group(1) if match else _ORDINALS.get(tok, tok))
    if not [t for t in toks if t not in _DATE_FILLERS]:
        return None, "empty"
    months = [i for i, t in enumerate(toks) if t in MONTHS]
    parts: tuple[int, int, int] | list[tuple[int, int, int]] | None
    if len(months) == 1:
        parts = _month_date(toks, months[0])
    elif not months:
        parts = _numeric_date(toks)
    else:
        parts = None
    if parts is None:
        return None, "unreadable"
    if isinstance(parts, tuple):
        return _check_date(*parts, today)
    results = [_check_date(*p, today) for p in parts]
    valid = {d for d, _ in results if d is not None}
    if len(valid) == 1:
        return valid.pop(), None
    return None, ("unreadable" if valid else results[0][1])


def mentions_month(text: str) -> bool:
    """True when text names a month ("March", "marzo"): it was meant as a date."""
    return isinstance(text, str) and any(t in MONTHS for t in _tokens(text))


def parse_date(
    text: str, *, today: datetime.date | None = None, language: str = "en-US"
) -> datetime.date | None:
    """Date of birth from keypad MMDDYYYY or speech, else None."""
    return parse_date_reason(text, today=today, language=language)[0]
