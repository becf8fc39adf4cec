"""Outage notices: the service's validation and windows, the API and the `ivr outage` CLI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient, FlaskCliRunner

from ivr.api.presenters import outage_to_dict
from ivr.services import outages
from ivr.services.outages import OutageError
from ivr.store.models import AuditEntry, Outage, utcnow
from tests.conftest import bearer

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
NOTICE = {"title": "Portal down", "message": "The ProviderPortal is down for maintenance."}


def iso(when: dt.datetime) -> str:
    return when.isoformat()


def add(session: Any, now: dt.datetime = NOW, **fields: Any) -> Outage:
    return outages.create(session, {**NOTICE, **fields}, user_id=None, now=now)


# --- Service: create and its validation -------------------------------------------------


def test_create_stores_plain_text_under_en_us_with_defaults(session: Any) -> None:
    outage = add(session)
    assert outage.id is not None
    assert outage.title == "Portal down"
    assert outage.message == {"en-US": "The ProviderPortal is down for maintenance."}
    assert outage.systems == [] and outage.plans is None
    assert outage.starts_at == NOW and outage.ends_at is None
    assert outage.created_at == NOW and outage.deleted_at is None


def test_create_normalizes_times_plans_and_systems(session: Any) -> None:
    outage = add(
        session,
        title="  Fax line  ",
        message={"en-US": " Fax is down. ", "es-US": "El fax no funciona."},
        systems=["fax", " fax ", "portal"],
        plans=["summit", "SUMMIT", "Harbor"],
        starts_at="2026-03-02T08:00:00-05:00",
        ends_at="2026-03-03T13:00:00Z",
    )
    assert outage.title == "Fax line"
    assert outage.message == {"en-US": "Fax is down.", "es-US": "El fax no funciona."}
    assert outage.systems == ["fax", "portal"]
    assert outage.plans == ["SUMMIT", "HARBOR"]
    assert outage.starts_at == dt.datetime(2026, 3, 2, 13, 0, tzinfo=dt.UTC)
    assert outage.ends_at == dt.datetime(2026, 3, 3, 13, 0, tzinfo=dt.UTC)
    session.expire_all()  # what the store hands back, not what was set
    again = outages.get(session, outage.id)
    assert again is not None and again.plans == ["SUMMIT", "HARBOR"]
    assert again.starts_at == dt.datetime(2026, 3, 2, 13, 0, tzinfo=dt.UTC)


BAD_FIELDS = [
    ({"title": None}, "title", "non-empty"),
    ({"title": "   "}, "title", "non-empty"),
    ({"title": "x" * 201}, "title", "200"),
    ({"title": 7}, "title", "string"),
    ({"message": ""}, "message", "non-empty"),
    ({"message": {}}, "message", "by language"),
    ({"message": ["hi"]}, "message", "by language"),
    ({"message": {"es-US": "Hola"}}, "message", "en-US"),
    ({"message": {"en-US": "  "}}, "message", "non-empty"),
    ({"message": {"en-US": 3}}, "message", "non-empty"),
    ({"message": {"en-US": "Hi", "Spanish": "Hola"}}, "message", "Spanish"),
    ({"message": "x" * 2001}, "message", "2000"),
    ({"systems": "portal"}, "systems", "list"),
    ({"systems": ["portal", ""]}, "systems", "non-empty"),
    ({"systems": [3]}, "systems", "non-empty"),
    ({"plans": []}, "plans", "non-empty list"),
    ({"plans": "SUMMIT"}, "plans", "non-empty list"),
    ({"plans": ["SUMMIT", "NOPE"]}, "plans", "NOPE"),
    ({"plans": [5]}, "plans", "plan code"),
    ({"starts_at": "yesterday"}, "starts_at", "ISO 8601"),
    ({"starts_at": "2026-03-02T08:00:00"}, "starts_at", "timezone"),
    ({"starts_at": 1772463600}, "starts_at", "ISO 8601"),
    ({"ends_at": "2026-03-02T08:00:00"}, "ends_at", "timezone"),
    ({"ends_at": iso(NOW - HOUR)}, "ends_at", "after starts_at"),
    ({"ends_at": iso(NOW)}, "ends_at", "after starts_at"),
    ({"starts_at": iso(NOW + DAY), "ends_at": iso(NOW + HOUR)}, "ends_at", "after starts_at"),
    ({"colour": "red"}, "colour", "unknown field"),
    # Spoken to every caller: one control character would make each new call's TwiML invalid.
    ({"title": "Portal\x00down"}, "title", "control characters"),
    ({"message": "Back\x0b soon."}, "message", "control characters"),
    ({"message": {"en-US": "ok", "es-US": "\x1b[2J pronto"}}, "message", "control characters"),
    ({"systems": ["claims\nforged"]}, "systems", "control characters"),
]


@pytest.mark.parametrize(("fields", "field", "words"), BAD_FIELDS)
def test_create_refuses_a_bad_field_and_names_it(
    session: Any, fields: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(OutageError) as caught:
        add(session, **fields)
    assert caught.value.field == field
    assert words in str(caught.value)
    assert session.scalar(sa.select(sa.func.count()).select_from(Outage)) == 0


@pytest.mark.parametrize("missing", ["title", "message"])
def test_create_requires_title_and_message(session: Any, missing: str) -> None:
    data = {k: v for k, v in NOTICE.items() if k != missing}
    with pytest.raises(OutageError, match="required") as caught:
        outages.create(session, data, user_id=None, now=NOW)
    assert caught.value.field == missing


def test_outage_error_is_a_value_error() -> None:
    assert issubclass(OutageError, ValueError)


# --- Service: the window ----------------------------------------------------------------

WINDOWS = [
    ("future", NOW + HOUR, NOW + DAY, False, "scheduled"),
    ("active", NOW - HOUR, NOW + HOUR, True, "active"),
    ("expired", NOW - DAY, NOW - HOUR, False, "ended"),
    ("open-ended", NOW - DAY, None, True, "active"),
    ("open-ended, not yet", NOW + HOUR, None, False, "scheduled"),
    ("starts this instant", NOW, NOW + HOUR, True, "active"),
    ("ends this instant", NOW - HOUR, NOW, False, "ended"),
]


@pytest.mark.parametrize(
    ("label", "starts", "ends", "playing", "word"), WINDOWS, ids=[w[0] for w in WINDOWS]
)
def test_a_notice_plays_only_inside_its_window(
    session: Any,
    label: str,
    starts: dt.datetime,
    ends: dt.datetime | None,
    playing: bool,
    word: str,
) -> None:
    outage = add(
        session,
        now=NOW - 2 * DAY,
        starts_at=iso(starts),
        ends_at=iso(ends) if ends is not None else None,
    )
    assert outages.is_active(outage, NOW) is playing
    assert outages.state(outage, NOW) == word
    for scope in ("all_plans", "for_plan"):
        found = outages.active(session, now=NOW, plan="SUMMIT", scope=scope)
        assert found == ([outage] if playing else [])
    assert outage_to_dict(outage, now=NOW)["active"] is playing


def test_a_deleted_notice_never_plays(session: Any) -> None:
    outage = add(session, now=NOW - HOUR)
    outages.delete(session, outage, now=NOW - HOUR / 2)
    assert outage.deleted_at == NOW - HOUR / 2
    assert not outages.is_active(outage, NOW)
    assert outages.state(outage, NOW) == "deleted"
    assert outages.active(session, now=NOW, scope="for_plan") == []
    assert outages.get(session, outage.id) is None
    assert outages.search(session, now=NOW) == []


# --- Service: which notices for which point of the call ---------------------------------


def test_scopes_pick_the_notices_of_each_point_of_the_call(session: Any) -> None:
    everyone = add(session, title="Everyone", starts_at=iso(NOW - DAY))
    summit = add(session, title="Summit", plans=["SUMMIT"], starts_at=iso(NOW - HOUR))
    harbor_cedar = add(session, title="Harbor and Cedar", plans=["HARBOR", "CEDAR"])
    add(session, title="Everyone, expired", starts_at=iso(NOW - DAY), ends_at=iso(NOW - HOUR))
    add(session, title="Summit, tomorrow", plans=["SUMMIT"], starts_at=iso(NOW + DAY))

    def titles(scope: str, plan: str | None) -> list[str]:
        return [o.title for o in outages.active(session, now=NOW, plan=plan, scope=scope)]

    # The start of the call: before any plan, only notices for every plan.
    assert titles("all_plans", None) == [everyone.title]
    assert titles("all_plans", "SUMMIT") == [everyone.title]
    # Right after plan selection: only notices naming that plan (the others were heard).
    assert titles("plan", "SUMMIT") == [summit.title]
    assert titles("plan", "summit") == [summit.title]
    assert titles("plan", "CEDAR") == [harbor_cedar.title]
    assert titles("plan", "LAKESHORE") == []
    assert titles("plan", None) == []
    # The help desk's option 2: its own plan's and all-plan notices, oldest start first.
    assert titles("for_plan", "SUMMIT") == [everyone.title, summit.title]
    assert titles("for_plan", "HARBOR") == [everyone.title, harbor_cedar.title]
    assert titles("for_plan", "LAKESHORE") == [everyone.title]
    assert titles("for_plan", None) == [everyone.title]


def test_an_unknown_scope_is_a_programming_error(session: Any) -> None:
    with pytest.raises(ValueError, match="unknown outage scope"):
        outages.active(session, now=NOW, scope="everywhere")


# --- Service: language, update, end, to_dict -------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en-US", "Down."), ("es-US", "Caído."), ("es-MX", "Caído."), ("fr-CA", "Down.")],
)
def test_message_for_falls_back_to_english(session: Any, language: str, expected: str) -> None:
    outage = add(session, message={"en-US": "Down.", "es-US": "Caído."})
    assert outages.message_for(outage, language) == expected


def test_message_for_plain_text_is_english_for_everyone(session: Any) -> None:
    outage = add(session, message="Down.")
    assert outages.message_for(outage, "es-US") == "Down."


def test_update_changes_only_the_given_fields(session: Any) -> None:
    outage = add(session, plans=["SUMMIT"], systems=["portal"], ends_at=iso(NOW + DAY))
    outages.update(session, outage, {"title": "Portal slow", "plans": None})
    assert outage.title == "Portal slow" and outage.plans is None
    assert outage.systems == ["portal"] and outage.ends_at == NOW + DAY
    assert outage.message == {"en-US": NOTICE["message"]}
    outages.update(session, outage, {"ends_at": None})
    assert outage.ends_at is None
    outages.update(session, outage, {})
    assert outage.title == "Portal slow"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"starts_at": None}, "starts_at"),
        ({"ends_at": iso(NOW - HOUR)}, "ends_at"),  # before the stored start
        ({"starts_at": iso(NOW + 2 * DAY)}, "ends_at"),  # after the stored end
        ({"title": ""}, "title"),
        ({"plans": ["NOPE"]}, "plans"),
        ({"id": 5}, "id"),
    ],
)
def test_update_validates_like_create_and_changes_nothing(
    session: Any, data: dict[str, Any], field: str
) -> None:
    outage = add(session, ends_at=iso(NOW + DAY))
    with pytest.raises(OutageError) as caught:
        outages.update(session, outage, data)
    assert caught.value.field == field
    assert outage.starts_at == NOW and outage.ends_at == NOW + DAY and outage.title == "Portal down"


def test_end_closes_an_open_or_later_window_now(session: Any) -> None:
    open_ended = add(session, now=NOW - DAY)
    later = add(session, now=NOW - DAY, ends_at=iso(NOW + DAY))
    for outage in (open_ended, later):
        outages.end(session, outage, now=NOW)
        assert outage.ends_at == NOW
        assert not outages.is_active(outage, NOW)
        assert outages.state(outage, NOW) == "ended"
    assert outages.active(session, now=NOW, scope="for_plan") == []


def test_end_leaves_an_ended_notice_alone(session: Any) -> None:
    outage = add(session, now=NOW - DAY, ends_at=iso(NOW - HOUR))
    outages.end(session, outage, now=NOW)
    assert outage.ends_at == NOW - HOUR


def test_ending_a_scheduled_notice_means_it_never_plays(session: Any) -> None:
    outage = add(session, starts_at=iso(NOW + HOUR), ends_at=iso(NOW + DAY))
    outages.end(session, outage, now=NOW)
    assert outage.starts_at == outage.ends_at == NOW
    for moment in (NOW, NOW + HOUR, NOW + 2 * HOUR):
        assert not outages.is_active(outage, moment)
    assert outages.state(outage, NOW) == "ended"


def test_to_dict_shows_the_notice_in_utc(session: Any) -> None:
    outage = add(
        session,
        message={"en-US": "Down.", "es-US": "Caído."},
        systems=["portal"],
        plans=["HARBOR"],
        starts_at="2026-03-02T09:00:00-05:00",
        ends_at="2026-03-02T12:00:00-05:00",
    )
    assert outage_to_dict(outage, now=NOW) == {
        "id": outage.id,
        "title": "Portal down",
        "message": {"en-US": "Down.", "es-US": "Caído."},
        "systems": ["portal"],
        "plans": ["HARBOR"],
        "starts_at": "2026-03-02T14:00:00+00:00",
        "ends_at": "2026-03-02T17:00:00+00:00",
        "active": True,
        "state": "active",
        "created_by": None,
        "created_at": "2026-03-02T15:00:00+00:00",
    }


def test_search_lists_newest_first_and_filters_by_activity(session: Any) -> None:
    old = add(session, now=NOW - DAY, title="Old, playing")
    ended = add(session, now=NOW - HOUR, title="Ended", ends_at=iso(NOW - HOUR / 2))
    scheduled = add(session, now=NOW, title="Scheduled", starts_at=iso(NOW + HOUR))
    assert outages.search(session, now=NOW) == [scheduled, ended, old]
    assert outages.search(session, now=NOW, active=True) == [old]
    assert outages.search(session, now=NOW, active=False) == [scheduled, ended]


def test_a_naive_clock_is_refused(session: Any) -> None:
    with pytest.raises(ValueError, match="naive"):
        outages.create(session, NOTICE, user_id=None, now=NOW.replace(tzinfo=None))


# --- API ---------------------------------------------------------------------------------


@pytest.fixture
def admin(token_for: Callable[[str], str]) -> dict[str, str]:
    return bearer(token_for("admin"))


def post(client: FlaskClient, headers: dict[str, str], **fields: Any) -> Any:
    return client.post("/api/v1/outages", json={**NOTICE, **fields}, headers=headers)


def test_api_creates_a_notice(client: FlaskClient, admin: dict[str, str], session: Any) -> None:
    before = utcnow()
    response = post(
        client,
        admin,
        message={"en-US": "Down.", "es-US": "Caído."},
        systems=["portal"],
        plans=["SUMMIT"],
        ends_at=iso(before + DAY),
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/outages/{body['id']}"
    assert body["title"] == "Portal down" and body["plans"] == ["SUMMIT"]
    assert body["message"] == {"en-US": "Down.", "es-US": "Caído."}
    assert body["systems"] == ["portal"] and body["active"] is True
    assert dt.datetime.fromisoformat(body["starts_at"]) >= before - dt.timedelta(seconds=1)
    stored = session.get(Outage, body["id"])
    assert stored is not None and stored.created_by is not None
    audits = session.scalars(sa.select(AuditEntry)).all()
    assert [(a.action, a.target_type, a.target_id) for a in audits] == [
        ("create", "outage", str(body["id"]))
    ]


@pytest.mark.parametrize(("fields", "field", "words"), BAD_FIELDS)
def test_api_answers_422_naming_the_bad_field(
    client: FlaskClient,
    admin: dict[str, str],
    session: Any,
    fields: dict[str, Any],
    field: str,
    words: str,
) -> None:
    response = post(client, admin, **fields)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid" and body["field"] == field
    assert words in body["message"]
    assert session.scalar(sa.select(sa.func.count()).select_from(Outage)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("not json", "application/json"),
        ("", "application/json"),
        ('["a list"]', "application/json"),
        ("title=x", "application/x-www-form-urlencoded"),
    ],
)
def test_api_refuses_a_body_that_is_not_a_json_object(
    client: FlaskClient, admin: dict[str, str], data: str, content_type: str
) -> None:
    response = client.post("/api/v1/outages", data=data, content_type=content_type, headers=admin)
    assert response.status_code == 422
    assert response.get_json() == {
        "error": "invalid",
        "message": "the body must be a JSON object",
        "field": "body",
    }


def test_api_needs_a_valid_token(client: FlaskClient) -> None:
    calls = [
        ("get", "/api/v1/outages"),
        ("get", "/api/v1/outages/1"),
        ("post", "/api/v1/outages"),
        ("patch", "/api/v1/outages/1"),
        ("delete", "/api/v1/outages/1"),
    ]
    for method, url in calls:
        for headers in ({}, bearer("ivr_not-a-token"), {"Authorization": "Basic eDp5"}):
            response = getattr(client, method)(url, json=NOTICE, headers=headers)
            assert response.status_code == 401, (method, url, headers)
            assert response.get_json()["error"] == "unauthorized"


@pytest.mark.parametrize("role", ["agent", "supervisor", "clinician"])
def test_api_writes_are_for_admins_only(
    client: FlaskClient, token_for: Callable[[str], str], admin: dict[str, str], role: str
) -> None:
    outage_id = post(client, admin).get_json()["id"]
    other = bearer(token_for(role))
    url = f"/api/v1/outages/{outage_id}"
    assert client.post("/api/v1/outages", json=NOTICE, headers=other).status_code == 403
    assert client.patch(url, json={"title": "x"}, headers=other).status_code == 403
    assert client.delete(url, headers=other).status_code == 403
    read = client.get("/api/v1/outages", headers=other)
    assert read.status_code == (403 if role == "clinician" else 200)
    assert client.get(url, headers=other).status_code == (403 if role == "clinician" else 200)


def test_api_updates_a_notice(client: FlaskClient, admin: dict[str, str], session: Any) -> None:
    created = post(client, admin, plans=["SUMMIT"]).get_json()
    url = f"/api/v1/outages/{created['id']}"
    ends = (utcnow() + DAY).replace(microsecond=0)
    response = client.patch(url, json={"plans": None, "ends_at": iso(ends)}, headers=admin)
    assert response.status_code == 200
    body = response.get_json()
    assert body["plans"] is None and body["title"] == created["title"]
    assert dt.datetime.fromisoformat(body["ends_at"]) == ends
    assert client.get(url, headers=admin).get_json() == body
    actions = session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["create", "update"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"ends_at": "2000-01-01T00:00:00Z"}, "ends_at"),
        ({"starts_at": None}, "starts_at"),
        ({"message": {"fr-FR": "En panne."}}, "message"),
        ({"plans": ["ATLANTIS"]}, "plans"),
        ({"created_by": 1}, "created_by"),
    ],
)
def test_api_update_refuses_bad_fields(
    client: FlaskClient, admin: dict[str, str], data: dict[str, Any], field: str
) -> None:
    created = post(client, admin).get_json()
    url = f"/api/v1/outages/{created['id']}"
    response = client.patch(url, json=data, headers=admin)
    assert response.status_code == 422
    assert response.get_json()["field"] == field
    assert client.get(url, headers=admin).get_json() == created
    assert (
        client.patch(url, data="[]", content_type="application/json", headers=admin).status_code
        == 422
    )


def test_api_deletes_a_notice(client: FlaskClient, admin: dict[str, str], session: Any) -> None:
    outage_id = post(client, admin).get_json()["id"]
    url = f"/api/v1/outages/{outage_id}"
    response = client.delete(url, headers=admin)
    assert response.status_code == 204 and response.data == b""
    assert client.get(url, headers=admin).status_code == 404
    assert client.get("/api/v1/outages", headers=admin).get_json() == {"items": []}
    assert client.delete(url, headers=admin).status_code == 404
    stored = session.get(Outage, outage_id)
    assert stored is not None and stored.deleted_at is not None
    actions = session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    # The two 404s after the delete are refusals, audited too (issue 14).
    assert actions == ["create", "delete", "refused", "refused"]


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/outages/999"),
        ("patch", "/api/v1/outages/999"),
        ("delete", "/api/v1/outages/999"),
        ("patch", "/api/v1/outages/abc"),
    ],
)
def test_api_unknown_notice_is_404_json(
    client: FlaskClient, admin: dict[str, str], method: str, url: str
) -> None:
    response = getattr(client, method)(url, json={"title": "x"}, headers=admin)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_api_lists_newest_first_and_filters_active(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    now = utcnow()
    playing = post(client, admin, title="Playing").get_json()
    ended = post(
        client, admin, title="Ended", starts_at=iso(now - DAY), ends_at=iso(now - HOUR)
    ).get_json()
    scheduled = post(client, admin, title="Scheduled", starts_at=iso(now + DAY)).get_json()

    def titles(query: str) -> list[str]:
        response = client.get(f"/api/v1/outages{query}", headers=admin)
        assert response.status_code == 200
        return [item["title"] for item in response.get_json()["items"]]

    newest_first = [scheduled["title"], ended["title"], playing["title"]]
    assert titles("") == newest_first
    assert titles("?active=true") == [playing["title"]]
    assert titles("?active=false") == [scheduled["title"], ended["title"]]
    response = client.get("/api/v1/outages?active=maybe", headers=admin)
    assert response.status_code == 422 and response.get_json()["field"] == "active"


# --- CLI ---------------------------------------------------------------------------------


def test_cli_adds_lists_and_ends_a_notice(runner: FlaskCliRunner, session: Any) -> None:
    result = runner.invoke(
        args=[
            "outage", "add", "--title", "Portal down", "--message", "Down.",
            "--message-es", "Caído.", "--plan", "summit", "--plan", "HARBOR",
            "--system", "portal", "--ends", iso(utcnow() + DAY),
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    outage_id = int(result.output.strip())
    stored = session.get(Outage, outage_id)
    assert stored.message == {"en-US": "Down.", "es-US": "Caído."}
    assert stored.plans == ["SUMMIT", "HARBOR"] and stored.systems == ["portal"]

    everyone = runner.invoke(args=["outage", "add", "--title", "Fax", "--message", "No fax."])
    assert everyone.exit_code == 0, everyone.output
    listed = runner.invoke(args=["outage", "list"])
    assert listed.exit_code == 0
    lines = listed.output.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:2] == [everyone.output.strip(), "active"]
    assert "open-ended" in lines[0] and "all plans" in lines[0] and lines[0].endswith("Fax")
    assert lines[1].split()[:2] == [str(outage_id), "active"]
    assert "SUMMIT,HARBOR" in lines[1] and lines[1].endswith("Portal down")

    ended = runner.invoke(args=["outage", "end", str(outage_id)])
    assert ended.exit_code == 0, ended.output
    assert f"outage {outage_id} ended at" in ended.output
    session.rollback()  # a fresh snapshot: the CLI committed since
    assert not outages.is_active(session.get(Outage, outage_id), utcnow())
    active = runner.invoke(args=["outage", "list", "--active"])
    assert [line.split()[-1] for line in active.output.strip().splitlines()] == ["Fax"]
    again = runner.invoke(args=["outage", "end", str(outage_id)])
    assert again.exit_code == 0 and "already ended" in again.output
    audited = session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert audited == ["create", "create", "end"]


def test_cli_lists_a_scheduled_notice(runner: FlaskCliRunner) -> None:
    starts = (utcnow() + DAY).replace(second=0, microsecond=0)
    added = runner.invoke(
        args=["outage", "add", "--title", "Upgrade", "--message", "x", "--starts", iso(starts)]
    )
    assert added.exit_code == 0, added.output
    line = runner.invoke(args=["outage", "list"]).output.strip()
    assert line.split()[1] == "scheduled"
    assert starts.strftime("%Y-%m-%d %H:%MZ") in line
    assert runner.invoke(args=["outage", "list", "--active"]).output.strip() == (
        "no active outage notices"
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--plan", "ATLANTIS"], "ATLANTIS"),
        (["--starts", "2026-03-02T08:00"], "--starts"),
        (["--starts", "soon"], "ISO 8601"),
        (["--ends", "2000-01-01T00:00Z"], "after starts_at"),
        (["--system", " "], "--system"),
    ],
)
def test_cli_add_refuses_bad_input(
    runner: FlaskCliRunner, session: Any, args: list[str], words: str
) -> None:
    result = runner.invoke(args=["outage", "add", "--title", "T", "--message", "M", *args])
    assert result.exit_code != 0
    assert "Error:" in result.output and words in result.output
    assert session.scalar(sa.select(sa.func.count()).select_from(Outage)) == 0


def test_cli_add_needs_title_and_message(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["outage", "add", "--message", "M"])
    assert result.exit_code != 0 and "--title" in result.output
    blank = runner.invoke(args=["outage", "add", "--title", "", "--message", "M"])
    assert blank.exit_code != 0 and "title" in blank.output


def test_cli_end_refuses_an_unknown_id(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["outage", "end", "999"])
    assert result.exit_code != 0 and "no outage notice with id 999" in result.output
    assert runner.invoke(args=["outage", "end", "abc"]).exit_code != 0


def test_cli_list_says_when_there_is_nothing(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["outage", "list"])
    assert result.exit_code == 0 and result.output.strip() == "no outage notices"
