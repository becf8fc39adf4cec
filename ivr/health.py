"""Liveness for load balancers and operators: is the app up, does the store answer, can
the line answer calls (is there a published version this process can serve)."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify

from ivr.db import get_library, get_store
from ivr.engine import FlowError

bp = Blueprint("health", __name__)
log = logging.getLogger("ivr.health")


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Answer 200 when the store answers and the line can answer calls ("degraded" when it
    serves an older version because the newest cannot be loaded), 503 "unavailable" when
    either cannot."""
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
        try:
            served = get_library().current(session)
        except (LookupError, FlowError, sa.exc.SQLAlchemyError) as exc:
            # No version this process can load: every new call would hear an apology.
            log.error("health check: the line cannot answer calls (%s)", type(exc).__name__)
            return jsonify(status="unavailable", database="ok", line="unavailable"), 503
    skipped = [v for v in get_library().unloadable if v > served.id]
    if skipped:
        # Calls are answered, on an older version: a newer one cannot be loaded here.
        return jsonify(
            status="degraded",
            database="ok",
            line="ok",
            serving_version=served.id,
            newest_version=max(skipped),
        ), 200
    return jsonify(status="ok", database="ok", line="ok"), 200
