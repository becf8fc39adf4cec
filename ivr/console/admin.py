"""The admin pages' home, users and roles, and API tokens (role admin only).

Every change is an audit row; a password is stored as an argon2id hash (ivr.services.accounts)
and a token only hashed: a new token is shown once, on the page that made it, and never again.
Outage notices and queues are ivr/console/notices.py, the audit log auditlog.py."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ivr.auth import audit, create_user, hash_token, issue_token
from ivr.config import get_settings
from ivr.console import bp
from ivr.console.signin import ADMINS, current_user, require
from ivr.db import get_session
from ivr.safetext import has_control
from ivr.services import accounts
from ivr.store.models import ApiToken, Role, User, utcnow

ROLES = [role.value for role in Role]


def admin_user() -> User:
    user = current_user()
    assert user is not None  # @require ran first
    return user


def _user_or_404(user_id: int) -> User:
    user = get_session().get(User, user_id) if user_id < 2**31 else None
    if user is None:
        abort(404)
    return user


def _token_state(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= utcnow():
        return "expired"
    return "active"


def _users_page(status: int = 200, **extra: Any) -> ResponseReturnValue:
    db = get_session()
    users = list(
        db.scalars(
            sa.select(User).options(so.selectinload(User.tokens)).order_by(User.name, User.id)
        )
    )
    tokens = {
        u.id: sorted(u.tokens, key=lambda t: (t.created_at, t.id), reverse=True) for u in users
    }
    form = {"name": "", "role": Role.AGENT.value, **extra.pop("form", {})}
    page = render_template(
        "console/admin/users.html",
        users=users,
        tokens=tokens,
        token_state=_token_state,
        roles=ROLES,
        form=form,
        **extra,
    )
    return page, status


@bp.route("/admin")
@require(*ADMINS)
def admin() -> ResponseReturnValue:
    """The admin home: a door to each admin page."""
    return render_template("console/admin/home.html")


@bp.route("/admin/users")
@require(*ADMINS)
def admin_users() -> ResponseReturnValue:
    """Every user with their role, state and API tokens."""
    db = get_session()
    audit(db, admin_user(), "view", "users", "all")
    db.commit()
    return _users_page()


@bp.route("/admin/users", methods=["POST"])
@require(*ADMINS)
def admin_create_user() -> ResponseReturnValue:
    """Create a user with a role and a first password; their first API token is shown once."""
    db = get_session()
    name = request.form.get("name", "").strip()
    role = request.form.get("role", "")
    password = request.form.get("password", "")
    form = {"name": name, "role": role}
    error = None
    if role not in ROLES:
        error = "Choose a role."
    elif has_control(name):
        error = "A user name cannot hold control characters (tabs, new lines)."
    else:
        try:
            accounts.check_password_rules(password)
            user, token = create_user(db, name, Role(role), days=get_settings().token_days)
            accounts.set_password(user, password)
        except ValueError as exc:
            error = str(exc).capitalize() + "."
    if error is not None:
        db.rollback()
        return _users_page(422, form=form, error=error)
    audit(db, admin_user(), "create", "user", str(user.id))
    db.commit()
    return _users_page(201, shown_token=token, token_owner=user.name, created=user.name)


@bp.route("/admin/users/<int:user_id>/active", methods=["POST"])
@require(*ADMINS)
def admin_set_active(user_id: int) -> ResponseReturnValue:
    """Disable a user (every session and token of theirs stops at once) or enable them again."""
    db = get_session()
    user = _user_or_404(user_id)
    active = request.form.get("active") == "1"
    if user.id == admin_user().id and not active:
        return _users_page(422, error="You cannot disable yourself: ask another admin.")
    user.active = active
    audit(db, admin_user(), "enable" if active else "disable", "user", str(user.id))
    db.commit()
    flash(f"{user.name} is {'enabled' if active else 'disabled'}.")
    return redirect(url_for("console.admin_users"))


@bp.route("/admin/users/<int:user_id>/password", methods=["POST"])
@require(*ADMINS)
def admin_reset_password(user_id: int) -> ResponseReturnValue:
    """Set a new password for a user; every console session of theirs ends."""
    db = get_session()
    user = _user_or_404(user_id)
    try:
        accounts.set_password(user, request.form.get("password", ""))
    except ValueError as exc:
        db.rollback()
        return _users_page(422, error=f"Password of {user.name} not changed: {exc}.")
    audit(db, admin_user(), "reset_password", "user", str(user.id))
    db.commit()
    flash(f"The password of {user.name} is changed; their sessions have ended.")
    return redirect(url_for("console.admin_users"))


@bp.route("/admin/users/<int:user_id>/tokens", methods=["POST"])
@require(*ADMINS)
def admin_create_token(user_id: int) -> ResponseReturnValue:
    """Issue a new API token for a user, shown on this page once."""
    db = get_session()
    user = _user_or_404(user_id)
    token = issue_token(db, user, days=get_settings().token_days)
    row = db.scalars(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token))).one()
    audit(db, admin_user(), "create", "token", str(row.id))
    db.commit()
    return _users_page(201, shown_token=token, token_owner=user.name)


@bp.route("/admin/tokens/<int:token_id>/revoke", methods=["POST"])
@require(*ADMINS)
def admin_revoke_token(token_id: int) -> ResponseReturnValue:
    """Revoke an API token: the next request made with it is refused (401)."""
    db = get_session()
    token = db.get(ApiToken, token_id) if token_id < 2**31 else None
    if token is None:
        abort(404)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit(db, admin_user(), "revoke", "token", str(token.id))
        db.commit()
    flash(f"The token {token.prefix}… of {token.user.name} is revoked.")
    return redirect(url_for("console.admin_users"))
