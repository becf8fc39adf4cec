"""Load that looks like the line: hundreds of concurrent calls of every kind, across two app
instances on one PostgreSQL database (or one instance on SQLite), with a report.

Not a timed test: it prints what happened and exits 1 when something was lost, duplicated or
answered 5xx. See docs/performance.md for the figures and bench/README.md for the options.

    .venv/bin/python bench/load.py                         # PostgreSQL, 2 instances, 200 calls
    .venv/bin/python bench/load.py --db sqlite             # SQLite, 1 instance
    .venv/bin/python bench/load.py --calls 50 --duration 20 --baseline 10

Each simulated caller places whole calls one after another, its kind drawn from the mix below
(the call scripts are bench/caller_time.py's), pausing 0.5-2 s between turns (a person listens
to a prompt for longer: scaled down). Every turn goes to the next instance in turn, as a load
balancer would, signed against the one public URL both instances are configured with.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import random
import re
import secrets
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import caller_time as scripts
import sqlalchemy as sa
import sqlalchemy.orm as so
from loadgen import Job, group_cpu, run
from webhook import HERE, free_port, fresh_database, gunicorn, ivr_cli

from ivr.simulate import Caller, SimulatedCall

PUBLIC = "http://ivr.load.test"  # the balancer's URL: Twilio signs it, both instances know it
BACKUP = "+18005550123"
ORDER_NUMBER = re.compile(r"order number is ([\d ,]+)\.")
Walk = Callable[[SimulatedCall], None]


# --- the traffic -----------------------------------------------------------------------------


@dataclass
class Sent:
    """One webhook as the caller's side saw it."""

    sid: str
    turn: int  # the t= of the URL (0 for /voice/incoming)
    instance: int
    status: int
    ms: float
    apology: bool  # the failsafe answered (a Dial to the backup number)


