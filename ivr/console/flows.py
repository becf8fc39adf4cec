"""The flows' admin pages."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from ivr.console import bp
from ivr.console.signin import ADMINS, require


@bp.route("/admin/flows")
@require(*ADMINS)
def admin_flows() -> ResponseReturnValue:
    """The flows."""
    return render_template("console/admin/home.html")
