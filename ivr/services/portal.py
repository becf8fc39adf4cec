"""ProviderPortal accounts and password resets by phone.

The phone line never speaks a secret: an identified caller gets a one-time code by text
message to the mobile on file. Only an argon2 hash of the code is stored; the plain code
lives in memory just long enough to be handed to `messaging.send`.

Functions take a Session first, never commit, and are given `now`. Every attempt is
written to `reset_attempts` (outcomes in OUTCOMES). Internal outcomes are distinct
("unknown", "account_locked", ...); the phone flow maps them to prompts that reveal
nothing about which accounts exist.
"""

from __future__ import annotations

import csv
import datetime as dt
import hmac
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
import sqlalchemy.orm as so
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ivr.match.ids import normalize_phone, npi_is_valid
from ivr.services import messaging
from ivr.store import upsert
from ivr.store.models import Call, OutboxMessage, PortalAccount, ResetAttempt, ResetCode

COLUMNS = ("username", "full_name", "npi", "tin", "mobile", "email", "zip", "status")
STATUSES = ("active", "locked")

CODE_DIGITS = 8
CODE_TTL = dt.timedelta(minutes=10)
MAX_RESETS_PER_DAY = 3
RESET_WINDOW = dt.timedelta(hours=24)
MAX_FAILED_IDENTIFICATIONS = 3
FAILURE_WINDOW = dt.timedelta(hours=1)
PHONE_LOCK = dt.timedelta(hours=1)
# Wrong factors from all calling numbers together within FAILURE_WINDOW before the phone path
# is locked for every number but the account's own mobile.
ACCOUNT_FAILURES = 10
UNKNOWN_CALLER = "unknown"

# ResetAttempt.outcome values.
IDENTIFIED = "identified"  # a factor matched exactly one account
WRONG_FACTOR = "wrong_factor"  # the second factor did not match
PHONE_LOCKED = "phone_locked"  # this failure locked the phone path for its number, an hour
ALL_LOCKED = "phone_locked_all"  # ...and for every number but the mobile on file
LOCKED_OUT = "locked_out"  # refused: the phone path is locked
RATE_LIMITED = "rate_limited"  # refused: 3 resets in 24 hours already
ACCOUNT_LOCKED = "account_locked"  # refused: the account itself is locked
NO_MOBILE = "no_mobile"  # refused: no usable mobile on file
CODE_SENT = "code_sent"  # a code was issued and its text message queued
UNKNOWN = "unknown"  # no account for what was entered
OUTCOMES = frozenset(
    {
        IDENTIFIED,
        WRONG_FACTOR,
        PHONE_LOCKED,
        ALL_LOCKED,
        LOCKED_OUT,
        RATE_LIMITED,
        ACCOUNT_LOCKED,
        NO_MOBILE,
        CODE_SENT,
        UNKNOWN,
    }
)

# The reset text, in the language of the call that asked for it.
RESET_SMS = {
    "en-US": (
        "Your ProviderPortal reset code is {code}. It expires in 10 minutes. Enter it on the "
        "portal's password reset page. The help desk will never ask you for it."
    ),
    "es-US": (
        "Su código para restablecer la contraseña de ProviderPortal es {code}. Vence en 10 "
        "minutos. Ingréselo en la página de restablecer contraseña del portal. La mesa de "
        "ayuda nunca se lo pedirá."
    ),
}

# A one-time code lives 10 minutes: OWASP's minimum argon2id settings are plenty and keep
# each hash around 20 ms.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@dataclass(frozen=True)
class ResetOutcome:
    """What `start_reset` did. `plaintext_body` is the text to send now; never store it."""

    outcome: str
    account_id: int
    message_id: int | None = None
    reset_code_id: int | None = None
    plaintext_body: str | None = field(default=None, repr=False)


# --- Seeding ------------------------------------------------------------------------------


def seed_portal_accounts(session: so.Session, path: Path) -> int:
    """Insert or update every account of `portal_users.csv` by username; returns rows changed.

    Raises ValueError("portal_users.csv:LINE: ...") on a bad row; nothing is flushed then.
    Run-time state (phone_locked_until) is never touched.
    """
    rows: list[dict[str, str | None]] = []
    seen: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [(h or "").strip() for h in reader.fieldnames or []]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path.name}:1: missing column(s): {', '.join(missing)}")
        for line_row in reader:
            line = reader.line_num
            row = {(k or "").strip(): (v or "").strip() for k, v in line_row.items() if k}
            values = _account_values(path.name, line, row)
            key = str(values["username"]).lower()
            if key in seen:
                raise ValueError(
                    f"{path.name}:{line}: username {values['username']!r} repeats line {seen[key]}"
                )
            seen[key] = line
            rows.append(values)
    changed = 0
    for values in rows:
        account = {"username": values.pop("username")}
        changed += upsert(session, PortalAccount, account, values)
    session.flush()
    return changed


