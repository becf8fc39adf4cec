"""/healthz: a store that does not answer is "unavailable", and never in the driver's words.

The healthy answer is tested with the webhooks (test_voice.test_healthz_ok).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr import create_app
from tests.conftest import base_config


def test_a_store_that_does_not_answer_is_unavailable_without_the_drivers_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = create_app(base_config(f"sqlite:///{tmp_path}/no-such-dir/ivr.db"))
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "unavailable"}
    body = response.get_data(as_text=True)
    assert "no-such-dir" not in body and "OperationalError" not in body
    assert "unable to open database file" in caplog.text  # the reason is in the log
    broken.extensions["ivr.store"].engine.dispose()
