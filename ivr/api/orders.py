"""The JSON API's orders: read, search, and the acts of their life cycle."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

import sqlalchemy.orm as so
from flask import Response, abort, g, jsonify, request

from ivr.api import bp
from ivr.api.common import MAX_LIMIT, json_object, page_limit, problem
from ivr.api.presenters import order_to_dict
from ivr.auth import audit, audit_reads, require_role
from ivr.config import get_settings
from ivr.db import get_session
from ivr.safetext import storable
from ivr.services import drafts, lifecycle, orders
from ivr.store.models import Order, OrderStatus, Role

ORDER_READERS = (Role.ADMIN, Role.SUPERVISOR, Role.AGENT, Role.CLINICIAN)


@bp.get("/orders/<number>")
@require_role(*ORDER_READERS)
def get_order(number: str) -> Response:
    """Show an order by its order number or, while pended, its reference number.

    With `events` (its history) and `replaced_by`: the new order number once extended.
    """
    session = get_session()
    order = orders.find(session, number)
    if order is None:
        abort(404, description="No order with that number.")
    view = order_view(session, order)
    audit(session, g.user, "read", "order", order.reference_number)
    session.commit()
    return jsonify(view)


# --- search, and the acts of an order's life cycle ----------------------------------------

SEARCH_FILTERS = ("member_id", "ordering_npi", "status", "plan")
_CURSOR_PREFIX = "o:"

AGENT_ACTORS = (Role.ADMIN, Role.AGENT)  # extend, cancel, change the provider
CLINICIAN_ACTORS = (Role.ADMIN, Role.CLINICIAN)  # approve, deny
DRAFT_EDITORS = (Role.ADMIN, Role.SUPERVISOR, Role.AGENT)  # finish a caller's draft

# OrderError codes meaning "the request is well formed but the order's state refuses it":
# 409. `is_<status>` and `already_<status>` name the status that refuses (is_draft,
# is_pending_review, already_approved, ...). Every other code is a bad or missing field: 422
# (invalid_reason, unknown_facility, not_in_network).
CONFLICT_CODES = frozenset({"performed", "too_early", "same_facility"}) | lifecycle.REFUSAL_CODES
_NPI = re.compile(r"[0-9]{10}")


class BadRequestBody(Exception):
    """A body or field the API refuses before touching the order (422)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def error_status(code: str) -> int:
    """The HTTP status of an OrderError code: 409 for a state that refuses, else 422."""
    return 409 if code in CONFLICT_CODES else 422


def encode_cursor(order_id: int) -> str:
    """The opaque `next` value: urlsafe base64 of the last order's id, unpadded."""
    raw = f"{_CURSOR_PREFIX}{order_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    """The id a cursor stands for, or None when it isn't one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not text.startswith(_CURSOR_PREFIX):
        return None
    number = text.removeprefix(_CURSOR_PREFIX)
    if not number.isascii() or not number.isdigit() or len(number) > 18:
        return None
    value = int(number)
    return value if value > 0 else None


@bp.get("/orders")
@require_role(*ORDER_READERS)
def list_orders() -> Response | tuple[Response, int]:
    """Orders matching every given filter, newest first: `{"items": [...], "next": ...}`.

    Filters: member_id, ordering_npi, status (drafts only with `status=draft`; `expired` is
    an approved order past its expiry), plan. `limit` is 1 to 200 (default 50); `next` is
    null on the last page, else pass it back as `cursor` for the following page. A bad limit,
    cursor or status is a 422. Each search is audited once, its filters as the target.
    """
    args = request.args
    limit = page_limit()
    if limit is None:
        return problem(422, "invalid_limit", f"limit must be a whole number, 1 to {MAX_LIMIT}.")
    after_id = None
    if "cursor" in args:
        after_id = decode_cursor(args["cursor"].strip())
        if after_id is None:
            return problem(422, "invalid_cursor", "cursor must be the `next` of a page.")
    filters = {name: (args.get(name, "").strip() or None) for name in SEARCH_FILTERS}
    if filters["status"] is not None and filters["status"] not in lifecycle.LISTED_STATUSES:
        return problem(
            422,
            "invalid_status",
            "status must be one of: " + ", ".join(lifecycle.LISTED_STATUSES) + ".",
        )
    session = get_session()
    found = lifecycle.search(session, after_id=after_id, limit=limit + 1, **filters)
    page, more = list(found[:limit]), len(found) > limit
    target = "&".join(f"{k}={v}" for k, v in filters.items() if v) or "all"
    audit(session, g.user, "search", "order", target)
    audit_reads(session, g.user, "order", (o.reference_number for o in page))
    session.commit()
    return jsonify(
        items=[order_to_dict(o, zone=get_settings().timezone) for o in page],
        next=encode_cursor(page[-1].id) if more else None,
    )


