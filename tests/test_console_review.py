"""The clinicians' review worklist and the supervisor's page (ivr/console/review.py and
supervisor.py): who may open them, approve / deny through the same lifecycle acts as the API
(each an order event with the clinician's user id), refusals in words, stored text inert,
and the supervisor's live numbers. The browser's side is tests/test_console_browser.py."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from ivr.services import agents, orders
from ivr.simulate import Caller
from ivr.store.models import AuditEntry, Order, OrderEvent, OrderStatus, User
from tests.test_api_orders import make_order, set_order
from tests.test_console import HOSTILE, csrf_of, make_user, on_hold_saying, sign_in

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;"
RULE = "lumbar_mri_low_back_pain"


@pytest.fixture
def clinician(runner: FlaskCliRunner, client: FlaskClient) -> str:
    make_user(runner, "cleo", "clinician")
    sign_in(client, "cleo")
    return "cleo"


def pended(app: Flask, **slots: Any) -> dict[str, Any]:
    return make_order(app, outcome="pending_review", reason="six weeks of therapy needed", **slots)


def user_id(session: Any, name: str) -> int:
    return int(session.scalars(sa.select(User.id).where(User.name == name)).one())


def order_of(session: Any, info: dict[str, Any]) -> Order:
    session.rollback()  # a fresh read: the app committed in its own session
    found = session.get(Order, info["id"])
    assert found is not None
    return found


def post(client: FlaskClient, path: str, **form: str) -> Any:
    token = csrf_of(client.get("/console/review").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **form})


# --- who may open which page ------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        ("agent", [], ["/console/review", "/console/supervisor", "/console/supervisor.json"]),
        ("clinician", ["/console/review"], ["/console/supervisor", "/console/supervisor.json"]),
        ("supervisor", ["/console/supervisor", "/console/supervisor.json"], ["/console/review"]),
        ("admin", ["/console/review", "/console/supervisor", "/console/supervisor.json"], []),
    ],
)
def test_review_and_supervisor_pages_open_for_their_roles_only(
    client: FlaskClient, runner: FlaskCliRunner, role: str, allowed: list[str], refused: list[str]
) -> None:
    make_user(runner, f"{role}-1", role)
    sign_in(client, f"{role}-1")
    for path in allowed:
        assert client.get(path).status_code == 200, path
    for path in refused:
        assert client.get(path).status_code == 403, path


def test_an_agent_cannot_approve(app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    info = pended(app)
    make_user(runner, "ana", "agent")
    sign_in(client, "ana")
    token = csrf_of(client.get("/console/queues").get_data(as_text=True))
    response = client.post(f"/console/review/{info['ref']}/approve", data={"csrf_token": token})
    assert response.status_code == 403


def test_signed_out_the_supervisor_feed_answers_401(client: FlaskClient) -> None:
    assert client.get("/console/supervisor.json").status_code == 401
    assert client.get("/console/supervisor").status_code == 302


# --- the worklist -------------------------------------------------------------------------


def test_the_worklist_shows_pended_requests_oldest_first_with_what_a_reviewer_needs(
    app: Flask, client: FlaskClient, clinician: str, session: Any
) -> None:
    newer = pended(
        app,
        criteria_rule=RULE,
        criteria_answers={RULE: {"weeks_symptoms": 8, "red_flag_trauma": False}},
    )
    set_order(app, newer["id"], criteria_rule=RULE)  # make_order submits under rule "r1"
    older = pended(app, plan="SUMMIT")
    set_order(app, older["id"], submitted_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    make_order(app)  # approved: not on the worklist
    page = client.get("/console/review").get_data(as_text=True)
    refs = re.findall(r'data-ref="([0-9]+)"', page)
    assert refs == [older["ref"], newer["ref"]]
    assert "2 pended requests, oldest first." in page
    part = page[page.index(f'data-ref="{newer["ref"]}"') :]
    for shown in (
        "Maria Lopez",  # the patient
        "Summit",  # the plan's name
        "MRI of the lower spine (lumbar spine) without contrast",  # written
        "MRI of the lower spine without contrast",  # spoken
        "Alan Whitfield",  # the ordering physician
        "six weeks of therapy needed",  # the rule's reason
        "How many weeks of symptoms?",
        "low back pain for eight weeks",
        "physical therapy",
    ):
        assert shown in part, shown
    assert re.search(r"How many weeks of symptoms\?.*<strong>8</strong>", part)
    assert re.search(r"Recent trauma\?.*<strong>no</strong>", part)
    assert session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "view", AuditEntry.target_type == "review")
    ).first()


def test_stored_html_is_shown_inert(app: Flask, client: FlaskClient, clinician: str) -> None:
    info = make_order(
        app, outcome="pending_review", reason=HOSTILE, symptoms=HOSTILE, clinical_history=HOSTILE
    )
    page = client.get("/console/review").get_data(as_text=True)
    assert info["ref"] in page
    assert HOSTILE not in page
    assert page.count(ESCAPED) == 3


def test_a_skipped_answer_reads_left_for_clinical_review(
    app: Flask, client: FlaskClient, clinician: str
) -> None:
    pended(app, symptoms=None, symptoms_skipped=True)
    page = client.get("/console/review").get_data(as_text=True)
    assert "left for clinical review" in page
    assert orders.LEFT_FOR_REVIEW not in page


def test_an_empty_worklist_says_so(client: FlaskClient, clinician: str) -> None:
    assert "No request is waiting for review." in client.get("/console/review").get_data(
        as_text=True
    )


# --- approve and deny ---------------------------------------------------------------------


def test_approve_without_a_note_shows_the_order_number(
    app: Flask, client: FlaskClient, clinician: str, session: Any
) -> None:
    info = pended(app)
    response = post(client, f"/console/review/{info['ref']}/approve")
    assert response.status_code == 303 and response.location == "/console/review"
    order = order_of(session, info)
    assert order.status == OrderStatus.APPROVED and order.order_number
    assert order.reviewed_by == user_id(session, clinician)
    page = client.get("/console/review").get_data(as_text=True)
    assert f"Request {info['ref']} approved: order number {order.order_number}." in page
    assert f'data-ref="{info["ref"]}"' not in page  # gone from the worklist
    event = session.scalars(
        sa.select(OrderEvent).where(
            OrderEvent.order_id == info["id"], OrderEvent.kind == "approved"
        )
    ).one()
    assert event.user_id == user_id(session, clinician)
    assert "note" not in (event.after or {})
    audit = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "approve")).one()
    assert (audit.user_id, audit.target_id) == (user_id(session, clinician), info["ref"])


def test_approve_with_a_note_keeps_it_in_the_event(
    app: Flask, client: FlaskClient, clinician: str, session: Any
) -> None:
    info = pended(app)
    post(client, f"/console/review/{info['ref']}/approve", reason="  therapy notes seen  ")
    event = session.scalars(
        sa.select(OrderEvent).where(
            OrderEvent.order_id == info["id"], OrderEvent.kind == "approved"
        )
    ).one()
    assert event.after["note"] == "therapy notes seen"
    assert order_of(session, info).status == OrderStatus.APPROVED


def test_deny_needs_a_reason(app: Flask, client: FlaskClient, clinician: str, session: Any) -> None:
    info = pended(app)
    response = post(client, f"/console/review/{info['ref']}/deny", reason="   ")
    assert response.status_code == 422
    assert "a denial needs a reason" in response.get_data(as_text=True)
    assert order_of(session, info).status == OrderStatus.PENDING_REVIEW
    response = post(client, f"/console/review/{info['ref']}/deny", reason=HOSTILE)
    assert response.status_code == 303
    order = order_of(session, info)
    assert (order.status, order.decision_reason) == (OrderStatus.DENIED, HOSTILE)
    assert order.order_number is None
    event = session.scalars(
        sa.select(OrderEvent).where(OrderEvent.order_id == info["id"], OrderEvent.kind == "denied")
    ).one()
    assert event.user_id == user_id(session, clinician)
    page = client.get("/console/review").get_data(as_text=True)
    assert f"Request {info['ref']} denied." in page


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_an_order_no_longer_pending_is_refused_in_words(
    app: Flask, client: FlaskClient, clinician: str, session: Any, decision: str
) -> None:
    info = pended(app)
    assert post(client, f"/console/review/{info['ref']}/approve").status_code == 303
    number = order_of(session, info).order_number
    response = post(client, f"/console/review/{info['ref']}/{decision}", reason="too late")
    assert response.status_code == 409
    assert (
        f"Request {info['ref']} is no longer pending review: it is approved. Nothing was changed."
        in response.get_data(as_text=True)
    )
    order = order_of(session, info)
    assert (order.status, order.order_number) == (OrderStatus.APPROVED, number)


def test_an_unknown_request_or_decision_is_a_404_in_words(
    client: FlaskClient, clinician: str, app: Flask
) -> None:
    response = post(client, "/console/review/99999999/approve")
    assert response.status_code == 404
    assert "There is no request 99999999." in response.get_data(as_text=True)
    info = pended(app)
    assert post(client, f"/console/review/{info['ref']}/escalate").status_code == 404


def test_a_decision_without_its_csrf_token_is_refused(
    app: Flask, client: FlaskClient, clinician: str, session: Any
) -> None:
    info = pended(app)
    response = client.post(f"/console/review/{info['ref']}/approve", data={})
    assert response.status_code == 400
    assert order_of(session, info).status == OrderStatus.PENDING_REVIEW


# --- the supervisor -----------------------------------------------------------------------


def test_the_supervisor_sees_queue_numbers_and_who_handles_what(
    client: FlaskClient, runner: FlaskCliRunner, caller: Caller, session: Any, make_app: Any
) -> None:
    make_user(runner, "ana", "agent")
    make_user(runner, "bo", "agent")
    make_user(runner, "sue", "supervisor")
    first = on_hold_saying(caller, "the first caller")
    on_hold_saying(caller, "the second caller")
    agent_client = make_app().test_client()
    sign_in(agent_client, "ana")
    agents.accept(session, first.sid, user_id=user_id(session, "ana"), agent_phone="+12125550100")
    session.commit()
    sign_in(client, "sue")
    board = client.get("/console/supervisor.json").get_json()
    [helpdesk] = [q for q in board["queues"] if q["name"] == "helpdesk"]
    assert helpdesk["waiting"] == 1  # the accepted call is no longer waiting
    assert helpdesk["today"]["entered"] == 2 and helpdesk["today"]["answered"] == 1
    names = {a["name"]: a for a in board["agents"]}
    assert set(names) == {"ana", "sue"}  # bo never signed in
    [handling] = names["ana"]["handling"]
    assert (handling["sid"], handling["state"]) == (first.sid, "on the call")
    assert names["sue"]["handling"] == []
    page = client.get("/console/supervisor").get_data(as_text=True)
    assert 'data-queue="helpdesk"' in page and f'data-sid="{first.sid}"' in page
    # signed out: off the list
    token = csrf_of(agent_client.get("/console/queues").get_data(as_text=True))
    agent_client.post("/console/sign-out", data={"csrf_token": token})
    first.leave_queue("bridged", 30)
    session.expire_all()
    agents.wrap_up(
        session, first.sid, user_id=user_id(session, "ana"), disposition="no_action", notes=""
    )
    session.commit()
    board = client.get("/console/supervisor.json").get_json()
    assert [a["name"] for a in board["agents"]] == ["sue"]
