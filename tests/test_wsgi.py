"""wsgi:app under gunicorn, as `make run` serves it: four worker processes, one store.

Twilio retries a webhook when an answer is slow, so the same turn can reach two workers at
once. Every turn of these calls is sent twice at the same moment; each pair must get the
same answer, and the store must hold each turn once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from ivr.simulate import Caller, HttpTransport, Reply
from ivr.store.models import Call
from tests.conftest import AUTH_TOKEN

ROOT = Path(__file__).resolve().parents[1]
CALLS = 8
# Plan 1, then at the main menu: a key that means nothing, repeat, the help desk, repeat.
KEYS = ["1", "9", "*", "3", "*"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """gunicorn -w 4 on 127.0.0.1, on this test's database; yields its URL and its log."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update(
        DATABASE_URL=db_url,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PUBLIC_BASE_URL=base,
        SECRET_KEY="test",
        IVR_BACKUP_NUMBER="+18005550123",
    )
    log = tmp_path / "gunicorn.log"
    cmd = [sys.executable, "-m", "gunicorn", "-k", "sync", "-w", "4", "--preload"]
    cmd += ["--bind", f"127.0.0.1:{port}", "--error-logfile", str(log), "wsgi:app"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:  # noqa: S310
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("gunicorn did not answer:\n" + log.read_text(errors="replace"))
            time.sleep(0.2)
        yield base, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def twice_at_once(caller: Caller, url: str, form: dict[str, str]) -> tuple[Reply, Reply]:
    barrier = threading.Barrier(2)

    def send() -> Reply:
        barrier.wait(timeout=10)
        return caller.send(url, form)

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.submit(send), pool.submit(send)
        return first.result(timeout=30), second.result(timeout=30)


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
