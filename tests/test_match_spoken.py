"""Tests for ivr.match.spoken: spoken digits, yes/no and dates of birth."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.match.spoken import (
    is_garbage_dtmf,
    parse_date,
    parse_date_reason,
    spoken_digits,
    yes_no,
)

WORDS = {
    "0": "zero",
    "1": "one",
    "2": "two",
    "3": "three",
    "4": "four",
    "5": "five",
    "6": "six",
    "7": "seven",
    "8": "eight",
    "9": "nine",
}
MONTH_NAMES = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
TODAY = datetime.date(2025, 6, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123", "123"),
        ("1 2 3", "123"),
        ("one two three", "123"),
        ("One Two Three.", "123"),
        ("4 1 7-2 2 9", "417229"),
        ("417-229-0143", "4172290143"),
        ("4.1.7", "417"),
        ("1,960", "1960"),
        ("four one seven", "417"),
        ("four oh seven", "407"),
        ("four o seven", "407"),
        ("nought nought seven", "007"),
        ("zero zero one", "001"),
        ("double five", "55"),
        ("double 5", "55"),
        ("triple two", "222"),
        ("double oh seven", "007"),
        ("one double two three", "1223"),
        ("ten", "10"),
        ("nineteen", "19"),
        ("twenty", "20"),
        ("twenty one", "21"),
        ("twenty-one", "21"),
        ("ninety nine", "99"),
        ("nineteen sixty", "1960"),
        ("nineteen sixty one", "1961"),
        ("twenty oh five", "2005"),
        ("twenty twenty four", "2024"),
        ("five hundred", "500"),
        ("one hundred twenty", "120"),
        ("one hundred twenty three", "123"),
        ("five hundred and five", "505"),
        ("a hundred", "100"),
        ("nineteen hundred", "1900"),
        ("nineteen hundred sixty", "1960"),
        ("two thousand", "2000"),
        ("two thousand and five", "2005"),
        ("two thousand nineteen", "2019"),
        ("uh four one seven", "417"),
        ("um, 4 1 7", "417"),
        ("the number is 4 1 7", "417"),
        ("my number is four one seven", "417"),
        ("It's 417.", "417"),
        ("it\u2019s one two three", "123"),
        ("1 2 3 and 4", "1234"),
        ("FOUR ONE SEVEN!", "417"),
        ("  9  ", "9"),
        ("", None),
        ("   ", None),
        ("uh", None),
        ("the number is", None),
        ("low back pain", None),
        ("four one seven please", None),
        ("I don't know", None),
        ("double", None),
        ("double trouble", None),
        ("double twelve", None),
        ("hundred", None),
        ("yes", None),
        ("?!", None),
    ],
)
def test_spoken_digits(text: str, expected: str | None) -> None:
    assert spoken_digits(text) == expected


@given(st.text(alphabet="0123456789", min_size=1, max_size=30))
def test_spoken_digits_words_roundtrip(digits: str) -> None:
    assert spoken_digits(" ".join(WORDS[c] for c in digits)) == digits


@given(st.text(alphabet="0123456789", min_size=1, max_size=30))
def test_spoken_digits_identity(digits: str) -> None:
    assert spoken_digits(digits) == digits


@given(st.text())
def test_spoken_digits_never_raises(text: str) -> None:
    result = spoken_digits(text)
    assert result is None or (result.isascii() and result.isdigit())


@given(st.lists(st.sampled_from(sorted(WORDS.values()) + ["uh", "double", "twenty", "hundred"])))
def test_spoken_digits_word_soup_never_raises(words: list[str]) -> None:
    spoken_digits(" ".join(words))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        ("2", False),
        ("1#", True),
        ("Yes.", True),
        ("yes", True),
        ("YES!", True),
        ("yeah", True),
        ("Yeah.", True),
        ("yep", True),
        ("yup", True),
        ("correct", True),
        ("Correct.", True),
        ("right", True),
        ("that's right", True),
        ("That\u2019s right.", True),
        ("that is correct", True),
        ("sure", True),
        ("affirmative", True),
        ("ok", True),
        ("okay", True),
        ("OK.", True),
        ("all right", True),
        ("yes that's right", True),
        ("yes please", True),
        ("yeah that's my date of birth", True),
        ("one", True),
        ("no", False),
        ("No.", False),
        ("nope", False),
        ("nah", False),
        ("incorrect", False),
        ("wrong", False),
        ("negative", False),
        ("not correct", False),
        ("that's not correct", False),
        ("that's not right", False),
        ("that's wrong", False),
        ("no that's wrong", False),
        ("no, I said the left knee", False),
        ("two", False),
        ("yes no", None),
        ("yes, no", None),
        ("1 2", None),
        ("", None),
        ("   ", None),
        ("...", None),
        ("3", None),
        ("12", None),
        ("I'm not sure", None),
        ("I don't know", None),
        ("maybe", None),
        ("right knee MRI", None),
        ("low back pain", None),
        ("what", None),
        ("s\u00ed", None),
    ],
)
def test_yes_no_english(text: str, expected: bool | None) -> None:
    assert yes_no(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        ("2", False),
        ("s\u00ed", True),
        ("S\u00ed.", True),
        ("si", True),
        ("Si", True),
        ("correcto", True),
        ("Correcto.", True),
        ("claro", True),
        ("claro que s\u00ed", True),
        ("s\u00ed, est\u00e1 bien", True),
        ("de acuerdo", True),
        ("yes", True),
        ("no", False),
        ("No.", False),
        ("incorrecto", False),
        ("no es correcto", False),
        ("no, no es correcto", False),
        ("s\u00ed no", None),
        ("no s\u00e9", None),
        ("tal vez", None),
        ("", None),
        ("dolor de espalda", None),
    ],
)
def test_yes_no_spanish(text: str, expected: bool | None) -> None:
    assert yes_no(text, language="es-US") is expected


@given(st.text(), st.sampled_from(["en-US", "es-US", "fr-FR", ""]))
def test_yes_no_never_raises(text: str, language: str) -> None:
    assert yes_no(text, language) in (True, False, None)


MARCH_5_1960 = datetime.date(1960, 3, 5)


@pytest.mark.parametrize(
    "text",
    [
        "03051960",
        "0305 1960",
        "03051960#",
        "March 5th 1960",
        "March 5th, 1960",
        "March 5th, 1960.",
        "march 5 1960",
        "MARCH 5 1960",
        "Mar 5 1960",
        "march fifth nineteen sixty",
        "March fifth, nineteen sixty.",
        "march the fifth nineteen sixty",
        "march five nineteen sixty",
        "March 5th nineteen sixty",
        "march 5th 1960",
        "3/5/1960",
        "03/05/1960",
        "03-05-1960",
        "3.5.1960",
        "3 5 1960",
        "1960-03-05",
        "5 March 1960",
        "5th March 1960",
        "the fifth of March 1960",
        "the fifth of march nineteen sixty",
        "1960 March 5",
        "zero three zero five one nine six zero",
        "oh three oh five nineteen sixty",
        "three five nineteen sixty",
        "uh March 5th 1960",
        "my date of birth is March 5th 1960",
        "I was born on March 5th, 1960",
        "march fifth nineteen hundred sixty",
        "5 de marzo de 1960",
    ],
)
def test_parse_date_march_5_1960(text: str) -> None:
    assert parse_date(text) == MARCH_5_1960
    assert parse_date_reason(text, today=TODAY) == (MARCH_5_1960, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12251999", datetime.date(1999, 12, 25)),
        ("December 25th 1999", datetime.date(1999, 12, 25)),
        ("december twenty fifth nineteen ninety nine", datetime.date(1999, 12, 25)),
        ("twelve twenty five nineteen ninety nine", datetime.date(1999, 12, 25)),
        ("january first two thousand", datetime.date(2000, 1, 1)),
        ("July 4th, 2005", datetime.date(2005, 7, 4)),
        ("july fourth two thousand and five", datetime.date(2005, 7, 4)),
        ("july fourth twenty oh five", datetime.date(2005, 7, 4)),
        ("August thirty first nineteen eighty", datetime.date(1980, 8, 31)),
        ("august thirty-first 1980", datetime.date(1980, 8, 31)),
        ("August 31st 1980", datetime.date(1980, 8, 31)),
        ("september thirtieth 1975", datetime.date(1975, 9, 30)),
        ("November 22nd 1963", datetime.date(1963, 11, 22)),
        ("may 3rd 1947", datetime.date(1947, 5, 3)),
        ("Sept 1 1950", datetime.date(1950, 9, 1)),
        ("02292000", datetime.date(2000, 2, 29)),
        ("February 29th 1996", datetime.date(1996, 2, 29)),
        ("01011900", datetime.date(1900, 1, 1)),
        ("10 1 1950", datetime.date(1950, 10, 1)),
        ("1011950", None),
        ("1/1/1950", datetime.date(1950, 1, 1)),
    ],
)
def test_parse_date_examples(text: str, expected: datetime.date | None) -> None:
    assert parse_date(text, today=TODAY) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("uh", "empty"),
        ("March 5 60", "unreadable"),
        ("3/5/60", "unreadable"),
        ("030560", "unreadable"),
        ("0305", "unreadable"),
        ("351960", "unreadable"),
        ("031560", "unreadable"),
        ("030519601", "unreadable"),
        ("March 1960", "unreadable"),
        ("March April 5 1960", "unreadable"),
        ("low back pain", "unreadable"),
        ("I don't remember", "unreadable"),
        ("1121960", "unreadable"),
        ("02301960", "impossible"),
        ("13011960", "impossible"),
        ("00051960", "impossible"),
        ("03001960", "impossible"),
        ("02291900", "impossible"),
        ("February 30th 1960", "impossible"),
        ("April 31 1960", "impossible"),
        ("13/5/1960", "impossible"),
        ("01011899", "too_old"),
        ("March 5th 1850", "too_old"),
        ("06022025", "future"),
        ("01012030", "future"),
        ("March 5th 2030", "future"),
    ],
)
def test_parse_date_reasons(text: str, reason: str) -> None:
    assert parse_date_reason(text, today=TODAY) == (None, reason)
    assert parse_date(text, today=TODAY) is None


def test_parse_date_today_is_allowed() -> None:
    assert parse_date("06012025", today=TODAY) == TODAY
    assert parse_date("01012030") == datetime.date(2030, 1, 1)


_dates = st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2025, 12, 31))


@given(_dates)
def test_parse_date_keypad_roundtrip(d: datetime.date) -> None:
    assert parse_date(d.strftime("%m%d%Y")) == d


@given(_dates)
def test_parse_date_month_name_roundtrip(d: datetime.date) -> None:
    assert parse_date(f"{MONTH_NAMES[d.month - 1]} {d.day} {d.year}") == d


@given(_dates)
def test_parse_date_spoken_keypad_digits_roundtrip(d: datetime.date) -> None:
    assert parse_date(" ".join(WORDS[c] for c in d.strftime("%m%d%Y"))) == d


@given(st.text())
def test_parse_date_never_raises(text: str) -> None:
    value, reason = parse_date_reason(text, today=TODAY)
    assert (value is None) != (reason is None)


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("", True),
        ("#", True),
        ("*#", True),
        ("0000", True),
        ("11111111", True),
        ("abc", True),
        ("1", False),
        ("11", False),
        ("03051960", False),
        ("1234567893#", False),
    ],
)
def test_is_garbage_dtmf(digits: str, expected: bool) -> None:
    assert is_garbage_dtmf(digits) is expected