def order_view(session: so.Session, order: Order) -> dict[str, Any]:
    """The order with its history and, once extended, the number that replaced it."""
    session.expire(order, ["events", "replaces"])  # reload what an act just added
    out = order_to_dict(order, zone=get_settings().timezone, with_events=True)
    replaced = None
    if order.status == OrderStatus.EXTENDED:
        replaced = lifecycle.replacement(session, order)
    out["replaced_by"] = replaced.order_number if replaced is not None else None
    return out


def _json_object(*, required: bool) -> dict[str, Any]:
    """The request's JSON object; optional bodies may be empty but never malformed."""
    if not request.get_data(cache=True).strip():
        if required:
            raise BadRequestBody("invalid_body", "a JSON object body is required")
        return {}
    body = json_object()
    if body is None:
        raise BadRequestBody("invalid_body", "the body must be a JSON object")
    return body


def _reason(body: dict[str, Any]) -> str:
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequestBody("invalid_reason", "a non-empty `reason` string is required")
    if not storable(reason):
        raise BadRequestBody("invalid_reason", "`reason` must not hold a NUL or broken Unicode")
    return reason


def _facility_npi(body: dict[str, Any]) -> str:
    npi = body.get("facility_npi")
    if not isinstance(npi, str) or not _NPI.fullmatch(npi.strip()):
        raise BadRequestBody("invalid_facility_npi", "`facility_npi` must be 10 digits")
    return npi.strip()


Act = Callable[[so.Session, Order, lifecycle.Actor, dict[str, Any]], Order]


def _act(number: str, action: str, act: Act, *, body_required: bool, created: bool = False) -> Any:
    """Run one life-cycle act on the order `number`: one commit and one audit row on success.

    404 unknown order, 422 bad body or field, 409 when the order's state refuses the act.
    """
    try:
        body = _json_object(required=body_required)
    except BadRequestBody as exc:
        return problem(422, exc.code, str(exc))
    session = get_session()
    order = orders.find(session, number)
    if order is None:
        abort(404, description="No order with that number.")
    actor = lifecycle.Actor(user_id=g.user.id)
    try:
        result = act(session, order, actor, body)
    except BadRequestBody as exc:
        session.rollback()
        return problem(422, exc.code, str(exc))
    except orders.OrderError as exc:
        session.rollback()
        return problem(error_status(exc.code), exc.code, str(exc))
    audit(session, g.user, action, "order", order.reference_number)
    view = order_view(session, result)  # before the commit: no second (locking) transaction
    session.commit()
    if created:
        response = jsonify(view)
        response.headers["Location"] = f"{bp.url_prefix}/orders/{result.order_number}"
        return response, 201
    return jsonify(view)


@bp.post("/orders/<number>/extend")
@require_role(*AGENT_ACTORS)
def extend_order(number: str) -> Any:
    """Extend an approved order in its last days (or expired): 201 Created, the NEW order.

    The answer is the new order (its `order_number` is new, `replaces` is the old one) with
    a Location header; the old order turns `extended`. The window is the app's
    IVR_EXTENSION_WINDOW_DAYS (default 14). 409 too_early, performed,
    is_<status> or already_<status>.
    """
    settings = get_settings()

    def act(s: so.Session, order: Order, actor: lifecycle.Actor, body: dict[str, Any]) -> Order:
        return lifecycle.extend(
            s, order, actor, zone=settings.timezone, window_days=settings.extension_window_days
        )

    return _act(number, "extend", act, body_required=False, created=True)


@bp.post("/orders/<number>/cancel")
@require_role(*AGENT_ACTORS)
def cancel_order(number: str) -> Any:
    """Cancel an approved or pended order: `{"reason": "..."}` (required, 1-200 chars)."""

    def act(s: so.Session, order: Order, actor: lifecycle.Actor, body: dict[str, Any]) -> Order:
        return lifecycle.cancel(s, order, actor, reason=_reason(body))

    return _act(number, "cancel", act, body_required=True)


