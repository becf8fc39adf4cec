"""The console's door (ivr/console): sign-in with a password, the rate limit on failures,
CSRF on every form, who may open which page, and the queue view with what callers said,
shown inert. The browser's side is tests/test_console_browser.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from ivr.simulate import Caller, SimulatedCall
from ivr.store.models import AuditEntry, SignInAttempt, User

PASSWORD = "correct horse battery"
HOSTILE = "<script>alert(1)</script> <b>bold</b>"


def make_user(runner: FlaskCliRunner, name: str, role: str, password: str = PASSWORD) -> None:
    result = runner.invoke(
        args=["create-user", name, "--role", role, "--password-stdin"], input=password + "\n"
    )
    assert result.exit_code == 0, result.output


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def sign_in(client: FlaskClient, name: str, password: str = PASSWORD, **extra: str) -> Any:
    token = csrf_of(client.get("/console/sign-in").get_data(as_text=True))
    form = {"username": name, "password": password, "csrf_token": token, **extra}
    return client.post("/console/sign-in", data=form)


@pytest.fixture
def agent(runner: FlaskCliRunner) -> str:
    make_user(runner, "ana", "agent")
    return "ana"


def on_hold_saying(caller: Caller, words: str) -> SimulatedCall:
    """A help-desk caller who describes a data issue in `words`, then waits for a person."""
    call = caller.dial().press("1").press("3").press("4").say(words).press("2")
    assert call.enqueued == "helpdesk", call.heard
    return call


# --- users and passwords ---------------------------------------------------------------


def test_create_user_with_a_password_stores_only_an_argon2_hash(
    runner: FlaskCliRunner, session: Any
) -> None:
    make_user(runner, "ana", "agent")
    user = session.scalars(sa.select(User).where(User.name == "ana")).one()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_a_short_password_is_refused(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["create-user", "bo", "--role", "agent", "--password-stdin"], input="short\n"
    )
    assert result.exit_code != 0
    assert "at least 12 characters" in result.output


def test_set_password_ends_the_old_sessions(
    client: FlaskClient, runner: FlaskCliRunner, agent: str
) -> None:
    assert sign_in(client, agent).status_code == 302
    assert client.get("/console/queues").status_code == 200
    result = runner.invoke(
        args=["set-password", agent, "--password-stdin"], input="another long password\n"
    )
    assert result.exit_code == 0, result.output
    response = client.get("/console/queues")
    assert response.status_code == 302 and "/console/sign-in" in response.location


# --- signing in and out ----------------------------------------------------------------


def test_sign_in_sets_a_http_only_same_site_cookie_and_lands_on_the_queues(
    client: FlaskClient, agent: str, session: Any
) -> None:
    response = sign_in(client, agent)
    assert response.status_code == 302
    assert response.location == "/console/queues"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert client.get("/console/queues").status_code == 200
    [entry] = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "sign_in"))
    assert entry.user_id == session.scalars(sa.select(User.id)).one()


def test_the_cookie_is_secure_outside_development_and_tests(
    make_app: Callable[..., Flask],
) -> None:
    assert make_app(TESTING=False).config["SESSION_COOKIE_SECURE"] is True
    assert make_app().config["SESSION_COOKIE_SECURE"] is False
    assert make_app(TESTING=False, IVR_ENV="development").config["SESSION_COOKIE_SECURE"] is False


def test_a_wrong_password_or_name_gets_the_same_answer(client: FlaskClient, agent: str) -> None:
    wrong_password = sign_in(client, agent, "not the password at all")
    wrong_name = sign_in(client, "nobody", PASSWORD)
    for response in (wrong_password, wrong_name):
        assert response.status_code == 401
        assert "The user name or password is not right." in response.get_data(as_text=True)
    assert client.get("/console/queues").status_code == 302


def test_a_user_without_a_password_cannot_sign_in(
    client: FlaskClient, runner: FlaskCliRunner
) -> None:
    assert runner.invoke(args=["create-user", "api-only", "--role", "agent"]).exit_code == 0
    assert sign_in(client, "api-only", "").status_code == 401


def test_a_disabled_user_is_refused_and_their_session_ends(
    client: FlaskClient, agent: str, session: Any
) -> None:
    assert sign_in(client, agent).status_code == 302
    user = session.scalars(sa.select(User).where(User.name == agent)).one()
    user.active = False
    session.commit()
    response = client.get("/console/queues")
    assert response.status_code == 302 and "/console/sign-in" in response.location
    refused = sign_in(client, agent)
    assert refused.status_code == 403
    assert "disabled" in refused.get_data(as_text=True)


def test_sign_out_ends_the_session(client: FlaskClient, agent: str, session: Any) -> None:
    sign_in(client, agent)
    page = client.get("/console/queues").get_data(as_text=True)
    response = client.post("/console/sign-out", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 302
    assert client.get("/console/queues").status_code == 302
    assert session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "sign_out")).one()


def test_after_sign_in_the_page_asked_for_opens_and_never_another_site(
    client: FlaskClient, runner: FlaskCliRunner
) -> None:
    make_user(runner, "cleo", "clinician")
    response = client.get("/console/review")
    assert response.status_code == 302
    assert response.location == "/console/sign-in?next=/console/review"
    assert sign_in(client, "cleo", next="/console/review").location == "/console/review"
    client.post(
        "/console/sign-out",
        data={"csrf_token": csrf_of(client.get("/console/review").get_data(as_text=True))},
    )
    assert sign_in(client, "cleo", next="//evil.example/").location == "/console/review"


# --- the rate limit --------------------------------------------------------------------


def test_five_failures_in_15_minutes_refuse_even_the_right_password(
    client: FlaskClient, agent: str, session: Any
) -> None:
    for _ in range(5):
        assert sign_in(client, agent, "a wrong password!").status_code == 401
    limited = sign_in(client, agent)
    assert limited.status_code == 429
    assert "Too many failed sign-ins. Wait 15 minutes" in limited.get_data(as_text=True)
    rows = session.scalars(sa.select(SignInAttempt)).all()
    assert [r.succeeded for r in rows] == [False] * 5  # the limited try checked nothing


def test_the_limit_is_shared_by_every_worker(make_app: Callable[..., Flask], agent: str) -> None:
    one, two = make_app().test_client(), make_app().test_client()
    for i in range(5):
        assert sign_in((one, two)[i % 2], agent, "a wrong password!").status_code == 401
    assert sign_in(two, agent).status_code == 429
    assert sign_in(one, agent).status_code == 429


def test_failures_from_one_address_are_limited_across_names(
    make_app: Callable[..., Flask], runner: FlaskCliRunner
) -> None:
    make_user(runner, "dee", "agent")
    client = make_app(IVR_SIGN_IN_ADDRESS_FAILURES=3).test_client()
    for name in ("x1", "x2", "x3"):
        assert sign_in(client, name, "a wrong password!").status_code == 401
    assert sign_in(client, "dee").status_code == 429


def test_old_failures_do_not_count(client: FlaskClient, agent: str, session: Any) -> None:
    import datetime as dt

    for _ in range(5):
        sign_in(client, agent, "a wrong password!")
    for row in session.scalars(sa.select(SignInAttempt)):
        row.at = row.at - dt.timedelta(minutes=16)
    session.commit()
    assert sign_in(client, agent).status_code == 302


# --- CSRF and roles --------------------------------------------------------------------


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient, agent: str) -> None:
    response = client.post("/console/sign-in", data={"username": agent, "password": PASSWORD})
    assert response.status_code == 400
    assert "This form was refused" in response.get_data(as_text=True)
    sign_in(client, agent)
    assert client.post("/console/sign-out", data={}).status_code == 400
    assert client.post("/console/sign-out", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/console/queues").status_code == 200  # still signed in


def test_the_webhooks_and_the_api_need_no_csrf_token(caller: Caller) -> None:
    assert caller.dial().heard  # signed Twilio posts still answer


def test_signed_out_pages_send_to_sign_in_and_the_feed_answers_401(client: FlaskClient) -> None:
    for path in ("/console/queues", "/console/review", "/console/admin"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.location.startswith("/console/sign-in")
    assert client.get("/console/queues.json").status_code == 401


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        ("agent", ["/console/queues"], ["/console/review", "/console/admin"]),
        ("clinician", ["/console/review"], ["/console/queues", "/console/admin"]),
        ("supervisor", ["/console/queues"], ["/console/review", "/console/admin"]),
        ("admin", ["/console/queues", "/console/review", "/console/admin"], []),
    ],
)
def test_each_role_opens_its_pages_only(
    client: FlaskClient, runner: FlaskCliRunner, role: str, allowed: list[str], refused: list[str]
) -> None:
    make_user(runner, f"{role}-1", role)
    sign_in(client, f"{role}-1")
    for path in allowed:
        assert client.get(path).status_code == 200, path
    for path in refused:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Your role may not open this page." in response.get_data(as_text=True)


def test_console_pages_forbid_framing_and_foreign_scripts(client: FlaskClient) -> None:
    response = client.get("/console/sign-in")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script>" not in response.get_data(as_text=True)  # no inline script


# --- the queue view --------------------------------------------------------------------


def test_the_queue_shows_a_waiting_caller_with_what_they_said_inert(
    client: FlaskClient, caller: Caller, agent: str
) -> None:
    call = on_hold_saying(caller, HOSTILE)
    sign_in(client, agent)
    page = client.get("/console/queues").get_data(as_text=True)
    assert f'data-sid="{call.sid}"' in page
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "Longest wait" in page
    feed = client.get("/console/queues.json").get_json()
    [item] = feed["items"]
    assert (item["sid"], item["kind"], item["queue"]) == (call.sid, "call", "helpdesk")
    assert item["language"] == "English" and item["longest"] is True
    assert {"label": "Ticket description", "value": HOSTILE, "unsure": False} in item["answers"]


def test_an_answer_heard_with_little_confidence_is_marked_unsure(
    client: FlaskClient, caller: Caller, agent: str
) -> None:
    call = caller.dial().press("1").press("3").press("4")
    call = call.say("the portal is slow", confidence=0.41).press("2")
    assert call.enqueued == "helpdesk"
    sign_in(client, agent)
    [item] = client.get("/console/queues.json").get_json()["items"]
    labels = [a["label"] for a in item["answers"]]
    assert "Plan" not in labels and "Ticket description confidence" not in labels
    said = {"label": "Ticket description", "value": "the portal is slow", "unsure": True}
    assert said in item["answers"]
    page = client.get("/console/queues").get_data(as_text=True)
    assert 'the portal is slow <em class="unsure">(unsure)</em>' in page


def test_callbacks_wait_beside_calls_longest_first(
    client: FlaskClient, caller: Caller, agent: str, session: Any
) -> None:
    from ivr.services.queues import request_callback

    first = on_hold_saying(caller, "the first caller")
    second = on_hold_saying(caller, "the second caller")
    request_callback(
        session, sid=first.sid, number="+12125550143", queue="helpdesk", language="en-US"
    )
    session.commit()
    first.leave_queue("leave", 130)
    sign_in(client, agent)
    items = client.get("/console/queues.json").get_json()["items"]
    assert [(i["sid"], i["kind"], i["longest"]) for i in items] == [
        (first.sid, "callback", True),
        (second.sid, "call", False),
    ]
    second.leave_queue("bridged", 40)
    items = client.get("/console/queues.json").get_json()["items"]
    assert [i["sid"] for i in items] == [first.sid]
