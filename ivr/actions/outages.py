"""Outage notices on the phone: announced once per call, and read by the help desk.

Registered by name for `flows/main.yaml` (the announcements) and `flows/helpdesk.yaml`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy.orm as so

from ivr.actions.registry import Facts, action, language_of
from ivr.engine import ActionResult
from ivr.services import outages
from ivr.store.models import Outage, utcnow


@action("announce_outages", outcomes={"none", "some"}, fills={"outage_text"})
def announce_outages(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """Active notices not yet announced on this call, for everyone or for the chosen plan."""
    heard = set(scratch.get("outages_heard") or [])
    found = [o for o in _active(session, params, slots, "all_plans") if o.id not in heard]
    if not found:
        return ActionResult("none")
    return ActionResult(
        "some",
        {"outage_text": _describe(found, facts)},
        scratch={"outages_heard": sorted(heard | {o.id for o in found})},
    )


@action("read_outages", outcomes={"none", "some"}, fills={"outage_text"})
def read_outages(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """Every active notice that concerns the caller's plan, with its expected end."""
    found = _active(session, params, slots, "for_plan")
    if not found:
        return ActionResult("none")
    return ActionResult("some", {"outage_text": _describe(found, facts)})


def _active(
    session: so.Session, params: Mapping[str, Any], slots: Mapping[str, Any], scope: str
) -> list[Outage]:
    """The notices playing now in the node's `scope` (by default `scope`) for the call's plan."""
    scope = str(params.get("scope", scope))
    return outages.active(session, now=utcnow(), plan=slots.get("plan"), scope=scope)


def _describe(found: list[Outage], facts: Facts) -> str:
    """Each notice as the line says it, with its expected end in the line's time zone."""
    prompts = facts.prompts
    language = language_of(facts)
    zone = ZoneInfo(facts.timezone)
    parts = []
    for outage in found:
        message = outages.message_for(outage, language)
        if prompts is None:
            parts.append(message)
            continue
        values = {"title": outage.title.rstrip("."), "message": message, "until": ""}
        key = "system.outage_open"
        if outage.ends_at is not None:
            local = outage.ends_at.astimezone(zone)
            hour = local.hour % 12 or 12
            clock = f"{hour}:{local.minute:02d}" if local.minute else str(hour)
            # The hour as the line says hours (3 p.m., 3 de la tarde), then the day.
            values["time"] = prompts.render(
                "queue.time.pm" if local.hour >= 12 else "queue.time.am", {"time": clock}
            )
            values["date"] = prompts.spoken_date(local.date().isoformat())
            values["until"] = f"{values['time']}, {values['date']}"
            key = "system.outage_until"
        parts.append(prompts.render(key, values))
    return " ".join(parts)
