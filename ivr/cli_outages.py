"""CLI commands: outages. Filled in by the help-desk work."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this module's commands on the app's CLI."""
