"""Actions a flow may call by name. Flows are edited by admins, so names resolve only here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy.orm as so

from ivr.engine import ActionResult

# An action: (session, call context, params, slots) -> ActionResult
Action = Callable[
    [so.Session, Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]], ActionResult
]

ACTIONS: dict[str, Action] = {}


def action(name: str) -> Callable[[Action], Action]:
    """Register a service function as a flow action under `name`."""

    def register(fn: Action) -> Action:
        if name in ACTIONS:
            raise ValueError(f"action {name!r} registered twice")
        ACTIONS[name] = fn
        return fn

    return register


def language_of(facts: Mapping[str, Any]) -> str:
    """The call's language."""
    return str(facts.get("language") or "en-US")
