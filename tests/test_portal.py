"""Portal accounts and password resets by phone: seeding, identification, limits, codes."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so

from ivr.config import ROOT
from ivr.match.ids import normalize_phone, npi_is_valid
from ivr.services import portal
from ivr.store.models import OutboxMessage, PortalAccount, ResetAttempt, ResetCode

DATA = ROOT / "data" / "portal_users.csv"
NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
HEADER = "username,full_name,npi,tin,mobile,email,zip,status\n"
GOOD_ROW = "jdoe,Jane Doe,1234567893,123456789,+16145550150,jdoe@example.com,43215,active\n"


def rows() -> list[dict[str, str]]:
    with DATA.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def accounts(session: so.Session) -> so.Session:
    portal.seed_portal_accounts(session, DATA)
    return session


def acct(session: so.Session, username: str) -> PortalAccount:
    account = portal.get_by_username(session, username)
    assert account is not None, username
    return account


def attempts(session: so.Session, account: PortalAccount | None = None) -> list[str]:
    query = sa.select(ResetAttempt.outcome).order_by(ResetAttempt.id)
    if account is not None:
        query = query.where(ResetAttempt.account_id == account.id)
    return list(session.scalars(query))


def code_in(body: str | None) -> str:
    assert body is not None
    found = re.findall(r"\b\d{8}\b", body)
    assert len(found) == 1, body
    return found[0]


# --- The data file ------------------------------------------------------------------------


def test_portal_users_csv_meets_the_requirements() -> None:
    data = rows()
    assert len(data) >= 40
    assert list(data[0]) == list(portal.COLUMNS)
    assert len({r["username"] for r in data}) == len(data)
    assert all(npi_is_valid(r["npi"]) for r in data)
    assert all(len(r["tin"]) == 9 and r["tin"].isdigit() for r in data)
    assert all(normalize_phone(r["mobile"]) == r["mobile"] for r in data)
    assert all(re.fullmatch(r"\+1\d{3}55501\d{2}", r["mobile"]) for r in data)
    assert all(len(r["zip"]) == 5 and r["zip"].isdigit() for r in data)
    assert {r["status"] for r in data} == {"active", "locked"}
    assert sum(r["status"] == "locked" for r in data) >= 3
    with (ROOT / "data" / "providers.csv").open(newline="", encoding="utf-8") as fh:
        ordering = {p["npi"] for p in csv.DictReader(fh) if p["role"] == "ordering"}
    assert sum(r["npi"] in ordering for r in data) >= 10
    test_caller = [r for r in data if r["mobile"] == "+12125550143"]
    assert len(test_caller) == 1 and test_caller[0]["status"] == "active"
    by_npi: dict[str, list[dict[str, str]]] = {}
    for r in data:
        by_npi.setdefault(r["npi"], []).append(r)
    shared = [group for group in by_npi.values() if len(group) == 2]
    assert shared, "one NPI must have two accounts"
    # ... and each of them can still be told apart by the second factor.
    for a, b in shared:
        assert a["tin"][-4:] != b["tin"][-4:] and a["zip"] != b["zip"]


# --- Seeding ------------------------------------------------------------------------------


def test_seed_loads_every_account_and_is_idempotent(accounts: so.Session) -> None:
    session = accounts
    count = session.scalar(sa.select(sa.func.count()).select_from(PortalAccount))
    assert count == len(rows())
    assert portal.seed_portal_accounts(session, DATA) == 0
    jm = acct(session, "jmorales")
    assert (jm.mobile, jm.status, jm.zip) == ("+12125550143", "active", "10016")
    assert acct(session, "bross").status == "locked"


def test_seed_updates_changed_rows_and_keeps_run_time_state(
    session: so.Session, tmp_path: Path
) -> None:
    path = tmp_path / "portal_users.csv"
    path.write_text(HEADER + GOOD_ROW, encoding="utf-8")
    assert portal.seed_portal_accounts(session, path) == 1
    jdoe = acct(session, "jdoe")
    jdoe.phone_locked_until = NOW + HOUR
    path.write_text(HEADER + GOOD_ROW.replace("active", "locked"), encoding="utf-8")
    assert portal.seed_portal_accounts(session, path) == 1
    assert portal.seed_portal_accounts(session, path) == 0
    session.expire_all()
    jdoe = acct(session, "jdoe")
    assert jdoe.status == "locked"
    assert jdoe.phone_locked_until == NOW + HOUR


BAD_ROWS = [
    (GOOD_ROW.replace("1234567893", "1234567890"), "not a valid NPI"),
    (GOOD_ROW.replace("123456789,", "12345678,"), "tin must be 9 digits"),
    (GOOD_ROW.replace("1234567893,123456789,", ",,"), "needs an NPI or a TIN"),
    (GOOD_ROW.replace("+16145550150", "614-555-0150"), "E.164"),
    (GOOD_ROW.replace("+16145550150", ""), "E.164"),
    (GOOD_ROW.replace("jdoe@example.com", "jdoe.example.com"), "not an address"),
    (GOOD_ROW.replace("43215", "4321"), "zip must be 5 digits"),
    (GOOD_ROW.replace("active", "disabled"), "status must be active or locked"),
    (GOOD_ROW.replace("jdoe,", "j doe,"), "username"),
    (GOOD_ROW.replace("Jane Doe", ""), "full_name"),
    (GOOD_ROW.replace("jdoe,", "JDoe,"), "repeats line 2"),
]


@pytest.mark.parametrize(("second", "message"), BAD_ROWS)
def test_seed_refuses_a_bad_row_naming_file_and_line(
    tmp_path: Path, second: str, message: str
) -> None:
    path = tmp_path / "portal_users.csv"
    path.write_text(HEADER + GOOD_ROW + second, encoding="utf-8")
    with pytest.raises(ValueError, match=r"^portal_users\.csv:3: .*") as info:
        # Validation happens before the store is touched: an unbound session will do.
        portal.seed_portal_accounts(so.Session(), path)
    assert message in str(info.value)


def test_seed_refuses_a_file_without_a_column(tmp_path: Path) -> None:
    path = tmp_path / "portal_users.csv"
    path.write_text(HEADER.replace(",zip", "") + GOOD_ROW.replace(",43215", ""), "utf-8")
    with pytest.raises(ValueError, match=r"portal_users\.csv:1: missing column\(s\): zip"):
        portal.seed_portal_accounts(so.Session(), path)


# --- Identification -----------------------------------------------------------------------


@pytest.mark.parametrize("caller_id", ["+12125550143", "(212) 555-0143", "212.555.0143"])
def test_caller_id_finds_the_account_with_that_mobile(accounts: so.Session, caller_id: str) -> None:
    found = portal.find_by_caller_id(accounts, caller_id)
    assert found is not None and found.username == "jmorales"


@pytest.mark.parametrize(
    "caller_id",
    [
        "+13175550188",  # two accounts share this mobile: caller id alone is not enough
        "+12125550199",  # nobody's
        "anonymous",
        "",
        None,
    ],
)
def test_caller_id_finds_nothing_unless_exactly_one_account(
    accounts: so.Session, caller_id: str | None
) -> None:
    assert portal.find_by_caller_id(accounts, caller_id) is None


def test_identifier_finds_accounts_by_npi_or_tin(accounts: so.Session) -> None:
    session = accounts
    by_npi = portal.find_by_identifier(session, "1234567893")
    assert [a.username for a in by_npi] == ["awhitfield", "awhitfield.summit"]
    by_tin = portal.find_by_identifier(session, "310597076")
    assert [a.username for a in by_tin] == ["jmorales"]
    shared_tin = portal.find_by_identifier(session, "360773133")
    assert [a.username for a in shared_tin] == ["fhaddad", "dnguyen"]
    for digits in ("1234567890", "999999999", "12345678", "12345678901", "", "12345678a", None):
        assert portal.find_by_identifier(session, digits) == []


def test_second_factor_picks_one_of_the_accounts_sharing_an_npi(accounts: so.Session) -> None:
    found = portal.find_by_identifier(accounts, "1234567893")
    first, second = found
    assert first.tin is not None and second.tin is not None
    assert [a.username for a in found if portal.check_factor(a, first.tin[-4:])] == ["awhitfield"]
    assert [a.username for a in found if portal.check_factor(a, "43085")] == ["awhitfield.summit"]
    assert [a for a in found if portal.check_factor(a, "0000")] == []


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("6789", True),  # last 4 of the TIN
        ("43215", True),  # ZIP on file
        ("6788", False),
        ("43216", False),
        ("56789", False),  # 5 digits are a ZIP, not the TIN
        ("123456789", False),  # the whole TIN is not a factor
        ("789", False),
        ("", False),
        (None, False),
        ("67 89", False),
    ],
)
def test_check_factor(digits: str | None, expected: bool) -> None:
    account = PortalAccount(username="x", full_name="X", tin="123456789", zip="43215")
    assert portal.check_factor(account, digits) is expected


# --- Lockout after failed identifications -------------------------------------------------


STRANGER = "+13125550000"
OTHER = "+13125550001"


def fail(session: so.Session, account: PortalAccount, when: dt.datetime, caller: str) -> bool:
    return portal.note_failed_identification(
        session, account, caller=caller, call_sid="CA", now=when
    )


def test_three_failures_lock_the_phone_path_for_an_hour(accounts: so.Session) -> None:
    session = accounts
    account = acct(session, "praman")
    assert fail(session, account, NOW, STRANGER) is False
    later = NOW + 10 * MINUTE
    assert fail(session, account, later, STRANGER) is False
    assert not portal.phone_locked(session, account, STRANGER, later)
    third = NOW + 20 * MINUTE
    assert fail(session, account, third, STRANGER) is True
    assert portal.phone_locked(session, account, STRANGER, third)
    assert portal.phone_locked(session, account, STRANGER, third + HOUR - dt.timedelta(seconds=1))
    assert not portal.phone_locked(session, account, STRANGER, third + HOUR)
    assert attempts(session, account) == ["wrong_factor"] * 3 + ["phone_locked"]
    # A failure while locked is recorded but does not lock again (or longer).
    assert fail(session, account, third + MINUTE, STRANGER) is False
    assert not portal.phone_locked(session, account, STRANGER, third + HOUR)
    # Once the hour is over the count starts again.
    after = third + HOUR + MINUTE
    assert fail(session, account, after, STRANGER) is False
    assert not portal.phone_locked(session, account, STRANGER, after)


def test_a_strangers_failures_do_not_lock_the_owner_or_other_numbers(
    accounts: so.Session,
) -> None:
    """Issue 14: one call with the public NPI and 3 wrong ZIPs locked the real account."""
    session = accounts
    account = acct(session, "praman")
    for i in range(3):
        fail(session, account, NOW + i * MINUTE, STRANGER)
    assert portal.phone_locked(session, account, STRANGER, NOW + 3 * MINUTE)
    assert not portal.phone_locked(session, account, OTHER, NOW + 3 * MINUTE)
    assert not portal.phone_locked(session, account, account.mobile, NOW + 3 * MINUTE)
    assert account.phone_locked_until is None
    outcome = portal.start_reset(
        session, account, call_sid="CA2", now=NOW + 4 * MINUTE, caller=account.mobile
    )
    assert outcome.outcome == "code_sent"
    refused = portal.start_reset(
        session, account, call_sid="CA3", now=NOW + 5 * MINUTE, caller=STRANGER
    )
    assert refused.outcome == "locked_out"


def test_guessing_from_many_numbers_locks_all_but_the_mobile_on_file(
    accounts: so.Session,
) -> None:
    session = accounts
    account = acct(session, "praman")
    numbers = [f"+1312555{n:04d}" for n in range(10)]
    for i, number in enumerate(numbers):  # one guess each: no number is locked by itself
        assert fail(session, account, NOW + i * MINUTE, number) is False
    when = NOW + 10 * MINUTE
    assert account.phone_locked_until == NOW + 9 * MINUTE + HOUR
    assert portal.phone_locked(session, account, "+13125559999", when)  # a new number too
    assert portal.phone_locked(session, account, None, when)  # and a withheld one
    assert not portal.phone_locked(session, account, account.mobile, when)
    assert attempts(session, account)[-2:] == ["wrong_factor", "phone_locked_all"]
    assert not portal.phone_locked(session, account, "+13125559999", NOW + 9 * MINUTE + HOUR)


def test_failures_more_than_an_hour_apart_do_not_lock(accounts: so.Session) -> None:
    session = accounts
    account = acct(session, "sosei")
    for when in (NOW, NOW + 30 * MINUTE, NOW + 61 * MINUTE, NOW + 122 * MINUTE):
        assert fail(session, account, when, STRANGER) is False
    assert not portal.phone_locked(session, account, STRANGER, NOW + 122 * MINUTE)


def test_failures_of_one_account_do_not_lock_another(accounts: so.Session) -> None:
    session = accounts
    one, other = acct(session, "awhitfield"), acct(session, "awhitfield.summit")
    for i in range(3):
        fail(session, one, NOW + i * MINUTE, STRANGER)
    assert portal.phone_locked(session, one, STRANGER, NOW + 3 * MINUTE)
    assert not portal.phone_locked(session, other, STRANGER, NOW + 3 * MINUTE)


def test_a_locked_phone_path_refuses_a_reset(accounts: so.Session) -> None:
    session = accounts
    account = acct(session, "lbrennan")
    for i in range(3):
        fail(session, account, NOW + i * MINUTE, STRANGER)
    outcome = portal.start_reset(
        session, account, call_sid="CA9", now=NOW + 30 * MINUTE, caller=STRANGER
    )
    assert outcome.outcome == "locked_out"
    assert outcome.message_id is None and outcome.plaintext_body is None
    assert session.scalar(sa.select(sa.func.count()).select_from(ResetCode)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
    assert attempts(session, account)[-1] == "locked_out"
    # An hour after the lock, the reset goes through.
    again = portal.start_reset(
        session, account, call_sid="CA10", now=NOW + 2 * MINUTE + HOUR, caller=STRANGER
    )
    assert again.outcome == "code_sent"


# --- Resets: refusals and limits ----------------------------------------------------------


@pytest.mark.parametrize("username", ["bross", "scastillo", "pmurphy"])
def test_a_locked_account_gets_no_code(accounts: so.Session, username: str) -> None:
    session = accounts
    account = acct(session, username)
    outcome = portal.start_reset(session, account, call_sid="CA1", now=NOW)
    assert outcome.outcome == "account_locked"
    assert outcome.message_id is None and outcome.plaintext_body is None
    assert session.scalar(sa.select(sa.func.count()).select_from(ResetCode)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
    assert attempts(session, account) == ["account_locked"]


def test_at_most_three_resets_a_day(accounts: so.Session) -> None:
    session = accounts
    account = acct(session, "kmorimoto")
    times = [NOW, NOW + HOUR, NOW + 5 * HOUR]
    for when in times:
        assert portal.start_reset(session, account, call_sid="CA", now=when).outcome == "code_sent"
    assert portal.resets_in_last_day(session, account, NOW + 5 * HOUR) == 3
    refused = portal.start_reset(session, account, call_sid="CA", now=NOW + 23 * HOUR)
    assert refused.outcome == "rate_limited" and refused.message_id is None
    assert portal.resets_in_last_day(session, account, NOW + DAY) == 2
    assert portal.start_reset(session, account, call_sid="CA", now=NOW + DAY).outcome == (
        "code_sent"
    )
    assert attempts(session, account) == ["code_sent"] * 3 + ["rate_limited", "code_sent"]
    # Another account has its own limit.
    other = acct(session, "fhaddad")
    assert portal.start_reset(session, other, call_sid="CA", now=NOW).outcome == "code_sent"


def test_unknown_callers_are_audited_without_an_account(session: so.Session) -> None:
    portal.record_attempt(session, None, "unknown", call_sid="CA1", now=NOW)
    row = session.scalars(sa.select(ResetAttempt)).one()
    assert (row.account_id, row.outcome, row.call_sid, row.at) == (None, "unknown", "CA1", NOW)
    with pytest.raises(ValueError, match="unknown reset outcome"):
        portal.record_attempt(session, None, "guessed", call_sid="CA1", now=NOW)


# --- Codes --------------------------------------------------------------------------------


def test_a_reset_stores_only_a_hash_and_queues_a_masked_text(accounts: so.Session) -> None:
    session = accounts
    account = acct(session, "jmorales")
    outcome = portal.start_reset(session, account, call_sid="CA1", now=NOW)
    assert outcome.outcome == "code_sent"
    code = code_in(outcome.plaintext_body)
    assert code not in repr(outcome)
    row = session.get(ResetCode, outcome.reset_code_id)
    assert row is not None
    assert row.code_hash.startswith("$argon2id$") and code not in row.code_hash
    assert (row.created_at, row.expires_at) == (NOW, NOW + 10 * MINUTE)
    message = session.get(OutboxMessage, outcome.message_id)
    assert message is not None
    assert message.to == "+12125550143"
    assert message.kind == "reset_code" and message.status == "queued"
    assert message.body.startswith("Your ProviderPortal reset code is ••••••••.")
    assert code not in message.body and not re.search(r"\d{6,}", message.body)
    assert (message.account_id, message.reset_code_id, message.call_sid) == (
        account.id,
        row.id,
        "CA1",
    )
    assert message.body.replace("••••••••", code) == outcome.plaintext_body
    assert attempts(session, account) == ["code_sent"]


def test_a_code_works_once_within_ten_minutes(accounts: so.Session) -> None:
    session = accounts
    account = acct(session, "ohart")
    code = code_in(portal.start_reset(session, account, call_sid="CA", now=NOW).plaintext_body)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    assert not portal.verify_code(session, "ohart", wrong, NOW + MINUTE)
    assert not portal.verify_code(session, "awhitfield", code, NOW + MINUTE)
    assert not portal.verify_code(session, "ohart", code[:6], NOW + MINUTE)
    assert portal.verify_code(session, "ohart", code, NOW + 10 * MINUTE - dt.timedelta(seconds=1))
    assert not portal.verify_code(session, "ohart", code, NOW + 2 * MINUTE)  # used up
    assert session.scalars(sa.select(ResetCode)).one().used_at is not None


def test_a_code_expires_after_ten_minutes(accounts: so.Session) -> None:
    session = accounts
    code = code_in(
        portal.start_reset(session, acct(session, "mbell"), call_sid="CA", now=NOW).plaintext_body
    )
    assert not portal.verify_code(session, "mbell", code, NOW + 10 * MINUTE)
    assert not portal.verify_code(session, "nobody", code, NOW)


def test_a_new_reset_revokes_the_earlier_code(accounts: so.Session) -> None:
    session = accounts
    account = acct(session, "arahman")
    first = portal.start_reset(session, account, call_sid="CA", now=NOW)
    second = portal.start_reset(session, account, call_sid="CA", now=NOW + MINUTE)
    old, new = code_in(first.plaintext_body), code_in(second.plaintext_body)
    codes = session.scalars(sa.select(ResetCode).order_by(ResetCode.id)).all()
    assert [c.revoked_at for c in codes] == [NOW + MINUTE, None]
    assert old != new
    assert not portal.verify_code(session, "arahman", old, NOW + 2 * MINUTE)
    assert portal.verify_code(session, "arahman", new, NOW + 2 * MINUTE)


def test_codes_are_eight_random_digits() -> None:
    drawn = {portal.new_code() for _ in range(200)}
    assert all(len(c) == 8 and c.isdigit() for c in drawn)
    assert len(drawn) > 190


def test_reset_outcome_repr_hides_the_plain_text() -> None:
    outcome = portal.ResetOutcome("code_sent", 1, 2, 3, "Your code is 12345678.")
    assert "12345678" not in repr(outcome) and "code_sent" in repr(outcome)
