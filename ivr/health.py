"""Liveness for load balancers and operators: is the app up, does the store answer."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify

from ivr.store import get_store

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Answer 200 when the store answers, 503 saying what failed when it does not."""
    # A session that only reads: it never waits behind the webhooks' write lock.
    with get_store().read_sessionmaker() as session:
        try:
            session.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
            body = {"status": "unavailable", "database": f"error: {type(exc).__name__}: {reason}"}
            return jsonify(body), 503
    return jsonify(status="ok", database="ok"), 200
