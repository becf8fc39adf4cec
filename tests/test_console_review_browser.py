"""The review worklist and the supervisor's page in a real browser (Debian's chromium via
Playwright, as tests/test_console_browser.py, whose fixtures these are)."""

from __future__ import annotations

import re
from typing import Any

from ivr import create_app
from ivr.store.models import Order
from tests import test_console_browser as shared
from tests.conftest import base_config
from tests.test_api_orders import make_order
from tests.test_console import HOSTILE, PASSWORD, on_hold_saying
from tests.test_console_browser import caller_of, sign_in_by_keyboard

# That module's fixtures (Debian's chromium, gunicorn with ana and cleo, a page), used here.
browser, console, page = shared.browser, shared.console, shared.page


def test_a_clinician_approves_a_pended_request_and_sees_its_order_number(
    page: Any, console: str, db_url: str
) -> None:
    from playwright.sync_api import expect

    app = create_app(base_config(db_url))
    info = make_order(app, outcome="pending_review", reason=HOSTILE, symptoms=HOSTILE)
    sign_in_by_keyboard(page, console, "cleo")
    assert page.url.endswith("/console/review")
    card = page.locator(f'article[data-ref="{info["ref"]}"]')
    expect(card).to_be_visible()
    expect(card.locator(".reason")).to_have_text(HOSTILE)  # the stored text, as text
    expect(card.get_by_text(HOSTILE, exact=True)).to_have_count(2)
    assert page.locator("article script, article b").count() == 0
    card.get_by_label("Approval note (optional)").fill("therapy notes seen")
    with page.expect_navigation():
        card.get_by_role("button", name=f"Approve {info['ref']}").click()
    done = page.get_by_role("status").filter(has_text="approved")
    expect(done).to_contain_text(f"Request {info['ref']} approved: order number ")
    shown = re.search(r"order number ([0-9]+)", done.inner_text())
    assert shown is not None
    with app.app_context():
        from ivr.db import get_session

        order = get_session().get(Order, info["id"])
        assert order is not None and order.order_number == shown.group(1)
    app.extensions["ivr.store"].engine.dispose()
    expect(page.locator(f'article[data-ref="{info["ref"]}"]')).to_have_count(0)
    expect(page.locator("#empty")).to_have_text("No request is waiting for review.")


def test_a_denial_without_a_reason_is_stopped_by_the_form(
    page: Any, console: str, db_url: str
) -> None:
    from playwright.sync_api import expect

    app = create_app(base_config(db_url))
    info = make_order(app, outcome="pending_review", reason="needs review")
    app.extensions["ivr.store"].engine.dispose()
    sign_in_by_keyboard(page, console, "cleo")
    card = page.locator(f'article[data-ref="{info["ref"]}"]')
    card.get_by_role("button", name=f"Deny {info['ref']}").click()
    assert page.url.endswith("/console/review")  # `required`: nothing was sent
    expect(card).to_be_visible()


def test_the_supervisor_page_counts_a_new_caller_without_reload(
    page: Any, console: str, db_url: str
) -> None:
    from playwright.sync_api import expect

    app = create_app(base_config(db_url))
    result = app.test_cli_runner().invoke(
        args=["create-user", "sue", "--role", "supervisor", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    app.extensions["ivr.store"].engine.dispose()
    sign_in_by_keyboard(page, console, "sue")
    page.goto(console + "/console/supervisor")
    row = page.locator('tr[data-queue="helpdesk"]')
    expect(row.locator(".waiting")).to_have_text("0")
    page.evaluate("window.__sameDocument = true")
    on_hold_saying(caller_of(console), HOSTILE)
    expect(row.locator(".waiting")).to_have_text("1", timeout=2000)
    expect(row.locator(".entered")).to_have_text("1")
    expect(page.locator("tr[data-user] th", has_text="sue")).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True
