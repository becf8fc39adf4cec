"""The JSON API: bearer tokens, roles, calls with their turns, audit of reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from ivr.simulate import Caller
from ivr.store.models import AuditEntry
from tests.conftest import bearer


@pytest.mark.parametrize("role", ["admin", "supervisor", "agent"])
def test_a_call_with_every_turn_in_order(
    caller: Caller, client: FlaskClient, token_for: Callable[[str], str], role: str
) -> None:
    call = caller.dial().say("lakeshore").press("3").press("0")
    call.hang_up("completed", duration=61)
    response = client.get(f"/api/v1/calls/{call.sid}", headers=bearer(token_for(role)))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["sid"] == call.sid
    assert body["from"] == "+12125550143"
    assert body["to"] == "+18005550100"
    assert body["plan"] == "LAKESHORE"
    assert body["status"] == "completed"
    assert body["duration"] == 61
    assert body["queue"] == "helpdesk"
    assert body["slots"]["plan_name"] == "Lakeshore Medicaid"
    assert [
        (e["turn"], e["node"], e["input_kind"], e["raw_input"], e["matched"])
        for e in body["events"]
    ] == [
        (0, "main.greeting", "start", None, None),
        (1, "main.select_plan", "speech", "lakeshore", "LAKESHORE"),
        (2, "main.main_menu", "dtmf", "3", "3"),
        (3, "helpdesk.helpdesk_menu", "dtmf", "0", None),
    ]
    assert all(isinstance(e["latency_ms"], int) for e in body["events"])


def test_unknown_call_is_404_json(client: FlaskClient, token_for: Callable[[str], str]) -> None:
    response = client.get("/api/v1/calls/CAnope", headers=bearer(token_for("admin")))
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer ivr_wrong"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
def test_no_or_bad_token_is_401_json(
    caller: Caller, client: FlaskClient, headers: dict[str, str]
) -> None:
    call = caller.dial()
    response = client.get(f"/api/v1/calls/{call.sid}", headers=headers)
    assert response.status_code == 401
    assert response.is_json and response.get_json()["error"] == "unauthorized"


def test_role_that_may_not_is_403(
    caller: Caller, client: FlaskClient, token_for: Callable[[str], str]
) -> None:
    call = caller.dial()
    response = client.get(f"/api/v1/calls/{call.sid}", headers=bearer(token_for("clinician")))
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"


def test_reads_are_audited(
    caller: Caller, client: FlaskClient, session: Any, token_for: Callable[[str], str]
) -> None:
    call = caller.dial()
    client.get(f"/api/v1/calls/{call.sid}", headers=bearer(token_for("supervisor")))
    session.rollback()
    rows = session.scalars(sa.select(AuditEntry)).all()
    assert [(r.action, r.target_type, r.target_id) for r in rows] == [("read", "call", call.sid)]
