"""wsgi:app under gunicorn, as `make run` serves it: four worker processes, one store.

Twilio retries a webhook when an answer is slow, so the same turn can reach two workers at
once. Every turn of these calls is sent twice at the same moment; each pair must get the
same answer, and the store must hold each turn once.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

from ivr.simulate import Caller, HttpTransport, Reply
from ivr.store.models import Call
from tests import gunicorn
from tests.conftest import AUTH_TOKEN
from tests.gunicorn import twice_at_once

server = gunicorn.server  # the fixture

CALLS = 8
# Plan 1, then at the main menu: a key that means nothing, repeat, the help desk, repeat.
KEYS = ["1", "9", "*", "3", "*"]


def a_call(caller: Caller, sid: str) -> list[tuple[Reply, Reply]]:
    pairs = [twice_at_once(caller, caller.base_url + "/voice/incoming", caller.form(sid, {}))]
    for key in KEYS:
        gather = pairs[-1][0].gather
        assert gather is not None, pairs[-1][0].body
        pairs.append(
            twice_at_once(caller, gather.get("action", ""), caller.form(sid, {"Digits": key}))
        )
    return pairs


def test_turns_sent_twice_at_once_to_four_workers_are_answered_alike_and_kept_once(
    server: tuple[str, Path], db_url: str
) -> None:
    base, log = server
    caller = Caller(HttpTransport(timeout=20), base_url=base, auth_token=AUTH_TOKEN)
    sids = [f"CA{i:032x}" for i in range(1, CALLS + 1)]
    with ThreadPoolExecutor(CALLS) as pool:
        calls = dict(zip(sids, pool.map(lambda sid: a_call(caller, sid), sids), strict=True))

    for sid, pairs in calls.items():
        assert len(pairs) == len(KEYS) + 1
        for first, second in pairs:
            assert (first.status, second.status) == (200, 200), (sid, first.body, second.body)
            assert first.body == second.body, sid
            assert first.gather is not None, first.body
        # Plan 1 then the help desk (3): the last answers are the help desk's menu, twice.
        assert pairs[-1][0].heard == pairs[-2][0].heard != pairs[1][0].heard

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            for sid in sids:
                call = conn.execute(sa.select(Call.id, Call.turn).where(Call.sid == sid)).one()
                turns = conn.scalars(
                    sa.text("SELECT turn FROM call_events WHERE call_id = :id ORDER BY turn"),
                    {"id": call.id},
                ).all()
                assert call.turn == len(KEYS)
                assert turns == list(range(len(KEYS) + 1))
    finally:
        engine.dispose()
    assert "Traceback" not in log.read_text(errors="replace")
