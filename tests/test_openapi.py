"""The API's OpenAPI document: served without a token, describing every route the app has
(so the two cannot drift), and every route refusing the roles it should. schemathesis
generates requests from the document against the app in-process: none gets a 500.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.conftest import bearer

API = "/api/v1"


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """These tests send every route a missing and a bad token, and many requests with one
    token: past the rate limits (tested in tests/test_auth.py) they would be 429s."""
    return make_app(IVR_API_AUTH_FAILURES=1_000_000, IVR_API_RATE_LIMIT=1_000_000)


# Who may do what: "METHOD /path below /api/v1" -> the roles let in ("*" = no token needed).
# A route added to the API needs a row here (the table test says which) and a path in
# ivr/api/openapi.py (the drift test says which).
READERS = {"admin", "supervisor", "agent"}
ALLOWED: dict[str, set[str]] = {
    "GET /openapi.json": {"*"},
    "GET /calls": READERS,
    "GET /calls/{}": READERS,
    "POST /calls/{}/accept": READERS,
    "POST /calls/{}/wrap-up": READERS,
    "GET /callbacks": READERS,
    "POST /callbacks/{}/dial": READERS,
    "POST /callbacks/{}/complete": READERS,
    "GET /queues": READERS,
    "GET /queues/{}": READERS,
    "GET /messages": {"admin"},
    "GET /orders": READERS | {"clinician"},
    "GET /orders/{}": READERS | {"clinician"},
    "PATCH /orders/{}": READERS,
    "POST /orders/{}/submit": READERS,
    "POST /orders/{}/extend": {"admin", "agent"},
    "POST /orders/{}/cancel": {"admin", "agent"},
    "POST /orders/{}/change-provider": {"admin", "agent"},
    "POST /orders/{}/approve": {"admin", "clinician"},
    "POST /orders/{}/deny": {"admin", "clinician"},
    "GET /outages": READERS,
    "POST /outages": {"admin"},
    "GET /outages/{}": READERS,
    "PATCH /outages/{}": {"admin"},
    "DELETE /outages/{}": {"admin"},
    "GET /flows": {"admin"},
    "GET /flows/{}": {"admin"},
    "PUT /flows/{}/draft": {"admin"},
    "POST /flows/{}/publish": {"admin"},
    "GET /flows/{}/versions": {"admin"},
    "GET /flows/{}/diff": {"admin"},
    "POST /flows/{}/rollback": {"admin"},
    "GET /prompts": {"admin"},
    "GET /prompts/{}": {"admin"},
    "PUT /prompts/{}/draft": {"admin"},
    "POST /prompts/{}/publish": {"admin"},
    "GET /prompts/{}/versions": {"admin"},
    "GET /prompts/{}/diff": {"admin"},
    "POST /prompts/{}/rollback": {"admin"},
}
ROLES = ("none", "bad-token", "agent", "supervisor", "clinician", "admin")
_PARAM = re.compile(r"<(?:[^:<>]+:)?[^<>]+>|\{[^{}]+\}")


def shape(path: str) -> str:
    """A path with each parameter written `{}`: Flask's `<int:id>` and OpenAPI's `{id}` alike."""
    return _PARAM.sub("{}", path)


def api_routes(app: Flask) -> list[str]:
    """Every "METHOD /path" of the app below /api/v1, parameters as `{}`."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API + "/"):
            for method in rule.methods or ():
                if method not in ("HEAD", "OPTIONS"):
                    found.add(f"{method} {shape(rule.rule.removeprefix(API))}")
    return sorted(found)


def described(document: dict[str, Any]) -> set[str]:
    return {
        f"{method.upper()} {shape(path)}"
        for path, item in document["paths"].items()
        for method in item
    }


def test_the_document_is_served_without_a_token(client: FlaskClient) -> None:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": API}]
    assert "bearer" in document["components"]["securitySchemes"]


def test_every_api_route_is_in_the_document_and_nothing_else(
    app: Flask, client: FlaskClient
) -> None:
    document = client.get(f"{API}/openapi.json").get_json()
    routes, paths = set(api_routes(app)), described(document)
    missing = sorted(routes - paths)
    assert not missing, (
        "API routes the OpenAPI document does not describe (add them to paths() in"
        f" ivr/api/openapi.py): {missing}"
    )
    stale = sorted(paths - routes)
    assert not stale, f"the OpenAPI document describes routes the app lacks: {stale}"


def test_every_api_route_has_a_row_in_the_role_table(app: Flask) -> None:
    missing = sorted(set(api_routes(app)) - set(ALLOWED))
    assert not missing, (
        f"API routes without a row in ALLOWED (tests/test_openapi.py): {missing}; say which"
        " roles each lets in"
    )


def _request(client: FlaskClient, route: str, headers: dict[str, str]) -> Any:
    method, path = route.split(" ", 1)
    # A parameter that names nothing: the role check comes first, then a 404 or a 422.
    url = API + path.replace("{}", "999999")
    return client.open(url, method=method, json={}, headers=headers)


def test_every_route_lets_in_exactly_its_roles(
    app: Flask, client: FlaskClient, token_for: Callable[[str], str]
) -> None:
    """The table of route x role: no token 401, a wrong role 403, a right one past both
    checks (whatever the route then says of the empty request, never a 500)."""
    tokens = {role: token_for(role) for role in ("agent", "supervisor", "clinician", "admin")}
    tokens["bad-token"] = "ivr_not-a-token"
    failures = []
    for route in api_routes(app):
        allowed = ALLOWED.get(route, set())
        for role in ROLES:
            headers = bearer(tokens[role]) if role in tokens else {}
            status = _request(client, route, headers).status_code
            if "*" in allowed:
                expected_ok = status == 200
            elif role in ("none", "bad-token"):
                expected_ok = status == 401
            elif role in allowed:
                expected_ok = status not in (401, 403) and status < 500
            else:
                expected_ok = status == 403
            if not expected_ok:
                failures.append(f"{route} as {role}: {status}")
    assert not failures, failures


# --- schemathesis: requests generated from the document, sent to the app in-process ------

SCHEMATHESIS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_500(
    app: Flask, token_for: Callable[[str], str], mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", app)
    headers = bearer(token_for("admin"))  # admin passes every role check: the handlers run
    failures: list[str] = []

    @SCHEMATHESIS
    @given(case=schema.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} {case.query} {case.body!r}"
                f" -> {response.status_code}"
            )

    run()
    assert not failures, failures[:5]
