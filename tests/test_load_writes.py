"""Load with writes, under gunicorn -w 4 on both stores: calls whose turns write (draft
saves, an order submitted, an extension, a cancel, a change of imaging provider, a password
reset, the registration steps by text, a ticket), every turn
posted twice at the same moment, while an agent reads each call and searches the orders
through the API (reads that write an audit row). Nothing may answer 5xx, every pair is
answered alike, and every write lands exactly once.
"""

from __future__ import annotations

import datetime as dt
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from ivr import create_app
from ivr.services import orders
from ivr.simulate import Caller, HttpTransport, Reply
from ivr.store.models import (
    AuditEntry,
    Call,
    CallEvent,
    Order,
    OrderEvent,
    OrderStatus,
    OutboxMessage,
    ResetCode,
    Ticket,
    utcnow,
)
from tests import gunicorn
from tests.conftest import AUTH_TOKEN, base_config, bearer
from tests.gunicorn import twice_at_once

ZONE = "America/New_York"  # the line's zone in the tests (IVR_TIMEZONE)


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """gunicorn as `make run` serves it; two agents reading as fast as they can are many
    agents' worth of requests, so the per-token limit is lifted for them."""
    with gunicorn.serve(db_url, tmp_path, IVR_API_RATE_LIMIT="1000000") as running:
        yield running


WHITFIELD = "1234567893"
MORALES_MOBILE = "+12125550143"  # a portal account's phone: ZIP 10016
STRANGER = "+13125550000"
Step = tuple[str, str]  # ("press", digits) or ("say", words)
INTAKE: list[Step] = [
    ("press", "1"),  # Summit Health Plan
    ("press", "1"),  # a new order number
    ("press", WHITFIELD),
    ("press", "100200300"),  # Maria Lopez
    ("press", "03051960"),
    ("press", "70450"),  # CT head without contrast: no clinical rule
    ("say", "headache"),
    ("say", "headaches every morning for three weeks"),
    ("say", "ibuprofen without relief"),
    ("press", "2358850222"),  # Lakeside Diagnostic Imaging
    ("press", "1"),  # submit
]
# From a registered mobile: 1 at "this phone's account, or a different one" (issue 10).
RESET: list[Step] = [
    ("press", "1"),
    ("press", "3"),
    ("press", "1"),
    ("press", "1"),
    ("press", "10016"),
]
REGISTRATION: list[Step] = [("press", "1"), ("press", "3"), ("press", "3"), ("press", "1")]
LINCOLN_PARK = "1696037682"  # a Summit facility other than the seeded orders'
TICKET: list[Step] = [
    ("press", "1"),
    ("press", "3"),
    ("press", "4"),  # a data issue
    ("say", "the eligibility page shows the wrong plan"),
    ("press", "2"),  # no username
]


def to_status(number: str) -> list[Step]:
    return [("press", "1"), ("press", "2"), ("press", number + "#"), ("press", WHITFIELD + "#")]


@dataclass
class Script:
    sid: str
    steps: list[Step]
    from_number: str = STRANGER


def play(base: str, script: Script) -> list[tuple[Reply, Reply]]:
    """The whole call, each webhook sent twice at once; stops where the line stops asking."""
    caller = Caller(
        HttpTransport(timeout=30),
        base_url=base,
        auth_token=AUTH_TOKEN,
        from_number=script.from_number,
    )
    pairs = [twice_at_once(caller, base + "/voice/incoming", caller.form(script.sid, {}))]
    for kind, value in script.steps:
        gather = pairs[-1][0].gather
        assert gather is not None, (script.sid, pairs[-1][0].heard)
        field = (
            {"Digits": value} if kind == "press" else {"SpeechResult": value, "Confidence": "0.9"}
        )
        url = gather.get("action", "")
        pairs.append(twice_at_once(caller, url, caller.form(script.sid, field)))
    return pairs


def seed_orders(db_url: str, count: int) -> list[str]:
    """Approved orders in their last days (so they can be extended); their numbers."""
    app = create_app(base_config(db_url))
    complete = {
        "plan": "SUMMIT",
        "member_id": "100200300",
        "member_dob": "1960-03-05",
        "ordering_npi": WHITFIELD,
        "exam": "72148",
        "diagnosis": "M54.50",
        "facility": "2297655682",
        "symptoms": "low back pain",
        "clinical_history": "physical therapy",
    }
    numbers = []
    with app.app_context():
        from ivr.db import get_session

        s = get_session()
        for i in range(count):
            draft = orders.save_draft(s, call_sid=f"CAseed{i}", slots=complete)
            orders.submit(s, draft, outcome="approved", rule_id=None, reason=None, zone=ZONE)
            draft.expires_at = utcnow() + dt.timedelta(days=3)
            numbers.append(draft.order_number)
        s.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "agent-load", "--role", "agent"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    app.extensions["ivr.store"].engine.dispose()
    return [*numbers, token]


