"""Try the line: a phone in the page, on a sandbox call."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from ivr.console import bp
from ivr.console.signin import ADMINS, require


@bp.route("/admin/try")
@require(*ADMINS)
def admin_try() -> ResponseReturnValue:
    """The phone simulator."""
    return render_template("console/admin/home.html")
