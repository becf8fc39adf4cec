"""Text that is safe to store, log and speak: no control characters.

XML 1.0 cannot hold most C0 controls (a NUL, a vertical tab, an ESC), so one of them in a
prompt makes the whole TwiML document invalid and the caller hears Twilio's error instead of
the line. PostgreSQL refuses NUL in text. A newline in a logged value forges a log line.
"""

from __future__ import annotations

import re

# C0 and C1 controls (tab and newline included: no text the line speaks needs them), lone
# surrogates, and the two non-characters XML forbids.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

# What no stored text may hold: NUL (PostgreSQL refuses it) and lone surrogates (not Unicode:
# they cannot be encoded to store or to answer). Free text such as a reason keeps newlines.
UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def clean(value: str | None) -> str:
    """`value` with each control character made a space, and runs of spaces made one."""
    return " ".join(CONTROL.sub(" ", value or "").split())


def has_control(value: str) -> bool:
    return CONTROL.search(value) is not None


def storable(value: str) -> bool:
    return UNSTORABLE.search(value) is None
