"""The admin housekeeping pages (ivr/console/admin.py, notices.py, auditlog.py): users and
roles, API tokens, outage notices, queues and hours, and the audit log; admins only, CSRF on
every form, every act an audit row, what users typed shown inert."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient, FlaskCliRunner

from ivr.config import get_settings
from ivr.store.models import ApiToken, AuditEntry, Outage, User
from tests.conftest import bearer
from tests.test_console import HOSTILE, PASSWORD, csrf_of, make_user, sign_in

NEW_PASSWORD = "a brand new long password"
PAGES = [
    "/console/admin",
    "/console/admin/users",
    "/console/admin/outages",
    "/console/admin/queues",
    "/console/admin/audit",
    "/console/admin/audit.csv",
]


@pytest.fixture
def admin(client: FlaskClient, runner: FlaskCliRunner) -> FlaskClient:
    """`client`, signed in as the admin "ada"."""
    make_user(runner, "ada", "admin")
    assert sign_in(client, "ada").status_code == 302
    return client


def form_token(client: FlaskClient, path: str = "/console/admin/users") -> str:
    return csrf_of(client.get(path).get_data(as_text=True))


def post(client: FlaskClient, path: str, page: str = "/console/admin/users", **form: Any) -> Any:
    return client.post(path, data={"csrf_token": form_token(client, page), **form})


def user_named(session: Any, name: str) -> User:
    session.rollback()  # a fresh look at what the app wrote
    return session.scalars(sa.select(User).where(User.name == name)).one()


def audited(session: Any, action: str, target_type: str) -> list[AuditEntry]:
    session.rollback()  # a fresh look at what the app wrote
    query = sa.select(AuditEntry).where(
        AuditEntry.action == action, AuditEntry.target_type == target_type
    )
    return list(session.scalars(query))


def shown_token(page: str) -> str:
    found = re.search(r'<code id="new-token" class="token">([^<]+)</code>', page)
    assert found, page
    return found.group(1)


# --- who may open them -------------------------------------------------------------------


def test_signed_out_every_admin_page_sends_to_sign_in(client: FlaskClient) -> None:
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.location.startswith("/console/sign-in"), path


@pytest.mark.parametrize("role", ["agent", "supervisor", "clinician"])
def test_other_roles_get_the_not_allowed_page_and_change_nothing(
    client: FlaskClient, runner: FlaskCliRunner, session: Any, role: str
) -> None:
    make_user(runner, "someone", role)
    sign_in(client, "someone")
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Your role may not open this page." in response.get_data(as_text=True)
    token = csrf_of(client.get("/console/admin").get_data(as_text=True))  # its sign-out form
    response = client.post(
        "/console/admin/users",
        data={"csrf_token": token, "name": "mallory", "role": "admin", "password": PASSWORD},
    )
    assert response.status_code == 403
    assert session.scalars(sa.select(User).where(User.name == "mallory")).first() is None


def test_the_admin_home_links_every_admin_page(admin: FlaskClient) -> None:
    page = admin.get("/console/admin").get_data(as_text=True)
    for path in PAGES[1:5]:
        assert f'href="{path}"' in page, path


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/console/admin/users", {"name": "eve", "role": "admin", "password": PASSWORD}),
        ("/console/admin/users/1/active", {"active": "0"}),
        ("/console/admin/users/1/password", {"password": NEW_PASSWORD}),
        ("/console/admin/users/1/tokens", {}),
        ("/console/admin/tokens/1/revoke", {}),
        ("/console/admin/outages", {"title": "t", "message_en": "m"}),
        ("/console/admin/outages/1/end", {}),
    ],
)
def test_a_form_without_its_csrf_token_is_refused(
    admin: FlaskClient, session: Any, path: str, form: dict[str, str]
) -> None:
    before = session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    response = admin.post(path, data=form)
    assert response.status_code == 400
    assert "This form was refused" in response.get_data(as_text=True)
    session.rollback()  # a fresh look at what the app wrote
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == before
    assert session.scalars(sa.select(User).where(User.name == "eve")).first() is None
    assert session.scalars(sa.select(Outage)).first() is None


# --- users and roles ---------------------------------------------------------------------


def test_an_admin_creates_a_user_who_can_sign_in_and_use_the_token_shown_once(
    admin: FlaskClient, app: Any, session: Any
) -> None:
    response = post(
        admin, "/console/admin/users", name="bruno", role="supervisor", password=PASSWORD
    )
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    token = shown_token(page)
    bruno = user_named(session, "bruno")
    assert bruno.role.value == "supervisor" and bruno.active
    assert bruno.password_hash.startswith("$argon2id$") and PASSWORD not in page
    [created] = audited(session, "create", "user")
    assert created.target_id == str(bruno.id) and created.address == "127.0.0.1"
    assert created.user_id == user_named(session, "ada").id
    # Shown once: the list never shows it again, only its prefix.
    listing = admin.get("/console/admin/users").get_data(as_text=True)
    assert token not in listing and token[:12] in listing
    api = app.test_client()
    assert api.get("/api/v1/queues", headers=bearer(token)).status_code == 200
    other = app.test_client()
    assert sign_in(other, "bruno").status_code == 302


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "ada", "role": "agent", "password": PASSWORD}, "already exists"),
        ({"name": "bo", "role": "agent", "password": "short"}, "at least 12 characters"),
        ({"name": "bo", "role": "king", "password": PASSWORD}, "Choose a role."),
        ({"name": "", "role": "agent", "password": PASSWORD}, "1 to 80 characters"),
        ({"name": "b\to", "role": "agent", "password": PASSWORD}, "control characters"),
    ],
)
def test_a_bad_new_user_is_refused_with_the_reason(
    admin: FlaskClient, session: Any, form: dict[str, str], message: str
) -> None:
    response = post(admin, "/console/admin/users", **form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    assert audited(session, "create", "user") == []


def test_a_user_name_with_html_is_shown_as_text(admin: FlaskClient) -> None:
    response = post(admin, "/console/admin/users", name=HOSTILE, role="agent", password=PASSWORD)
    assert response.status_code == 201
    page = admin.get("/console/admin/users").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;" in page


def test_disabling_a_user_ends_their_session_and_their_tokens_until_enabled(
    admin: FlaskClient, app: Any, runner: FlaskCliRunner, session: Any, token_for: Any
) -> None:
    make_user(runner, "ana", "agent")
    ana = app.test_client()
    sign_in(ana, "ana")
    assert ana.get("/console/queues").status_code == 200
    ana_id = user_named(session, "ana").id
    token = runner.invoke(args=["create-user", "bot", "--role", "agent"]).output.split()[-1]
    bot_id = user_named(session, "bot").id
    for uid in (ana_id, bot_id):
        response = post(admin, f"/console/admin/users/{uid}/active", active="0")
        assert response.status_code == 302
    assert ana.get("/console/queues").status_code == 302  # sent to sign in
    assert sign_in(ana, "ana").status_code == 403
    assert app.test_client().get("/api/v1/queues", headers=bearer(token)).status_code == 401
    assert "disabled" in admin.get("/console/admin/users").get_data(as_text=True)
    assert len(audited(session, "disable", "user")) == 2
    post(admin, f"/console/admin/users/{ana_id}/active", active="1")
    assert sign_in(ana, "ana").status_code == 302
    assert [e.target_id for e in audited(session, "enable", "user")] == [str(ana_id)]


def test_an_admin_cannot_disable_themself(admin: FlaskClient, session: Any) -> None:
    ada = user_named(session, "ada")
    response = post(admin, f"/console/admin/users/{ada.id}/active", active="0")
    assert response.status_code == 422
    assert "You cannot disable yourself" in response.get_data(as_text=True)
    assert user_named(session, "ada").active


def test_resetting_a_password_ends_the_old_sessions_and_the_new_one_signs_in(
    admin: FlaskClient, app: Any, runner: FlaskCliRunner, session: Any
) -> None:
    make_user(runner, "ana", "agent")
    ana = app.test_client()
    sign_in(ana, "ana")
    uid = user_named(session, "ana").id
    short = post(admin, f"/console/admin/users/{uid}/password", password="short")
    assert short.status_code == 422 and "at least 12 characters" in short.get_data(as_text=True)
    assert ana.get("/console/queues").status_code == 200
    response = post(admin, f"/console/admin/users/{uid}/password", password=NEW_PASSWORD)
    assert response.status_code == 302
    assert ana.get("/console/queues").status_code == 302
    assert sign_in(ana, "ana", PASSWORD).status_code == 401
    assert sign_in(ana, "ana", NEW_PASSWORD).status_code == 302
    [entry] = audited(session, "reset_password", "user")
    assert entry.target_id == str(uid)


def test_unknown_users_and_tokens_are_not_found(admin: FlaskClient) -> None:
    for path in (
        "/console/admin/users/999999/active",
        "/console/admin/users/99999999999/password",
        "/console/admin/tokens/999999/revoke",
    ):
        assert post(admin, path, active="0", password=NEW_PASSWORD).status_code == 404, path


# --- API tokens --------------------------------------------------------------------------


def test_tokens_are_listed_per_user_and_a_revoked_one_is_refused(
    admin: FlaskClient, app: Any, session: Any, token_for: Any
) -> None:
    token = token_for("agent")
    row = session.scalars(sa.select(ApiToken).where(ApiToken.prefix == token[:12])).one()
    api = app.test_client()
    assert api.get("/api/v1/queues", headers=bearer(token)).status_code == 200
    page = admin.get("/console/admin/users").get_data(as_text=True)
    listed = re.search(rf'<tr data-token="{re.escape(row.prefix)}">(.*?)</tr>', page, re.S)
    assert listed, page
    cells = re.findall(r"<td>(.*?)</td>", listed.group(1), re.S)
    # prefix, created, last used (the request just made, not "never"), expires, state
    assert cells[2].strip() not in ("", "never") and "active" in listed.group(1)
    response = post(admin, f"/console/admin/tokens/{row.id}/revoke")
    assert response.status_code == 302
    assert api.get("/api/v1/queues", headers=bearer(token)).status_code == 401
    page = admin.get("/console/admin/users").get_data(as_text=True)
    listed = re.search(rf'<tr data-token="{re.escape(row.prefix)}">(.*?)</tr>', page, re.S)
    assert listed and "revoked" in listed.group(1)
    assert [e.target_id for e in audited(session, "revoke", "token")] == [str(row.id)]


def test_a_new_token_is_shown_once_and_works(admin: FlaskClient, app: Any, session: Any) -> None:
    ada = user_named(session, "ada")
    response = post(admin, f"/console/admin/users/{ada.id}/tokens")
    assert response.status_code == 201
    token = shown_token(response.get_data(as_text=True))
    assert app.test_client().get("/api/v1/queues", headers=bearer(token)).status_code == 200
    session.rollback()  # a fresh look at what the app wrote
    row = session.scalars(sa.select(ApiToken).where(ApiToken.prefix == token[:12])).one()
    assert row.token_hash != token and token.startswith(row.prefix)
    assert [e.target_id for e in audited(session, "create", "token")] == [str(row.id)]
    assert token not in admin.get("/console/admin/users").get_data(as_text=True)


# --- outage notices ----------------------------------------------------------------------


def test_an_admin_posts_a_notice_callers_hear_and_ends_it(
    admin: FlaskClient, session: Any, caller: Any
) -> None:
    response = post(
        admin,
        "/console/admin/outages",
        "/console/admin/outages",
        title=HOSTILE,
        message_en="The portal is down until noon.",
        systems="portal, claims",
    )
    assert response.status_code == 302
    page = admin.get("/console/admin/outages").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    notice = session.scalars(sa.select(Outage)).one()
    assert notice.systems == ["portal", "claims"] and notice.plans is None
    assert re.search(r'data-outage="\d+">.*?<td class="state">active</td>', page, re.S)
    assert "The portal is down until noon." in " ".join(caller.dial().press("1").heard)
    response = post(admin, f"/console/admin/outages/{notice.id}/end", "/console/admin/outages")
    assert response.status_code == 302
    page = admin.get("/console/admin/outages").get_data(as_text=True)
    assert '<td class="state">ended</td>' in page
    assert "The portal is down until noon." not in " ".join(caller.dial().press("1").heard)
    assert [e.target_id for e in audited(session, "create", "outage")] == [str(notice.id)]
    assert [e.target_id for e in audited(session, "end", "outage")] == [str(notice.id)]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"title": "Down", "message_en": "line one\nline two"}, "control characters"),
        ({"title": "Do\x00wn", "message_en": "down"}, "control characters"),
        ({"title": "", "message_en": "down"}, "Title must be a non-empty string"),
        ({"title": "Down", "message_en": ""}, "must be a non-empty string"),
        ({"title": "Down", "message_en": "down", "plans": "NOPE"}, "nknown plan code"),
        (
            {
                "title": "Down",
                "message_en": "down",
                "starts_at": "2026-12-07T10:00",
                "ends_at": "2026-12-07T09:00",
            },
            "Ends_at must be after starts_at",
        ),
        ({"title": "Down", "message_en": "down", "starts_at": "soon"}, "must be a date"),
    ],
)
def test_a_bad_notice_is_refused_as_the_api_refuses_it(
    admin: FlaskClient, session: Any, form: dict[str, str], message: str
) -> None:
    response = post(admin, "/console/admin/outages", "/console/admin/outages", **form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert session.scalars(sa.select(Outage)).first() is None


def test_a_notice_for_chosen_plans_in_the_lines_clock(admin: FlaskClient, session: Any) -> None:
    page = admin.get("/console/admin/outages").get_data(as_text=True)
    codes = re.findall(r'name="plans" value="([^"]+)"', page)
    assert len(codes) >= 2
    response = post(
        admin,
        "/console/admin/outages",
        "/console/admin/outages",
        title="Claims",
        message_en="Claims are slow.",
        message_es="Los reclamos van lentos.",
        plans=codes[0],
        starts_at="2030-01-02T08:00",
    )
    assert response.status_code == 302
    notice = session.scalars(sa.select(Outage)).one()
    assert notice.plans == [codes[0]]
    assert notice.message["es-US"] == "Los reclamos van lentos."
    # 08:00 on the line's clock (America/New_York, winter): 13:00 UTC.
    assert notice.starts_at.replace(tzinfo=dt.UTC) == dt.datetime(2030, 1, 2, 13, tzinfo=dt.UTC)
    page = admin.get("/console/admin/outages").get_data(as_text=True)
    assert '<td class="state">scheduled</td>' in page and "2030-01-02 08:00" in page


# --- queues ------------------------------------------------------------------------------


def test_queues_show_their_hours_and_whether_open_now(admin: FlaskClient, session: Any) -> None:
    page = admin.get("/console/admin/queues").get_data(as_text=True)
    for name in ("general", "orders", "helpdesk", "clinical"):
        row = re.search(rf'<tr data-queue="{name}">(.*?)</tr>', page, re.S)
        assert row, name
        assert "Mon, Tue, Wed, Thu, Fri 08:30–19:00" in row.group(1)
        assert "America/New_York" in row.group(1)
        assert '<td class="open-now">open</td>' in row.group(1)  # the tests' override
    assert "IVR_HOURS_OVERRIDE=open" in page
    assert audited(session, "view", "queues")


def test_queues_follow_their_hours_without_the_override(
    make_app: Any, runner: FlaskCliRunner
) -> None:
    app = make_app(IVR_HOURS_OVERRIDE="")
    make_user(app.test_cli_runner(), "ada", "admin")
    client = app.test_client()
    sign_in(client, "ada")
    page = client.get("/console/admin/queues").get_data(as_text=True)
    row = re.search(r'<tr data-queue="general">(.*?)</tr>', page, re.S)
    assert row and re.search(r'<td class="open-now">(open|closed)</td>', row.group(1))
    assert "IVR_HOURS_OVERRIDE" not in page


# --- the audit log -----------------------------------------------------------------------


def _log_rows(page: str) -> list[list[str]]:
    body = page.split('<table id="audit">', 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S) for r in rows]
    return [c for c in cells if c]


def test_the_audit_log_shows_who_what_when_where_and_filters(
    admin: FlaskClient, app: Any, runner: FlaskCliRunner, session: Any
) -> None:
    make_user(runner, "ana", "agent")
    ana = app.test_client()
    sign_in(ana, "ana")
    ana.get("/console/queues")
    page = admin.get("/console/admin/audit").get_data(as_text=True)
    rows = _log_rows(page)
    assert ["ana", "view", "queues all", "127.0.0.1", ""] == rows[0][1:]
    assert any(r[1:3] == ["ada", "sign_in"] for r in rows)
    only_ana = _log_rows(admin.get("/console/admin/audit?user=ana").get_data(as_text=True))
    assert only_ana and all(r[1] == "ana" for r in only_ana)
    sign_ins = _log_rows(admin.get("/console/admin/audit?action=sign_in").get_data(as_text=True))
    assert {r[1] for r in sign_ins} == {"ada", "ana"}
    ana_id = user_named(session, "ana").id
    target = _log_rows(
        admin.get(f"/console/admin/audit?target=user:{ana_id}").get_data(as_text=True)
    )
    assert [r[2] for r in target] == ["sign_in"]
    today = dt.datetime.now(dt.UTC).date()
    dated = admin.get(f"/console/admin/audit?since={today}&until={today}")
    assert len(_log_rows(dated.get_data(as_text=True))) >= 3
    later = today + dt.timedelta(days=1)
    none = admin.get(f"/console/admin/audit?since={later}").get_data(as_text=True)
    assert "No rows match." in none
    bad = admin.get("/console/admin/audit?since=yesterday")
    assert bad.status_code == 422 and "must be a date" in bad.get_data(as_text=True)


def test_the_audit_log_shows_refused_requests_and_reads_of_orders(
    admin: FlaskClient, session: Any
) -> None:
    from ivr.auth import audit

    ada = user_named(session, "ada")
    audit(session, ada, "read", "order", "1234567890")
    audit(session, None, "read", "order", "<b>42</b>", status=403)
    session.commit()
    page = admin.get("/console/admin/audit?target=order").get_data(as_text=True)
    rows = _log_rows(page)
    assert [r[1:4] for r in rows] == [
        ["(system)", "read", "order &lt;b&gt;42&lt;/b&gt;"],
        ["ada", "read", "order 1234567890"],
    ]
    assert rows[0][5] == "403"


def test_the_audit_log_exports_every_matching_row_as_csv(admin: FlaskClient, session: Any) -> None:
    from ivr.auth import audit

    ada = user_named(session, "ada")
    for n in range(1203):  # more than two batches of the stream
        audit(session, ada, "read", "order", f"R{n:05d}")
    audit(session, ada, "read", "order", "=HYPERLINK(1)")
    session.commit()
    response = admin.get("/console/admin/audit.csv?target=order")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.is_streamed
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["at", "user", "action", "target_type", "target_id", "address", "status"]
    assert len(rows) == 1 + 1204
    assert len({r[4] for r in rows[1:]}) == 1204
    assert rows[1][4] == "'=HYPERLINK(1)"  # a formula made text
    assert all(r[1] == "ada" and r[2] == "read" for r in rows[1:])
    assert audited(session, "export", "audit")
    assert admin.get("/console/admin/audit.csv?until=soon").status_code == 422


def test_tokens_made_on_the_admin_pages_last_ivr_token_days_as_the_cli_s_do(
    admin: FlaskClient, app: Any, session: Any
) -> None:
    """IVR_TOKEN_DAYS is every new token's lifetime, whichever door made it."""
    days = get_settings(app).token_days
    post(admin, "/console/admin/users", name="bruno", role="agent", password=PASSWORD)
    ada = user_named(session, "ada")
    post(admin, f"/console/admin/users/{ada.id}/tokens")
    session.rollback()  # a fresh look at what the app wrote
    rows = session.scalars(sa.select(ApiToken).order_by(ApiToken.id.desc()).limit(2)).all()
    assert len(rows) == 2
    for row in rows:
        assert row.expires_at is not None
        assert abs((row.expires_at - row.created_at) - dt.timedelta(days=days)) < dt.timedelta(
            minutes=1
        )
