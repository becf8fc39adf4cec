"""What one webhook costs the server in CPU, in process, for one checkout or several.

The gunicorn benchmark (`webhook.py`) judges throughput against a bare app, but on a shared
machine its figures move by 20 % from run to run. This one takes the network and the other
processes out: each checkout (`--root`, repeatable; default this one) answers the same calls
through Flask's test client on a fresh database, in a process of its own, and prints the
best of three CPU-time measurements per webhook. Checkouts measured in the same run compare
fairly; `git archive <commit> | tar -x -C DIR` makes one of an older commit.

    .venv/bin/python bench/turn_cost.py --db both --root /tmp/before --root .
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from webhook import fresh_database

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token"
TURNS = 20  # a call: the start, the plan, then 18 repeats of the main menu (as webhook.py)


def measure(url: str, calls: int) -> float:
    """ms of CPU per webhook in this process: best of three runs of `calls` calls."""
    from ivr import create_app
    from ivr.simulate import Caller, FlaskTransport

    app = create_app({"DATABASE_URL": url, "TWILIO_AUTH_TOKEN": TOKEN, "TESTING": True})
    runner = app.test_cli_runner()
    for args in (["init-db"], ["seed"]):
        done = runner.invoke(args=args)
        if done.exit_code != 0:
            raise RuntimeError(f"ivr {' '.join(args)} failed:\n{done.output}")
    client = app.test_client()

    def a_call() -> None:
        call = Caller(FlaskTransport(client), auth_token=TOKEN).dial().press("1")
        for _ in range(TURNS - 2):
            call.press("*")
        if call.gather is None:
            raise RuntimeError(f"the call ended early: {call.heard}")

    for _ in range(5):  # caches, the flow version, the catalogs
        a_call()
    best = []
    for _ in range(3):
        started = time.process_time()
        for _ in range(calls):
            a_call()
        best.append((time.process_time() - started) / (calls * TURNS) * 1000)
    app.extensions["ivr.store"].engine.dispose()
    return min(best)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--root", type=Path, action="append", help="checkout(s) to measure")
    parser.add_argument("--calls", type=int, default=40, help="calls per measurement")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # a child: the database URL
    args = parser.parse_args()
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    if args.worker:
        print(json.dumps(measure(args.worker, args.calls)))
        return 0
    roots = [r.resolve() for r in (args.root or [HERE.parent])]
    for root in roots:
        if not (root / "ivr" / "__init__.py").is_file():
            parser.error(f"{root} is not a checkout of ivr (no ivr/__init__.py)")
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"{'db':<11} {'checkout':<40} ms CPU per webhook")
    for kind in kinds:
        for root in roots:
            with tempfile.TemporaryDirectory() as tmp, fresh_database(kind, Path(tmp)) as url:
                env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
                env["PYTHONPATH"] = str(root)
                done = subprocess.run(
                    [sys.executable, __file__, "--worker", url, "--calls", str(args.calls)],
                    cwd=root,
                    env=env,
                    capture_output=True,
                    text=True,
                )
                if done.returncode != 0:
                    print(done.stdout + done.stderr, file=sys.stderr)
                    return 1
                cost = json.loads(done.stdout.strip().splitlines()[-1])
                print(f"{kind:<11} {str(root):<40} {cost:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
