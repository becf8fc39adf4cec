"""Who is asking (issue 14): refused requests leave an audit row and a log line; tokens
expire, are revoked and record their last use; the API is rate limited per token, and bad
tokens per client address; `ivr tokens` lists, creates and revokes them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from ivr.auth import hash_token
from ivr.cli.audit import COLUMNS as AUDIT_COLUMNS
from ivr.simulate import Caller
from ivr.store.models import ApiToken, AuditEntry, User, utcnow
from tests.conftest import bearer
from tests.test_api_orders import make_order
from tests.test_console import make_user, on_hold_saying, sign_in

OTHER_ADDRESS = {"REMOTE_ADDR": "192.0.2.7"}


def refusals(session: Any) -> list[tuple[int | None, str, int | None, str | None]]:
    session.rollback()
    rows = session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "refused").order_by(AuditEntry.id)
    )
    return [(a.status, a.target_id, a.user_id, a.address) for a in rows]


def user_id(session: Any, token: str) -> int:
    session.rollback()
    row = session.scalars(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    return int(row.one().user_id)


def token_row(session: Any, token: str) -> ApiToken:
    session.rollback()
    session.expire_all()  # what the app wrote since, not what this session last saw
    return session.scalars(
        sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token))
    ).one()


# --- refused requests ---------------------------------------------------------------------


def test_refused_api_requests_leave_an_audit_row_and_a_log_line(
    client: FlaskClient,
    session: Any,
    token_for: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    clinician, agent = token_for("clinician"), token_for("agent")
    bad = "ivr_not-a-token-at-all-0123456789"
    with caplog.at_level(logging.INFO, logger="ivr"):
        assert client.get("/api/v1/calls").status_code == 401
        assert client.get("/api/v1/calls", headers=bearer(bad)).status_code == 401
        assert client.get("/api/v1/calls", headers=bearer(clinician)).status_code == 403
        missing = client.get("/api/v1/orders/123456782", headers=bearer(agent))
        assert missing.status_code == 404
        assert client.get("/api/v1/calls/CA404?member_id=100200300", headers=bearer(agent))
    assert refusals(session) == [
        (401, "GET /api/v1/calls", None, "127.0.0.1"),
        (401, "GET /api/v1/calls", None, "127.0.0.1"),
        (403, "GET /api/v1/calls", user_id(session, clinician), "127.0.0.1"),
        (404, "GET /api/v1/orders/123456782", user_id(session, agent), "127.0.0.1"),
        (404, "GET /api/v1/calls/CA404", user_id(session, agent), "127.0.0.1"),
    ]
    lines = [r.getMessage() for r in caplog.records if r.name == "ivr.auth"]
    assert len(lines) == 5, lines
    assert lines[0] == "refused 401 GET /api/v1/calls from 127.0.0.1 user - (no token)"
    assert lines[1].endswith("(unknown token)")
    assert lines[2].startswith("refused 403 GET /api/v1/calls from 127.0.0.1 user ")
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (bad, clinician, agent, "100200300"):
        assert secret not in text


def test_refused_console_pages_are_audited(
    client: FlaskClient, session: Any, runner: FlaskCliRunner
) -> None:
    make_user(runner, "dr-kim", "clinician")
    assert sign_in(client, "dr-kim").status_code == 302
    assert client.get("/console/queues").status_code == 403
    assert client.get("/console/calls/CA-none").status_code in (403, 404)
    session.rollback()
    kim = session.scalars(sa.select(User).where(User.name == "dr-kim")).one()
    assert refusals(session)[0] == (403, "GET /console/queues", kim.id, "127.0.0.1")
    assert len(refusals(session)) == 2


def test_a_scanners_unknown_paths_are_logged_not_audited(
    client: FlaskClient, session: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ivr"):
        assert client.get("/api/v1/wp-admin.php").status_code == 404
    assert refusals(session) == []
    assert any("refused 404 GET (no such page)" in r.getMessage() for r in caplog.records)


# --- tokens -------------------------------------------------------------------------------


def test_expired_and_revoked_tokens_are_refused(
    client: FlaskClient, session: Any, token_for: Callable[[str], str], runner: FlaskCliRunner
) -> None:
    expired, revoked, fine = token_for("agent"), token_for("agent"), token_for("agent")
    row = token_row(session, expired)
    row.expires_at = utcnow() - dt.timedelta(seconds=1)
    session.commit()
    prefix = token_row(session, revoked).prefix
    result = runner.invoke(args=["tokens", "revoke", prefix])
    assert result.exit_code == 0, result.output
    assert f"revoked {prefix}" in result.output
    for token in (expired, revoked):
        got = client.get("/api/v1/calls", headers=bearer(token))
        assert got.status_code == 401
        assert got.get_json()["error"] == "unauthorized"
    assert client.get("/api/v1/calls", headers=bearer(fine)).status_code == 200
    assert [r[0] for r in refusals(session)] == [401, 401]


def test_new_tokens_expire_after_ivr_token_days(
    make_app: Callable[..., Flask], session: Any
) -> None:
    runner = make_app(IVR_TOKEN_DAYS="30").test_cli_runner()
    made = runner.invoke(args=["create-user", "ana", "--role", "agent"])
    assert made.exit_code == 0, made.output
    row = token_row(session, made.output.strip().splitlines()[-1])
    assert row.expires_at is not None
    assert abs(row.expires_at - (utcnow() + dt.timedelta(days=30))) < dt.timedelta(minutes=1)
    forever = runner.invoke(args=["tokens", "create", "ana", "--days", "0"])
    assert forever.exit_code == 0 and "valid until revoked" in forever.output
    assert token_row(session, forever.output.strip().splitlines()[-1]).expires_at is None


def test_last_use_is_written_at_most_once_a_minute(
    client: FlaskClient, session: Any, token_for: Callable[[str], str]
) -> None:
    token = token_for("agent")
    assert token_row(session, token).last_used_at is None
    assert client.get("/api/v1/calls", headers=bearer(token)).status_code == 200
    first = token_row(session, token).last_used_at
    assert first is not None and utcnow() - first < dt.timedelta(seconds=30)
    assert client.get("/api/v1/calls", headers=bearer(token)).status_code == 200
    assert token_row(session, token).last_used_at == first  # not again within the minute
    row = token_row(session, token)
    row.last_used_at = first - dt.timedelta(minutes=2)
    session.commit()
    assert client.get("/api/v1/calls", headers=bearer(token)).status_code == 200
    assert token_row(session, token).last_used_at > first  # type: ignore[operator]


def test_tokens_list_create_and_revoke(
    runner: FlaskCliRunner, session: Any, client: FlaskClient
) -> None:
    assert runner.invoke(args=["create-user", "ana", "--role", "agent"]).exit_code == 0
    assert runner.invoke(args=["create-user", "dr-lee", "--role", "clinician"]).exit_code == 0
    made = runner.invoke(args=["tokens", "create", "ana", "--days", "7"])
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    assert token.startswith("ivr_") and "valid 7 days" in made.output
    listed = runner.invoke(args=["tokens", "list", "--user", "ana"])
    assert listed.exit_code == 0
    lines = listed.output.strip().splitlines()
    assert len(lines) == 2 and all("ana" in line and "active" in line for line in lines)
    assert lines[0].startswith(token[:12]), "newest first"
    assert token not in listed.output, "a token is shown once, when made"
    everyone = runner.invoke(args=["tokens", "list"]).output.strip().splitlines()
    assert len(everyone) == 3 and any("dr-lee" in line for line in everyone)
    assert runner.invoke(args=["tokens", "revoke", "ivr_"]).exit_code != 0  # too short
    assert runner.invoke(args=["tokens", "revoke", "ivr_zzzzzzzz"]).exit_code != 0
    assert runner.invoke(args=["tokens", "revoke", token[:12]]).exit_code == 0
    assert client.get("/api/v1/calls", headers=bearer(token)).status_code == 401
    listed = runner.invoke(args=["tokens", "list", "--user", "ana"]).output.splitlines()
    assert "revoked" in listed[0] and "active" in listed[1]
    assert runner.invoke(args=["tokens", "list", "--user", "ghost"]).exit_code != 0
    assert runner.invoke(args=["tokens", "create", "ghost"]).exit_code != 0


# --- rate limits --------------------------------------------------------------------------


def test_each_token_is_rate_limited(
    make_app: Callable[..., Flask], token_for: Callable[[str], str]
) -> None:
    app = make_app(IVR_API_RATE_LIMIT="3")
    client = app.test_client()
    token, other = token_for("agent"), token_for("agent")
    for _ in range(3):
        assert client.get("/api/v1/calls", headers=bearer(token)).status_code == 200
    limited = client.get("/api/v1/calls", headers=bearer(token))
    assert limited.status_code == 429
    assert limited.get_json()["error"] == "too_many_requests"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Another worker (another app on the same store) counts the same window.
    second_worker = make_app(IVR_API_RATE_LIMIT="3").test_client()
    assert second_worker.get("/api/v1/calls", headers=bearer(token)).status_code == 429
    assert client.get("/api/v1/calls", headers=bearer(other)).status_code == 200


def test_bad_tokens_are_rate_limited_per_address(
    make_app: Callable[..., Flask], token_for: Callable[[str], str], session: Any
) -> None:
    client = make_app(IVR_API_AUTH_FAILURES="3").test_client()
    good = token_for("agent")
    for i in range(3):
        bad = bearer(f"ivr_guess-{i}")
        assert client.get("/api/v1/calls", headers=bad).status_code == 401
    limited = client.get("/api/v1/calls", headers=bearer("ivr_guess-4"))
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.get_json()["error"] == "too_many_requests"
    # From that address nothing is looked at until the window ends; another is not affected.
    assert client.get("/api/v1/calls", headers=bearer(good)).status_code == 429
    ok = client.get("/api/v1/calls", headers=bearer(good), environ_base=OTHER_ADDRESS)
    assert ok.status_code == 200
    assert len(refusals(session)) == 3, "refusals past the limit do not fill the audit log"


# --- every read of an order or call by a person -------------------------------------------


def reads(session: Any, target_type: str) -> list[tuple[int | None, str]]:
    session.rollback()
    rows = session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "read", AuditEntry.target_type == target_type)
        .order_by(AuditEntry.id)
    )
    return [(a.user_id, a.target_id) for a in rows]


def test_each_order_a_search_shows_is_an_audited_read(
    app: Flask, client: FlaskClient, session: Any, token_for: Callable[[str], str]
) -> None:
    a, b = make_order(app), make_order(app)
    token = token_for("clinician")
    got = client.get("/api/v1/orders", headers=bearer(token))
    assert got.status_code == 200 and len(got.get_json()["items"]) == 2
    who = user_id(session, token)
    assert sorted(reads(session, "order")) == sorted([(who, a["ref"]), (who, b["ref"])])
    assert client.get("/api/v1/orders", headers=bearer(token)).status_code == 200
    assert len(reads(session, "order")) == 2, "the same person's reads, once a quarter hour"


def test_each_call_a_list_or_queue_view_shows_is_an_audited_read(
    client: FlaskClient,
    session: Any,
    token_for: Callable[[str], str],
    caller: Caller,
    runner: FlaskCliRunner,
) -> None:
    call = on_hold_saying(caller, "the portal shows the wrong address")
    token = token_for("agent")
    who = user_id(session, token)
    assert client.get("/api/v1/calls", headers=bearer(token)).status_code == 200
    assert reads(session, "call") == [(who, call.sid)]
    assert client.get("/api/v1/queues/helpdesk", headers=bearer(token)).status_code == 200
    assert reads(session, "call") == [(who, call.sid)]  # read already, minutes ago
    make_user(runner, "ana", "agent")
    assert sign_in(client, "ana").status_code == 302
    session.rollback()
    ana = session.scalars(sa.select(User).where(User.name == "ana")).one().id
    for _ in range(3):  # the queue view redraws every second
        assert client.get("/console/queues.json").status_code == 200
    assert reads(session, "call") == [(who, call.sid), (ana, call.sid)]
    assert client.get(f"/console/calls/{call.sid}").status_code == 200
    assert reads(session, "call")[-1] == (ana, call.sid)


def test_the_review_worklist_audits_each_order_it_shows(
    app: Flask, client: FlaskClient, session: Any, runner: FlaskCliRunner
) -> None:
    pended = make_order(app, outcome="pending_review")
    make_user(runner, "dr-kim", "clinician")
    assert sign_in(client, "dr-kim").status_code == 302
    assert client.get("/console/review").status_code == 200
    session.rollback()
    kim = session.scalars(sa.select(User).where(User.name == "dr-kim")).one().id
    assert reads(session, "order") == [(kim, pended["ref"])]


def test_the_audit_log_exports_as_csv(
    client: FlaskClient, runner: FlaskCliRunner, token_for: Callable[[str], str]
) -> None:
    token = token_for("clinician")
    assert client.get("/api/v1/calls", headers=bearer(token)).status_code == 403
    assert client.get("/api/v1/orders", headers=bearer(token)).status_code == 200
    result = runner.invoke(args=["audit", "--user", "clinician-1"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["user"], r["role"], r["action"], r["status"]) for r in rows] == [
        ("clinician-1", "clinician", "refused", "403"),
        ("clinician-1", "clinician", "search", ""),
    ]
    assert rows[0]["target_id"] == "GET /api/v1/calls" and rows[0]["address"] == "127.0.0.1"
    refused = runner.invoke(args=["audit", "--action", "refused", "--since", "2000-01-01"])
    assert len(refused.output.strip().splitlines()) == 2  # the header and the one refusal
    later = runner.invoke(args=["audit", "--since", "2999-01-01T00:00+00:00"])
    assert later.output.strip().splitlines() == [",".join(AUDIT_COLUMNS)]
    assert runner.invoke(args=["audit", "--since", "yesterday"]).exit_code != 0
