"""The clinicians' review worklist: pended requests oldest first, each with what a reviewer
needs, and the approve / deny forms. The acts are ivr.services.lifecycle's, as in the API
and the `ivr review` CLI: each is an order event with the clinician's user id."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ivr.auth import audit, audit_reads
from ivr.config import get_settings
from ivr.console import bp
from ivr.console.signin import CLINICIANS, current_user, require
from ivr.db import get_session
from ivr.services import lifecycle, orders
from ivr.services import review as review_service
from ivr.store.models import OrderStatus

REASON_LIMIT = 2000


def _worklist(error: str | None = None, status: int = 200) -> ResponseReturnValue:
    db = get_session()
    items = review_service.worklist(db)
    audit(db, current_user(), "view", "review", "worklist")
    audit_reads(db, current_user(), "order", (i["reference_number"] for i in items))
    db.commit()
    page = render_template(
        "console/review.html", items=items, error=error, reason_limit=REASON_LIMIT
    )
    return page, status


@bp.route("/review")
@require(*CLINICIANS)
def review() -> ResponseReturnValue:
    return _worklist()


def _refusal(reference: str, exc: orders.OrderError) -> tuple[str, int]:
    if exc.code == "invalid_reason":
        return f"Request {reference}: {exc}. Nothing was changed.", 422
    if exc.code in lifecycle.REFUSAL_CODES:
        status = exc.code.split("_", 1)[1].replace("_", " ")
        return (
            f"Request {reference} is no longer pending review: it is {status}. "
            "Nothing was changed.",
            409,
        )
    return f"Request {reference} was refused: {exc}.", 409


@bp.route("/review/<reference>/<decision>", methods=["POST"])
@require(*CLINICIANS)
def decide(reference: str, decision: str) -> ResponseReturnValue:
    """Approve (an optional note) or deny (a reason is required) one pended request."""
    if decision not in ("approve", "deny"):
        return _worklist("There is no such decision.", 404)
    db = get_session()
    user = current_user()
    assert user is not None  # require() let a signed-in user through
    reason = request.form.get("reason", "").strip()
    order = orders.find(db, reference)
    if order is None:
        return _worklist(f"There is no request {reference[:20]}.", 404)
    actor = lifecycle.Actor(user_id=user.id)
    try:
        if decision == "approve":
            order = lifecycle.approve(
                db, order, actor, zone=get_settings().timezone, note=reason or None
            )
        else:
            if not reason:
                raise orders.OrderError("invalid_reason", "a denial needs a reason")
            order = lifecycle.deny(db, order, actor, reason=reason)
    except orders.OrderError as exc:
        db.rollback()
        return _worklist(*_refusal(order.reference_number, exc))
    audit(db, user, decision, "order", order.reference_number)
    db.commit()
    if order.status == OrderStatus.APPROVED:
        flash(
            f"Request {order.reference_number} approved: order number {order.order_number}.",
            "approved",
        )
    else:
        flash(f"Request {order.reference_number} denied.", "denied")
    return redirect(url_for("console.review"), 303)