@dataclass
class Balancer:
    """A Transport (ivr.simulate) that plays Twilio and the load balancer: the URL signed is
    the public one, the request goes to the next instance; callers pause before each answer."""

    ports: list[int]
    pause: tuple[float, float]
    sent: list[Sent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_port: itertools.count[int] = field(default_factory=itertools.count)

    def post(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, str]:
        parts = urllib.parse.urlsplit(url)
        if parts.path != "/voice/incoming":  # the caller listens, then answers
            time.sleep(random.uniform(*self.pause))
        instance = next(self.next_port) % len(self.ports)
        target = f"http://127.0.0.1:{self.ports[instance]}{parts.path}"
        target += f"?{parts.query}" if parts.query else ""
        data = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(target, data=data, headers=dict(headers), method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                status, body = response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read().decode(errors="replace")
        except OSError as exc:  # no answer at all: counted as a 599
            status, body = 599, f"{type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - started) * 1000
        query = urllib.parse.parse_qs(parts.query)
        turn = int(query.get("t", ["0"])[0])
        apology = f"<Dial>{BACKUP}</Dial>" in body
        with self.lock:
            self.sent.append(Sent(form["CallSid"], turn, instance, status, ms, apology))
        return status, body


def transfer(call: SimulatedCall) -> None:
    """Summit, then 0 at the main menu: a person."""
    call.press("1")
    call.press("0")


def status_then(number: str, *keys: str) -> Walk:
    """A status check of `number` (caller_time's), then `keys` at the status menu."""
    check = scripts.status_check(number)

    def walk(call: SimulatedCall) -> None:
        check(call)
        for key in keys:
            call.press(key)

    return walk


# kind: (share of calls, phone)
MIX: dict[str, tuple[float, str]] = {
    "order, keypad": (0.22, scripts.OTHER_PHONE),
    "order, speech": (0.18, scripts.OTHER_PHONE),
    "order, keys only": (0.05, scripts.OTHER_PHONE),
    "status, extend": (0.12, scripts.OTHER_PHONE),
    "status, cancel": (0.10, scripts.OTHER_PHONE),
    "status only": (0.08, scripts.OTHER_PHONE),
    "reset, known mobile": (0.07, scripts.REGISTERED_MOBILE),
    "reset, by NPI": (0.06, scripts.OTHER_PHONE),
    "transfer": (0.12, scripts.OTHER_PHONE),
}
ORDER_WALKS: dict[str, Walk] = {
    "order, keypad": scripts.keypad,
    "order, speech": scripts.speech,
    "order, keys only": scripts.keys_only,
    "reset, known mobile": scripts.reset_registered_mobile,
    "reset, by NPI": scripts.reset_by_npi,
    "transfer": transfer,
}
STATUS_KEYS = {"status, extend": ("1",), "status, cancel": ("2", "3", "1"), "status only": ("9",)}


@dataclass
class Placed:
    kind: str
    sid: str
    number: str | None = None  # the order the status call is about
    heard: str = ""
    ok: bool = False
    error: str = ""


class Callers:
    """The simulated callers: each places calls back to back until the end, by the mix."""

    def __init__(self, balancer: Balancer, token: str, numbers: list[str], seed: int) -> None:
        self.balancer, self.token = balancer, token
        self.numbers, self.lock = numbers, threading.Lock()
        self.placed: list[Placed] = []
        self.rng = random.Random(seed)
        self.in_progress = self.peak = 0

    def _next(self) -> tuple[str, Walk, str, str | None]:
        with self.lock:
            kinds, weights = zip(*((k, w) for k, (w, _) in MIX.items()), strict=True)
            kind = self.rng.choices(kinds, weights)[0]
            number = None
            if kind in STATUS_KEYS:
                if not self.numbers:  # no order left to change: a new one instead
                    kind = "order, keypad"
                else:
                    number = self.numbers.pop()
            self.in_progress += 1
            self.peak = max(self.peak, self.in_progress)
        walk = status_then(number, *STATUS_KEYS[kind]) if number else ORDER_WALKS[kind]
        return kind, walk, MIX[kind][1], number

    def caller(self, start_at: float, end_at: float) -> None:
        time.sleep(max(0.0, start_at - time.monotonic()))
        while time.monotonic() < end_at:
            kind, walk, phone, number = self._next()
            caller = Caller(
                self.balancer, base_url=PUBLIC, auth_token=self.token, from_number=phone
            )
            sid = "CA" + secrets.token_hex(16)
            placed = Placed(kind, sid, number)
            try:
                call = caller.dial(sid)
                walk(call)
                placed.heard = " ".join(call.transcript)
                placed.ok = all(r.status == 200 for r in call.replies) and not any(
                    BACKUP in (r.dialed or "") for r in call.replies
                )
            except (AssertionError, RuntimeError) as exc:  # the line stopped asking
                placed.error = str(exc)[:300]
            with self.lock:
                self.placed.append(placed)
                self.in_progress -= 1


# --- the store -------------------------------------------------------------------------------


def seed_extendable(url: str, count: int, zone: str) -> list[str]:
    """Approved orders in their last days (an extension is allowed): the status calls' orders."""
    from ivr import create_app
    from ivr.db import get_session
    from ivr.services import orders
    from ivr.store.models import utcnow

    app = create_app({"DATABASE_URL": url, "IVR_TIMEZONE": zone})
    complete = {
        "plan": "SUMMIT",
        "member_id": "100200300",
        "member_dob": "1960-03-05",
        "ordering_npi": scripts.NPI,
        "exam": "72148",
        "diagnosis": "M54.50",
        "facility": scripts.FACILITY,
        "symptoms": "low back pain",
        "clinical_history": "physical therapy",
    }
    numbers = []
    with app.app_context():
        s = get_session()
        for i in range(count):
            draft = orders.save_draft(s, call_sid=f"CAseed{i:05d}", slots=complete)
            orders.submit(s, draft, outcome="approved", rule_id=None, reason=None, zone=zone)
            draft.expires_at = utcnow() + dt.timedelta(days=3)
            numbers.append(str(draft.order_number))
        s.commit()
    app.extensions["ivr.store"].engine.dispose()
    return numbers


# The kind of turn, from the node the caller answered (call_events.node) and its outcome.
KINDS: list[tuple[str, str]] = [
    ("main.greeting", "call start"),
    ("main.select_plan", "plan"),
    ("order.ask_npi", "NPI lookup"),
    ("order.ask_member", "member"),
    ("order.ask_dob", "member"),
    ("order.ask_exam", "exam match"),
    ("order.ask_diagnosis", "diagnosis match"),
    ("order.confirm_keyed_diagnosis", "diagnosis match"),
    ("order.ask_symptoms", "symptoms, history"),
    ("order.ask_history", "symptoms, history"),
    ("order.ask_facility", "facility match"),
    ("order.ask_criteria", "criteria"),
    ("order.intake/menu", "submit"),
    ("status.ask_number", "status lookup"),
    ("status.ask_proof", "status lookup"),
    ("status.approved_menu", "extend, cancel"),
    ("status.cancel_reason", "extend, cancel"),
    ("status.confirm_cancel", "extend, cancel"),
    ("helpdesk.ask_identifier", "reset"),
    ("helpdesk.ask_factor", "reset"),
    ("helpdesk.reset_which", "reset"),
]


def kind_of(node: str, outcome: str) -> str:
    if outcome == "operator":
        return "transfer"
    for prefix, kind in KINDS:
        if node.startswith(prefix):
            return kind
    return "menu"


@dataclass
class Stored:
    turns: dict[tuple[str, int], str]  # (sid, turn) -> kind of turn
    in_app: dict[tuple[str, int], float]  # (sid, turn) -> ms in the app (call_events.latency_ms)
    order_numbers: dict[str, list[str]]  # call sid -> its orders' numbers
    duplicates: int  # order numbers held by more than one order
    cancelled: set[str]  # numbers of orders cancelled
    extended: set[str]  # numbers of orders replaced by an extension
    reset_codes: int


def read_store(url: str, sids: list[str]) -> Stored:
    from ivr.store.models import Call, CallEvent, Order, OrderEvent, ResetCode

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(Call.sid, CallEvent.turn, CallEvent.node, CallEvent.outcome)
                .add_columns(CallEvent.latency_ms)
                .join(CallEvent, CallEvent.call_id == Call.id)
                .where(Call.sid.in_(sids))
            ).all()
            turns = {(r.sid, r.turn): kind_of(r.node, r.outcome) for r in rows}
            in_app = {(r.sid, r.turn): float(r.latency_ms or 0) for r in rows}
            numbers: dict[str, list[str]] = defaultdict(list)
            for sid, number in conn.execute(
                sa.select(Order.call_sid, Order.order_number).where(
                    Order.order_number.is_not(None), Order.call_sid.in_(sids)
                )
            ):
                numbers[sid].append(number)
            duplicates = conn.scalar(
                sa.select(sa.func.count()).select_from(
                    sa.select(Order.order_number)
                    .where(Order.order_number.is_not(None))
                    .group_by(Order.order_number)
                    .having(sa.func.count() > 1)
                    .subquery()
                )
            )
            cancelled = set(
                conn.scalars(
                    sa.select(Order.order_number)
                    .join(OrderEvent, OrderEvent.order_id == Order.id)
                    .where(OrderEvent.kind == "cancelled")
                )
            )
            replaced = so.aliased(Order)
            extended = set(
                conn.scalars(
                    sa.select(Order.order_number).join(replaced, replaced.replaces_id == Order.id)
                )
            )
            codes = conn.scalar(sa.select(sa.func.count()).select_from(ResetCode))
    finally:
        engine.dispose()
    return Stored(
        turns, in_app, dict(numbers), int(duplicates or 0), cancelled, extended, int(codes or 0)
    )


# --- the report ------------------------------------------------------------------------------


def quantiles(values: list[float]) -> tuple[float, float, float, float]:
    if len(values) < 2:
        one = values[0] if values else 0.0
        return one, one, one, one
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[49], q[94], q[98], max(values)


def latency_table(rows: dict[str, list[float]]) -> None:
    print(f"  {'kind of turn':20} {'turns':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  ms")
    for kind, values in sorted(rows.items(), key=lambda kv: -len(kv[1])):
        p50, p95, p99, top = quantiles(values)
        print(f"  {kind:20} {len(values):6} {p50:7.1f} {p95:7.1f} {p99:7.1f} {top:7.1f}")


def judge(callers: Callers, balancer: Balancer, stored: Stored) -> dict[str, int]:
    """Print the report; returns the faults that make the run fail (each must be 0)."""
    placed, sent = callers.placed, balancer.sent
    faults: Counter[str] = Counter()
    by_kind = Counter(p.kind for p in placed)
    done = Counter(p.kind for p in placed if p.ok)
    print(f"\ncalls placed {len(placed)}, completed {sum(done.values())}, "
          f"peak in progress {callers.peak}")  # fmt: skip
    for kind in MIX:
        print(f"  {kind:20} {done[kind]:5} of {by_kind[kind]:5}")
    for p in placed:
        if not p.ok:
            faults["calls not completed"] += 1
            if faults["calls not completed"] <= 5:
                print(f"  not completed: {p.kind} {p.sid}: {p.error or p.heard[-200:]}")
    # Orders: every number a caller heard is the one order stored for that call, once.
    heard_orders = found_orders = 0
    for p in placed:
        stored_numbers = stored.order_numbers.get(p.sid, [])
        if p.kind.startswith("order") and p.ok:
            heard = ORDER_NUMBER.search(p.heard)
            heard_orders += 1
            number = re.sub(r"\D", "", heard.group(1)) if heard else None
            found_orders += stored_numbers == [number]
            if stored_numbers != [number]:
                faults["orders lost or not as heard"] += 1
        elif p.kind == "status, extend" and p.ok and p.number is not None:
            heard_orders += 1
            found_orders += p.number in stored.extended and len(stored_numbers) == 1
            if p.number not in stored.extended or len(stored_numbers) != 1:
                faults["extensions lost or doubled"] += 1
        elif p.kind == "status, cancel" and p.ok and p.number not in stored.cancelled:
            faults["cancels lost"] += 1
        elif not p.kind.startswith("order") and p.kind != "status, extend" and stored_numbers:
            faults["orders from calls that made none"] += 1
    faults["duplicate order numbers"] += stored.duplicates
    print(f"orders: {heard_orders} heard by callers (new and extended), {found_orders} found "
          f"as heard; duplicate order numbers in the store: {stored.duplicates}; "
          f"reset codes issued {stored.reset_codes}")  # fmt: skip
    # Turns: every turn answered (not with the apology) is one call_events row, and no row
    # is a turn nobody was answered.
    answered = {(s.sid, s.turn) for s in sent if s.status == 200 and not s.apology}
    lost = answered - stored.turns.keys()
    faults["lost turns"] += len(lost)
    faults["turns stored but never answered"] += len(stored.turns.keys() - answered)
    status = Counter(s.status for s in sent)
    faults["HTTP 5xx"] += sum(n for code, n in status.items() if code >= 500)
    faults["apologies (failsafe)"] += sum(s.apology for s in sent)
    print(f"webhooks: {len(sent)} sent, by status {dict(status)}, "
          f"{len(answered)} distinct turns answered, {len(stored.turns)} stored, "
          f"lost {len(lost)}; by instance {dict(Counter(s.instance for s in sent))}")  # fmt: skip
    latencies: dict[str, list[float]] = defaultdict(list)
    for s in sent:
        if s.status == 200 and not s.apology:
            latencies[stored.turns.get((s.sid, s.turn), "replayed")].append(s.ms)
    print("\nwebhook latency by kind of turn, as the caller's side saw it:")
    latency_table(latencies)
    everything = [s.ms for s in sent if s.status == 200]
    p50, p95, p99, top = quantiles(everything)
    print(f"  {'all':20} {len(everything):6} {p50:7.1f} {p95:7.1f} {p99:7.1f} {top:7.1f}")
    inside: dict[str, list[float]] = defaultdict(list)
    for key, kind in stored.turns.items():
        inside[kind].append(stored.in_app[key])
    print("\ntime inside the app (call_events.latency_ms: from the request's start to its save;")
    print("the rest of the caller's figure is the wait for a worker, and the commit):")
    latency_table(inside)
    return {k: v for k, v in faults.items() if v}


# --- the run ---------------------------------------------------------------------------------


def bare_baseline(workdir: Path, stack: ExitStack, args: argparse.Namespace, token: str) -> None:
    """The bare Flask TwiML endpoint under the same callers and pauses: the floor."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "IVR_ENV"}
    workers = args.workers * args.instances
    pgid = stack.enter_context(
        gunicorn("bare_app:create_app()", HERE, port, env, "POST /voice/turn", workers,
                 workdir / "bare.log")
    )  # fmt: skip
    low, high = args.pause
    job = Job("bare", port, token, 10**9, pause=(low + high) / 2)
    result = run(job, pgid, args.calls, args.baseline)
    p50, p95, p99, top = quantiles(list(result.latencies))
    print(f"bare Flask TwiML ({workers} workers, {args.calls} callers pausing "
          f"{0.5 * job.pause:.2f}-{1.5 * job.pause:.2f} s, {args.baseline:g} s): "
          f"{len(result.latencies)} answers, p50 {p50:.1f} p95 {p95:.1f} p99 {p99:.1f} "
          f"max {top:.1f} ms, errors {sum(result.errors.values())}", flush=True)  # fmt: skip


def warm_up(ports: list[int], token: str, numbers: list[str], args: argparse.Namespace) -> None:
    """A few calls of the mix on every worker first, unpaused and not counted: a real line's
    workers have long read their flows and catalogs."""
    callers = Callers(Balancer(ports, (0.0, 0.0)), token, numbers, args.seed + 1)
    end = time.monotonic() + 3.0
    threads = [
        threading.Thread(target=callers.caller, args=(0.0, end), daemon=True)
        for _ in range(args.workers * len(ports))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = [p for p in callers.placed if not p.ok]
    print(f"warm-up: {len(callers.placed)} calls, {len(failed)} not completed", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--instances", type=int, help="app instances (2 on PostgreSQL, 1 SQLite)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per instance")
    parser.add_argument("--calls", type=int, default=200, help="calls in progress at once")
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds new calls start in (all finish)"
    )
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds to reach --calls")
    parser.add_argument("--pause", type=float, nargs=2, default=(0.5, 2.0), metavar=("MIN", "MAX"),
                        help="seconds a caller waits before each answer")  # fmt: skip
    parser.add_argument("--baseline", type=float, default=20.0,
                        help="seconds of the bare Flask baseline (0: none)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=14, help="the mix's random seed")
    args = parser.parse_args()
    args.instances = args.instances or (2 if args.db == "postgresql" else 1)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally blocks run
    token = secrets.token_hex(16)
    root = HERE.parent
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ivr-load-")))
        url = stack.enter_context(fresh_database(args.db, workdir))
        env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
        env.update(DATABASE_URL=url, PYTHONPATH=str(root))
        ivr_cli(env, root, "init-db")
        ivr_cli(env, root, "seed")
        zone = "America/New_York"
        numbers = seed_extendable(url, args.calls, zone)
        if args.baseline:
            bare_baseline(workdir, stack, args, token)
        app_env = dict(
            env,
            TWILIO_AUTH_TOKEN=token,
            PUBLIC_BASE_URL=PUBLIC,
            SECRET_KEY=secrets.token_hex(16),
            IVR_BACKUP_NUMBER=BACKUP,
            IVR_PRELOAD_INDEX="1",
            IVR_HOURS_OVERRIDE="open",  # transfers enqueue, whatever the hour of the run
            IVR_TIMEZONE=zone,
        )
        ports = [free_port() for _ in range(args.instances)]
        makefile = ["--timeout", "20", "--graceful-timeout", "20"]
        groups = []
        for i, port in enumerate(ports):
            pgid = stack.enter_context(
                gunicorn("wsgi:app", root, port, app_env, "GET /healthz", args.workers,
                         workdir / f"ivr{i}.log", extra=makefile)
            )  # fmt: skip
            groups.append(pgid)
        warm_up(ports, token, numbers, args)
        balancer = Balancer(ports, tuple(args.pause))
        callers = Callers(balancer, token, numbers, args.seed)
        start = time.monotonic() + 0.5
        end = start + args.duration
        threads = [
            threading.Thread(
                target=callers.caller, args=(start + args.ramp * i / args.calls, end), daemon=True
            )
            for i in range(args.calls)
        ]
        print(f"[{args.db}] {args.instances} instance(s) x {args.workers} workers, "
              f"{args.calls} callers for {args.duration:g} s (ramp {args.ramp:g} s), pauses "
              f"{args.pause[0]:g}-{args.pause[1]:g} s", flush=True)  # fmt: skip
        server_cpu, client_cpu = sum(map(group_cpu, groups)), time.process_time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        server_cpu = sum(map(group_cpu, groups)) - server_cpu
        client_cpu = time.process_time() - client_cpu
        print(f"[{args.db}] done in {elapsed:.1f} s; load average {os.getloadavg()[0]:.2f}")
        webhooks = max(len(balancer.sent), 1)
        print(f"[{args.db}] CPU per webhook: app {1000 * server_cpu / webhooks:.2f} ms "
              f"(gunicorn processes), load generator {1000 * client_cpu / webhooks:.2f} ms; "
              f"{len(balancer.sent) / elapsed:.1f} webhooks/s", flush=True)  # fmt: skip
        stored = read_store(url, [p.sid for p in callers.placed])
        if args.db == "postgresql":  # the pools' connections, still open: what the run needed
            engine = sa.create_engine(url)
            with engine.connect() as conn:
                opened = conn.scalar(
                    sa.text(
                        "SELECT count(*) - 1 FROM pg_stat_activity"
                        " WHERE datname = current_database()"
                    )
                )
            engine.dispose()
            print(f"[{args.db}] PostgreSQL connections the instances hold: {opened}")
        faults = judge(callers, balancer, stored)
        logs = "".join(
            (workdir / f"ivr{i}.log").read_text(errors="replace") for i in range(len(ports))
        )
        tracebacks = logs.count("Traceback")
        print(f"\nserver logs: {tracebacks} traceback(s), "
              f"{logs.count('store unavailable')} 'store unavailable' line(s)")  # fmt: skip
        if tracebacks:
            faults["tracebacks in the logs"] = tracebacks
            lines = [line for line in logs.splitlines() if " INFO " not in line]
            print("\n".join(lines[-40:]))
    print("\nfaults:", ", ".join(f"{k} {v}" for k, v in faults.items()) if faults else "none")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
