"""Outage notices on calls: every notice for the chosen plan (its own and all-plan ones)
right after the plan is chosen, so the plan question itself is never delayed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from ivr.simulate import Caller
from ivr.store.models import utcnow
from tests.conftest import bearer
from tests.said import said

PLAN_QUESTION = said("main.plan.ask")


def iso(delta: dt.timedelta) -> str:
    return (utcnow() + delta).isoformat()


@pytest.fixture
def post_outage(client: FlaskClient, token_for: Callable[[str], str]) -> Callable[..., int]:
    token = token_for("admin")

    def post(**fields: Any) -> int:
        body = {"title": "Portal maintenance", "message": "The portal is down for upgrades."}
        body.update(fields)
        response = client.post("/api/v1/outages", json=body, headers=bearer(token))
        assert response.status_code == 201, response.get_json()
        return int(response.get_json()["id"])

    return post


def test_an_active_notice_for_all_plans_is_heard_once_right_after_the_plan(
    caller: Caller, post_outage: Callable[..., int]
) -> None:
    post_outage(starts_at=iso(-dt.timedelta(hours=1)), ends_at=iso(dt.timedelta(hours=3)))
    call = caller.dial()
    # Nothing before the question (the offer of Spanish comes after it).
    assert call.heard[:2] == [said("main.greeting"), PLAN_QUESTION]
    call.press("1")
    assert call.heard[0] == "Summit Health Plan."
    assert call.heard[1].startswith(
        "Portal maintenance: The portal is down for upgrades. Expected to be resolved by "
    )
    assert call.heard[-1] == said("main.menu.prompt")
    call.press("4").press("2")  # another plan: the notice was heard already
    assert not any("Portal maintenance" in line for line in call.heard)
    call.press("*8")  # the main menu: not again either
    assert not any("Portal maintenance" in line for line in call.heard)


def test_an_open_ended_notice_says_no_end(caller: Caller, post_outage: Callable[..., int]) -> None:
    post_outage(starts_at=iso(-dt.timedelta(minutes=5)), title="Claims system down.")
    call = caller.dial().press("1")
    assert call.heard[1] == "Claims system down: The portal is down for upgrades."


@pytest.mark.parametrize(
    ("starts", "ends"),
    [
        (dt.timedelta(hours=1), dt.timedelta(hours=2)),  # not yet
        (-dt.timedelta(hours=3), -dt.timedelta(hours=1)),  # over
    ],
    ids=["future", "expired"],
)
def test_a_notice_outside_its_window_is_never_played(
    caller: Caller, post_outage: Callable[..., int], starts: dt.timedelta, ends: dt.timedelta
) -> None:
    post_outage(starts_at=iso(starts), ends_at=iso(ends))
    call = caller.dial()
    assert call.heard[1] == PLAN_QUESTION
    call.press("1")
    assert not any("Portal maintenance" in line for line in call.transcript)


def test_a_deleted_notice_is_not_played(
    caller: Caller,
    client: FlaskClient,
    post_outage: Callable[..., int],
    token_for: Callable[[str], str],
) -> None:
    outage = post_outage(starts_at=iso(-dt.timedelta(hours=1)))
    response = client.delete(f"/api/v1/outages/{outage}", headers=bearer(token_for("admin")))
    assert response.status_code == 204
    assert not any("Portal maintenance" in line for line in caller.dial().press("1").transcript)


@pytest.mark.parametrize(("plan_key", "heard"), [("1", True), ("2", False)])
def test_a_plan_notice_is_heard_right_after_choosing_that_plan(
    caller: Caller, post_outage: Callable[..., int], plan_key: str, heard: bool
) -> None:
    post_outage(
        title="Summit eligibility delays",
        message="Eligibility checks are slow.",
        plans=["SUMMIT"],
        starts_at=iso(-dt.timedelta(hours=1)),
    )
    call = caller.dial()
    assert call.heard[1] == PLAN_QUESTION
    call.press(plan_key)
    notices = [line for line in call.heard if line.startswith("Summit eligibility delays")]
    assert bool(notices) == heard
    if heard:
        assert call.heard.index(notices[0]) == 1, "right after the plan's name"
        assert call.heard[-1] == said("main.menu.prompt")


def test_spanish_text_is_used_when_the_call_is_in_spanish(
    post_outage: Callable[..., int], make_app: Any
) -> None:
    from ivr.simulate import FlaskTransport
    from tests.conftest import AUTH_TOKEN

    post_outage(
        message={"en-US": "Down.", "es-US": "Fuera de servicio."},
        starts_at=iso(-dt.timedelta(hours=1)),
    )
    app = make_app(IVR_DEFAULT_LANGUAGE="es-US")
    call = Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN).dial().press("1")
    assert "Fuera de servicio." in call.heard[1]
    assert "Se espera resolver" not in call.heard[1]
