"""/healthz: a store that does not answer is "unavailable", and never in the driver's words.

The healthy answer is tested with the webhooks (test_voice.test_healthz_ok).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import store_gone_app


def test_a_store_that_does_not_answer_is_unavailable_without_the_drivers_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = store_gone_app(tmp_path, "no-such-dir")
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "unavailable"}
    body = response.get_data(as_text=True)
    assert "no-such-dir" not in body and "OperationalError" not in body
    assert "unable to open database file" in caplog.text  # the reason is in the log
    broken.extensions["ivr.store"].engine.dispose()


def _publish_broken(app: Flask, count: int) -> list[int]:
    """Versions this code cannot load (as a version from a newer release might be)."""
    from ivr.store.models import FlowVersion

    ids = []
    with app.extensions["ivr.store"].sessionmaker() as s:
        for n in range(count):
            row = FlowVersion(
                source="admin",
                checksum=f"broken{n}",
                content={"flows": {"main": {"start": "nowhere", "nodes": {}}}, "files": {}},
                prompts={"en-US": {}},
                criteria={},
            )
            s.add(row)
            s.flush()
            ids.append(row.id)
        s.commit()
    return ids


def test_a_newest_version_that_cannot_load_is_reported_while_calls_are_answered(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    from ivr.simulate import Caller, FlaskTransport
    from tests.conftest import AUTH_TOKEN

    (broken,) = _publish_broken(app, 1)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded" and body["line"] == "ok"
    assert body["newest_version"] == broken and body["serving_version"] < broken
    call = Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN).dial()
    assert "Imaging prior authorization." in call.heard[0]


def test_a_line_that_cannot_answer_calls_is_unavailable(app: Flask) -> None:
    from ivr.versions import FALLBACK_VERSIONS

    _publish_broken(app, FALLBACK_VERSIONS)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "ok", "line": "unavailable"}