def _account_values(name: str, line: int, row: dict[str, str]) -> dict[str, str | None]:
    def bad(message: str) -> ValueError:
        return ValueError(f"{name}:{line}: {message}")

    username, full_name = row.get("username", ""), row.get("full_name", "")
    if not username or len(username) > 80 or any(ch.isspace() for ch in username):
        raise bad("username must be 1 to 80 characters without spaces")
    if not full_name or len(full_name) > 120:
        raise bad("full_name must be 1 to 120 characters")
    npi, tin = row.get("npi", ""), row.get("tin", "")
    if npi and not npi_is_valid(npi):
        raise bad(f"{npi!r} is not a valid NPI")
    if tin and not (len(tin) == 9 and tin.isascii() and tin.isdigit()):
        raise bad(f"tin must be 9 digits, got {tin!r}")
    if not npi and not tin:
        raise bad("an account needs an NPI or a TIN")
    mobile = row.get("mobile", "")
    if not mobile.startswith("+") or normalize_phone(mobile) != mobile:
        raise bad(f"mobile must be a phone number in E.164 form (+1...), got {mobile!r}")
    email = row.get("email", "")
    if email and ("@" not in email.strip("@") or len(email) > 200 or " " in email):
        raise bad(f"email {email!r} is not an address")
    zip_code = row.get("zip", "")
    if not (len(zip_code) == 5 and zip_code.isascii() and zip_code.isdigit()):
        raise bad(f"zip must be 5 digits, got {zip_code!r}")
    status = row.get("status", "")
    if status not in STATUSES:
        raise bad(f"status must be active or locked, got {status!r}")
    return {
        "username": username,
        "full_name": full_name,
        "npi": npi or None,
        "tin": tin or None,
        "mobile": mobile,
        "email": email or None,
        "zip": zip_code,
        "status": status,
    }


# --- Identification -----------------------------------------------------------------------


def get_by_username(session: so.Session, username: str) -> PortalAccount | None:
    return session.scalars(
        sa.select(PortalAccount).where(PortalAccount.username == username.strip())
    ).first()


def find_by_caller_id(session: so.Session, phone: str | None) -> PortalAccount | None:
    """The one account whose registered mobile is the caller's number; None if 0 or 2+."""
    e164 = normalize_phone(phone)
    if e164 is None:
        return None
    found = session.scalars(
        sa.select(PortalAccount).where(PortalAccount.mobile == e164).limit(2)
    ).all()
    return found[0] if len(found) == 1 else None


def _digits(text: str | None) -> str:
    text = (text or "").strip()
    return text if text.isascii() and text.isdigit() else ""


def find_by_identifier(session: so.Session, digits: str | None) -> list[PortalAccount]:
    """Accounts with this NPI (10 digits) or TIN (9 digits), by id; [] for anything else."""
    digits = _digits(digits)
    if len(digits) == 10:
        column = PortalAccount.npi
    elif len(digits) == 9:
        column = PortalAccount.tin
    else:
        return []
    return list(
        session.scalars(sa.select(PortalAccount).where(column == digits).order_by(PortalAccount.id))
    )


def check_factor(account: PortalAccount, digits: str | None, *, by_tin: bool = False) -> bool:
    """The second factor: the last 4 digits of the TIN on file, or its 5-digit ZIP code.
    `by_tin`: the caller named the account by its TIN, so its last 4 prove nothing more."""
    digits = _digits(digits)
    if len(digits) == 4 and account.tin and not by_tin:
        expected = account.tin[-4:]
    elif len(digits) == 5 and account.zip:
        expected = account.zip[:5]
    else:
        return False
    return hmac.compare_digest(expected, digits)


# --- Attempts, lockout and limits ---------------------------------------------------------


def caller_key(phone: str | None) -> str:
    """The calling number as lockouts count it: E.164, or "unknown" (withheld, malformed)."""
    return normalize_phone(phone) or UNKNOWN_CALLER


