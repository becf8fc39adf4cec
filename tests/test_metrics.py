"""`GET /metrics`: what the line is doing for Prometheus, readable only from this host or
with IVR_METRICS_TOKEN, with no patient data in it; and the JSON log format."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.config import ConfigError
from ivr.logsafe import JsonFormatter
from ivr.simulate import Caller
from tests.conftest import AUTH_TOKEN

ROOT = Path(__file__).resolve().parent.parent
FROM = "+12125550143"


def sample(body: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition `body` (0 when it is absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in body.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match and match.group(1) == name:
            got = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
            if got == wanted:
                return float(match.group(3))
    return 0.0


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/plain"
    return response.get_data(as_text=True)


def test_a_call_shows_in_turns_latency_transfers_and_the_queue(
    client: FlaskClient, caller: Caller
) -> None:
    before = scrape(client)
    call = caller.dial().press("1").press("0")  # a plan, then a person: the general queue
    assert call.enqueued == "general"
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("ivr_webhook_seconds_count", route="voice.incoming", status="200") == 1
    assert grew("ivr_webhook_seconds_count", route="voice.turn", status="200") == 2
    turns = [line for line in after.splitlines() if line.startswith("ivr_turns_total{")]
    assert turns and sum(grew("ivr_turns_total", **_labels(line)) for line in turns) == 3
    transfers = [line for line in after.splitlines() if line.startswith("ivr_transfers_total{")]
    assert any(
        'queue="general"' in line and grew("ivr_transfers_total", **_labels(line)) == 1
        for line in transfers
    )
    assert sample(after, "ivr_calls_in_progress") >= 1
    assert sample(after, "ivr_queue_waiting", queue="general") >= 1
    assert "ivr_outbox_backlog " in after
    # Node names, outcomes, queues and routes: never the caller's number or call id.
    assert FROM not in after and FROM[2:] not in after
    assert call.sid not in after


def _labels(line: str) -> dict[str, str]:
    inside = line[line.index("{") + 1 : line.index("}")]
    return dict(re.findall(r'([a-z_]+)="([^"]*)"', inside))


def test_only_this_host_reads_the_metrics_without_a_token(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    away = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert away.status_code == 403 and b"ivr_" not in away.data
    # Through a proxy on this host (nginx passing a client's request on): refused.
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403


def test_with_a_metrics_token_only_that_bearer_reads_them(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(IVR_METRICS_TOKEN="scrape-secret-0123456789").test_client()
    away = {"REMOTE_ADDR": "198.51.100.7"}
    assert client.get("/metrics", environ_base=away).status_code == 403
    assert client.get("/metrics").status_code == 403  # this host too needs it now
    wrong = {"Authorization": "Bearer scrape-secret-x"}
    assert client.get("/metrics", headers=wrong, environ_base=away).status_code == 403
    right = {"Authorization": "Bearer scrape-secret-0123456789"}
    assert client.get("/metrics", headers=right, environ_base=away).status_code == 200


def test_behind_trusted_proxies_the_clients_address_is_the_one_judged(
    make_app: Callable[..., Flask],
) -> None:
    client = make_app(IVR_TRUSTED_PROXIES=1).test_client()
    outside = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert outside.status_code == 403


def test_the_log_format_is_text_or_json(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ConfigError, match="IVR_LOG_FORMAT"):
        make_app(IVR_LOG_FORMAT="xml")


def test_a_json_log_line_is_one_object_without_an_exceptions_text() -> None:
    said = "member W123456789 born 1980-02-29"  # what an exception's text may quote
    try:
        raise ValueError(said)
    except ValueError:
        record = logging.LogRecord(
            "ivr.voice",
            logging.ERROR,
            __file__,
            1,
            "turn failed on call %s",
            ("CA1\nforged",),
            sys.exc_info(),
        )
    from ivr.logsafe import safe_args

    record.args = safe_args(record.args)  # as logsafe.install() does for ivr loggers
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "turn failed on call CA1\\nforged"
    assert (entry["level"], entry["logger"], entry["exception"]) == (
        "ERROR",
        "ivr.voice",
        "ValueError",
    )
    assert "W123456789" not in line and "1980" not in line


def test_gunicorn_workers_counts_add_up_in_multiprocess_mode(db_url: str, tmp_path: Path) -> None:
    """Two processes (as two gunicorn workers) each take a call; a scrape in either sees
    both, and the app logs JSON when asked."""
    if not db_url.startswith("sqlite"):
        pytest.skip("the processes' sharing is the same on either store")
    shared = tmp_path / "metrics"
    shared.mkdir()
    script = textwrap.dedent(
        f"""
        import sys
        from ivr import create_app
        from ivr.simulate import Caller, FlaskTransport
        from tests.conftest import base_config
        app = create_app(base_config({db_url!r}))
        client = app.test_client()
        Caller(FlaskTransport(client), auth_token={AUTH_TOKEN!r}).dial()
        sys.stdout.write(client.get("/metrics").get_data(as_text=True))
        """
    )
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
        "IVR_LOG_FORMAT": "json",
        "PYTHONPATH": str(ROOT),
    }
    outputs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outputs.append(done)
    second = outputs[1].stdout
    assert sample(second, "ivr_webhook_seconds_count", route="voice.incoming", status="200") == 2
    assert list(shared.glob("*.db"))
    lines = [line for line in outputs[1].stderr.splitlines() if line.strip()]
    assert lines and all(json.loads(line)["level"] for line in lines), lines[:3]
