"""The store gone mid-calls, and a worker killed mid-turn, under gunicorn -w 4 as `make run`
serves it. Callers in an outage hear the apology and are dialled to IVR_BACKUP_NUMBER (TwiML
that needs no database); the app recovers on its own when the store is back; Twilio's retry
of a turn whose worker died runs it once: one order, no turn lost or stored twice.

PostgreSQL is "stopped" by cutting a TCP proxy the test starts (every connection dropped, new
ones refused), never by stopping the machine's cluster.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from ivr.simulate import Caller, HttpTransport, Reply, SimulatedCall
from ivr.store.models import Call, CallEvent, Order
from tests import gunicorn
from tests.conftest import AUTH_TOKEN
from tests.said import said
from tests.tcpproxy import proxy
from tests.test_load_writes import INTAKE

BACKUP = "+18005550123"  # tests/gunicorn.py's IVR_BACKUP_NUMBER


def turns(db_url: str, sid: str) -> list[int]:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(
                conn.scalars(
                    sa.select(CallEvent.turn)
                    .join(Call, Call.id == CallEvent.call_id)
                    .where(Call.sid == sid)
                    .order_by(CallEvent.turn)
                )
            )
    finally:
        engine.dispose()


def apologised(reply: Reply) -> bool:
    return (
        reply.status == 200
        and reply.dialed == BACKUP
        and reply.heard == [said("system.store_down")]
        and reply.gather is None
    )


def test_calls_in_a_database_outage_go_to_the_backup_and_the_line_recovers_alone(
    db_url: str, tmp_path: Path
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL: a server that can go away")
    url = sa.make_url(db_url)
    with proxy(url.host or "127.0.0.1", url.port or 5432) as db:
        through = url.set(host="127.0.0.1", port=db.port).render_as_string(hide_password=False)
        with gunicorn.serve(through, tmp_path) as (base, log):
            caller = Caller(HttpTransport(timeout=30), base_url=base, auth_token=AUTH_TOKEN)
            live = [caller.dial() for _ in range(4)]
            for call in live:
                assert call.press("1").gather is not None  # the plan: at the main menu
            db.cut()
            started = time.monotonic()
            for call in live:
                call.press("2")  # an existing order: the store is gone
                assert apologised(call.reply), call.reply.body
            newcomer = caller.dial()
            assert apologised(newcomer.reply), newcomer.reply.body
            assert time.monotonic() - started < 5 * 10  # each well inside Twilio's 15 s
            db.restore()
            # Every worker serves again without a restart: more new calls than workers.
            for _ in range(8):
                call = caller.dial()
                assert call.gather is not None and call.press("1").gather is not None
            # Twilio asking again for a turn answered with the apology: it runs now, once.
            first = live[0]
            first.replay()
            assert first.gather is not None and first.reply.dialed is None
            again = first.replay()
            assert again.body == first.replies[-2].body
            assert "Traceback" not in log.read_text(errors="replace")
    assert turns(db_url, first.sid) == [0, 1, 2]
    for call in live[1:]:
        assert turns(db_url, call.sid) == [0, 1]  # the apology stores nothing
    assert turns(db_url, newcomer.sid) == []


@contextmanager
def orders_held(db_url: str) -> Iterator[None]:
    """A submit must wait mid-turn: the orders table locked (PostgreSQL), or the writers'
    queue held (SQLite, where a writer waits before its transaction begins)."""
    if db_url.startswith("sqlite"):
        fd = os.open(db_url.removeprefix("sqlite:///") + "-writers", os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE"))
            try:
                yield
            finally:
                conn.rollback()
    finally:
        engine.dispose()


def waiting_on_a_lock(db_url: str) -> bool:
    if db_url.startswith("sqlite"):
        time.sleep(1.0)  # in the queue: nothing to see from outside
        return True
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            waiting = conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            )
    finally:
        engine.dispose()
    return bool(waiting)


def up(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:  # noqa: S310
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def test_a_worker_killed_mid_submit_then_twilios_retry_gives_one_order(
    db_url: str, tmp_path: Path
) -> None:
    with gunicorn.serve(db_url, tmp_path) as (base, log):
        caller = Caller(
            HttpTransport(timeout=30),
            base_url=base,
            auth_token=AUTH_TOKEN,
            from_number="+13125550000",
        )
        call: SimulatedCall = caller.dial()
        for kind, value in INTAKE[:-1]:
            call.press(value) if kind == "press" else call.say(value)
        assert call.gather is not None
        submit = call.gather.get("action", "")
        form = caller.form(call.sid, {"Digits": "1"})
        with orders_held(db_url), ThreadPoolExecutor(1) as pool:
            pending = pool.submit(caller.send, submit, form)
            deadline = time.monotonic() + 4  # inside the lock timeout (5 s)
            while not waiting_on_a_lock(db_url):
                assert time.monotonic() < deadline, "the submit never waited"
                time.sleep(0.05)
            for pid in gunicorn.workers(tmp_path):
                os.kill(pid, signal.SIGKILL)  # the one mid-submit among them
            with pytest.raises(OSError):
                pending.result(timeout=30)  # Twilio sees the connection drop
        deadline = time.monotonic() + 60
        while not up(base):  # gunicorn's master starts new workers
            assert time.monotonic() < deadline
            time.sleep(0.2)
        retried = caller.send(submit, form)  # Twilio asks again, the same request
        assert retried.status == 200 and retried.dialed is None, retried.body
        assert any("order number is" in line for line in retried.heard), retried.heard
        assert caller.send(submit, form).body == retried.body
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            numbers = conn.scalars(
                sa.select(Order.order_number).where(Order.call_sid == call.sid)
            ).all()
    finally:
        engine.dispose()
    heard = re.search(r"order number is ([\d ,]+)\.", " ".join(retried.heard))
    assert heard is not None and numbers == [re.sub(r"\D", "", heard.group(1))]
    assert turns(db_url, call.sid) == list(range(len(INTAKE) + 1))
