"""People's sign-in to the console: argon2id password hashes, and a rate limit on failed
attempts counted in the store (every gunicorn worker shares it). No Flask here."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ivr.store.models import SignInAttempt, User, utcnow

# argon2-cffi's defaults (RFC 9106's low-memory profile): 64 MiB, 3 passes.
_hasher = PasswordHasher()
# Verified when the name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")
WINDOW = dt.timedelta(minutes=15)
MIN_PASSWORD = 12
MAX_PASSWORD = 200


class Outcome(enum.Enum):
    SIGNED_IN = "signed_in"
    REFUSED = "refused"  # wrong name or password, or no password set: the same answer
    DISABLED = "disabled"
    LIMITED = "limited"  # too many failures lately: nothing is checked


@dataclass(frozen=True)
class SignIn:
    outcome: Outcome
    user: User | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password is at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"a password is at most {MAX_PASSWORD} characters")


def set_password(user: User, password: str) -> None:
    check_password_rules(password)
    user.password_hash = hash_password(password)


def failures(
    session: so.Session, *, username: str, address: str, now: dt.datetime | None = None
) -> tuple[int, int]:
    """Failed attempts in the last 15 minutes: (for this name, from this address)."""
    since = (now or utcnow()) - WINDOW
    failed = sa.select(sa.func.count()).select_from(SignInAttempt)
    failed = failed.where(SignInAttempt.succeeded.is_(False), SignInAttempt.at >= since)
    by_name = session.scalar(failed.where(SignInAttempt.username == username)) or 0
    by_address = session.scalar(failed.where(SignInAttempt.address == address)) or 0
    return by_name, by_address


def sign_in(
    session: so.Session,
    *,
    username: str,
    password: str,
    address: str,
    max_failures: int,
    max_address_failures: int,
) -> SignIn:
    """Check a name and password, unless this name or address failed too often lately.

    Every checked attempt is recorded; a limited one is not (it checked nothing), so the
    window ends 15 minutes after the last real failure."""
    username = username.strip()[:80]
    address = address[:64]
    by_name, by_address = failures(session, username=username, address=address)
    if by_name >= max_failures or by_address >= max_address_failures:
        return SignIn(Outcome.LIMITED)
    user = (
        session.scalars(sa.select(User).where(User.name == username)).first() if username else None
    )
    stored = user.password_hash if user is not None and user.password_hash else None
    try:
        ok = _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        ok = False
    now = utcnow()
    session.add(SignInAttempt(username=username, address=address, succeeded=ok, at=now))
    if not ok or user is None:
        return SignIn(Outcome.REFUSED)
    if not user.active:
        return SignIn(Outcome.DISABLED)
    if stored is not None and _hasher.check_needs_rehash(stored):
        user.password_hash = hash_password(password)
    user.last_sign_in_at = now
    return SignIn(Outcome.SIGNED_IN, user)
