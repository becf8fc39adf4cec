"""Two `make run` instances on one host: each has its own gunicorn control socket (gunicorn's
default, ~/.gunicorn/gunicorn.ctl, is one per user: the second instance took it over and
removed it when it stopped), and no other file of one is the other's."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.gunicorn import ROOT, free_port

# gunicorn's options that name a file or socket on the host.
PATH_FLAGS = ("--control-socket", "--pid", "--worker-tmp-dir", "--bind", "--error-logfile")


def gunicorn_argv(port: int) -> list[str]:
    """The gunicorn arguments `make run` would use on `port` (make -n: nothing runs)."""
    done = subprocess.run(
        ["make", "-n", "-s", "run", "HOST=127.0.0.1", f"PORT={port}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    words = shlex.split(done.stdout.replace("\\\n", " ").replace("$$", "$"))
    start = next(i for i, w in enumerate(words) if w.endswith("/gunicorn"))
    return words[start + 1 : words.index("&", start)]


def flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_each_instance_names_its_own_control_socket_and_files() -> None:
    first, second = gunicorn_argv(5000), gunicorn_argv(5001)
    assert "--no-control-socket" not in first
    assert flag(first, "--control-socket") is not None, "gunicorn's per-user default"
    for name in PATH_FLAGS:
        mine, theirs = flag(first, name), flag(second, name)
        assert mine is None or mine != theirs, name


def control_socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
        return True


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_two_instances_run_side_by_side_and_stopping_one_leaves_the_other(
    tmp_path: Path,
) -> None:
    (tmp_path / "instance").mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update(
        HOME=str(tmp_path),  # gunicorn's default socket would be here: it must not be used
        PYTHONPATH=str(ROOT),
        DATABASE_URL=f"sqlite:///{tmp_path / 'ivr.db'}",
        IVR_ENV="development",
    )
    procs, sockets = [], []
    try:
        for port in (free_port(), free_port()):
            argv = gunicorn_argv(port)
            argv[argv.index("--workers") + 1] = "1"
            sockets.append(tmp_path / str(flag(argv, "--control-socket")))
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", *argv],
                    cwd=tmp_path,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + 60
        while not all(map(control_socket_answers, sockets)):
            assert time.monotonic() < deadline, "the control sockets never answered"
            assert all(p.poll() is None for p in procs), "an instance stopped"
            time.sleep(0.2)
        assert sockets[0] != sockets[1]
        assert not (tmp_path / ".gunicorn").exists()
        procs[1].send_signal(signal.SIGTERM)
        procs[1].wait(30)
        assert not sockets[1].exists()
        assert control_socket_answers(sockets[0]), "stopping one took the other's socket away"
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(30)