def agent_reads(base: str, token: str, sids: list[str], stop: threading.Event) -> Counter[int]:
    """Read every call and search the orders, over and over, until `stop`; status counts."""
    seen: Counter[int] = Counter()
    paths = [f"/api/v1/calls/{sid}" for sid in sids] + ["/api/v1/orders?plan=SUMMIT"]
    while not stop.is_set():
        for path in paths:
            request = urllib.request.Request(base + path, headers=bearer(token))
            try:
                with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
                    seen[resp.status] += 1
            except urllib.error.HTTPError as exc:
                seen[exc.code] += 1
    return seen


def test_writing_turns_twice_at_once_with_audited_reads(
    server: tuple[str, Path], db_url: str
) -> None:
    base, log = server
    *numbers, token = seed_orders(db_url, 3)
    extend, cancel, move = numbers
    scripts = [
        Script("CA" + "a1" * 16, INTAKE),
        Script("CA" + "a2" * 16, INTAKE),
        Script("CA" + "b1" * 16, to_status(extend) + [("press", "1")]),  # extend
        Script(
            "CA" + "b2" * 16,
            to_status(cancel) + [("press", "2"), ("press", "3"), ("press", "1")],  # cancel
        ),
        Script(
            "CA" + "b3" * 16,
            to_status(move) + [("press", "3"), ("press", LINCOLN_PARK), ("press", "1")],
        ),
        Script("CA" + "c1" * 16, RESET, from_number=MORALES_MOBILE),
        Script("CA" + "c3" * 16, REGISTRATION),
        Script("CA" + "c2" * 16, TICKET),
    ]
    sids = [s.sid for s in scripts]
    stop = threading.Event()
    with ThreadPoolExecutor(2) as agents:
        reading = [agents.submit(agent_reads, base, token, sids, stop) for _ in range(2)]
        try:
            with ThreadPoolExecutor(len(scripts)) as pool:
                played = dict(zip(sids, pool.map(lambda s: play(base, s), scripts), strict=True))
        finally:
            stop.set()
        reads = sum((r.result(timeout=60) for r in reading), Counter())

    for sid, pairs in played.items():
        for first, second in pairs:
            assert (first.status, second.status) == (200, 200), (sid, first.body, second.body)
            assert first.body == second.body, sid
    assert set(reads) <= {200, 404}, reads  # 404: a call not started yet
    assert reads[200] > 0

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:

            def count(model: type, *where: sa.ColumnElement[bool]) -> int:
                return conn.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

            for script in scripts:
                call_id = conn.scalar(sa.select(Call.id).where(Call.sid == script.sid))
                turns = conn.scalars(
                    sa.select(CallEvent.turn)
                    .where(CallEvent.call_id == call_id)
                    .order_by(CallEvent.turn)
                ).all()
                assert turns == list(range(len(script.steps) + 1)), script.sid
            for sid in sids[:2]:  # each intake: one order, approved, with its number
                [row] = conn.execute(
                    sa.select(Order.status, Order.order_number).where(Order.call_sid == sid)
                ).all()
                assert row.status == OrderStatus.APPROVED and row.order_number, sid
            original = sa.select(Order.id).where(Order.order_number == extend).scalar_subquery()
            assert count(Order, Order.replaces_id == original) == 1
            cancelled = sa.select(Order.id).where(Order.order_number == cancel).scalar_subquery()
            assert (
                count(OrderEvent, OrderEvent.order_id == cancelled, OrderEvent.kind == "cancelled")
                == 1
            )
            moved = sa.select(Order.id).where(Order.order_number == move).scalar_subquery()
            assert (
                count(
                    OrderEvent, OrderEvent.order_id == moved, OrderEvent.kind == "provider_changed"
                )
                == 1
            )
            assert conn.scalar(sa.select(Order.facility_npi).where(Order.id == moved)) == (
                LINCOLN_PARK
            )
            assert count(ResetCode) == 1
            assert count(OutboxMessage, OutboxMessage.kind == "reset_code") == 1
            assert count(OutboxMessage, OutboxMessage.kind == "registration_steps") == 1
            assert count(Ticket) == 1
            # One row per answered read or search; each order a search showed is read too.
            order_reads = AuditEntry.action == "read", AuditEntry.target_type == "order"
            assert (
                count(AuditEntry, AuditEntry.action == "search")
                + count(AuditEntry, AuditEntry.action == "read", AuditEntry.target_type == "call")
                == reads[200]
            )
            assert count(AuditEntry, *order_reads) >= 1
    finally:
        engine.dispose()
    assert "Traceback" not in log.read_text(errors="replace")
