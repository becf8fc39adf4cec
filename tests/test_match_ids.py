"""Tests for ivr.match.ids: Luhn, NPI and phone normalization."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ivr.match.ids import (
    luhn_check_digit,
    luhn_checksum,
    luhn_valid,
    make_npi,
    normalize_phone,
    npi_check_digit,
    npi_is_valid,
)

digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=30)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("79927398713", True),
        ("4111111111111111", True),
        ("4539578763621486", True),
        ("0", True),
        ("00", True),
        ("18", True),
        ("79927398710", False),
        ("4111111111111112", False),
        ("1", False),
        ("", False),
        ("4111 1111 1111 1111", False),
        ("abc", False),
        ("12a4", False),
        ("\u0661\u0668", False),
    ],
)
def test_luhn_valid(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@pytest.mark.parametrize(
    ("payload", "digit"),
    [("7992739871", "3"), ("411111111111111", "1"), ("1", "8"), ("", "0"), ("80840123456789", "3")],
)
def test_luhn_check_digit(payload: str, digit: str) -> None:
    assert luhn_check_digit(payload) == digit


def test_luhn_checksum() -> None:
    assert luhn_checksum("79927398713") == 0
    assert luhn_checksum("79927398710") == 7
    assert luhn_checksum("") == 0
    with pytest.raises(ValueError):
        luhn_checksum("12x")


@given(digit_strings)
def test_luhn_check_digit_makes_valid(payload: str) -> None:
    assert luhn_valid(payload + luhn_check_digit(payload))


@given(digit_strings, st.data())
def test_luhn_detects_single_digit_change(payload: str, data: st.DataObject) -> None:
    number = payload + luhn_check_digit(payload)
    pos = data.draw(st.integers(0, len(number) - 1))
    new = data.draw(st.sampled_from([c for c in "0123456789" if c != number[pos]]))
    assert not luhn_valid(number[:pos] + new + number[pos + 1 :])


@given(st.text(alphabet="0123456789", min_size=1, max_size=30), st.data())
def test_luhn_detects_adjacent_transposition(payload: str, data: st.DataObject) -> None:
    number = payload + luhn_check_digit(payload)
    pos = data.draw(st.integers(0, len(number) - 2))
    a, b = number[pos], number[pos + 1]
    assume(a != b and {a, b} != {"0", "9"})
    assert not luhn_valid(number[:pos] + b + a + number[pos + 2 :])


@pytest.mark.parametrize(
    ("npi", "valid"),
    [
        ("1234567893", True),
        ("1558598797", True),
        ("1003347634", True),
        ("1093791627", False),
        ("1234567890", False),
        ("3234567893", False),
        ("0234567893", False),
        ("123456789", False),
        ("12345678930", False),
        ("", False),
        ("123456789X", False),
        (" 1234567893", False),
        ("1234-56789", False),
    ],
)
def test_npi_is_valid(npi: str, valid: bool) -> None:
    assert npi_is_valid(npi) is valid


@pytest.mark.parametrize(
    ("first9", "digit"), [("123456789", "3"), ("155859879", "7"), ("100334763", "4")]
)
def test_npi_check_digit(first9: str, digit: str) -> None:
    assert npi_check_digit(first9) == digit
    assert make_npi(first9) == first9 + digit


@pytest.mark.parametrize("bad", ["12345678", "1234567890", "12345678a", ""])
def test_npi_check_digit_rejects_bad_payload(bad: str) -> None:
    with pytest.raises(ValueError):
        npi_check_digit(bad)


npi_payloads = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from("12"),
    st.text(alphabet="0123456789", min_size=8, max_size=8),
)


@given(npi_payloads)
def test_make_npi_is_valid(first9: str) -> None:
    npi = make_npi(first9)
    assert len(npi) == 10
    assert npi_is_valid(npi)


@given(npi_payloads, st.data())
def test_npi_single_digit_change_is_invalid(first9: str, data: st.DataObject) -> None:
    npi = make_npi(first9)
    pos = data.draw(st.integers(0, 9))
    new = data.draw(st.sampled_from([c for c in "0123456789" if c != npi[pos]]))
    assert not npi_is_valid(npi[:pos] + new + npi[pos + 1 :])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(212) 555-0143", "+12125550143"),
        ("+1 212 555 0143", "+12125550143"),
        ("+12125550143", "+12125550143"),
        ("212-555-0143", "+12125550143"),
        ("212.555.0143", "+12125550143"),
        ("2125550143", "+12125550143"),
        ("1 (212) 555-0143", "+12125550143"),
        ("  +1 (415) 555-2671  ", "+14155552671"),
        ("+44 20 7946 0958", "+442079460958"),
        (None, None),
        ("", None),
        ("   ", None),
        ("anonymous", None),
        ("Anonymous", None),
        ("restricted", None),
        ("+266696687", None),
        ("+7378742833", None),
        ("+8656696", None),
        ("+2562533", None),
        ("+86282452253", None),
        ("client:alice", None),
        ("sip:alice@example.com", None),
        ("555", None),
        ("12", None),
        ("not a number", None),
        ("+1 212 555 01439999", None),
    ],
)
def test_normalize_phone(raw: str | None, expected: str | None) -> None:
    assert normalize_phone(raw) == expected


def test_normalize_phone_region() -> None:
    assert normalize_phone("020 7946 0958", region="GB") == "+442079460958"


@given(st.text())
def test_normalize_phone_never_raises(raw: str) -> None:
    result = normalize_phone(raw)
    assert result is None or result.startswith("+")
