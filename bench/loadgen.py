"""The load generator of bench/webhook.py: simulated Twilio calls from several processes.

Each process runs one thread per simulated caller; each caller POSTs signed, Twilio-shaped
forms over http.client to 127.0.0.1 and times every answer.
"""

from __future__ import annotations

import html
import http.client
import multiprocessing
import os
import random
import re
import resource
import secrets
import signal
import statistics
import sys
import threading
import time
import urllib.parse
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from twilio.request_validator import RequestValidator

ACTION = re.compile(rb'<Gather\b[^>]*\baction="([^"]*)"')
TURNS_PER_CALL = 20  # then a new call (new CallSid)
MAX_PROCESSES = 4
TICK = os.sysconf("SC_CLK_TCK")
# What Twilio posts with every webhook besides CallSid (as ivr.simulate.Caller.form).
TWILIO_FORM = {
    **{"AccountSid": "AC" + "0" * 32, "From": "+12125550143", "To": "+18005550100"},
    **{"Caller": "+12125550143", "Called": "+18005550100", "CallStatus": "in-progress"},
    **{"Direction": "inbound", "ApiVersion": "2010-04-01"},
}


@dataclass
class Job:
    kind: str  # "bare" or "ivr"
    port: int
    token: str
    max_requests: int
    threads: int = 0
    start_at: float = 0.0  # time.monotonic() is system-wide on Linux: shared by the processes
    end_at: float = 0.0
    pause: float = 0.0  # seconds a caller waits between turns, on average (0: closed loop)


@dataclass
class Result:
    latencies: array[float] = field(default_factory=lambda: array("d"))  # ms, good answers only
    errors: Counter[str] = field(default_factory=Counter)
    last: float = 0.0  # when the last request finished
    cpu: float = 0.0  # load-generator CPU seconds
    wall: float = 0.0  # seconds under load (set per run)
    server_cpu: float = 0.0  # the server's CPU seconds (set per run)

    def merge(self, other: Result) -> None:
        self.latencies.extend(other.latencies)
        self.errors.update(other.errors)
        self.last = max(self.last, other.last)
        self.cpu += other.cpu
        self.wall += other.wall
        self.server_cpu += other.server_cpu

    def stats(self) -> Stats:
        n, wall = len(self.latencies), max(self.wall, 1e-9)
        q = statistics.quantiles(self.latencies, n=100) if n > 1 else [0.0] * 99
        server_ms = 1000 * self.server_cpu / max(n, 1)
        slowest = max(self.latencies, default=0.0)
        return Stats(n / wall, q[49], q[98], n, self.cpu / wall, server_ms, slowest, self.errors)


def _caller(job: Job, budget: Iterator[int], result: Result, lock: threading.Lock) -> None:
    """One simulated caller: calls one after another, each TURNS_PER_CALL signed webhooks.

    ivr: /voice/incoming, then the Gather's action with Digits=1 (plan), then Digits=* (repeat
    the main menu). bare: the same forms, posted to the bare app's one endpoint.
    With `job.pause`, the caller waits 0.5 to 1.5 times that long after each answer (and
    up to that long before its first call, so that callers do not move in step).
    """
    base = f"http://127.0.0.1:{job.port}"
    first = base + ("/voice/incoming" if job.kind == "ivr" else "/voice/turn?t=0")
    validator = RequestValidator(job.token)
    conn = http.client.HTTPConnection("127.0.0.1", job.port, timeout=30)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    step, sid, url = 0, "", first
    time.sleep(max(0.0, job.start_at - time.monotonic()) + random.uniform(0, job.pause))
    while time.monotonic() < job.end_at and next(budget) < job.max_requests:
        if step == 0:
            sid, url, extra = "CA" + secrets.token_hex(16), first, {"CallStatus": "ringing"}
        else:
            extra = {"Digits": "1" if step == 1 else "*"}
        form = {"CallSid": sid, **TWILIO_FORM, **extra}
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(url, form),
        }
        path = url[len(base) :]
        started = time.perf_counter()
        try:
            conn.request("POST", path, urllib.parse.urlencode(form), headers)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            errors[f"{job.kind} {path}: {type(exc).__name__}: {exc}"[:200]] += 1
            step = 0
            continue
        elapsed = (time.perf_counter() - started) * 1000
        action = ACTION.search(body)
        if response.status != 200 or action is None:
            snippet = body[:160].decode(errors="replace")
            errors[f"{job.kind} {path.split('?')[0]}: HTTP {response.status}: {snippet}"] += 1
            step = 0
            continue
        latencies.append(elapsed)
        url = html.unescape(action.group(1).decode())
        step = (step + 1) % TURNS_PER_CALL
        if job.pause:
            pause = random.uniform(0.5, 1.5) * job.pause
            time.sleep(max(0.0, min(pause, job.end_at - time.monotonic())))
    conn.close()
    with lock:
        result.merge(Result(array("d", latencies), errors, time.monotonic()))


def _client(job: Job) -> Result:
    """One load-generator process: `job.threads` simulated callers, each on its own thread."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    budget = iter(range(sys.maxsize))  # next() on it is atomic under the GIL
    result, lock = Result(), threading.Lock()
    threads = [
        threading.Thread(target=_caller, args=(job, budget, result, lock))
        for _ in range(job.threads)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return result


def _child_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and cleans up
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # Pool.terminate() must end the process


def group_cpu(pgid: int) -> float:
    """CPU seconds used so far by the live processes of a process group (gunicorn's)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / TICK


@dataclass
class Stats:
    rps: float
    p50: float
    p99: float
    requests: int
    client_cpu: float  # load generator's CPU, in cores
    server_ms: float  # server CPU per answered request, ms
    slowest: float  # ms
    errors: Counter[str]


def run(job: Job, pgid: int, concurrency: int, seconds: float) -> Result:
    """Run `concurrency` simulated callers for `seconds` (or `job.max_requests` requests)
    against the server whose gunicorn has process group `pgid`."""
    procs = min(concurrency, MAX_PROCESSES)
    with multiprocessing.get_context("fork").Pool(procs, initializer=_child_signals) as pool:
        cpu, start = group_cpu(pgid), time.monotonic() + 0.3
        shares = [concurrency // procs + (i < concurrency % procs) for i in range(procs)]
        end, cap = start + seconds, job.max_requests // procs
        jobs = [
            replace(job, threads=n, start_at=start, end_at=end, max_requests=cap) for n in shares
        ]
        total = Result()
        for part in pool.map(_client, jobs, chunksize=1):
            total.merge(part)
        total.server_cpu = group_cpu(pgid) - cpu
    total.wall = total.last - start
    return total


def warm_up(job: Job, pgid: int, callers: int) -> tuple[float, Stats]:
    """Load a server until two 1-second rounds in a row have no request slower than 1 s (every
    worker has built its caches), for 2 minutes at most; returns the time taken and the last
    round, with every round's errors."""
    started, errors, calm = time.monotonic(), Counter[str](), 0
    while True:
        stats = run(job, pgid, callers, 1.0).stats()
        errors.update({f"warm-up: {key}": n for key, n in stats.errors.items()})
        calm = calm + 1 if stats.requests and stats.slowest < 1000 else 0
        if calm == 2 or time.monotonic() - started > 120:
            return time.monotonic() - started, replace(stats, errors=errors)