def record_attempt(
    session: so.Session,
    account: PortalAccount | None,
    outcome: str,
    *,
    call_sid: str | None,
    now: dt.datetime,
    caller: str | None = None,
) -> ResetAttempt:
    """Audit one step of a reset by phone, with the calling number (None: withheld)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown reset outcome {outcome!r}")
    attempt = ResetAttempt(
        account_id=account.id if account is not None else None,
        call_sid=call_sid,
        caller=caller_key(caller),
        outcome=outcome,
        at=now,
    )
    session.add(attempt)
    session.flush()
    return attempt


def _lock(session: so.Session, account: PortalAccount) -> None:
    """Reload the account with a row lock (PostgreSQL): two calls for one account queue up,
    so neither slips past the daily limit or the failure count. SQLite writers already
    hold the database lock (BEGIN IMMEDIATE)."""
    session.flush()
    session.refresh(account, with_for_update=True)


def _is_owner(account: PortalAccount, caller: str) -> bool:
    """The call comes from the mobile on file: where the code would go anyway."""
    mobile = normalize_phone(account.mobile)
    return mobile is not None and caller == mobile


def _number_lock_started(
    session: so.Session, account: PortalAccount, caller: str, now: dt.datetime
) -> dt.datetime | None:
    """When the newest lock of this account for this calling number began (or None)."""
    return session.scalar(
        sa.select(sa.func.max(ResetAttempt.at)).where(
            ResetAttempt.account_id == account.id,
            ResetAttempt.caller == caller,
            ResetAttempt.outcome == PHONE_LOCKED,
            ResetAttempt.at <= now,
        )
    )


def phone_locked(
    session: so.Session, account: PortalAccount, caller: str | None, now: dt.datetime
) -> bool:
    """True while resets of this account by phone are refused to this calling number: it
    failed the second factor 3 times within an hour (for an hour), or callers from any
    numbers failed it ACCOUNT_FAILURES times (for an hour, except from the mobile on file).

    A stranger with the account's public NPI locks only their own number out.
    """
    key = caller_key(caller)
    until = account.phone_locked_until
    if until is not None and now < until and not _is_owner(account, key):
        return True
    started = _number_lock_started(session, account, key, now)
    return started is not None and now < started + PHONE_LOCK


def failed_identifications(
    session: so.Session, account: PortalAccount, now: dt.datetime, caller: str | None = None
) -> int:
    """Wrong factors in the last hour (from `caller`'s number, or from any number), not
    counting those before an expired lock."""
    since = now - FAILURE_WINDOW
    query = sa.select(sa.func.count()).where(
        ResetAttempt.account_id == account.id,
        ResetAttempt.outcome == WRONG_FACTOR,
        ResetAttempt.at <= now,
    )
    if caller is None:
        ended = account.phone_locked_until
    else:
        key = caller_key(caller)
        query = query.where(ResetAttempt.caller == key)
        started = _number_lock_started(session, account, key, now)
        ended = started + PHONE_LOCK if started is not None else None
    if ended is not None and since < ended <= now:
        since = ended
    return int(session.scalar(query.where(ResetAttempt.at > since)) or 0)


def note_failed_identification(
    session: so.Session,
    account: PortalAccount,
    *,
    caller: str | None,
    call_sid: str | None,
    now: dt.datetime,
) -> bool:
    """Record a wrong factor; True when this one locks the phone path for this calling number
    (3 within the hour). ACCOUNT_FAILURES from all numbers lock every number but the mobile
    on file: guessing from many numbers is slowed too."""
    _lock(session, account)
    key = caller_key(caller)
    record_attempt(session, account, WRONG_FACTOR, call_sid=call_sid, now=now, caller=key)
    locked = False
    if not phone_locked(session, account, key, now) and (
        failed_identifications(session, account, now, key) >= MAX_FAILED_IDENTIFICATIONS
    ):
        record_attempt(session, account, PHONE_LOCKED, call_sid=call_sid, now=now, caller=key)
        locked = True
    account_locked = account.phone_locked_until is not None and now < account.phone_locked_until
    if not account_locked and failed_identifications(session, account, now) >= ACCOUNT_FAILURES:
        account.phone_locked_until = now + PHONE_LOCK
        record_attempt(session, account, ALL_LOCKED, call_sid=call_sid, now=now, caller=key)
    return locked


def resets_in_last_day(session: so.Session, account: PortalAccount, now: dt.datetime) -> int:
    """Codes issued to this account by phone in the last 24 hours (retries not counted)."""
    return int(
        session.scalar(
            sa.select(sa.func.count()).where(
                ResetAttempt.account_id == account.id,
                ResetAttempt.outcome == CODE_SENT,
                ResetAttempt.at > now - RESET_WINDOW,
                ResetAttempt.at <= now,
            )
        )
        or 0
    )


# --- Codes --------------------------------------------------------------------------------


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def reset_sms(code: str, language: str = "en-US") -> tuple[str, str]:
    """(masked body for the outbox, plain body for Twilio) of a reset-code text."""
    text = RESET_SMS.get(language, RESET_SMS["en-US"])
    return text.format(code=messaging.MASK * len(code)), text.format(code=code)


def _language_of(session: so.Session, call_sid: str | None) -> str:
    """The language of the call a text was asked for on (en-US without one)."""
    if not call_sid:
        return "en-US"
    found = session.scalar(sa.select(Call.language).where(Call.sid == call_sid))
    return found or "en-US"


def _revoke_open_codes(session: so.Session, account_id: int, now: dt.datetime) -> None:
    session.execute(
        sa.update(ResetCode)
        .where(
            ResetCode.account_id == account_id,
            ResetCode.used_at.is_(None),
            ResetCode.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )


def _issue_code(
    session: so.Session, account: PortalAccount, now: dt.datetime
) -> tuple[ResetCode, str]:
    _revoke_open_codes(session, account.id, now)
    code = new_code()
    row = ResetCode(
        account_id=account.id,
        code_hash=_hasher.hash(code),
        created_at=now,
        expires_at=now + CODE_TTL,
    )
    session.add(row)
    session.flush()
    return row, code


def start_reset(
    session: so.Session,
    account: PortalAccount,
    *,
    call_sid: str | None,
    now: dt.datetime,
    language: str = "en-US",
    caller: str | None = None,
    sandbox: bool = False,
) -> ResetOutcome:
    """Refuse (account_locked, locked_out, rate_limited, no_mobile) or issue a code.

    On "code_sent" the code's hash is stored, earlier unused codes are revoked and the
    text is queued in the outbox (masked); `plaintext_body` is for `messaging.send` once
    the transaction is committed. A `sandbox` call (an admin trying the line) hears the
    same answer but touches nothing of the real account: no attempt counted, no code issued,
    the account's pending code left valid, no text.
    """

    def refuse(outcome: str) -> ResetOutcome:
        if not sandbox:
            record_attempt(session, account, outcome, call_sid=call_sid, now=now, caller=caller)
        return ResetOutcome(outcome, account.id)

    _lock(session, account)
    if account.status != "active":
        return refuse(ACCOUNT_LOCKED)
    if phone_locked(session, account, caller, now):
        return refuse(LOCKED_OUT)
    if resets_in_last_day(session, account, now) >= MAX_RESETS_PER_DAY:
        return refuse(RATE_LIMITED)
    mobile = normalize_phone(account.mobile)
    if mobile is None:
        return refuse(NO_MOBILE)
    if sandbox:
        return ResetOutcome(CODE_SENT, account.id)
    code_row, code = _issue_code(session, account, now)
    masked, plain = reset_sms(code, language)
    message = messaging.queue(
        session,
        to=mobile,
        kind=messaging.RESET_CODE_KIND,
        body_masked=masked,
        account_id=account.id,
        reset_code_id=code_row.id,
        call_sid=call_sid,
        now=now,
    )
    record_attempt(session, account, CODE_SENT, call_sid=call_sid, now=now, caller=caller)
    return ResetOutcome(CODE_SENT, account.id, message.id, code_row.id, plain)


@messaging.reissues(messaging.RESET_CODE_KIND)
def reissue_code(session: so.Session, message: OutboxMessage, *, now: dt.datetime) -> str | None:
    """A new code for a reset text that failed to go out: its plain body, or None.

    The old code (never delivered) is revoked and the message points to the new one.
    None when the text should not be retried: the account is gone or locked, its code was
    used, or a newer reset replaced it.
    """
    account = session.get(PortalAccount, message.account_id) if message.account_id else None
    old = session.get(ResetCode, message.reset_code_id) if message.reset_code_id else None
    if account is None or old is None or account.status != "active" or old.used_at:
        return None
    newer = session.scalar(
        sa.select(sa.func.count()).where(ResetCode.account_id == account.id, ResetCode.id > old.id)
    )
    if newer:
        return None
    code_row, code = _issue_code(session, account, now)
    message.reset_code_id = code_row.id
    message.body, plain = reset_sms(code, _language_of(session, message.call_sid))
    session.flush()
    return plain


def verify_code(session: so.Session, username: str, code: str, now: dt.datetime) -> bool:
    """True once for the account's current, unexpired code; it is used up then."""
    account = get_by_username(session, username)
    code = (code or "").strip()
    if account is None or len(code) != CODE_DIGITS or not code.isascii() or not code.isdigit():
        return False
    candidates = session.scalars(
        sa.select(ResetCode)
        .where(
            ResetCode.account_id == account.id,
            ResetCode.used_at.is_(None),
            ResetCode.revoked_at.is_(None),
            ResetCode.expires_at > now,
        )
        .order_by(ResetCode.id.desc())
        .with_for_update()
    ).all()
    for row in candidates:
        try:
            _hasher.verify(row.code_hash, code)
        except (VerificationError, InvalidHashError):
            continue
        row.used_at = now
        session.flush()
        return True
    return False
