"""SQL statements and CPU per webhook, by kind of turn, for load.py's mix of calls, in process.

    .venv/bin/python bench/turn_queries.py                    # SQLite, 3 calls of each kind
    .venv/bin/python bench/turn_queries.py --db postgresql --calls 5 --show "NPI lookup"

A statement count that grows with the data (an N+1) or a turn far above the others is what
to look at; the CPU figures include Flask's test client (both sides of the webhook).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import caller_time as scripts
import load
import sqlalchemy as sa
from webhook import fresh_database

from ivr import create_app
from ivr.simulate import Caller, FlaskTransport


class Counted(FlaskTransport):
    """Posts through the test client, noting each webhook's statements and CPU time."""

    def __init__(self, client: Any, statements: list[str], log: list[Any]) -> None:
        super().__init__(client)
        self.statements, self.log = statements, log

    def post(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, str]:
        self.statements.clear()
        started = time.process_time()
        answer = super().post(url, form, headers)
        cpu = time.process_time() - started
        turn = int(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("t", ["0"])[0])
        self.log.append((form["CallSid"], turn, cpu, list(self.statements)))
        return answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--calls", type=int, default=3, help="calls of each kind")
    parser.add_argument("--show", help="print the statements of one kind of turn")
    args = parser.parse_args()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ivr-queries-")))
        url = stack.enter_context(fresh_database(args.db, workdir))
        zone = "America/New_York"
        config = {"DATABASE_URL": url, "TWILIO_AUTH_TOKEN": scripts.TOKEN, "IVR_TIMEZONE": zone}
        app = create_app({**config, "IVR_HOURS_OVERRIDE": "open", "IVR_PRELOAD_INDEX": "1"})
        runner = app.test_cli_runner()
        for command in (["init-db"], ["seed"]):
            assert runner.invoke(args=command).exit_code == 0
        numbers = load.seed_extendable(url, (args.calls + 1) * len(load.STATUS_KEYS), zone)
        engine = app.extensions["ivr.store"].engine
        statements: list[str] = []
        sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(str(a[2])))
        log: list[Any] = []
        client = app.test_client()
        for _ in range(args.calls + 1):  # the first round warms the caches up, uncounted
            if _ == 1:
                log.clear()
            for kind, (_share, phone) in load.MIX.items():
                walk = (
                    load.status_then(numbers.pop(), *load.STATUS_KEYS[kind])
                    if kind in load.STATUS_KEYS
                    else load.ORDER_WALKS[kind]
                )
                transport = Counted(client, statements, log)
                walk(Caller(transport, auth_token=scripts.TOKEN, from_number=phone).dial())
        stored = load.read_store(url, sorted({sid for sid, *_ in log}))
        app.extensions["ivr.store"].engine.dispose()
    cpu: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, list[int]] = defaultdict(list)
    sample: dict[str, list[str]] = {}
    for sid, turn, seconds, done in log:
        kind = stored.turns.get((sid, turn), "replayed")
        cpu[kind].append(1000 * seconds)
        counts[kind].append(len(done))
        sample[kind] = done
    print(
        f"[{args.db}] {'kind of turn':20} {'turns':>6} {'statements':>10} {'max':>4} {'CPU ms':>7}"
    )
    for kind in sorted(cpu, key=lambda k: -statistics.mean(counts[k])):
        print(f"[{args.db}] {kind:20} {len(cpu[kind]):6} {statistics.mean(counts[kind]):10.1f} "
              f"{max(counts[kind]):4} {statistics.mean(cpu[kind]):7.2f}")  # fmt: skip
    for statement in sample.get(args.show or "", []):
        print("   ", " ".join(statement.split())[:150])
    return 0


if __name__ == "__main__":
    sys.exit(main())
