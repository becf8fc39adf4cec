"""What a call keeps at rest: identifiers and second factors are not stored as said.

A turn's event row keeps the TwiML answered (a replay answers the same) and what the caller
said. For the questions of SENSITIVE_SLOTS neither keeps the value: what the caller said or
keyed is stored as `[slot withheld]`, and where the line read such a value back (a date of
birth in the readback, a member id in "to keep member ID ..., press pound") the stored TwiML
holds a marker, `⟦member_dob:date⟧`, that a replay fills again from the call's slots. The
values themselves stay in the call's slots and the order, which only authorised people read.

SECOND_FACTORS (what proves who a caller is for a password reset) are used in the turn they
are given and never kept: not in the slots, so neither the calls API nor an agent's queue
view can show them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape

from ivr.engine.prompts import Prompts

SENSITIVE_SLOTS = frozenset(
    {"member_id", "member_dob", "proof", "portal_identifier", "portal_factor"}
)
SECOND_FACTORS = frozenset({"portal_identifier", "portal_factor"})
# How the line speaks a slot's value (`ivr.engine.prompts._Speaker`), longest forms first.
_SPECS = ("date", "groups", "digits", "code", "")
_MARK = re.compile(r"⟦([a-z_]+):([a-z]*)⟧")
_SHORTEST = 6  # a shorter text could be part of anything (a turn number in a URL)


def withheld(slot: str) -> str:
    """What is stored instead of the caller's answer to a sensitive question."""
    return f"[{slot} withheld]"


def is_sensitive(slot: str | None) -> bool:
    return slot in SENSITIVE_SLOTS


def kept_slots(slots: Mapping[str, Any]) -> dict[str, Any]:
    """The slots without second factors (and their confidence notes)."""
    return {
        name: value
        for name, value in slots.items()
        if name not in SECOND_FACTORS and name.rsplit("_", 1)[0] not in SECOND_FACTORS
    }


def _spoken(prompts: Prompts, slot: str, value: Any, spec: str) -> str:
    return prompts.render_value(value, spec) if spec else str(value)


def redact_twiml(twiml: str, slots: Iterable[Mapping[str, Any]], prompts: Iterable[Prompts]) -> str:
    """`twiml` with every sensitive value of `slots` replaced by its marker."""
    forms: dict[str, str] = {}
    for table in prompts:
        for values in slots:
            for slot in SENSITIVE_SLOTS:
                value = values.get(slot)
                if value in (None, ""):
                    continue
                for spec in _SPECS:
                    text = escape(_spoken(table, slot, value, spec))
                    if len(text) >= _SHORTEST:
                        forms.setdefault(text, f"⟦{slot}:{spec}⟧")
    for text in sorted(forms, key=len, reverse=True):
        twiml = twiml.replace(text, forms[text])
    return twiml


def restore_twiml(twiml: str, slots: Mapping[str, Any], prompts: Prompts) -> str:
    """The TwiML as it was answered: each marker spoken again from the call's slots."""
    if "⟦" not in twiml:
        return twiml

    def value(match: re.Match[str]) -> str:
        slot, spec = match.group(1), match.group(2)
        found = slots.get(slot)
        return "" if found in (None, "") else escape(_spoken(prompts, slot, found, spec))

    return _MARK.sub(value, twiml)
