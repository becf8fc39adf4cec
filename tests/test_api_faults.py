"""Requests no client of the API should send, each answered with a 4xx and the API's JSON
error body, never a 500: deep JSON, broken Unicode, dates at the calendar's edges, ids past
the database's integers, NUL bytes in paths and filters, bodies past the size limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import bearer
from tests.test_api_orders import make_order

NOTICE = {"title": "Portal down", "message": "The ProviderPortal is down for maintenance."}


@pytest.fixture
def admin(token_for: Callable[[str], str]) -> dict[str, str]:
    return bearer(token_for("admin"))


def refused(response: Any, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.data[:300]
    body = response.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), response.data[:300]
    assert isinstance(body.get("message"), str)
    return body


def send(client: FlaskClient, method: str, url: str, headers: dict[str, str], raw: bytes) -> Any:
    headers = {**headers, "Content-Type": "application/json"}
    return client.open(url, method=method, headers=headers, data=raw)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", "/api/v1/outages"),
        ("POST", "/api/v1/orders/X/cancel"),
    ],
)
def test_deeply_nested_json_is_a_422(
    client: FlaskClient, admin: dict[str, str], method: str, url: str
) -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    body = refused(send(client, method, url, admin, raw))
    assert body["error"] in ("invalid", "invalid_body")
    raw = b'{"reason": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}"
    refused(send(client, method, url, admin, raw))


@pytest.mark.parametrize("text", ['"\\ud800"', '"ok \\udfff"', '"nul \\u0000"'])
def test_a_lone_surrogate_or_nul_in_a_cancel_reason_is_a_422(
    app: Flask, client: FlaskClient, admin: dict[str, str], text: str
) -> None:
    order = make_order(app)
    url = f"/api/v1/orders/{order['number']}/cancel"
    body = refused(send(client, "POST", url, admin, b'{"reason": ' + text.encode() + b"}"))
    assert body["error"] == "invalid_reason"
    ok = client.post(url, headers=admin, json={"reason": "duplicate"})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("field", "when"),
    [
        ("starts_at", "0001-01-01T00:00:00+14:00"),
        ("starts_at", "0001-01-01T00:00:00Z"),
        ("ends_at", "9999-12-31T23:59:59-12:00"),
        ("ends_at", "9999-12-31T23:59:59Z"),
        ("starts_at", "0001-01-01T05:00:00+00:00"),
    ],
)
def test_outage_times_at_the_calendars_edges_are_a_422(
    client: FlaskClient, admin: dict[str, str], field: str, when: str
) -> None:
    response = client.post("/api/v1/outages", headers=admin, json={**NOTICE, field: when})
    body = refused(response)
    assert body["field"] == field
    created = client.post("/api/v1/outages", headers=admin, json=NOTICE)
    assert created.status_code == 201
    url = created.headers["Location"]
    body = refused(client.patch(url, headers=admin, json={field: when}))
    assert body["field"] == field


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_an_outage_id_past_the_databases_integers_is_a_404(
    client: FlaskClient, admin: dict[str, str], method: str
) -> None:
    for outage_id in ("9" * 23, str(2**31), str(2**63)):
        response = client.open(
            f"/api/v1/outages/{outage_id}", method=method, headers=admin, json={"title": "x"}
        )
        assert refused(response, 404)["error"] == "not_found"


@pytest.mark.parametrize("action", ["dial", "complete"])
def test_a_callback_id_past_the_databases_integers_is_a_404(
    client: FlaskClient, admin: dict[str, str], action: str
) -> None:
    """Found by schemathesis: 274877906945 (2**38 + 1) was a 500 on PostgreSQL."""
    for callback_id in (str(2**38 + 1), str(2**31), "9" * 23):
        response = client.post(
            f"/api/v1/callbacks/{callback_id}/{action}",
            headers=admin,
            json={"outcome": "reached", "agent_phone": "+12125550100"},
        )
        assert refused(response, 404)["error"] == "not_found"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/orders/%00",
        "/api/v1/orders/1%002",
        "/api/v1/calls/%00",
        "/api/v1/calls/CA%00",
    ],
)
def test_a_nul_byte_in_a_path_is_a_404(
    client: FlaskClient, admin: dict[str, str], url: str
) -> None:
    assert refused(client.get(url, headers=admin), 404)["error"] == "not_found"


def test_a_nul_byte_in_an_act_on_an_order_is_a_404(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    response = client.post("/api/v1/orders/%00/cancel", headers=admin, json={"reason": "x"})
    assert refused(response, 404)["error"] == "not_found"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/orders?status=%00",
        "/api/v1/orders?member_id=%00",
        "/api/v1/orders?ordering_npi=1%00",
        "/api/v1/orders?plan=SUMMIT%00",
        "/api/v1/orders?cursor=%00",
        "/api/v1/orders?limit=%00",
        "/api/v1/messages?status=%00",
        "/api/v1/outages?active=%00",
        "/api/v1/orders?%00=1",
    ],
)
def test_a_nul_byte_in_a_filter_is_a_422(
    client: FlaskClient, admin: dict[str, str], url: str
) -> None:
    refused(client.get(url, headers=admin))


def test_a_body_past_the_limit_is_a_json_413(make_app: Callable[..., Flask]) -> None:
    app = make_app(IVR_MAX_REQUEST_BYTES="4096")
    client = app.test_client()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "big-admin", "--role", "admin"])
    headers = bearer(result.output.strip().splitlines()[-1])
    huge = {**NOTICE, "systems": ["x" * 100] * 100}
    body = refused(client.post("/api/v1/outages", headers=headers, json=huge), 413)
    assert body["error"] == "request_entity_too_large"
    assert client.post("/api/v1/outages", headers=headers, json=NOTICE).status_code == 201
    webhook = client.post("/voice/turn?t=1", data={"CallSid": "CA1", "SpeechResult": "x" * 9000})
    assert webhook.status_code == 413


def test_the_default_limit_is_one_mebibyte(app: Flask) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
