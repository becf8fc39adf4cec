"""The flows and prompts API: admins draft, check, publish and roll back; calls keep theirs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from ivr.simulate import Caller, FlaskTransport
from ivr.store.models import AuditEntry, FlowVersion
from ivr.versions import FlowLibrary
from tests.conftest import AUTH_TOKEN, bearer
from tests.said import said

MENU = said("main.menu.prompt")
OLD_MENU = MENU[: MENU.index(".") + 1]  # its first sentence, on option 1
NEW_MENU = "Press 1 for a new order."
ORDER_ISSUED = "order.issued.number"


@pytest.fixture
def admin(token_for: Callable[[str], str]) -> dict[str, str]:
    return bearer(token_for("admin"))


def flow(client: FlaskClient, admin: dict[str, str], name: str = "main") -> dict[str, Any]:
    response = client.get(f"/api/v1/flows/{name}", headers=admin)
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def put_draft(
    client: FlaskClient, admin: dict[str, str], text: str, base: int, name: str = "main"
) -> Any:
    return client.put(
        f"/api/v1/flows/{name}/draft", json={"yaml": text, "base_version": base}, headers=admin
    )


def look_again(app: Flask) -> None:
    """Let the refresh interval pass for this process, without waiting for it."""
    library: FlowLibrary = app.extensions["ivr.flows"]
    ahead = library.clock() - time.monotonic() + library.refresh + 1
    library.clock = lambda: time.monotonic() + ahead


def audited(session: Any) -> list[tuple[str, str, str, int | None]]:
    session.rollback()
    rows = session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
    return [(r.action, r.target_type, r.target_id, r.status) for r in rows]


def test_flows_are_listed_with_their_version_and_drafts(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    response = client.get("/api/v1/flows", headers=admin)
    assert response.status_code == 200
    items = {i["name"]: i for i in response.get_json()["items"]}
    assert set(items) == {"main", "order", "status", "helpdesk"}
    assert items["main"]["published_version"] == 1 and items["main"]["has_draft"] is False
    assert items["main"]["updated_by"] == "files" and items["main"]["updated_at"]

    main = flow(client, admin)
    assert main["published_version"] == 1 and main["draft"] is None
    assert "start: greeting" in main["yaml"] and main["yaml"].startswith("#")  # its comments
    assert client.get("/api/v1/flows/nope", headers=admin).status_code == 404


@pytest.mark.parametrize("role", ["agent", "supervisor", "clinician"])
def test_other_roles_are_refused_every_route(
    client: FlaskClient, token_for: Callable[[str], str], role: str
) -> None:
    other = bearer(token_for(role))
    for method, url, body in (
        ("get", "/api/v1/flows", None),
        ("get", "/api/v1/flows/main", None),
        ("put", "/api/v1/flows/main/draft", {"yaml": "x", "base_version": 1}),
        ("post", "/api/v1/flows/main/publish", {"comment": "x"}),
        ("get", "/api/v1/flows/main/versions", None),
        ("post", "/api/v1/flows/main/rollback", {"version": 1}),
        ("get", "/api/v1/prompts/en-US", None),
        ("put", "/api/v1/prompts/en-US/draft", {"texts": {"a": "b"}, "base_version": 1}),
        ("post", "/api/v1/prompts/en-US/publish", {"comment": "x"}),
    ):
        response = getattr(client, method)(url, json=body, headers=other)
        assert response.status_code == 403, url
        assert response.is_json and response.get_json()["error"] == "forbidden"
    assert client.get("/api/v1/flows").status_code == 401


def test_an_invalid_draft_is_kept_with_its_problems_and_cannot_be_published(
    client: FlaskClient, admin: dict[str, str], session: Any
) -> None:
    main = flow(client, admin)
    broken = main["yaml"].replace("next: select_plan}", "next: select_plann}", 1)
    line = (
        broken.splitlines().index(next(x for x in broken.splitlines() if "select_plann" in x)) + 1
    )
    response = put_draft(client, admin, broken, 1)
    assert response.status_code == 200
    problems = response.get_json()["problems"]
    assert {
        "line": line,
        "node": "greeting",
        "field": "next",
        "message": "names unknown node 'main.select_plann'",
        "file": "flows/main.yaml",
    } in problems

    kept = flow(client, admin)["draft"]
    assert kept["yaml"] == broken and kept["base_version"] == 1
    assert kept["problems"] == problems
    listed = client.get("/api/v1/flows", headers=admin).get_json()["items"]
    assert next(i for i in listed if i["name"] == "main")["has_draft"] is True

    refused = client.post("/api/v1/flows/main/publish", json={"comment": "x"}, headers=admin)
    assert refused.status_code == 422
    assert refused.get_json()["problems"] == problems
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(FlowVersion)) == 1
    assert audited(session)[-2:] == [
        ("save_draft", "flow", "main", None),
        ("publish", "flow", "main", 422),
    ]


def test_bad_bodies_are_422_and_no_draft_is_409(client: FlaskClient, admin: dict[str, str]) -> None:
    for body in ({"yaml": 1, "base_version": 1}, {"yaml": "x"}, {"yaml": "x", "base_version": "1"}):
        assert client.put("/api/v1/flows/main/draft", json=body, headers=admin).status_code == 422
    response = client.post("/api/v1/flows/main/publish", json={"comment": "x"}, headers=admin)
    assert response.status_code == 409 and response.get_json()["error"] == "no_draft"
    response = client.post("/api/v1/flows/main/rollback", json={"version": 99}, headers=admin)
    assert response.status_code == 404


def test_publish_versions_diff_and_rollback(
    client: FlaskClient, admin: dict[str, str], session: Any
) -> None:
    main = flow(client, admin)
    changed = main["yaml"].replace(
        "start: greeting", "start: greeting  # where every call begins", 1
    )
    assert put_draft(client, admin, changed, 1).get_json() == {"problems": []}
    response = client.post(
        "/api/v1/flows/main/publish", json={"comment": "say where calls begin"}, headers=admin
    )
    assert response.status_code == 201
    version = response.get_json()["version"]
    assert version > 1  # (PostgreSQL's ids are not reused between tests)
    now = flow(client, admin)
    assert now["published_version"] == version and now["yaml"] == changed and now["draft"] is None
    # The other flows did not change in that version.
    assert flow(client, admin, "order")["published_version"] == 1

    items = client.get("/api/v1/flows/main/versions", headers=admin).get_json()["items"]
    assert [(i["version"], i["comment"]) for i in items] == [
        (version, "say where calls begin"),
        (1, "published from flows/, prompts/ and data/criteria.yaml"),
    ]
    assert items[0]["author"].startswith("admin-") and items[0]["time"]
    diff = client.get(f"/api/v1/flows/main/diff?from=1&to={version}", headers=admin)
    assert "+start: greeting  # where every call begins" in diff.get_data(as_text=True)

    rolled = client.post("/api/v1/flows/main/rollback", json={"version": 1}, headers=admin)
    assert rolled.status_code == 201
    back = rolled.get_json()["version"]
    assert back > version
    assert flow(client, admin)["yaml"] == main["yaml"]
    assert flow(client, admin)["published_version"] == back
    assert [a for a in audited(session) if a[0] != "read"][-3:] == [
        ("save_draft", "flow", "main", None),
        ("publish", "flow", f"main@{version}", None),
        ("rollback", "flow", f"main@{back}", None),
    ]


def test_a_draft_on_an_older_version_is_refused_and_nothing_is_lost(
    client: FlaskClient, token_for: Callable[[str], str], session: Any
) -> None:
    first, second = bearer(token_for("admin")), bearer(token_for("admin"))
    text = flow(client, first)["yaml"]
    mine = text.replace("start: greeting", "start: greeting  # first", 1)
    theirs = text.replace("start: greeting", "start: greeting  # second", 1)
    assert put_draft(client, first, mine, 1).status_code == 200
    published = client.post("/api/v1/flows/main/publish", json={"comment": "1"}, headers=first)
    assert published.status_code == 201
    version = published.get_json()["version"]
    stale = put_draft(client, second, theirs, 1)  # edited from version 1, published since
    assert stale.status_code == 409
    body = stale.get_json()
    assert body["error"] == "stale" and body["published_version"] == version
    assert f"version {version}" in body["message"]
    assert flow(client, first)["yaml"] == mine  # the first admin's publish stands
    assert put_draft(client, second, theirs, version).status_code == 200  # on the new base
    assert flow(client, second)["draft"]["yaml"] == theirs
    refused = [a for a in audited(session) if a[3] == 409]
    assert refused == [("save_draft", "flow", "main", 409)]


def test_a_prompt_that_loses_a_placeholder_is_refused(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    prompts = client.get("/api/v1/prompts/en-US", headers=admin).get_json()
    assert prompts["published_version"] == 1 and prompts["draft"] is None
    assert "{order_number" in prompts["texts"][ORDER_ISSUED]
    response = client.put(
        "/api/v1/prompts/en-US/draft",
        json={"texts": {ORDER_ISSUED: "Your order is approved."}, "base_version": 1},
        headers=admin,
    )
    assert response.status_code == 200
    messages = [(p["field"], p["message"]) for p in response.get_json()["problems"]]
    assert (ORDER_ISSUED, "loses the placeholder {order_number} it had") in messages
    typo = client.put(
        "/api/v1/prompts/en-US/draft",
        json={
            "texts": {ORDER_ISSUED: prompts["texts"][ORDER_ISSUED] + " {order_numbr}"},
            "base_version": 1,
        },
        headers=admin,
    )
    assert (ORDER_ISSUED, "{order_numbr} is not a placeholder of order.issued.number") in [
        (p["field"], p["message"]) for p in typo.get_json()["problems"]
    ]
    refused = client.post("/api/v1/prompts/en-US/publish", json={"comment": "x"}, headers=admin)
    assert refused.status_code == 422
    listed = client.get("/api/v1/prompts", headers=admin).get_json()["items"]
    assert {(i["language"], i["has_draft"]) for i in listed} == {
        ("en-US", True),
        ("es-US", False),
    }


def test_a_menu_prompt_announcing_a_missing_option_is_refused(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    response = client.put(
        "/api/v1/prompts/en-US/draft",
        json={"texts": {"main.menu.prompt": MENU + " For billing, press 5."}, "base_version": 1},
        headers=admin,
    )
    problems = response.get_json()["problems"]
    assert any(
        p["node"] == "main_menu"
        and p["field"] == "prompt"
        and "announces 5, which is not an option" in p["message"]
        and p["line"]
        for p in problems
    ), problems


def test_a_call_keeps_its_words_a_new_call_hears_the_published_ones_and_a_rollback(
    app: Flask, client: FlaskClient, admin: dict[str, str], session: Any
) -> None:
    caller = Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN)
    before = caller.dial()  # at the plan question; the main menu comes next
    new_words = MENU.replace(OLD_MENU, NEW_MENU)
    saved = client.put(
        "/api/v1/prompts/en-US/draft",
        json={"texts": {"main.menu.prompt": new_words}, "base_version": 1},
        headers=admin,
    )
    assert saved.status_code == 200 and saved.get_json() == {"problems": []}
    published = client.post(
        "/api/v1/prompts/en-US/publish", json={"comment": "shorter menu"}, headers=admin
    )
    assert published.status_code == 201
    version = published.get_json()["version"]
    look_again(app)

    assert OLD_MENU in before.press("1").text  # started before the publish: the old words
    assert NEW_MENU not in before.text
    after = caller.dial()
    assert NEW_MENU in after.press("1").text  # a new call: the new words

    items = client.get("/api/v1/prompts/en-US/versions", headers=admin).get_json()["items"]
    assert [i["version"] for i in items] == [version, 1]
    diff = client.get(f"/api/v1/prompts/en-US/diff?from=1&to={version}", headers=admin)
    assert NEW_MENU in diff.get_data(as_text=True)

    rolled = client.post("/api/v1/prompts/en-US/rollback", json={"version": 1}, headers=admin)
    assert rolled.status_code == 201
    assert rolled.get_json()["version"] == version + 1
    look_again(app)
    again = caller.dial()
    heard = again.press("1").text
    assert OLD_MENU in heard and NEW_MENU not in heard
    assert NEW_MENU in after.press("*").text  # the call on the published version keeps it
    assert [a[:3] for a in audited(session) if a[0] != "read"] == [
        ("save_draft", "prompts", "en-US"),
        ("publish", "prompts", f"en-US@{version}"),
        ("rollback", "prompts", f"en-US@{version + 1}"),
    ]


def test_a_save_sending_an_old_draft_revision_is_refused_and_the_draft_kept(
    client: FlaskClient, token_for: Callable[[str], str]
) -> None:
    """`draft_revision` (optional) is the draft revision the text was made from: a save made
    since refuses the later one (409), so two admins never overwrite each other unseen."""
    first, second = bearer(token_for("admin")), bearer(token_for("admin"))
    text = flow(client, first)["yaml"]
    mine = text.replace("start: greeting", "start: greeting  # first", 1)
    theirs = text.replace("start: greeting", "start: greeting  # second", 1)
    saved = client.put(
        "/api/v1/flows/main/draft",
        json={"yaml": mine, "base_version": 1, "draft_revision": ""},
        headers=first,
    )
    assert saved.status_code == 200
    draft = flow(client, first)["draft"]
    assert draft["yaml"] == mine and draft["revision"]
    stale = client.put(
        "/api/v1/flows/main/draft",
        json={"yaml": theirs, "base_version": 1, "draft_revision": ""},
        headers=second,
    )
    assert stale.status_code == 409 and "since you opened it" in stale.get_json()["message"]
    assert flow(client, second)["draft"]["yaml"] == mine
    fresh = client.put(
        "/api/v1/flows/main/draft",
        json={"yaml": theirs, "base_version": 1, "draft_revision": draft["revision"]},
        headers=second,
    )
    assert fresh.status_code == 200 and flow(client, second)["draft"]["yaml"] == theirs
    wrong = client.put(
        "/api/v1/flows/main/draft",
        json={"yaml": theirs, "base_version": 1, "draft_revision": 7},
        headers=second,
    )
    assert wrong.status_code == 422 and wrong.get_json()["field"] == "draft_revision"
