"""What the API shows of a call, an order, an outage notice and a text message.

The business acts return rows; the JSON shape is the API's to choose, so it is built here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy.orm as so

from ivr.services import messaging, orders, outages, redaction, validity
from ivr.store.models import Call, Order, Outage, OutboxMessage, utcnow


def call_to_dict(call: Call, *, with_events: bool = True) -> dict[str, Any]:
    """The call as the API shows it."""
    out: dict[str, Any] = {
        "sid": call.sid,
        "from": call.from_number,
        "to": call.to_number,
        "plan": call.plan,
        "language": call.language,
        "status": call.status,
        "outcome": call.outcome,
        "node": call.node,
        "queue": call.queue,
        "transfer_reason": call.transfer_reason,
        "slots": {
            k: v for k, v in redaction.kept_slots(call.slots or {}).items() if not k.startswith("_")
        },
        "flow_version": call.flow_version_id,
        "started_at": _iso(call.started_at),
        "ended_at": _iso(call.ended_at),
        "duration": call.duration_s,
        "turns": max(call.turn + 1, 0),
    }
    if with_events:
        out["events"] = [
            {
                "turn": e.turn,
                "node": e.node,
                "next_node": e.next_node,
                "input_kind": e.input_kind,
                "raw_input": e.raw_input,
                "matched": e.matched,
                "confidence": e.confidence,
                "outcome": e.outcome,
                "latency_ms": e.latency_ms,
                "at": _iso(e.created_at),
            }
            for e in call.events
        ]
    return out


NAME_FIELDS = ("patient_name", "exam_description", "ordering_physician_name", "facility_name")


def order_to_dict(order: Order, *, zone: str, with_events: bool = False) -> dict[str, Any]:
    """The order as the API shows it; `valid_through` is its last valid day in `zone`."""

    out: dict[str, Any] = {
        "order_number": order.order_number,
        "reference_number": order.reference_number,
        "status": orders.effective_status(order).value,
        "plan": order.plan,
        "member_id": order.member_id,
        "member_dob": _iso(order.member_dob),
        "ordering_npi": order.ordering_npi,
        "exam_code": order.exam_code,
        "diagnosis_codes": list(order.diagnosis_codes or []),
        "facility_npi": order.facility_npi,
        "symptoms": order.symptoms,
        "clinical_history": order.clinical_history,
        "left_for_clinical_review": orders.left_for_review(order),
        "criteria_rule": order.criteria_rule,
        "criteria_answers": dict(order.criteria_answers or {}),
        "decision_reason": order.decision_reason,
        "source": order.source,
        "call_sid": order.call_sid,
        "created_at": _iso(order.created_at),
        "submitted_at": _iso(order.submitted_at),
        "issued_at": _iso(order.issued_at),
        "expires_at": _iso(order.expires_at),
        "valid_through": (
            validity.last_day(order.expires_at, zone).isoformat() if order.expires_at else None
        ),
        "replaces": order.replaces.order_number if order.replaces is not None else None,
        "performed_at": _iso(order.performed_at),
        "cancelled_at": _iso(order.cancelled_at),
        "cancel_reason": order.cancel_reason,
        "reviewed_at": _iso(order.reviewed_at),
    }
    # The names an agent reads out, next to the codes.
    session = so.object_session(order)
    if session is not None:
        out.update(orders.display_names(session, order))
    else:
        out.update(dict.fromkeys(NAME_FIELDS))
    if with_events:
        out["events"] = [
            {
                "kind": e.kind,
                "at": _iso(e.at),
                "call_sid": e.call_sid,
                "user_id": e.user_id,
                "before": e.before,
                "after": e.after,
            }
            for e in order.events
        ]
    return out


def outage_to_dict(outage: Outage, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The notice as the API shows it; `active` and `state` are judged at `now`."""
    now = now if now is not None else utcnow()
    return {
        "id": outage.id,
        "title": outage.title,
        "message": dict(outage.message or {}),
        "systems": list(outage.systems or []),
        "plans": list(outage.plans) if outage.plans is not None else None,
        "starts_at": _utc_iso(outage.starts_at),
        "ends_at": _utc_iso(outage.ends_at),
        "active": outages.is_active(outage, now),
        "state": outages.state(outage, now),
        "created_by": outage.created_by,
        "created_at": _utc_iso(outage.created_at),
    }


def message_to_dict(message: OutboxMessage) -> dict[str, Any]:
    """The message as admins see it: any secret masked."""

    return {
        "id": message.id,
        "to": message.to,
        "kind": message.kind,
        "status": message.status,
        "body": messaging.mask_secrets(message.body),
        "attempts": message.attempts,
        "created_at": _iso(message.created_at),
        "sent_at": _iso(message.sent_at),
        "next_attempt_at": _iso(message.next_attempt_at),
        "error": messaging.mask_secrets(message.error),
        "twilio_sid": message.twilio_sid,
        "call_sid": message.call_sid,
    }


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


# Outage times are shown in UTC, whatever zone they were given in.
def _utc_iso(when: dt.datetime | None) -> str | None:
    return when.astimezone(dt.UTC).isoformat() if when is not None else None
