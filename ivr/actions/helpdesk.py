"""The help desk's flow actions: outage notices, password resets, registration texts, tickets.

Registered by name for `flows/helpdesk.yaml` and `flows/main.yaml`. Account lookups keep
their findings in the call's scratch (`portal_*`), never in what the caller hears, so an
unknown account and a known one sound exactly alike until a second factor matches.
Texts are only queued in the outbox here; `ivr send-outbox --watch` sends them, so a
webhook never waits on Twilio.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy.orm as so

from ivr.actions.registry import Facts, action
from ivr.engine import ActionResult
from ivr.match.ids import normalize_phone
from ivr.services import calls, messaging, portal, tickets
from ivr.store.models import PortalAccount, utcnow

# The registration text, in the caller's language.
REGISTRATION_SMS = {
    "en-US": (
        "ProviderPortal registration: open the portal and choose Register; your password "
        "arrives within 24 hours. Already registered for another health plan? Sign in, open "
        "Manage My Groups, and choose Add a health plan."
    ),
    "es-US": (
        "Registro en ProviderPortal: abra el portal y elija Register (Registrarse); su "
        "contraseña llegará en un plazo de 24 horas. ¿Ya está registrado con otro plan de "
        "salud? Inicie sesión, abra Manage My Groups y elija Add a health plan."
    ),
}
# What `portal.start_reset` answers, and "cannot" when no account was identified.
RESET = {
    "cannot",
    portal.ACCOUNT_LOCKED,
    portal.LOCKED_OUT,
    portal.RATE_LIMITED,
    portal.NO_MOBILE,
    portal.CODE_SENT,
}


@action("reset_by_caller_id", outcomes={"found", "none"}, fills=set())
def reset_by_caller_id(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """A caller id registered as an account's mobile identifies that account."""
    account = portal.find_by_caller_id(session, normalize_phone(facts.from_number))
    if account is None:
        return ActionResult("none")
    return ActionResult("found", scratch={"portal_candidates": [account.id]})


@action("identify_account", outcomes={"ok"}, fills=set())
def identify_account(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """An NPI or TIN names the candidate accounts; the second factor will pick one."""
    digits = str(params.get("value") or "")
    found = portal.find_by_identifier(session, digits)
    if not found:
        portal.record_attempt(session, None, portal.UNKNOWN, call_sid=facts.call_sid, now=utcnow())
    # Identified by the TIN, its last four digits prove nothing more: only the ZIP counts.
    by_tin = len(digits) == 9
    return ActionResult(
        "ok", scratch={"portal_candidates": [a.id for a in found], "portal_by_tin": by_tin}
    )


@action("check_account_factor", outcomes={"ok", "locked_out", "no_match"}, fills=set())
def check_account_factor(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """The last four of the TIN or the ZIP on file picks exactly one candidate account."""
    now, sid = utcnow(), facts.call_sid
    digits = str(params.get("value") or "")
    candidates = [session.get(PortalAccount, i) for i in scratch.get("portal_candidates") or []]
    accounts = [a for a in candidates if a is not None]
    by_tin = bool(scratch.get("portal_by_tin"))
    matched = [a for a in accounts if portal.check_factor(a, digits, by_tin=by_tin)]
    caller = facts.from_number
    if len(matched) == 1:
        account = matched[0]
        if portal.phone_locked(session, account, caller, now):
            portal.record_attempt(
                session, account, portal.LOCKED_OUT, call_sid=sid, now=now, caller=caller
            )
            return ActionResult("locked_out")
        portal.record_attempt(
            session, account, portal.IDENTIFIED, call_sid=sid, now=now, caller=caller
        )
        return ActionResult("ok", scratch={"portal_account": account.id})
    for account in accounts:
        portal.note_failed_identification(session, account, caller=caller, call_sid=sid, now=now)
    if not accounts:
        portal.record_attempt(
            session, None, portal.WRONG_FACTOR, call_sid=sid, now=now, caller=caller
        )
    return ActionResult("no_match")


@action("start_password_reset", outcomes=RESET, fills=set())
def start_password_reset(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """Issue a one-time code and queue its text to the mobile on file."""
    account = session.get(PortalAccount, scratch.get("portal_account") or -1)
    if account is None:
        return ActionResult("cannot")
    outcome = portal.start_reset(
        session,
        account,
        call_sid=facts.call_sid,
        now=utcnow(),
        language=facts.language,
        caller=facts.from_number,
        sandbox=calls.is_sandbox(session, facts.call_sid),
    )
    # The plain code dies here: the worker sends a fresh one (`portal.reissue_code`).
    return ActionResult(outcome.outcome)


@action("send_registration_steps", outcomes={"ok", "no_phone"}, fills=set())
def send_registration_steps(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """Text the registration steps to the caller's phone."""
    phone = normalize_phone(facts.from_number)
    if phone is None:
        return ActionResult("no_phone")
    messaging.queue(
        session,
        to=phone,
        kind="registration_steps",
        body_masked=REGISTRATION_SMS.get(facts.language, REGISTRATION_SMS["en-US"]),
        call_sid=facts.call_sid,
    )
    return ActionResult("ok")


@action("open_ticket", outcomes={"ok"}, fills={"ticket_number"})
def open_ticket(
    session: so.Session,
    facts: Facts,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """Write the problem down as a ticket; its number goes with the transfer."""
    ticket = tickets.open_ticket(
        session,
        kind=str(slots.get("ticket_kind") or "data_issue"),
        plan=slots.get("plan"),
        username=slots.get("ticket_username"),
        description=slots.get("ticket_description"),
        confidence=slots.get("ticket_description_confidence"),
        call_sid=facts.call_sid,
    )
    return ActionResult("ok", {"ticket_number": ticket.number})
