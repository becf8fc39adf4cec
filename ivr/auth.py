"""Who is asking: users, roles and bearer tokens for the API."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask, Response, abort, g, has_request_context, jsonify, request

from ivr.config import get_settings
from ivr.db import get_session
from ivr.services import ratelimit
from ivr.store.models import ApiToken, AuditEntry, Role, User, utcnow

log = logging.getLogger("ivr.auth")

TOKEN_PREFIX = "ivr_"
# Who decides a pended order, at every door (API, console, `ivr review`).
REVIEWERS = (Role.CLINICIAN, Role.ADMIN)
REFUSALS = (401, 403, 404)
TOKEN_WINDOW = 60  # seconds: IVR_API_RATE_LIMIT requests per token in each
FAILURE_WINDOW = 15 * 60  # seconds: IVR_API_AUTH_FAILURES bad tokens per address in each
LAST_USED_EVERY = dt.timedelta(minutes=1)  # last_used_at written at most this often
READ_AGAIN_AFTER = dt.timedelta(minutes=15)  # a polled view's reads, audited once in each


def hash_token(token: str) -> str:
    # Tokens are 32 random bytes: a fast hash is enough, unlike for passwords.
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    session: so.Session, name: str, role: Role, *, days: int | None = None
) -> tuple[User, str]:
    """Create a user and its first API token; the token is returned once, stored hashed."""
    name = name.strip()
    if not name or len(name) > 80:
        raise ValueError("a user name is 1 to 80 characters")
    if session.scalars(sa.select(User).where(User.name == name)).first() is not None:
        raise ValueError(f"user {name!r} already exists")
    user = User(name=name, role=role)
    session.add(user)
    session.flush()
    return user, issue_token(session, user, days=days)


def issue_token(session: so.Session, user: User, *, days: int | None = None) -> str:
    """A new token for `user`, valid `days` (None or 0: until revoked); shown once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=hash_token(token),
            prefix=token[:12],
            created_at=now,
            expires_at=now + dt.timedelta(days=days) if days else None,
        )
    )
    session.flush()
    return token


def token_row(session: so.Session, token: str) -> ApiToken | None:
    """The token's row, revoked or expired too (None: no such token)."""
    return session.scalars(
        sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token))
    ).first()


def usable(row: ApiToken | None, now: dt.datetime) -> bool:
    """Not revoked, not expired, and its user active."""
    return (
        row is not None
        and row.revoked_at is None
        and (row.expires_at is None or now < row.expires_at)
        and row.user.active
    )


def user_for_token(session: so.Session, token: str) -> User | None:
    row = token_row(session, token)
    return row.user if row is not None and usable(row, utcnow()) else None


def revoke_tokens(session: so.Session, prefix: str, now: dt.datetime) -> list[ApiToken]:
    """Revoke the unrevoked tokens whose shown prefix starts with `prefix` (at least 8
    characters, so one slip cannot revoke many); the tokens revoked."""
    if len(prefix) < 8:
        raise ValueError("give at least the first 8 characters of the token (e.g. ivr_AbCd)")
    found = list(
        session.scalars(
            sa.select(ApiToken).where(
                ApiToken.prefix.startswith(prefix[:12], autoescape=True),
                ApiToken.revoked_at.is_(None),
            )
        )
    )
    for row in found:
        row.revoked_at = now
    session.flush()
    return found


def audit(
    session: so.Session,
    user: User | None,
    action: str,
    target_type: str,
    target_id: str,
    *,
    status: int | None = None,
) -> None:
    """Record that a person read or changed something (or was refused: `status`), and from
    which address when it happens in a request."""
    session.add(
        AuditEntry(
            user_id=user.id if user else None,
            action=action,
            target_type=target_type,
            target_id=target_id[:80],
            at=utcnow(),
            address=(request.remote_addr or "")[:64] or None if has_request_context() else None,
            status=status,
        )
    )