@bp.post("/orders/<number>/change-provider")
@require_role(*AGENT_ACTORS)
def change_provider(number: str) -> Any:
    """Move the study to another facility: `{"facility_npi": "..."}` (10 digits).

    422 invalid_facility_npi, unknown_facility or not_in_network; 409 same_facility (the
    order is already there: a state conflict, not a bad field), is_<status> or
    already_<status>.
    """

    def act(s: so.Session, order: Order, actor: lifecycle.Actor, body: dict[str, Any]) -> Order:
        return lifecycle.change_provider(s, order, actor, facility_npi=_facility_npi(body))

    return _act(number, "change_provider", act, body_required=True)


@bp.post("/orders/<number>/approve")
@require_role(*CLINICIAN_ACTORS)
def approve_order(number: str) -> Any:
    """Approve a pended order: an order number valid 60 days; 409 already_<status> or is_draft."""
    zone = get_settings().timezone

    def act(s: so.Session, order: Order, actor: lifecycle.Actor, body: dict[str, Any]) -> Order:
        return lifecycle.approve(s, order, actor, zone=zone)

    return _act(number, "approve", act, body_required=False)


@bp.post("/orders/<number>/deny")
@require_role(*CLINICIAN_ACTORS)
def deny_order(number: str) -> Any:
    """Deny a pended order: `{"reason": "..."}` (required); 409 already_<status> or is_draft."""

    def act(s: so.Session, order: Order, actor: lifecycle.Actor, body: dict[str, Any]) -> Order:
        return lifecycle.deny(s, order, actor, reason=_reason(body))

    return _act(number, "deny", act, body_required=True)


# --- a draft finished by an agent -----------------------------------------------------------


def _draft_refused(exc: orders.OrderError) -> tuple[Response, int]:
    if exc.code == "not_a_draft":
        return problem(409, exc.code, str(exc))
    if isinstance(exc, drafts.Incomplete):
        return jsonify(error=exc.code, message=str(exc), missing=exc.missing), 422
    if isinstance(exc, drafts.FieldError):
        return jsonify(error=exc.code, message=str(exc), field=exc.field), 422
    return problem(error_status(exc.code), exc.code, str(exc))


@bp.patch("/orders/<reference_number>")
@require_role(*DRAFT_EDITORS)
def edit_draft(reference_number: str) -> Any:
    """Change a draft's fields: `{"member_id": ..., "exam_code": ...}` (the order JSON's
    names), each checked as the phone checks it: 422 naming the bad `field`; 409 once the
    request is no longer a draft."""
    body = json_object()
    if body is None or not body:
        return problem(422, "invalid_body", "a JSON object of fields to change is required")
    session = get_session()
    order = orders.find(session, reference_number)
    if order is None:
        abort(404, description="No order with that number.")
    try:
        drafts.edit_draft(session, order, body, user_id=g.user.id)
    except orders.OrderError as exc:
        session.rollback()
        return _draft_refused(exc)
    audit(session, g.user, "edit", "order", order.reference_number)
    view = order_view(session, order)
    session.commit()
    return jsonify(view)


@bp.post("/orders/<reference_number>/submit")
@require_role(*DRAFT_EDITORS)
def submit_draft(reference_number: str) -> Any:
    """Submit a draft: `{"answers": {question_id: value}}` to the criteria questions. 200 with
    the approved order (`order_number`, `expires_at`) or the pended one; 422 `missing`: each
    missing field or criteria answer; 409 when it is no longer a draft."""
    try:
        body = _json_object(required=False)
    except BadRequestBody as exc:
        return problem(422, exc.code, str(exc))
    answers = body.get("answers", {})
    if not isinstance(answers, dict):
        return jsonify(error="invalid", message="answers must be an object", field="answers"), 422
    session = get_session()
    order = orders.find(session, reference_number)
    if order is None:
        abort(404, description="No order with that number.")
    settings = get_settings()
    try:
        drafts.submit_draft(
            session,
            order,
            answers,
            criteria=drafts.criteria_for(session, order),
            zone=settings.timezone,
            user_id=g.user.id,
        )
    except orders.OrderError as exc:
        session.rollback()
        return _draft_refused(exc)
    audit(session, g.user, "submit", "order", order.reference_number)
    view = order_view(session, order)
    session.commit()
    return jsonify(view)
