"""The ProviderPortal help desk by phone: resets, outages, registration, tickets.

Twilio's REST API is reached only through the `twilio` client's HTTP-client hook
(`app.extensions["ivr.twilio_http"]`), where the exact requests are asserted. A call only
queues its texts; the outbox worker (`ivr send-outbox`, run here by `deliver`) sends them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from ivr.services import portal
from ivr.simulate import Caller, FlaskTransport, SimulatedCall
from ivr.store.models import Call, OutboxMessage, PortalAccount, ResetAttempt, Ticket, utcnow
from tests.conftest import AUTH_TOKEN as WEBHOOK_TOKEN
from tests.conftest import bearer
from tests.said import said
from tests.test_messaging import ACCOUNT_SID, AUTH_TOKEN, FROM, MESSAGES_URL, FakeTwilio

MORALES_MOBILE = "+12125550143"  # jmorales: NPI 1615230939, TIN 310597076, ZIP 10016
WHITFIELD_NPI = "1234567893"  # two accounts: TINs 351921609 (ZIP 43215), 357224075 (43085)
LOCKED_TIN = "359030355"  # scastillo, status locked, ZIP 45202
STRANGER = "+13125550000"
SENT = said("helpdesk.reset.sent")
NO_MATCH = "That doesn't match our records."
LOCKED = "For security, we can't reset this password by phone right now."
CANNOT = "We can't reset this password by phone."


@pytest.fixture
def twilio() -> FakeTwilio:
    return FakeTwilio()


@pytest.fixture
def desk_app(make_app: Callable[..., Flask], twilio: FakeTwilio) -> Flask:
    app = make_app(
        TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER=FROM, TWILIO_AUTH_TOKEN=AUTH_TOKEN
    )
    app.extensions["ivr.twilio_http"] = twilio
    return app


@pytest.fixture
def deliver(desk_app: Flask) -> Callable[[], str]:
    """Run the outbox worker once, as `ivr send-outbox` does; returns what it printed."""

    def run() -> str:
        result = desk_app.test_cli_runner().invoke(args=["send-outbox"])
        assert result.exit_code == 0, result.output
        return str(result.output)

    return run


@pytest.fixture
def desk(desk_app: Flask) -> Callable[..., Caller]:
    app = desk_app

    def caller(from_number: str = STRANGER) -> Caller:
        return Caller(
            FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN, from_number=from_number
        )

    return caller


def to_desk(caller: Caller) -> SimulatedCall:
    call = caller.dial().press("1").press("3")
    assert call.heard[-1] == said("helpdesk.menu")
    return call


def own_reset(caller: Caller) -> SimulatedCall:
    """From a phone registered as an account's mobile: reset that account (1)."""
    call = to_desk(caller).press("1")
    assert call.heard == [said("helpdesk.reset.which")]
    return call.press("1")