def audit_reads(
    session: so.Session, user: User | None, target_type: str, target_ids: Iterable[str]
) -> None:
    """One `read` row for each call or order a page or a list showed to a person. A view
    redrawn every second writes one per target and person every READ_AGAIN_AFTER."""
    ids = list(dict.fromkeys(str(i)[:80] for i in target_ids))
    if user is None or not ids:
        return
    seen = set(
        session.scalars(
            sa.select(AuditEntry.target_id).where(
                AuditEntry.user_id == user.id,
                AuditEntry.action == "read",
                AuditEntry.target_type == target_type,
                AuditEntry.target_id.in_(ids),
                AuditEntry.at > utcnow() - READ_AGAIN_AFTER,
            )
        )
    )
    for target in ids:
        if target not in seen:
            audit(session, user, "read", target_type, target)


def _too_many(retry_after: int, message: str) -> Response:
    response = jsonify(error="too_many_requests", message=message)
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def _address() -> str:
    return (request.remote_addr or "unknown")[:64]


def _authenticate(session: so.Session) -> User | Response:
    """The token's user, counted against its rate limit; else the refusal to answer (401
    for a missing or unusable token, 429 past a limit), with the failure counted."""
    settings = get_settings()
    now = utcnow()
    address_key = "api-auth-failures:" + _address()
    failures = ratelimit.hits(session, address_key, window=FAILURE_WINDOW, now=now)
    if failures.hits >= settings.api_auth_failures:
        session.rollback()
        log.warning("api: bad-token limit reached for %s", _address())
        return _too_many(failures.retry_after, "Too many requests with a bad token.")
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    row = token_row(session, token) if scheme.lower() == "bearer" and token else None
    if row is None or not usable(row, now):
        g.refused_because = (
            "no token"
            if not token
            else "unknown token"
            if row is None
            else "revoked token"
            if row.revoked_at is not None
            else "expired token"
            if row.expires_at is not None and now >= row.expires_at
            else "inactive user"
        )
        if row is not None:
            g.auth_user = row.user
        ratelimit.hit(session, address_key, window=FAILURE_WINDOW, now=now)
        session.commit()
        description = "A bearer token is required." if not token else "The token is not valid."
        abort(401, description=description)
    g.auth_user = row.user
    count = ratelimit.hit(session, f"api-token:{row.id}", window=TOKEN_WINDOW, now=now)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        row.last_used_at = now
    session.commit()  # the count and last use stand whatever the view answers
    if count.hits > settings.api_rate_limit:
        log.warning("api: rate limit reached for token %s", row.prefix)
        return _too_many(count.retry_after, "Too many requests for this token; slow down.")
    return row.user


def require_role(*roles: Role) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let the view run only for a usable bearer token whose user has one of `roles`
    (401/403), within the token's rate limit (429)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            found = _authenticate(get_session())
            if isinstance(found, Response):
                return found
            if found.role not in roles:
                abort(403, description=f"The {found.role.value} role may not do this.")
            g.user = found
            return view(*args, **kwargs)

        return wrapper

    return decorator


def _refused_user() -> User | None:
    for name in ("user", "auth_user", "console_user"):
        user = g.get(name)
        if isinstance(user, User):
            return user
    return None


def _record_refusal(response: Response) -> None:
    """An audit row and a log line for a 401, 403 or 404 of the API or the console: who
    (when known), from where, what was asked (the path, never the query: it may carry a
    member id) and the status. Whatever the view had not committed is rolled back."""
    status = response.status_code
    if status not in REFUSALS or not request.path.startswith(("/api/", "/console/")):
        return
    user = _refused_user()
    if status == 404 and request.url_rule is None and user is None:
        log.info("refused 404 %s (no such page) from %s", request.method, _address())
        return  # a scanner's guesses: logged, not audited
    route = request.url_rule.rule if request.url_rule is not None else "(no such page)"
    log.warning(
        "refused %d %s %s from %s user %s%s",
        status,
        request.method,
        route,
        _address(),
        user.id if user else "-",
        f" ({g.refused_because})" if g.get("refused_because") else "",
    )
    try:
        session = get_session()
        session.rollback()
        audit(
            session, user, "refused", "request", f"{request.method} {request.path}", status=status
        )
        session.commit()
    except sa.exc.SQLAlchemyError:
        log.exception("refused %d: the audit row could not be written", status)


def init_app(app: Flask) -> None:
    @app.after_request
    def _no_store(response: Any) -> Any:
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        _record_refusal(response)
        return response
