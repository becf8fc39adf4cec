"""The orders API: search with cursors, and extend, cancel, change provider, approve, deny."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from ivr.match.ids import luhn_valid
from ivr.services import orders, validity
from ivr.store.models import AuditEntry, Order, OrderStatus, utcnow
from tests.conftest import bearer
from tests.test_orders import COMPLETE

ZONE = "America/New_York"  # the line's zone in the tests (IVR_TIMEZONE)

IN_NETWORK = "2358850222"  # Lakeside Diagnostic Imaging: SUMMIT among others
OUT_OF_NETWORK = "2625149945"  # Northgate Imaging Center: not SUMMIT
ORDERING_NOT_FACILITY = "1234567893"  # an ordering physician's NPI
NOBODY = "1000000004"

_sids = itertools.count(1)


def make_order(
    app: Flask, *, outcome: str = "approved", reason: str | None = None, **slots: Any
) -> dict[str, Any]:
    """Save and submit an order as a call would (`reason`: why pended); its id and numbers."""
    from ivr.db import get_session

    with app.app_context():
        s = get_session()
        sid = f"CAapi{next(_sids)}"
        draft = orders.save_draft(s, call_sid=sid, slots={**COMPLETE, **slots})
        orders.submit(
            s, draft, outcome=outcome, rule_id="r1", reason=reason, zone=ZONE, call_sid=sid
        )
        s.commit()
        return {"id": draft.id, "ref": draft.reference_number, "number": draft.order_number}


def set_order(app: Flask, order_id: int, **values: Any) -> None:
    """Change an order's columns behind the services' back (clock, performed, status)."""
    from ivr.db import get_session

    with app.app_context():
        s = get_session()
        s.execute(sa.update(Order).where(Order.id == order_id).values(**values))
        s.commit()


def in_window(app: Flask, **slots: Any) -> dict[str, Any]:
    """An approved order that expires in 5 days: extendable."""
    info = make_order(app, **slots)
    set_order(app, info["id"], expires_at=utcnow() + dt.timedelta(days=5))
    return info


def assert_valid_sixty_days_from_today(order: dict[str, Any]) -> None:
    """Valid through the 60th day after today in New York, to the end of that day."""
    through = validity.local_day(utcnow(), ZONE) + dt.timedelta(days=60)
    assert order["valid_through"] == through.isoformat()
    ends = dt.datetime.fromisoformat(order["expires_at"])
    assert ends == validity.day_ends(through, ZONE)


@pytest.fixture
def agent(token_for: Callable[[str], str]) -> dict[str, str]:
    return bearer(token_for("agent"))


@pytest.fixture
def clinician(token_for: Callable[[str], str]) -> dict[str, str]:
    return bearer(token_for("clinician"))


# --- search --------------------------------------------------------------------------------


def refs(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [item["reference_number"] for item in response.get_json()["items"]]


def test_search_filters_each_alone_newest_first(
    app: Flask, client: FlaskClient, agent: dict[str, str]
) -> None:
    a = make_order(app)
    b = make_order(
        app,
        outcome="pending_review",
        plan="LAKESHORE",
        member_id="200300400",
        ordering_npi="1349106546",
    )
    c = make_order(app, member_id="300400500")
    set_order(app, c["id"], expires_at=utcnow() - dt.timedelta(days=1))
    d = make_order(app, member_id="300400500")
    set_order(app, d["id"], status=OrderStatus.CANCELLED)
    with app.app_context():  # a draft is never listed
        from ivr.db import get_session

        s = get_session()
        orders.save_draft(s, call_sid="CAdraft", slots=COMPLETE)
        s.commit()

    def get(query: str) -> Any:
        return client.get(f"/api/v1/orders?{query}", headers=agent)

    assert refs(get("")) == [d["ref"], c["ref"], b["ref"], a["ref"]]
    assert refs(get("member_id=300400500")) == [d["ref"], c["ref"]]
    assert refs(get("member_id=100200300")) == [a["ref"]]
    assert refs(get("ordering_npi=1349106546")) == [b["ref"]]
    assert refs(get("plan=LAKESHORE")) == [b["ref"]]
    assert refs(get("plan=SUMMIT")) == [d["ref"], c["ref"], a["ref"]]
    assert refs(get("status=approved")) == [a["ref"]]
    assert refs(get("status=expired")) == [c["ref"]]
    assert refs(get("status=pending_review")) == [b["ref"]]
    assert refs(get("status=cancelled")) == [d["ref"]]
    assert refs(get("status=denied")) == []
    assert refs(get("plan=SUMMIT&member_id=300400500&status=expired")) == [c["ref"]]
    body = get("member_id=100200300").get_json()
    assert body["next"] is None
    item = body["items"][0]
    assert item["order_number"] == a["number"] and item["status"] == "approved"
    assert "events" not in item


def test_search_pages_with_an_opaque_cursor(
    app: Flask, client: FlaskClient, agent: dict[str, str]
) -> None:
    made = [make_order(app)["ref"] for _ in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(f"/api/v1/orders?{query}", headers=agent)
        page = refs(response)
        pages += 1
        seen += page
        cursor = response.get_json()["next"]
        if cursor is None:
            break
        assert len(page) == 3
        assert cursor.isascii() and not cursor.isdigit()  # opaque, not the raw id
    assert pages == 3
    assert seen == list(reversed(made))


def test_search_exact_multiple_of_limit_ends_with_null_next(
    app: Flask, client: FlaskClient, agent: dict[str, str]
) -> None:
    for _ in range(4):
        make_order(app)
    first = client.get("/api/v1/orders?limit=2", headers=agent).get_json()
    assert len(first["items"]) == 2 and first["next"]
    second = client.get(f"/api/v1/orders?limit=2&cursor={first['next']}", headers=agent)
    assert len(second.get_json()["items"]) == 2
    assert second.get_json()["next"] is None
    # The cursor round-trips: asking again with the same cursor gives the same page.
    again = client.get(f"/api/v1/orders?limit=2&cursor={first['next']}", headers=agent)
    assert refs(again) == refs(second)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "invalid_limit"),
        ("limit=201", "invalid_limit"),
        ("limit=-1", "invalid_limit"),
        ("limit=ten", "invalid_limit"),
        ("limit=", "invalid_limit"),
        ("cursor=!!!", "invalid_cursor"),
        ("cursor=", "invalid_cursor"),
        ("cursor=" + base64.urlsafe_b64encode(b"x:12").decode(), "invalid_cursor"),
        ("cursor=" + base64.urlsafe_b64encode(b"o:-3").decode(), "invalid_cursor"),
        ("cursor=12", "invalid_cursor"),
        ("status=bogus", "invalid_status"),
    ],
)
def test_search_refuses_bad_params_with_422(
    client: FlaskClient, agent: dict[str, str], query: str, code: str
) -> None:
    response = client.get(f"/api/v1/orders?{query}", headers=agent)
    assert response.status_code == 422
    assert response.get_json()["error"] == code
    assert response.get_json()["message"]


def test_search_limit_200_is_allowed_and_audited(
    app: Flask, client: FlaskClient, session: Any, token_for: Callable[[str], str]
) -> None:
    info = make_order(app)
    response = client.get(
        "/api/v1/orders?limit=200&plan=SUMMIT", headers=bearer(token_for("clinician"))
    )
    assert response.status_code == 200 and len(response.get_json()["items"]) == 1
    session.rollback()
    rows = session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
    # The search, and a read of each order it showed (issue 14).
    assert [(r.action, r.target_type, r.target_id) for r in rows] == [
        ("search", "order", "plan=SUMMIT"),
        ("read", "order", info["ref"]),
    ]


# --- get ----------------------------------------------------------------------------------


def test_get_includes_events_and_replaced_by(
    app: Flask, client: FlaskClient, agent: dict[str, str]
) -> None:
    info = in_window(app)
    body = client.get(f"/api/v1/orders/{info['number']}", headers=agent).get_json()
    assert body["replaced_by"] is None
    assert [e["kind"] for e in body["events"]] == ["created", "updated", "submitted"]
    new = client.post(f"/api/v1/orders/{info['number']}/extend", headers=agent).get_json()
    body = client.get(f"/api/v1/orders/{info['number']}", headers=agent).get_json()
    assert body["status"] == "extended"
    assert body["replaced_by"] == new["order_number"]
    assert body["events"][-1]["kind"] == "extended"
    assert body["events"][-1]["after"] == {
        "status": "extended",
        "replaced_by": new["order_number"],
    }


# --- extend -------------------------------------------------------------------------------


def test_extend_in_window_issues_a_new_number_for_sixty_days(
    app: Flask, client: FlaskClient, agent: dict[str, str], session: Any
) -> None:
    info = in_window(app)
    response = client.post(f"/api/v1/orders/{info['number']}/extend", headers=agent)
    assert response.status_code == 201, response.get_json()
    new = response.get_json()
    number = new["order_number"]
    assert number != info["number"]
    assert len(number) == 9 and number.isdigit() and luhn_valid(number)
    assert new["replaces"] == info["number"]
    assert new["status"] == "approved"
    assert new["replaced_by"] is None
    assert new["reference_number"] != info["ref"]
    assert_valid_sixty_days_from_today(new)
    assert response.headers["Location"] == f"/api/v1/orders/{number}"
    assert [e["kind"] for e in new["events"]] == ["created"]
    assert new["events"][0]["after"]["replaces"] == info["number"]
    assert new["events"][0]["user_id"] is not None
    old = client.get(f"/api/v1/orders/{info['number']}", headers=agent).get_json()
    assert old["status"] == "extended" and old["replaced_by"] == number
    session.rollback()
    audits = session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert audits.count("extend") == 1


def test_extend_an_expired_order(app: Flask, client: FlaskClient, agent: dict[str, str]) -> None:
    info = make_order(app)
    set_order(app, info["id"], expires_at=utcnow() - dt.timedelta(days=3))
    assert (
        client.get(f"/api/v1/orders/{info['number']}", headers=agent).get_json()["status"]
        == "expired"
    )
    response = client.post(f"/api/v1/orders/{info['number']}/extend", headers=agent)
    assert response.status_code == 201
    assert response.get_json()["replaces"] == info["number"]


def test_extend_too_early_is_409(app: Flask, client: FlaskClient, agent: dict[str, str]) -> None:
    info = make_order(app)  # 60 days left
    response = client.post(f"/api/v1/orders/{info['number']}/extend", headers=agent)
    assert response.status_code == 409
    assert response.get_json()["error"] == "too_early"


def test_extend_window_comes_from_config(
    make_app: Callable[..., Flask], app: Flask, token_for: Callable[[str], str]
) -> None:
    token = token_for("agent")
    info = make_order(app)  # 60 days left: too early with the default 14-day window
    wide = make_app(IVR_EXTENSION_WINDOW_DAYS=61).test_client()
    response = wide.post(f"/api/v1/orders/{info['number']}/extend", headers=bearer(token))
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("cancelled", "already_cancelled"),
        ("pending", "is_pending_review"),
        ("performed", "performed"),
        ("denied", "already_denied"),
        ("extended", "already_extended"),
    ],
)
def test_extend_refused_by_status_is_409(
    app: Flask, client: FlaskClient, agent: dict[str, str], setup: str, code: str
) -> None:
    if setup == "pending":
        number = make_order(app, outcome="pending_review")["ref"]
    else:
        info = in_window(app)
        number = info["number"]
        changes: dict[str, dict[str, Any]] = {
            "cancelled": {"status": OrderStatus.CANCELLED},
            "performed": {"performed_at": utcnow() - dt.timedelta(days=1)},
            "denied": {"status": OrderStatus.DENIED},
            "extended": {},
        }
        values = changes[setup]
        if values:
            set_order(app, info["id"], **values)
        else:
            assert client.post(f"/api/v1/orders/{number}/extend", headers=agent).status_code == 201
    response = client.post(f"/api/v1/orders/{number}/extend", headers=agent)
    assert response.status_code == 409
    assert response.get_json()["error"] == code
    assert response.get_json()["message"]


def test_extend_refuses_a_malformed_body(
    app: Flask, client: FlaskClient, agent: dict[str, str]
) -> None:
    info = in_window(app)
    url = f"/api/v1/orders/{info['number']}/extend"
    bad = client.post(url, headers=agent, data="{not json", content_type="application/json")
    assert bad.status_code == 422 and bad.get_json()["error"] == "invalid_body"
    assert client.post(url, headers=agent, json={}).status_code == 201


# --- cancel -------------------------------------------------------------------------------


def test_cancel_then_nothing_more(app: Flask, client: FlaskClient, agent: dict[str, str]) -> None:
    info = in_window(app)
    url = f"/api/v1/orders/{info['number']}"
    response = client.post(f"{url}/cancel", headers=agent, json={"reason": "duplicate"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "cancelled" and body["cancel_reason"] == "duplicate"
    assert body["cancelled_at"] is not None
    assert body["events"][-1]["kind"] == "cancelled"
    assert body["events"][-1]["before"]["status"] == "approved"
    again = client.post(f"{url}/cancel", headers=agent, json={"reason": "again"})
    assert again.status_code == 409 and again.get_json()["error"] == "already_cancelled"
    extend = client.post(f"{url}/extend", headers=agent)
    assert extend.status_code == 409 and extend.get_json()["error"] == "already_cancelled"


def test_cancel_a_pended_order_by_reference(
    app: Flask, client: FlaskClient, agent: dict[str, str]
) -> None:
    info = make_order(app, outcome="pending_review")
    response = client.post(
        f"/api/v1/orders/{info['ref']}/cancel", headers=agent, json={"reason": "not needed"}
    )
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"json": {}}, "invalid_reason"),
        ({"json": {"reason": ""}}, "invalid_reason"),
        ({"json": {"reason": "   "}}, "invalid_reason"),
        ({"json": {"reason": 42}}, "invalid_reason"),
        ({"json": {"reason": "x" * 201}}, "invalid_reason"),
        ({}, "invalid_body"),
        ({"data": "reason=duplicate", "content_type": "text/plain"}, "invalid_body"),
        ({"json": ["duplicate"]}, "invalid_body"),
        ({"json": "duplicate"}, "invalid_body"),
    ],
)
def test_cancel_needs_a_reason_422(
    app: Flask, client: FlaskClient, agent: dict[str, str], kwargs: dict[str, Any], code: str
) -> None:
    info = make_order(app)
    response = client.post(f"/api/v1/orders/{info['number']}/cancel", headers=agent, **kwargs)
    assert response.status_code == 422
    assert response.get_json()["error"] == code
    still = client.get(f"/api/v1/orders/{info['number']}", headers=agent).get_json()
    assert still["status"] == "approved"


# --- change provider -------------------------------------------------------------------------


def test_change_provider_records_before_and_after(
    app: Flask, client: FlaskClient, agent: dict[str, str]
) -> None:
    info = make_order(app)
    response = client.post(
        f"/api/v1/orders/{info['number']}/change-provider",
        headers=agent,
        json={"facility_npi": IN_NETWORK},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["facility_npi"] == IN_NETWORK
    assert body["order_number"] == info["number"]
    event = body["events"][-1]
    assert event["kind"] == "provider_changed"
    assert event["before"] == {"facility_npi": COMPLETE["facility"]}
    assert event["after"] == {"facility_npi": IN_NETWORK}


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"facility_npi": OUT_OF_NETWORK}, 422, "not_in_network"),
        ({"facility_npi": NOBODY}, 422, "unknown_facility"),
        ({"facility_npi": ORDERING_NOT_FACILITY}, 422, "unknown_facility"),
        ({"facility_npi": "12345"}, 422, "invalid_facility_npi"),
        ({"facility_npi": "12345678901"}, 422, "invalid_facility_npi"),
        ({"facility_npi": 2358850222}, 422, "invalid_facility_npi"),
        ({"facility_npi": "235885022x"}, 422, "invalid_facility_npi"),
        ({}, 422, "invalid_facility_npi"),
        # Already there: the field is fine, the order's state conflicts (409, documented).
        ({"facility_npi": COMPLETE["facility"]}, 409, "same_facility"),
    ],
)
def test_change_provider_refusals(
    app: Flask,
    client: FlaskClient,
    agent: dict[str, str],
    payload: dict[str, Any],
    status: int,
    code: str,
) -> None:
    info = make_order(app)
    response = client.post(
        f"/api/v1/orders/{info['number']}/change-provider", headers=agent, json=payload
    )
    assert response.status_code == status
    assert response.get_json()["error"] == code
    still = client.get(f"/api/v1/orders/{info['number']}", headers=agent).get_json()
    assert still["facility_npi"] == COMPLETE["facility"]


def test_change_provider_of_a_cancelled_order_is_409(
    app: Flask, client: FlaskClient, agent: dict[str, str]
) -> None:
    info = make_order(app)
    set_order(app, info["id"], status=OrderStatus.CANCELLED)
    response = client.post(
        f"/api/v1/orders/{info['number']}/change-provider",
        headers=agent,
        json={"facility_npi": IN_NETWORK},
    )
    assert response.status_code == 409 and response.get_json()["error"] == "already_cancelled"


# --- approve and deny ------------------------------------------------------------------------


def test_acts_on_a_draft_are_refused_as_is_draft(
    app: Flask, client: FlaskClient, clinician: dict[str, str], agent: dict[str, str]
) -> None:
    from ivr.db import get_session

    with app.app_context():
        s = get_session()
        draft = orders.save_draft(s, call_sid="CAdraft", slots=COMPLETE)
        s.commit()
        ref = draft.reference_number
    for act, headers, body in [
        ("approve", clinician, None),
        ("deny", clinician, {"reason": "x"}),
        ("extend", agent, None),
        ("cancel", agent, {"reason": "duplicate"}),
    ]:
        response = client.post(f"/api/v1/orders/{ref}/{act}", headers=headers, json=body)
        assert (response.status_code, response.get_json()["error"]) == (409, "is_draft"), act


def test_approve_a_pended_order_issues_a_number(
    app: Flask, client: FlaskClient, clinician: dict[str, str], session: Any
) -> None:
    pended_for = "Six weeks of conservative therapy are required first."
    info = make_order(app, outcome="pending_review", reason=pended_for)
    assert info["number"] is None
    pended = client.get(f"/api/v1/orders/{info['ref']}", headers=clinician).get_json()
    assert pended["decision_reason"] == pended_for
    response = client.post(f"/api/v1/orders/{info['ref']}/approve", headers=clinician)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "approved"
    # The pend reason no longer describes the order; its history keeps it.
    assert body["decision_reason"] is None
    assert body["events"][-1]["before"]["decision_reason"] == pended_for
    assert body["events"][-1]["after"]["decision_reason"] is None
    number = body["order_number"]
    assert len(number) == 9 and luhn_valid(number)
    assert_valid_sixty_days_from_today(body)
    assert body["reviewed_at"] is not None
    assert body["events"][-1]["kind"] == "approved"
    assert body["events"][-1]["after"]["order_number"] == number
    again = client.post(f"/api/v1/orders/{number}/approve", headers=clinician)
    assert again.status_code == 409 and again.get_json()["error"] == "already_approved"
    deny = client.post(f"/api/v1/orders/{number}/deny", headers=clinician, json={"reason": "x"})
    assert deny.status_code == 409 and deny.get_json()["error"] == "already_approved"
    session.rollback()
    stored = session.get(Order, info["id"])
    assert stored.reviewed_by is not None


def test_deny_needs_a_reason_then_denies(
    app: Flask, client: FlaskClient, clinician: dict[str, str]
) -> None:
    info = make_order(app, outcome="pending_review")
    url = f"/api/v1/orders/{info['ref']}"
    bodies: list[dict[str, Any]] = [
        {},
        {"json": {}},
        {"json": {"reason": " "}},
        {"json": {"reason": None}},
    ]
    for kwargs in bodies:
        response = client.post(f"{url}/deny", headers=clinician, **kwargs)
        assert response.status_code == 422, kwargs
    response = client.post(f"{url}/deny", headers=clinician, json={"reason": "not indicated"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "denied" and body["decision_reason"] == "not indicated"
    assert body["order_number"] is None
    approve = client.post(f"{url}/approve", headers=clinician)
    assert approve.status_code == 409 and approve.get_json()["error"] == "already_denied"


# --- unknown orders, tokens, roles -----------------------------------------------------------

ACTS = {
    "extend": None,
    "cancel": {"reason": "duplicate"},
    "change-provider": {"facility_npi": IN_NETWORK},
    "approve": None,
    "deny": {"reason": "not indicated"},
}


@pytest.mark.parametrize("act", sorted(ACTS))
def test_unknown_order_is_404(
    client: FlaskClient, token_for: Callable[[str], str], act: str
) -> None:
    response = client.post(
        f"/api/v1/orders/123456782/{act}", headers=bearer(token_for("admin")), json=ACTS[act]
    )
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer ivr_wrong"}])
@pytest.mark.parametrize("act", sorted(ACTS))
def test_acts_need_a_token(
    app: Flask, client: FlaskClient, headers: dict[str, str], act: str
) -> None:
    info = in_window(app)
    response = client.post(f"/api/v1/orders/{info['number']}/{act}", headers=headers)
    assert response.status_code == 401
    assert client.get("/api/v1/orders", headers=headers).status_code == 401


ALLOWED = {
    "admin": set(ACTS),
    "agent": {"extend", "cancel", "change-provider"},
    "clinician": {"approve", "deny"},
    "supervisor": set(),
}


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("role", sorted(ALLOWED))
def test_role_matrix(
    app: Flask,
    client: FlaskClient,
    token_for: Callable[[str], str],
    session: Any,
    role: str,
    act: str,
) -> None:
    if act in ("approve", "deny"):
        number = make_order(app, outcome="pending_review")["ref"]
    else:
        number = in_window(app)["number"]
    headers = bearer(token_for(role))
    response = client.post(f"/api/v1/orders/{number}/{act}", headers=headers, json=ACTS[act])
    if act in ALLOWED[role]:
        assert response.status_code == (201 if act == "extend" else 200), response.get_json()
    else:
        assert response.status_code == 403
        assert response.get_json()["error"] == "forbidden"
    # Every role reads.
    assert client.get(f"/api/v1/orders/{number}", headers=headers).status_code == 200
    assert client.get("/api/v1/orders", headers=headers).status_code == 200
    session.rollback()
    actions = session.scalars(sa.select(AuditEntry.action)).all()
    expected = act.replace("-", "_")
    assert actions.count(expected) == (1 if act in ALLOWED[role] else 0)


# --- concurrency -----------------------------------------------------------------------------


def test_two_concurrent_extends_make_exactly_one_new_order(
    make_app: Callable[..., Flask],
    app: Flask,
    token_for: Callable[[str], str],
    session: Any,
) -> None:
    """Two workers extend the same order at once: the row lock lets one win; the other 409s."""
    info = in_window(app)
    tokens = [token_for("agent"), token_for("admin")]
    workers = [make_app(), make_app()]
    barrier = threading.Barrier(2)
    results: list[tuple[int, dict[str, Any]]] = []
    errors: list[BaseException] = []

    def extend(worker: Flask, token: str) -> None:
        try:
            client = worker.test_client()
            barrier.wait(timeout=20)
            response = client.post(f"/api/v1/orders/{info['number']}/extend", headers=bearer(token))
            results.append((response.status_code, response.get_json()))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=extend, args=(w, t)) for w, t in zip(workers, tokens, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    assert sorted(code for code, _ in results) == [201, 409], results
    won = next(body for code, body in results if code == 201)
    lost = next(body for code, body in results if code == 409)
    assert lost["error"] == "already_extended"
    session.rollback()
    replacements = session.scalars(sa.select(Order).where(Order.replaces_id == info["id"])).all()
    assert [o.order_number for o in replacements] == [won["order_number"]]
    assert session.get(Order, info["id"]).status == OrderStatus.EXTENDED
