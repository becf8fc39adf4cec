"""Webhook throughput and latency of the IVR against a bare Flask app, both under gunicorn.

See bench/README.md. Exits 1 when any request failed; PASS/FAIL against the targets is a
measurement and exits 0.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from loadgen import Job, Result, Stats, run, warm_up

HERE = Path(__file__).resolve().parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
# db -> (min ivr/bare throughput % at 10 and 50 concurrent, max ivr p99 ms at 50 concurrent)
TARGETS = {"sqlite": (30.0, 50.0), "postgresql": (22.0, 75.0)}
Env = dict[str, str]
Rows = list[tuple[int, Stats, Stats]]  # (concurrency, bare, ivr)


@dataclass
class Measured:
    """One database's figures: closed-loop rows per level, and the paced calls (bare, ivr)."""

    rows: Rows = field(default_factory=list)
    paced: tuple[Stats, Stats] | None = None

    def all_stats(self) -> list[Stats]:
        return [s for row in self.rows for s in row[1:]] + list(self.paced or ())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int, method: str, path: str) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request(method, path, "" if method == "POST" else None)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


@contextmanager
def gunicorn(
    spec: str,
    chdir: Path,
    port: int,
    env: Env,
    probe: str,
    workers: int,
    log: Path,
    extra: Sequence[str] = (),
) -> Iterator[int]:
    """A gunicorn server on 127.0.0.1:port (access log is off unless asked for), with
    `extra` flags; yields its process group id. Stopped when the block ends, however it ends."""
    cmd = [sys.executable, "-m", "gunicorn", "-k", "sync", "--preload", "-w", str(workers)]
    cmd += ["--no-control-socket", "--bind", f"127.0.0.1:{port}", "--chdir", str(chdir)]
    cmd += [*extra, spec]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=chdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while not _answers(port, *probe.split()):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{spec} did not answer on port {port}:\n{tail}")
            time.sleep(0.2)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGINT)  # gunicorn: quick shutdown of master and workers
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group we started, should a worker linger
        except ProcessLookupError:
            pass


