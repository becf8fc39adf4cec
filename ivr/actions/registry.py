"""Actions a flow may call by name. Flows are edited by admins, so names resolve only here.

Each action declares the outcomes it can return, so `ivr check-flows` holds every flow to
them; "error" is implicit: any exception inside an action becomes "error", logged here.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy.orm as so

from ivr.criteria import Criteria
from ivr.engine import ActionResult, Prompts

log = logging.getLogger("ivr.actions")

# Every action can end in "error": the flow routes the caller on, never a 500.
ERROR = "error"


@dataclass(frozen=True)
class Facts:
    """What an action may know about the call and the line, besides the session and slots."""

    call_sid: str
    from_number: str | None = None
    plan: str | None = None
    language: str = "en-US"
    today: dt.date | None = None
    extension_window_days: int = 14
    prompts: Prompts | None = None
    # The line's clock, for times read to callers (an outage's expected end).
    timezone: str = "America/New_York"
    # The clinical criteria of the call's published version (None: the rules file).
    criteria: Criteria | None = None


# An action: (session, facts, params, slots, scratch) -> ActionResult. `scratch` is the
# services' own state for this call (never heard by the caller nor shown to agents).
Action = Callable[
    [so.Session, Facts, Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]], ActionResult
]


@dataclass(frozen=True)
class Registered:
    fn: Action
    outcomes: frozenset[str]
    fills: frozenset[str]


ACTIONS: dict[str, Registered] = {}


def action(
    name: str, *, outcomes: Collection[str], fills: Collection[str]
) -> Callable[[Action], Action]:
    """Register a service function as a flow action under `name`, with every outcome it
    can return ("error" is implied) and every slot it can fill for prompts to say."""
    declared = frozenset(outcomes) | {ERROR}

    def register(fn: Action) -> Action:
        if name in ACTIONS:
            raise ValueError(f"action {name!r} registered twice")
        ACTIONS[name] = Registered(fn, declared, frozenset(fills))
        return fn

    return register


def outcomes_by_action() -> dict[str, frozenset[str]]:
    """Every registered action's outcomes, as plain data for the flow checker."""
    return {name: reg.outcomes for name, reg in ACTIONS.items()}


def fills_by_action() -> dict[str, frozenset[str]]:
    """Every registered action's slots, as plain data for the placeholder check."""
    return {name: reg.fills for name, reg in ACTIONS.items()}


def run_action(
    name: str,
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """Run the action on behalf of the call. An exception becomes "error", logged with the
    call and the action (its message masked: it may quote a member id or a date of birth)."""
    try:
        result = ACTIONS[name].fn(session, facts, params, slots, scratch)
    except Exception as exc:  # noqa: BLE001 - the caller must be routed on, see above
        log.error(
            "action %s failed on call %s: %s: %s",
            name,
            facts.call_sid,
            type(exc).__name__,
            mask_phi(str(exc)),
        )
        return ActionResult(ERROR)
    if result.outcome not in ACTIONS[name].outcomes:
        # A declaration out of date: the checker passed a flow against the wrong list.
        log.warning("action %s returned undeclared outcome %r", name, result.outcome)
    return result


_DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[T ]\d{1,2}:[\d:.+\-Z]*)?")
_ID = re.compile(r"\b(?=[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9-]{3,}\b")
_DIGITS = re.compile(r"\d+")
MASK = "***"


def mask_phi(text: str, limit: int = 200) -> str:
    """The text with anything that could identify a patient masked: dates, ids (any word
    of 4+ characters holding a digit) and runs of digits."""
    text = _DATE.sub(MASK, text)
    text = _ID.sub(MASK, text)
    text = _DIGITS.sub(MASK, text)
    return " ".join(text.split())[:limit]


def language_of(facts: Facts) -> str:
    """The call's language."""
    return facts.language or "en-US"
