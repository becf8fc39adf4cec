"""Liveness for load balancers and operators: is the app up, does the store answer."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify

from ivr.db import get_store

bp = Blueprint("health", __name__)
log = logging.getLogger("ivr.health")


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Answer 200 when the store answers, 503 "unavailable" when it does not."""
    # A session that only reads: it never waits behind the webhooks' write lock.
    with get_store().read_sessionmaker() as session:
        try:
            session.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            # The reason is for operators, in the log: the driver's text names hosts, files and
            # users, which an unauthenticated endpoint must not tell anyone who asks.
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
            log.warning("health check: store unavailable: %s: %s", type(exc).__name__, reason)
            return jsonify(status="unavailable", database="unavailable"), 503
    return jsonify(status="ok", database="ok"), 200
