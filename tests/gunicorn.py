"""wsgi:app under gunicorn for the tests, as `make run` serves it: -w 4, --preload, and the
Makefile's own timeouts, logger class and access log format (read from its `run` target)."""

from __future__ import annotations

import contextlib
import os
import shlex
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

from ivr.simulate import Caller, Reply
from tests.conftest import AUTH_TOKEN

ROOT = Path(__file__).resolve().parents[1]


def makefile_flags() -> list[str]:
    """The gunicorn flags of the Makefile's `run` target that shape answers and logs."""
    recipe = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    words = shlex.split(recipe.replace("\\\n", " ").replace("$$", "$"))
    flags: list[str] = []
    for name in ("--timeout", "--graceful-timeout", "--logger-class", "--access-logformat"):
        assert name in words, f"the Makefile's run target lost {name}"
        flags += [name, words[words.index(name) + 1]]
    return flags


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """gunicorn -w 4 on 127.0.0.1, on this test's database; yields its URL and its log."""
    with serve(db_url, tmp_path) as running:
        yield running


@contextlib.contextmanager
def serve(db_url: str, tmp_path: Path, **extra: str) -> Iterator[tuple[str, Path]]:
    """Run gunicorn -w 4 on 127.0.0.1 with `extra` environment variables."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update(
        DATABASE_URL=db_url,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PUBLIC_BASE_URL=base,
        SECRET_KEY="test",
        IVR_BACKUP_NUMBER="+18005550123",
        # As `make run`: no worker builds the ICD-10 index inside a turn (seconds holding
        # the call's row, past the lock timeout of the same turn sent twice).
        IVR_PRELOAD_INDEX="1",
    )
    env.update(extra)
    log = tmp_path / "gunicorn.log"
    cmd = [sys.executable, "-m", "gunicorn", "-k", "sync", "-w", "4", "--preload"]
    cmd += [
        "--bind",
        f"127.0.0.1:{port}",
        "--error-logfile",
        str(log),
        "--access-logfile",
        str(log),
        "--pid",  # the master's pid, for tests that kill its workers
        str(tmp_path / "gunicorn.pid"),
    ]
    cmd += [*makefile_flags(), "wsgi:app"]
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


def workers(tmp_path: Path) -> list[int]:
    """The pids of the workers of the gunicorn `serve` started for `tmp_path`."""
    master = (tmp_path / "gunicorn.pid").read_text().strip()
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == master:  # the parent's pid
            found.append(int(stat.parent.name))
    return found


def twice_at_once(caller: Caller, url: str, form: dict[str, str]) -> tuple[Reply, Reply]:
    """POST the same webhook twice at the same moment, as a Twilio retry can."""
    barrier = threading.Barrier(2)

    def send() -> Reply:
        barrier.wait(timeout=10)
        return caller.send(url, form)

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.submit(send), pool.submit(send)
        return first.result(timeout=30), second.result(timeout=30)