def outbox(session: Any) -> list[OutboxMessage]:
    session.rollback()
    return list(session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def attempts(session: Any) -> list[str]:
    session.rollback()
    return list(session.scalars(sa.select(ResetAttempt.outcome).order_by(ResetAttempt.id)))


def test_reset_by_caller_id_and_zip(
    desk: Any, twilio: FakeTwilio, session: Any, deliver: Callable[[], str]
) -> None:
    call = to_desk(desk(MORALES_MOBILE)).press("1")
    assert call.heard == [said("helpdesk.reset.which")]
    call.press("1")
    assert call.heard == [said("helpdesk.reset.factor")]
    call.press("10016")
    assert call.heard[0].startswith(SENT)
    assert twilio.requests == [], "the webhook never waits on Twilio"
    [queued] = outbox(session)
    assert queued.status == "queued"
    assert deliver() == "sent: 1 (1 due)\n"
    spoken = " ".join(call.transcript)
    [request] = twilio.requests
    assert (request["method"], request["url"]) == ("POST", MESSAGES_URL)
    assert request["auth"] == (ACCOUNT_SID, AUTH_TOKEN)
    assert request["data"]["To"] == MORALES_MOBILE and request["data"]["From"] == FROM
    code = re.search(r"\b(\d{8})\b", request["data"]["Body"]).group(1)  # type: ignore[union-attr]
    assert code not in spoken, "nothing secret is spoken"
    [message] = outbox(session)
    assert (message.to, message.kind, message.status) == (MORALES_MOBILE, "reset_code", "sent")
    assert code not in message.body and message.twilio_sid == "SM" + "0" * 31 + "1"
    assert attempts(session)[-1] == "code_sent"
    # The code texted is the one the portal takes.
    assert portal.verify_code(session, "jmorales", code, utcnow())
    assert deliver() == "no messages due\n" and len(twilio.requests) == 1


def test_the_reset_questions_end_on_pound_and_the_menus_on_one_key(desk: Any) -> None:
    call = to_desk(desk())
    assert call.gather is not None and call.gather.get("numDigits") == "1"
    call.press("1")
    for _ in range(2):  # NPI (10) or TIN (9); then the last four of the TIN (4) or ZIP (5)
        assert call.text.endswith("then press pound."), call.heard
        assert call.gather is not None and call.gather.get("numDigits") is None
        assert call.gather.get("finishOnKey") == "#"
        call.press((WHITFIELD_NPI if _ == 0 else "4075") + "#")
    assert call.heard[0].startswith(SENT)


def test_reset_by_npi_then_the_last_four_of_the_tin(
    desk: Any, twilio: FakeTwilio, deliver: Callable[[], str]
) -> None:
    call = to_desk(desk()).press("1")
    assert call.heard == [said("helpdesk.reset.identify")]
    call.press(WHITFIELD_NPI + "#").press("4075")  # the second of two accounts on that NPI
    assert call.heard[0].startswith(SENT)
    deliver()
    assert twilio.requests[0]["data"]["To"] == "+16145550177"


def test_a_wrong_factor_then_the_right_one(desk: Any, twilio: FakeTwilio, session: Any) -> None:
    call = own_reset(desk(MORALES_MOBILE)).press("99999")
    assert call.heard[0] == NO_MATCH
    call.press("7076")
    assert call.heard[0].startswith(SENT)
    assert attempts(session)[-3:] == ["wrong_factor", "identified", "code_sent"]


def test_three_failures_lock_the_phone_path_for_an_hour(
    desk: Any, twilio: FakeTwilio, session: Any, deliver: Callable[[], str]
) -> None:
    call = own_reset(desk(MORALES_MOBILE))
    for _ in range(3):
        call.press("11111")
    assert call.heard[0].startswith(LOCKED)
    assert "press 0 for a help desk agent" in call.heard[0]
    session.rollback()
    account = session.scalars(
        sa.select(PortalAccount).where(PortalAccount.username == "jmorales")
    ).one()
    [locked] = session.scalars(
        sa.select(ResetAttempt).where(ResetAttempt.outcome == "phone_locked")
    ).all()
    assert (locked.account_id, locked.caller) == (account.id, MORALES_MOBILE)
    again = own_reset(desk(MORALES_MOBILE)).press("10016")  # right factor, locked
    assert not again.heard[0].startswith(SENT)
    deliver()
    assert twilio.requests == []
    call.press("0")
    assert call.enqueued == "helpdesk"


def test_a_stranger_with_the_public_npi_cannot_lock_the_owner_out(
    desk: Any, twilio: FakeTwilio, session: Any, deliver: Callable[[], str]
) -> None:
    """Issue 14: one call with the account's NPI and 3 wrong ZIPs locked its phone reset
    for an hour. Now it locks only the number that guessed."""
    stranger = to_desk(desk(STRANGER)).press("1").press("1615230939#")
    for _ in range(3):
        stranger.press("11111")
    assert stranger.heard[0].startswith(LOCKED)
    retry = to_desk(desk(STRANGER)).press("1").press("1615230939#").press("10016")
    assert retry.heard[0] == NO_MATCH, "the guessing number stays locked (and is not told so)"
    owner = own_reset(desk(MORALES_MOBILE)).press("10016")
    assert owner.heard[0].startswith(SENT)
    colleague = to_desk(desk("+13125550001")).press("1").press("1615230939#").press("10016")
    assert colleague.heard[0].startswith(SENT)
    deliver()
    assert [r["data"]["To"] for r in twilio.requests] == [MORALES_MOBILE]  # the newest code
    session.rollback()
    account = portal.get_by_username(session, "jmorales")
    assert account is not None and account.phone_locked_until is None


def test_three_resets_a_day_at_most(
    desk: Any, twilio: FakeTwilio, deliver: Callable[[], str]
) -> None:
    for _ in range(3):
        assert own_reset(desk(MORALES_MOBILE)).press("10016").heard[0].startswith(SENT)
        deliver()
    fourth = own_reset(desk(MORALES_MOBILE)).press("10016")
    assert fourth.heard[0].startswith("This account has reached today's limit")
    deliver()
    assert len(twilio.requests) == 3


@pytest.mark.parametrize(
    ("identifier", "zip_code", "then"),
    [
        ("999999999", "45202", NO_MATCH),
        (LOCKED_TIN, "45203", NO_MATCH),
        (LOCKED_TIN, "45202", CANNOT),
    ],
)
def test_unknown_and_locked_accounts_sound_alike_until_the_second_factor(
    desk: Any,
    twilio: FakeTwilio,
    deliver: Callable[[], str],
    identifier: str,
    zip_code: str,
    then: str,
) -> None:
    """Nothing tells an unknown TIN from a locked account's; only a caller who also knows
    the account's ZIP learns that it can't be reset by phone."""
    call = to_desk(desk()).press("1").press(identifier + "#")
    assert call.heard == [said("helpdesk.reset.factor")]
    call.press(zip_code)
    assert call.heard[0].startswith(then)
    deliver()
    assert twilio.requests == []


def test_unknown_account_after_three_tries_hears_what_to_do(desk: Any) -> None:
    call = to_desk(desk()).press("1").press("999999999#")
    for _ in range(3):
        call.press("12345")
    assert call.heard[0].startswith(LOCKED)
    assert "Forgot password" in call.heard[0]


def test_without_an_account_sid_the_code_stays_in_the_outbox(
    make_app: Callable[..., Flask], session: Any, token_for: Callable[[str], str]
) -> None:
    app = make_app(TWILIO_ACCOUNT_SID="")
    caller = Caller(
        FlaskTransport(app.test_client()), auth_token=WEBHOOK_TOKEN, from_number=MORALES_MOBILE
    )
    call = own_reset(caller).press("10016")
    assert call.heard[0].startswith(SENT)
    [message] = outbox(session)
    assert message.status == "queued"
    result = app.test_cli_runner().invoke(args=["send-outbox"])
    assert "TWILIO_ACCOUNT_SID is not set: nothing is sent (1 kept" in result.output
    [message] = outbox(session)
    assert message.status == "not_sent"
    listed = app.test_client().get("/api/v1/messages", headers=bearer(token_for("admin")))
    assert listed.status_code == 200
    [item] = listed.get_json()["items"]
    assert item["status"] == "not_sent" and item["to"] == MORALES_MOBILE
    assert not re.search(r"\d{8}", item["body"])


def test_a_failed_send_is_kept_for_a_retry(
    desk: Any, twilio: FakeTwilio, session: Any, deliver: Callable[[], str]
) -> None:
    twilio.script = [500]
    call = own_reset(desk(MORALES_MOBILE)).press("10016")
    assert call.reply.status == 200
    assert deliver() == "failed: 1 (1 due)\n"
    [message] = outbox(session)
    assert message.status == "failed" and message.next_attempt_at is not None
    assert message.next_attempt_at - utcnow() > dt.timedelta(seconds=50)
    assert deliver() == "no messages due\n" and len(twilio.requests) == 1


def test_status_with_no_outage_says_all_is_working(desk: Any) -> None:
    call = to_desk(desk()).press("2")
    assert call.heard[0] == "All ProviderPortal systems are working normally."


def test_status_reads_the_notices_for_the_callers_plan(
    desk: Any, client: Any, token_for: Callable[[str], str]
) -> None:
    token = bearer(token_for("admin"))
    now = utcnow()
    for fields in (
        {"title": "Portal slow", "message": "Pages load slowly.", "plans": None},
        {"title": "Summit claims", "message": "Claims lookups are down.", "plans": ["SUMMIT"]},
        {"title": "Cedar eligibility", "message": "Eligibility is down.", "plans": ["CEDAR"]},
    ):
        body = {
            **fields,
            "starts_at": (now - dt.timedelta(hours=1)).isoformat(),
            "ends_at": (now + dt.timedelta(hours=5)).isoformat(),
        }
        assert client.post("/api/v1/outages", json=body, headers=token).status_code == 201
    call = to_desk(desk()).press("2")
    said = call.heard[0]
    assert "Portal slow: Pages load slowly." in said
    assert "Summit claims: Claims lookups are down." in said
    assert "Cedar" not in said
    assert said.count("Expected to be resolved by") == 2


def test_registration_steps_and_a_text(
    desk: Any, twilio: FakeTwilio, session: Any, deliver: Callable[[], str]
) -> None:
    call = to_desk(desk(MORALES_MOBILE)).press("3")
    steps = call.heard[0]
    assert "password arrives within 24 hours" in steps
    assert "Manage My Groups" in steps and "Add a health plan" in steps
    call.press("1")
    assert call.heard[0] == "We've sent the steps by text message."
    deliver()
    [request] = twilio.requests
    assert request["data"]["To"] == MORALES_MOBILE
    assert "Manage My Groups" in request["data"]["Body"]
    [message] = outbox(session)
    assert (message.kind, message.status) == ("registration_steps", "sent")


@pytest.mark.parametrize(("key", "kind"), [("4", "data_issue"), ("5", "navigation")])
def test_a_ticket_then_the_help_desk_queue(desk: Any, session: Any, key: str, kind: str) -> None:
    call = to_desk(desk()).press(key)
    assert call.heard == [said("helpdesk.ticket.describe")]
    call.say("the member eligibility page shows the wrong plan", confidence=0.83)
    call.press("1").say("jmorales")
    number = re.search(r"ticket number is ([\d ,]+)\.", call.text).group(1)  # type: ignore
    assert call.enqueued == "helpdesk"
    session.rollback()
    ticket = session.scalars(sa.select(Ticket)).one()
    assert ticket.number == re.sub(r"\D", "", number)
    assert (ticket.kind, ticket.plan, ticket.username) == (kind, "SUMMIT", "jmorales")
    assert ticket.description == "the member eligibility page shows the wrong plan"
    assert ticket.description_confidence == pytest.approx(0.83)
    row = session.scalars(sa.select(Call).where(Call.sid == call.sid)).one()
    assert row.transfer_reason == f"ticket {ticket.number}"


def test_a_ticket_without_a_username(desk: Any, session: Any) -> None:
    call = to_desk(desk()).press("4").say("claims data missing").press("2")
    assert call.enqueued == "helpdesk"
    session.rollback()
    assert session.scalars(sa.select(Ticket.username)).one() is None


def test_a_keypad_only_caller_skips_the_description_and_reaches_the_agent(
    desk: Any, session: Any
) -> None:
    call = to_desk(desk()).press("4")
    assert call.gather is not None and call.gather.get("input") == "dtmf speech"
    call.press("#")  # nothing said: the agent hears the problem instead
    assert call.heard == [said("helpdesk.ticket.knows_username")]
    call.press("1").press("#")
    assert call.enqueued == "helpdesk"
    session.rollback()
    ticket = session.scalars(sa.select(Ticket)).one()
    assert (ticket.kind, ticket.description, ticket.username) == ("data_issue", None, None)
    row = session.scalars(sa.select(Call).where(Call.sid == call.sid)).one()
    assert row.transfer_reason == f"ticket {ticket.number}"


def test_agent_from_the_help_desk_menu(desk: Any) -> None:
    call = to_desk(desk()).press("0")
    assert call.enqueued == "helpdesk"


def test_after_a_tin_only_the_zip_proves_the_account(
    desk: Any, twilio: FakeTwilio, deliver: Callable[[], str]
) -> None:
    call = to_desk(desk()).press("1").press("310597076#")  # jmorales's TIN
    call.press("7076")  # its own last four: no second factor at all
    assert call.heard[0] == NO_MATCH
    call.press("10016")
    assert call.heard[0].startswith(SENT)
    deliver()
    assert [r["data"]["To"] for r in twilio.requests] == [MORALES_MOBILE]


def test_agents_never_see_which_accounts_the_call_matched(
    desk: Any, desk_app: Flask, session: Any, token_for: Callable[[str], str]
) -> None:
    call = own_reset(desk(MORALES_MOBILE))  # the caller id names jmorales's account
    session.rollback()
    row = session.scalars(sa.select(Call).where(Call.sid == call.sid)).one()
    assert set(row.scratch) == {"portal_candidates"}
    assert not any("portal" in key for key in row.slots)
    shown = desk_app.test_client().get(
        f"/api/v1/calls/{call.sid}", headers=bearer(token_for("agent"))
    )
    assert shown.status_code == 200
    body = shown.get_json()
    assert "scratch" not in body and "portal" not in shown.get_data(as_text=True)


def test_a_registered_mobile_may_reset_a_different_account(
    desk: Any, twilio: FakeTwilio, session: Any, deliver: Callable[[], str]
) -> None:
    """Issue 10: jmorales's mobile calls about Dr. Whitfield's account: 2 at "which account"
    goes to the usual identification; jmorales's account is not touched."""
    call = to_desk(desk(MORALES_MOBILE)).press("1")
    assert call.heard == [said("helpdesk.reset.which")]
    call.press("2")
    assert call.heard == [said("helpdesk.reset.identify")]
    call.press(WHITFIELD_NPI + "#")
    assert call.heard == [said("helpdesk.reset.factor")]
    call.press("10016")  # jmorales's ZIP proves nothing about the other account
    assert call.heard[0] == NO_MATCH
    call.press("43085")  # the ZIP of awhitfield.summit
    assert call.heard[0] == SENT
    deliver()
    assert [r["data"]["To"] for r in twilio.requests] == ["+16145550177"]
    session.rollback()
    jmorales = portal.get_by_username(session, "jmorales")
    assert jmorales is not None and jmorales.phone_locked_until is None
    touched = session.scalars(
        sa.select(ResetAttempt).where(ResetAttempt.account_id == jmorales.id)
    ).all()
    assert touched == []
    [message] = outbox(session)
    assert message.to == "+16145550177"


def test_the_registered_account_by_speech_and_a_different_one_by_speech(desk: Any) -> None:
    call = to_desk(desk(MORALES_MOBILE)).press("1").say("a different account")
    assert call.heard == [said("helpdesk.reset.identify")]
    call = to_desk(desk(MORALES_MOBILE)).press("1").say("this account")
    assert call.heard == [said("helpdesk.reset.factor")]


def test_which_account_in_spanish(make_app: Callable[..., Flask]) -> None:
    app = make_app(IVR_DEFAULT_LANGUAGE="es-US")
    caller = Caller(
        FlaskTransport(app.test_client()), auth_token=WEBHOOK_TOKEN, from_number=MORALES_MOBILE
    )
    call = caller.dial().press("1").press("3").press("1")
    assert call.heard == [said("helpdesk.reset.which", "es-US")]
    call.press("2")
    assert call.heard == [said("helpdesk.reset.identify", "es-US")]
