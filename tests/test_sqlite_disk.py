"""A SQLite store on a read-only or full disk: `ivr init-db`, any `ivr` command and the app
refuse to start with a message naming the problem (not a traceback, not an apology on a
caller's first answer), and what the database held is still there."""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ivr import create_app
from ivr.config import ConfigError
from ivr.store import sqlite as store_sqlite
from tests.conftest import base_config

ROOT = Path(__file__).resolve().parents[1]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows(path: Path) -> tuple[int, int]:
    """Plans and published versions, once SQLite has checked the whole file."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        plans = conn.execute("SELECT count(*) FROM plans").fetchone()[0]
        return int(plans), int(conn.execute("SELECT count(*) FROM flow_versions").fetchone()[0])


@pytest.fixture
def store_dir(sqlite_template: Path, tmp_path: Path) -> Path:
    """A folder holding a migrated, seeded store."""
    folder = tmp_path / "store"
    folder.mkdir()
    shutil.copyfile(sqlite_template, folder / "ivr.db")
    return folder


# Run a command with `folder` mounted read-only in a mount namespace of its own (root itself
# cannot write there; file permissions would not stop root).
READ_ONLY = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'


def ivr(
    folder: Path, *args: str, limit: int | None = None, read_only: bool = False
) -> subprocess.CompletedProcess[str]:
    def full_disk() -> None:  # writes past `limit` bytes fail (EFBIG), as on a full disk
        if limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update(DATABASE_URL=f"sqlite:///{folder / 'ivr.db'}", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "ivr", *args]
    if read_only:
        unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
        cmd = [*unshare, "sh", "-c", READ_ONLY, str(folder), *cmd]
    return subprocess.run(
        cmd,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=full_disk,  # noqa: PLW1509 - a test's child, no threads to race
        timeout=120,
    )


def test_a_store_on_a_read_only_disk_stops_every_command_at_start_naming_it(
    store_dir: Path,
) -> None:
    if shutil.which("unshare") is None or ivr(store_dir, "--help", read_only=True).returncode:
        pytest.skip("no mount namespace here to make a read-only disk in")
    db = store_dir / "ivr.db"
    before, count = digest(db), rows(db)
    for args in (["init-db"], ["seed"]):
        done = ivr(store_dir, *args, read_only=True)
        assert done.returncode != 0
        assert "read-only" in done.stderr and str(store_dir) in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert digest(db) == before and rows(db) == count


def test_a_full_disk_fails_the_write_with_a_message_and_loses_nothing(store_dir: Path) -> None:
    db = store_dir / "ivr.db"
    plans, versions = rows(db)
    # A new version holds every flow, prompt and criterion: the disk is full after 16 KiB.
    done = ivr(store_dir, "publish-flows", "--force", limit=16 * 1024)
    assert done.returncode != 0
    assert "disk is full" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert rows(db) == (plans, versions)
    done = ivr(store_dir, "publish-flows", "--force")  # space again: it goes through
    assert done.returncode == 0, done.stderr
    assert rows(db) == (plans, versions + 1)


def test_the_app_will_not_start_on_a_nearly_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.disk_usage

    def nearly_full(path: str | os.PathLike[str]) -> object:
        total, used, _ = real(path)
        return type(real(path))(total, used, 1024 * 1024)

    monkeypatch.setattr(store_sqlite.shutil, "disk_usage", nearly_full)
    with pytest.raises(ConfigError, match="free on the disk"):
        create_app(base_config(f"sqlite:///{tmp_path / 'ivr.db'}"))
