"""Signing in and out of the console, and who may open which page.

The session cookie holds the user's id and a fingerprint of their password hash: a new
password, or the user disabled, ends every session of theirs at its next request."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, g, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from ivr.auth import audit
from ivr.config import get_settings
from ivr.console import bp
from ivr.db import get_session
from ivr.services import accounts
from ivr.store.models import Role, User

# Who opens which pages. Agents take calls; supervisors and admins may do what agents do.
AGENTS = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
CLINICIANS = (Role.CLINICIAN, Role.ADMIN)
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)
ADMINS = (Role.ADMIN,)


def _fingerprint(user: User) -> str:
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:32]


def current_user() -> User | None:
    """The signed-in user of this request, or None (and the stale session cleared)."""
    if "console_user" in g:
        found: User | None = g.console_user
        return found
    user = None
    uid = session.get("uid")
    if isinstance(uid, int):
        user = get_session().get(User, uid)
        if user is None or not user.active or session.get("fp") != _fingerprint(user):
            user = None
            session.clear()
    g.console_user = user
    return user


def home_for(user: User) -> str:
    if user.role in AGENTS:
        return url_for("console.queues")
    return url_for("console.review")


def require(*roles: Role) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The view runs for a signed-in user with one of `roles`: signed out → the sign-in page
    (a JSON request gets 401), another role → 403."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if request.accept_mimetypes.best == "application/json" or request.path.endswith(
                    ".json"
                ):
                    return jsonify(error="unauthorized", message="Sign in again."), 401
                return redirect(url_for("console.sign_in", next=request.path))
            if user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def _safe_next(target: str | None) -> str | None:
    # Only a path of the console itself: never another site (an open redirect).
    if target and target.startswith("/console/") and "//" not in target and "\\" not in target:
        return target
    return None


@bp.context_processor
def _user_in_templates() -> dict[str, Any]:
    return {"user": current_user()}


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    next_path = _safe_next(request.values.get("next"))
    if request.method == "GET":
        user = current_user()
        if user is not None:
            return redirect(next_path or home_for(user))
        return render_template("console/sign_in.html", next=next_path, username="")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    settings = get_settings()
    db = get_session()
    result = accounts.sign_in(
        db,
        username=username,
        password=password,
        address=request.remote_addr or "unknown",
        max_failures=settings.sign_in_failures,
        max_address_failures=settings.sign_in_address_failures,
    )
    if result.outcome is accounts.Outcome.SIGNED_IN and result.user is not None:
        user = result.user
        audit(db, user, "sign_in", "user", str(user.id))
        db.commit()
        session.clear()  # a new session on sign-in: nothing carried over from before
        session.permanent = True
        session["uid"] = user.id
        session["fp"] = _fingerprint(user)
        return redirect(next_path or home_for(user))
    db.commit()
    if result.outcome is accounts.Outcome.LIMITED:
        error, status = (
            "Too many failed sign-ins. Wait 15 minutes and try again, or ask an admin.",
            429,
        )
    elif result.outcome is accounts.Outcome.DISABLED:
        error, status = "This account is disabled. Ask an admin.", 403
    else:
        error, status = "The user name or password is not right.", 401
    page = render_template("console/sign_in.html", next=next_path, username=username, error=error)
    return page, status


@bp.route("/sign-out", methods=["POST"])
def sign_out() -> ResponseReturnValue:
    user = current_user()
    if user is not None:
        db = get_session()
        audit(db, user, "sign_out", "user", str(user.id))
        db.commit()
    session.clear()
    return redirect(url_for("console.sign_in", signed_out=1))
