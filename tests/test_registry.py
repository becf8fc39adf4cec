"""The action registry: declared outcomes, the facts actions get, and failures logged (masked)
with the call before they become "error"."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import pytest
import sqlalchemy as sa

import ivr.versions  # noqa: F401  (registers every flow action)
from ivr.actions import registry
from ivr.actions.registry import ACTIONS, Facts, Registered, mask_phi, run_action
from ivr.engine import ActionResult
from ivr.simulate import Caller
from ivr.store.models import Call
from tests.said import said

PHI = "member 912345678 born 1960-03-05 (03/05/1960) id W123456789 not in plan SUMMIT"


def test_every_action_declares_what_it_returns_and_error_is_implied() -> None:
    assert len(ACTIONS) >= 20
    for name, reg in ACTIONS.items():
        assert "error" in reg.outcomes, name
        assert reg.outcomes - {"error"}, f"{name} declares no outcome of its own"
    assert registry.outcomes_by_action()["check_ordering_npi"] == {
        "ok",
        "bad_check_digit",
        "unknown",
        "error",
    }


def test_an_action_name_registers_once() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        registry.action("save_draft", outcomes={"ok"}, fills=set())(lambda *a: ActionResult("ok"))


def test_facts_are_frozen_and_hold_no_config() -> None:
    facts = Facts(call_sid="CA1", from_number="+12125550143")
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.call_sid = "CA2"  # type: ignore[misc]
    fields = {f.name for f in dataclasses.fields(Facts)}
    assert fields == {
        "call_sid",
        "from_number",
        "plan",
        "language",
        "today",
        "extension_window_days",
        "prompts",
        "timezone",
        "criteria",
    }


def _raising(name: str, exc: BaseException) -> Registered:
    """The action `name`, failing with `exc`; its declared outcomes kept for the checker."""

    def fn(*args: Any) -> ActionResult:
        raise exc

    return Registered(fn, ACTIONS[name].outcomes, ACTIONS[name].fills)


def test_a_failing_action_is_logged_masked_then_becomes_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(ACTIONS, "verify_member", _raising("verify_member", LookupError(PHI)))
    caplog.set_level(logging.INFO, logger="ivr.actions")
    facts = Facts(call_sid="CAfeedface")
    result = run_action("verify_member", None, facts, {}, {}, {})  # type: ignore[arg-type]
    assert result == ActionResult("error")
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    line = record.getMessage()
    assert line.startswith("action verify_member failed on call CAfeedface: LookupError: ")
    for secret in ("912345678", "1960", "03/05", "W123456789", "123456789"):
        assert secret not in line
    assert "not in plan SUMMIT" in line


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("member 912345678", "member ***"),
        ("born 1960-03-05", "born ***"),
        ("dob 3/5/1960 again", "dob *** again"),
        ("order ABC12345X", "order ***"),
        ("at 2026-03-02T15:00:00+00:00", "at ***"),
        ("no such table: orders", "no such table: orders"),
    ],
)
def test_mask_phi(text: str, masked: str) -> None:
    assert mask_phi(text) == masked


def test_a_call_whose_action_fails_goes_on_and_the_log_names_call_and_action(
    caller: Caller,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    session: Any,
) -> None:
    """Every call announces outages once a plan is chosen; a failure there must not look
    like the store being down, and the log must say which call and which action."""
    monkeypatch.setitem(
        ACTIONS, "announce_outages", _raising("announce_outages", RuntimeError(PHI))
    )
    caplog.set_level(logging.INFO)
    call = caller.dial().press("1")
    assert call.heard[-1] == said("main.menu.prompt")
    lines = [r.getMessage() for r in caplog.records if r.name == "ivr.actions"]
    assert lines == [
        f"action announce_outages failed on call {call.sid}: RuntimeError: {mask_phi(PHI)}"
    ]
    assert "912345678" not in caplog.text and "1960" not in caplog.text
    assert "store unavailable" not in caplog.text
    assert session.scalar(sa.select(Call.outcome).where(Call.sid == call.sid)) is None


def test_scratch_is_kept_apart_from_the_callers_answers(
    caller: Caller, monkeypatch: pytest.MonkeyPatch, session: Any
) -> None:
    seen: list[Mapping[str, Any]] = []
    original = ACTIONS["announce_outages"]

    def noting(s: Any, facts: Facts, params: Any, slots: Any, scratch: Any) -> ActionResult:
        seen.append(dict(scratch))
        result = original.fn(s, facts, params, slots, scratch)
        return dataclasses.replace(result, scratch={"checked": [*scratch.get("checked", []), 1]})

    monkeypatch.setitem(
        ACTIONS, "announce_outages", Registered(noting, original.outcomes, original.fills)
    )
    call = caller.dial()
    call.press("1")  # a plan: the notices are announced once it is chosen
    call.press("4").press("2")  # another plan: its notices, the scratch handed back
    assert seen == [{}, {"checked": [1]}]
    row = session.scalars(sa.select(Call).where(Call.sid == call.sid)).one()
    assert row.scratch == {"checked": [1, 1]}
    assert not any(k.startswith("_") and k not in ("_visits",) for k in row.slots)
    assert "checked" not in row.slots
