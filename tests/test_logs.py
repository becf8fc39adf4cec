"""Log lines nobody can forge: a newline or another control character in any value a line
includes (a URL's path, a CallSid, a header) is escaped, so each record stays one line."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from flask import Flask

from ivr.logsafe import Trusted, escape, safe_args
from tests import gunicorn
from tests.gunicorn import makefile_flags

server = gunicorn.server  # the fixture


def test_escape_writes_control_characters_as_their_escapes() -> None:
    assert escape("a\nb\rc\td\x00e\x1bf\x85g\u2028h\ud800") == (
        "a\\nb\\rc\\td\\x00e\\x1bf\\x85g\\u2028h\\ud800"
    )
    assert escape("Señora Müller 日本") == "Señora Müller 日本"
    assert safe_args(("x\ny", 3, None, Trusted("frame\nframe"))) == (
        "x\\ny",
        3,
        None,
        "frame\nframe",
    )
    assert safe_args({"sid": "CA\n1"}) == {"sid": "CA\\n1"}
    path = Path("/tmp/a")
    assert safe_args((path, ValueError("bad\nline"))) == (path, "bad\\nline")


def test_the_apps_log_lines_escape_every_value(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("ivr.voice").warning("turn failed on call %s", "CA1\nFORGED line")
        logging.getLogger("ivr").info("%(who)s", {"who": "x\x1b[2Jy"})
        logging.getLogger("other").info("left alone %s", "a\nb")  # not ours to change
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "turn failed on call CA1\\nFORGED line",
        "x\\x1b[2Jy",
        "left alone a\nb",
    ]


def test_a_forged_line_in_a_url_stays_on_its_line_in_the_access_log(
    server: tuple[str, Path], db_url: str
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the log is the same on both stores")
    base, log = server
    for path in ("/healthz%0A127.0.0.1%20FORGED%20200", "/api/v1/orders/%0D%0AFORGED%1b[2J"):
        try:
            urllib.request.urlopen(base + path, timeout=10)  # noqa: S310
        except urllib.error.HTTPError:
            pass
    deadline = time.monotonic() + 10
    while "/api/v1/orders/" not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.1)  # the worker writes its access line after answering
    text = log.read_text(errors="replace")
    lines = text.splitlines()
    assert not [line for line in lines if line.startswith(("127.0.0.1 FORGED", "FORGED"))]
    assert '"GET /healthz\\n127.0.0.1 FORGED 200" 404' in text
    assert "/api/v1/orders/\\r\\nFORGED\\x1b[2J" in text
    assert "\x1b" not in text


def test_gunicorn_waits_longer_than_a_webhook_can_take() -> None:
    flags = makefile_flags()
    timeout = int(flags[flags.index("--timeout") + 1])
    graceful = int(flags[flags.index("--graceful-timeout") + 1])
    assert 15 < timeout <= 30 and graceful >= 15  # the failsafe answers within ~10 s
