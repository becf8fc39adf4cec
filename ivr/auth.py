"""Who is asking: users, roles and bearer tokens for the API."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask, abort, g, has_request_context, request

from ivr.db import get_session
from ivr.store.models import ApiToken, AuditEntry, Role, User, utcnow

TOKEN_PREFIX = "ivr_"
# Who decides a pended order, at every door (API, console, `ivr review`).
REVIEWERS = (Role.CLINICIAN, Role.ADMIN)


def hash_token(token: str) -> str:
    # Tokens are 32 random bytes: a fast hash is enough, unlike for passwords.
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: so.Session, name: str, role: Role) -> tuple[User, str]:
    """Create a user and its first API token; the token is returned once, stored hashed."""
    name = name.strip()
    if not name or len(name) > 80:
        raise ValueError("a user name is 1 to 80 characters")
    if session.scalars(sa.select(User).where(User.name == name)).first() is not None:
        raise ValueError(f"user {name!r} already exists")
    user = User(name=name, role=role)
    session.add(user)
    session.flush()
    return user, issue_token(session, user)


def issue_token(session: so.Session, user: User) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:12]))
    session.flush()
    return token


def user_for_token(session: so.Session, token: str) -> User | None:
    row = session.scalars(
        sa.select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    ).first()
    if row is None or not row.user.active:
        return None
    return row.user


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


def require_role(*roles: Role) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let the view run only for a bearer token whose user has one of `roles` (401/403)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                abort(401, description="A bearer token is required.")
            user = user_for_token(get_session(), token.strip())
            if user is None:
                abort(401, description="The token is not valid.")
            if user.role not in roles:
                abort(403, description=f"The {user.role.value} role may not do this.")
            g.user = user
            return view(*args, **kwargs)

        return wrapper

    return decorator


def init_app(app: Flask) -> None:
    @app.after_request
    def _no_store(response: Any) -> Any:
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response
