"""Identifier checks: Luhn, NPI and caller phone numbers."""

from __future__ import annotations

import phonenumbers

NPI_PREFIX = "80840"
# Twilio's placeholder caller ids (keypad spellings of ANONYMOUS, RESTRICTED, UNKNOWN, ...).
TWILIO_PLACEHOLDER_CALLERS = frozenset(
    {"+266696687", "+7378742833", "+8656696", "+2562533", "+86282452253"}
)
_HIDDEN_CALLERS = frozenset(
    {"anonymous", "restricted", "unknown", "private", "blocked", "unavailable"}
)


def _is_digits(text: str) -> bool:
    """True for a non-empty run of ASCII digits."""
    return text.isascii() and text.isdigit()


def luhn_checksum(digits: str) -> int:
    """Luhn sum of digits modulo 10 (0 means valid); ValueError on non-digits."""
    if digits and not _is_digits(digits):
        raise ValueError(f"not a digit string: {digits!r}")
    total = 0
    for pos, ch in enumerate(reversed(digits)):
        value = int(ch)
        if pos % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10


def luhn_check_digit(payload: str) -> str:
    """The digit that makes payload + digit Luhn-valid."""
    return str((10 - luhn_checksum(payload + "0")) % 10)


def luhn_valid(number: str) -> bool:
    """True when number is a non-empty digit string with a valid Luhn check digit."""
    return isinstance(number, str) and _is_digits(number) and luhn_checksum(number) == 0


def npi_check_digit(first9: str) -> str:
    """NPI check digit for the first nine digits (Luhn over '80840' + first9)."""
    if len(first9) != 9 or not _is_digits(first9):
        raise ValueError(f"NPI payload must be 9 digits: {first9!r}")
    return luhn_check_digit(NPI_PREFIX + first9)


def make_npi(first9: str) -> str:
    """Full 10-digit NPI from its first nine digits."""
    return first9 + npi_check_digit(first9)


def npi_is_valid(npi: str) -> bool:
    """True for a 10-digit NPI starting 1 or 2 with a correct check digit."""
    if not isinstance(npi, str) or len(npi) != 10 or not _is_digits(npi):
        return False
    return npi[0] in "12" and luhn_valid(NPI_PREFIX + npi)


def normalize_phone(raw: str | None, region: str = "US") -> str | None:
    """E.164 form of a phone number, or None for missing, hidden or unparseable numbers."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or text.lower() in _HIDDEN_CALLERS or text in TWILIO_PLACEHOLDER_CALLERS:
        return None
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return None if e164 in TWILIO_PLACEHOLDER_CALLERS else e164