@contextmanager
def fresh_database(kind: str, workdir: Path) -> Iterator[str]:
    """An empty database of its own: a SQLite file, or `ivr_bench_<random>` on PostgreSQL."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    import psycopg
    from psycopg import sql

    admin = os.environ.get("IVR_TEST_POSTGRES_URL", DEFAULT_PG).replace("+psycopg", "")
    name = f"ivr_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urllib.parse.urlsplit(admin)._replace(path="/" + name).geturl()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))


def ivr_cli(env: Env, root: Path, *args: str) -> None:
    ivr = Path(sys.executable).parent / "ivr"
    done = subprocess.run([str(ivr), *args], env=env, cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ivr {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def alternate(
    servers: dict[str, tuple[Job, int]], callers: int, seconds: float, pause: float = 0.0
) -> dict[str, Stats]:
    """Both servers under the same load, in slices of about 2 s taken in turn, so that both
    see the same machine conditions."""
    slices = max(1, round(seconds / 2))
    results = {kind: Result() for kind in servers}
    for _ in range(slices):
        for kind, (job, pgid) in servers.items():
            job = replace(job, max_requests=job.max_requests // slices, pause=pause)
            results[kind].merge(run(job, pgid, callers, seconds / slices))
    return {kind: result.stats() for kind, result in results.items()}


def report(db: str, label: str, stats: dict[str, Stats]) -> None:
    for kind, s in stats.items():
        print(f"[{db}] {kind:4} {label:9} {s.requests:7} req {s.rps:7.1f} req/s "
              f"p50 {s.p50:6.1f} p99 {s.p99:6.1f} ms | server CPU {s.server_ms:5.2f} "
              f"ms/req | load generator {s.client_cpu:.2f} cores | "
              f"errors {sum(s.errors.values())}", flush=True)  # fmt: skip


def bench_db(db: str, args: argparse.Namespace, levels: list[int]) -> Measured:
    """A fresh store and both servers; then each level, bare and ivr one after the other;
    then the paced calls."""
    measured = Measured()
    rows = measured.rows
    token = secrets.token_hex(16)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ivr-bench-")))
        url = stack.enter_context(fresh_database(db, workdir))
        env = {k: v for k, v in os.environ.items() if k != "IVR_ENV"}
        env.update(DATABASE_URL=url, PYTHONPATH=str(args.root))
        ivr_cli(env, args.root, "init-db")
        ivr_cli(env, args.root, "seed")
        bare_port, ivr_port = free_port(), free_port()
        # As `make run` serves it: the ICD-10-CM index is built before the workers fork.
        ivr_env = dict(
            env,
            TWILIO_AUTH_TOKEN=token,
            IVR_PRELOAD_INDEX="1",
            PUBLIC_BASE_URL=f"http://127.0.0.1:{ivr_port}",
        )
        servers: dict[str, tuple[Job, int]] = {}
        for kind, spec, chdir, port, app_env, probe in (
            ("bare", "bare_app:create_app()", HERE, bare_port, env, "POST /voice/turn"),
            ("ivr", "wsgi:app", args.root, ivr_port, ivr_env, "GET /healthz"),
        ):
            log = workdir / f"{kind}.log"
            pgid = stack.enter_context(
                gunicorn(spec, chdir, port, app_env, probe, args.workers, log)
            )
            servers[kind] = Job(kind, port, token, args.max_requests), pgid
        warm_errors: Counter[str] = Counter()
        for kind, (job, pgid) in servers.items():
            seconds, warm = warm_up(job, pgid, 2 * args.workers)
            warm_errors.update(warm.errors)
            state = "warm" if warm.slowest < 1000 else "STILL NOT WARM (slowest request > 1 s)"
            print(f"[{db}] {kind:4} {state} after {seconds:.1f} s of load", flush=True)
        for level in levels:
            stats = alternate(servers, level, args.duration)
            report(db, f"c={level}", stats)
            rows.append((level, stats["bare"], stats["ivr"]))
        if args.calls:
            stats = alternate(servers, args.calls, args.paced_duration, args.pause)
            report(db, f"calls={args.calls}", stats)
            measured.paced = stats["bare"], stats["ivr"]
        print(f"[{db}] load average of the machine: {os.getloadavg()[0]:.2f}", flush=True)
        if rows:  # failures while warming up count too
            rows[0][2].errors.update(warm_errors)
        if any(s.errors for s in measured.all_stats()):
            lines = (workdir / "ivr.log").read_text(errors="replace").splitlines()
            print(f"--- the ivr server's log ({db}), INFO lines left out ---")
            print("\n".join([line for line in lines if " INFO " not in line][-60:]))
    return measured


def ratio_verdict(db: str, level: int, ratio: float) -> tuple[str, str]:
    min_ratio = TARGETS[db][0]
    if level not in (10, 50):
        return "-", "-"
    return f">={min_ratio:.0f}%", "PASS" if ratio >= min_ratio else "FAIL"


def print_table(lines: list[list[str]], left: set[int]) -> None:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    print()
    for line in lines:
        cols = enumerate(zip(line, widths, strict=True))
        print("  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in cols))


def table(results: dict[str, Measured], args: argparse.Namespace) -> None:
    head = "db|conc|bare req/s|bare p50|bare p99|ivr req/s|ivr p50|ivr p99|ratio|target|result"
    lines = [head.split("|") + ["cpu ratio"]]
    for db, measured in results.items():
        for level, bare, ivr in measured.rows:
            ratio = 100 * ivr.rps / bare.rps if bare.rps else 0.0
            target, result = ratio_verdict(db, level, ratio)
            nums = (bare.rps, bare.p50, bare.p99, ivr.rps, ivr.p50, ivr.p99)
            cells = [f"{x:.0f}" if i % 3 == 0 else f"{x:.1f}" for i, x in enumerate(nums)]
            cpu_ratio = f"{100 * bare.server_ms / ivr.server_ms:.1f}%" if ivr.server_ms else "-"
            lines.append([db, str(level), *cells, f"{ratio:.1f}%", target, result, cpu_ratio])
    print("Closed loop: each caller posts again as soon as it is answered (throughput).")
    print_table(lines, {0, 9, 10})
    print(
        "latencies in ms, measured by the load generator; at 50 callers they are mostly time\n"
        "spent queueing (about 50 ÷ req/s). cpu ratio = bare server CPU/request ÷ ivr server\n"
        "CPU/request: the throughput ratio with the load generator's share of the machine taken\n"
        "out (gunicorn's processes only: PostgreSQL's own CPU is not counted)."
    )
    paced = [(db, m.paced) for db, m in results.items() if m.paced is not None]
    if not paced:
        return
    head = "db|calls|pause s|bare p50|bare p99|ivr req/s|ivr p50|ivr p99|ivr max|target|result"
    lines = [head.split("|")]
    for db, (bare, ivr) in paced:
        max_p99 = TARGETS[db][1]
        nums = [f"{x:.1f}" for x in (bare.p50, bare.p99, ivr.rps, ivr.p50, ivr.p99, ivr.slowest)]
        target, result = f"p99<={max_p99:.0f}ms", "PASS" if ivr.p99 <= max_p99 else "FAIL"
        lines.append([db, str(args.calls), f"{args.pause:g}", *nums, target, result])
    print(
        f"\nConcurrent calls: {args.calls} calls in progress, each caller pausing 0.5-1.5 x "
        f"{args.pause:g} s\nbetween turns (a real caller listens to a prompt for seconds first)."
    )
    print_table(lines, {0, 9, 10})
    print("latencies in ms; ivr max is the slowest answer of the run.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per level and app")
    parser.add_argument("--concurrency", default="1,10,50", help="comma-separated levels")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers per app")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap per run")
    parser.add_argument("--root", type=Path, default=HERE.parent, help="checkout to measure")
    parser.add_argument("--calls", type=int, default=50, help="paced concurrent calls (0: none)")
    parser.add_argument("--pause", type=float, default=0.5, help="mean seconds between turns")
    parser.add_argument("--paced-duration", type=float, default=16.0, help="seconds per app")
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally blocks run
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results: dict[str, Measured] = {}
    try:
        for db in dbs:
            results[db] = bench_db(db, args, levels)
    except KeyboardInterrupt:
        print("interrupted; servers stopped and databases dropped", file=sys.stderr)
        return 130
    table(results, args)
    errors = sum((s.errors for m in results.values() for s in m.all_stats()), Counter())
    if errors:
        print(f"\n{sum(errors.values())} failed request(s), by kind:")
        for key, count in errors.most_common(20):
            print(f"  {count:6}  {key}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
