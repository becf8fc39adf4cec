"""`GET /metrics` for Prometheus: what the line is doing, with no patient data in any label.

Two kinds of figures:
- counted by the process that served the request (turns by node and outcome, transfers by
  reason, webhook latency, apologies): prometheus_client counters and histograms. Under
  gunicorn set PROMETHEUS_MULTIPROC_DIR to an empty directory private to this app instance
  (`make run` makes one) so that every worker's counts are summed on each scrape;
- read from the store at each scrape (calls in progress, callers waiting and callbacks open
  per queue, the outbox's backlog): the same on every host, so aggregate them with `max`.

Labels are node names, outcomes, reasons, queue and route names: words from the flows and the
code, never a caller's number, id or answer.

Who may read it: with IVR_METRICS_TOKEN set, a request with `Authorization: Bearer <token>`;
without it, only a request made on this host (a loopback address, no proxy's forwarding
header), so a scraper on the host or a sidecar reads it and the internet never does.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterator

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ivr.config import get_settings
from ivr.db import get_store

bp = Blueprint("metrics", __name__)
log = logging.getLogger("ivr.metrics")

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
WEBHOOK_BLUEPRINTS = ("voice", "hold")
LIVE_CALL_HOURS = 4  # a call "in progress" longer than this lost its status callback
FORWARDING_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")

REGISTRY = CollectorRegistry(auto_describe=True)
TURNS = Counter(
    "ivr_turns",
    "Turns played, by the node that took the input and how it came out.",
    ["node", "outcome"],
    registry=REGISTRY,
)
TRANSFERS = Counter(
    "ivr_transfers",
    "Callers handed to a person, by the flow's reason and the queue.",
    ["reason", "queue"],
    registry=REGISTRY,
)
APOLOGIES = Counter(
    "ivr_webhook_apologies",
    "Webhooks answered with the apology (the store or a flow failed), by route.",
    ["route"],
    registry=REGISTRY,
)
WEBHOOK_SECONDS = Histogram(
    "ivr_webhook_seconds",
    "Time to answer a Twilio webhook, by route and status.",
    ["route", "status"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0),
    registry=REGISTRY,
)


def turn_played(node: str, outcome: str) -> None:
    TURNS.labels(node=node, outcome=outcome or "none").inc()


def transferred(reason: str, queue: str) -> None:
    TRANSFERS.labels(reason=reason or "none", queue=queue).inc()


def apologised() -> None:
    APOLOGIES.labels(route=request.endpoint or "unknown").inc()


class StoreCollector(Collector):
    """Figures read from the store at each scrape (store-wide, the same on every host)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from ivr.services import agents
        from ivr.services.messaging import FAILED, QUEUED
        from ivr.store.models import Call, OutboxMessage

        now = dt.datetime.now(dt.UTC)
        live = GaugeMetricFamily(
            "ivr_calls_in_progress",
            f"Calls on the line now (in a flow, on hold or with an agent), started in the"
            f" last {LIVE_CALL_HOURS} hours.",
        )
        waiting = GaugeMetricFamily(
            "ivr_queue_waiting", "Callers on hold, by queue.", labels=["queue"]
        )
        longest = GaugeMetricFamily(
            "ivr_queue_longest_wait_seconds", "The longest wait on hold now.", labels=["queue"]
        )
        callbacks = GaugeMetricFamily(
            "ivr_queue_callbacks_open", "Callbacks still to make, by queue.", labels=["queue"]
        )
        backlog = GaugeMetricFamily(
            "ivr_outbox_backlog", "Texts waiting to be sent (queued, or failed and retrying)."
        )
        oldest = GaugeMetricFamily(
            "ivr_outbox_oldest_seconds", "Age of the oldest text still waiting to be sent."
        )
        with get_store().read_sessionmaker() as session:
            in_progress = session.scalar(
                sa.select(sa.func.count(Call.id)).where(
                    Call.status.not_in(agents.FINAL_STATUSES),
                    Call.ended_at.is_(None),
                    Call.started_at >= now - dt.timedelta(hours=LIVE_CALL_HOURS),
                )
            )
            live.add_metric([], int(in_progress or 0))
            table = current_app.extensions["ivr.flows"].queue_table
            override = get_settings().hours_override
            summaries = agents.queue_summaries(session, table, override=override, now=now)
            for queue in summaries:
                waiting.add_metric([queue["name"]], queue["waiting"])
                longest.add_metric([queue["name"]], queue["longest_wait_seconds"])
                callbacks.add_metric([queue["name"]], queue["callbacks_open"])
            pending = sa.and_(
                OutboxMessage.status.in_((QUEUED, FAILED)),
                OutboxMessage.next_attempt_at.is_not(None),
            )
            number, first = session.execute(
                sa.select(
                    sa.func.count(OutboxMessage.id), sa.func.min(OutboxMessage.created_at)
                ).where(pending)
            ).one()
        backlog.add_metric([], int(number or 0))
        if first is not None and first.tzinfo is None:
            first = first.replace(tzinfo=dt.UTC)
        oldest.add_metric([], max(0.0, (now - first).total_seconds()) if first else 0.0)
        yield from (live, waiting, longest, callbacks, backlog, oldest)


def allowed() -> bool:
    """A bearer IVR_METRICS_TOKEN; without one set, a request from this host only."""
    token = get_settings().metrics_token
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False  # came through a proxy: whoever sent it is not on this host
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
def metrics() -> Response:
    """The figures in Prometheus' text format (see the module's docstring for who may)."""
    if not allowed():
        log.warning("refused a metrics scrape")
        return Response("forbidden\n", status=403, mimetype="text/plain")
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_ENV):
        # Every worker's counts, summed.
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    store = CollectorRegistry()
    store.register(StoreCollector())
    try:
        body += generate_latest(store)
    except sa.exc.SQLAlchemyError as exc:  # the process figures still tell something
        log.error("metrics without the store's figures: %s", type(exc).__name__)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Time every webhook; serve /metrics."""

    @app.before_request
    def _start() -> None:
        if request.blueprint in WEBHOOK_BLUEPRINTS:
            g.ivr_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.pop("ivr_started", None)
        if started is not None:
            WEBHOOK_SECONDS.labels(
                route=request.endpoint or "unknown", status=str(response.status_code)
            ).observe(time.perf_counter() - started)
        return response

    app.register_blueprint(bp)
