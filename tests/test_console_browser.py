"""The console in a real browser: Playwright drives Debian's chromium (apt, by its path;
never a browser Playwright downloads) against gunicorn on 127.0.0.1, while calls are placed
against the same server with ivr.simulate. Without the browser these tests skip, except
under CI=true, where they fail: `make test` and `.ci/run` install it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr import create_app
from ivr.simulate import Caller, HttpTransport, SimulatedCall
from tests.conftest import AUTH_TOKEN, ON_CI, base_config
from tests.gunicorn import serve
from tests.test_console import HOSTILE, PASSWORD, on_hold_saying
from tests.test_intake import LAKESIDE, answer, start_intake

CHROMIUM = os.environ.get("IVR_TEST_CHROMIUM", "/usr/bin/chromium")
DOCS = Path(__file__).resolve().parents[1] / "docs"
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}


def _missing(reason: str) -> None:
    if ON_CI:
        pytest.fail(reason + "; CI=true requires it (`make test` installs it with apt)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
        _missing(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where chromium's sandbox cannot start.
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@contextlib.contextmanager
def console_with(db_url: str, tmp_path: Path, users: dict[str, str]) -> Iterator[str]:
    """gunicorn on this test's database, with `users` (name -> role) able to sign in."""
    app = create_app(base_config(db_url))
    runner = app.test_cli_runner()
    for name, role in users.items():
        result = runner.invoke(
            args=["create-user", name, "--role", role, "--password-stdin"],
            input=PASSWORD + "\n",
        )
        assert result.exit_code == 0, result.output
    app.extensions["ivr.store"].engine.dispose()
    # Plain HTTP on 127.0.0.1: the cookie cannot be Secure here (it is in production).
    with serve(db_url, tmp_path, IVR_SECURE_COOKIES="0", IVR_HOURS_OVERRIDE="open") as (base, _):
        yield base


@pytest.fixture
def console(db_url: str, tmp_path: Path) -> Iterator[str]:
    """gunicorn on this test's database with the users the tests sign in as."""
    with console_with(db_url, tmp_path, {"ana": "agent", "cleo": "clinician"}) as base:
        yield base


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()
    assert dialogs == [], "a caller's words ran as script"


def caller_of(base: str) -> Caller:
    return Caller(HttpTransport(), base_url=base, auth_token=AUTH_TOKEN)


def sign_in_by_keyboard(page: Any, base: str, name: str, password: str = PASSWORD) -> None:
    page.goto(base + "/console/sign-in")
    page.get_by_label("User name").focus()
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def shots(tmp_path: Path, db_url: str) -> Path:
    """Where screenshots go: docs/ with IVR_SCREENSHOTS=1 (once, from the SQLite run), else
    the test's own directory, so a test run leaves the checkout as it was."""
    if os.environ.get("IVR_SCREENSHOTS") == "1" and db_url.startswith("sqlite"):
        DOCS.mkdir(exist_ok=True)
        return DOCS
    return tmp_path


def test_an_agent_signs_in_and_sees_a_caller_arrive_without_reload(
    page: Any, console: str, db_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page.goto(console + "/console/queues")
    assert "/console/sign-in" in page.url  # signed out: sent to sign in first
    sign_in_by_keyboard(page, console, "ana")
    assert page.url.endswith("/console/queues")
    expect(page.get_by_role("heading", name="Waiting for a person")).to_be_visible()
    expect(page.locator("#empty")).to_be_visible()
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    first = on_hold_saying(caller_of(console), HOSTILE)
    row = page.locator(f'tr[data-sid="{first.sid}"]')
    expect(row).to_be_visible(timeout=2000)
    expect(row).to_have_class("longest")
    expect(row.locator(".flag")).to_have_text("Longest wait")
    expect(row.get_by_text(HOSTILE, exact=True)).to_be_visible()  # shown as text
    assert page.locator("#queue script, #queue b").count() == 0
    second: SimulatedCall = on_hold_saying(
        caller_of(console), "the claims page shows the wrong member"
    )
    expect(page.locator(f'tr[data-sid="{second.sid}"]')).to_be_visible(timeout=2000)
    expect(page.locator("#summary")).to_have_text("2 waiting")
    time.sleep(1.2)  # a tick of the clock on the waits shown
    page.screenshot(path=str(shots(tmp_path, db_url) / "console-queue.png"))

    first.leave_queue("bridged", 30)
    expect(row).to_have_count(0, timeout=2000)
    expect(page.locator(f'tr[data-sid="{second.sid}"]')).to_have_class("longest")
    assert page.evaluate("window.__sameDocument") is True

    page.set_viewport_size(TABLET)
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    ), "the queue view scrolls sideways on a tablet"
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_an_agent_accepts_a_call_fixes_the_draft_and_reads_the_order_number(
    page: Any, console: str, db_url: str, tmp_path: Path
) -> None:
    """The issue's flow: a caller asks for a person mid-intake; the agent, already on the
    queue view, sees them arrive, accepts, fixes a field the checks refuse, submits, and
    reads the order number."""
    from playwright.sync_api import expect

    sign_in_by_keyboard(page, console, "ana")
    page.get_by_label("Your phone").fill("+1 614 555 0177")
    page.get_by_role("button", name="Save phone").click()
    expect(page.get_by_role("status").first).to_contain_text("+16145550177")

    call = answer(start_intake(caller_of(console)), stop="diagnosis").say("representative")
    assert call.enqueued == "orders", call.heard
    row = page.locator(f'tr[data-sid="{call.sid}"]')
    expect(row).to_be_visible(timeout=2000)  # arrived without a reload
    with page.expect_navigation():
        row.get_by_role("button", name="Accept").click()
    assert page.url.endswith(f"/console/calls/{call.sid}")
    expect(page.get_by_role("heading", name="What the caller said and heard")).to_be_visible()
    expect(page.get_by_label("Member ID")).to_have_value("100200300")

    # A facility the checks refuse: its message at the field, what was typed kept.
    page.get_by_label("Diagnosis codes").fill("R51.9")
    page.get_by_label("Imaging facility NPI").fill("1234567890")
    page.get_by_label("Symptoms").fill("Headaches for a week")
    with page.expect_navigation():
        page.get_by_role("button", name="Submit order").click()
    expect(page.locator("#facility_npi-error")).to_have_text("No imaging facility on file with it.")
    expect(page.get_by_label("Imaging facility NPI")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Symptoms")).to_have_value("Headaches for a week")

    # Fixed by keyboard, submitted with Enter: the order number, large.
    page.get_by_label("Imaging facility NPI").fill("")
    page.get_by_label("Imaging facility NPI").focus()
    page.keyboard.type(LAKESIDE)
    with page.expect_navigation():
        page.get_by_role("button", name="Submit order").click()
    number = page.locator("#order-number")
    expect(number).to_be_visible()
    expect(number).not_to_be_empty()
    expect(page.get_by_role("heading", name="Order number")).to_be_visible()
    page.screenshot(path=str(shots(tmp_path, db_url) / "console-call.png"), full_page=True)

    page.get_by_label("How the call ended").select_option("order_issued")
    page.get_by_label("Notes").fill("Order number read back.")
    with page.expect_navigation():
        page.get_by_role("button", name="Wrap up").click()
    assert page.url.endswith("/console/queues")
    expect(page.get_by_text("The call is wrapped up.")).to_be_visible()


def test_an_agent_dials_a_callback_closes_the_ticket_and_records_the_try(
    page: Any, console: str
) -> None:
    """A help-desk caller takes a callback: the queue view draws its Dial button live; the
    agent dials, closes the call's ticket and records the try, on a tablet too."""
    from playwright.sync_api import expect

    sign_in_by_keyboard(page, console, "ana")
    page.get_by_label("Your phone").fill("+1 614 555 0177")
    page.get_by_role("button", name="Save phone").click()

    call = on_hold_saying(caller_of(console), "the claims page shows the wrong member")
    assert call.wait(waited=125).gather is not None
    call.press("1")
    call.press("1")
    row = page.locator(f'tr[data-sid="{call.sid}"][data-kind="callback"]')
    expect(row).to_be_visible(timeout=2000)  # redrawn without a reload, with its button
    with page.expect_navigation():
        row.get_by_role("button", name="Dial").click()
    assert page.url.endswith(f"/console/calls/{call.sid}")
    expect(page.get_by_text("Not dialed (no Twilio account is set)")).to_be_visible()

    page.set_viewport_size(TABLET)
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    ), "the call page scrolls sideways on a tablet"
    close = page.get_by_role("button", name=re.compile(r"^Close ticket \d+$"))
    close.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_text(re.compile(r"Ticket \d+ is closed\."))).to_be_visible()

    page.get_by_label("Reached the caller").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Record the try").click()
    expect(page.get_by_text("Reached: go on with the call, then wrap it up.")).to_be_visible()
    expect(
        page.get_by_label("Portal username (a reset code is texted to its mobile on file)")
    ).to_be_visible()


def test_an_agent_is_refused_admin_and_clinician_pages(page: Any, console: str) -> None:
    from playwright.sync_api import expect

    sign_in_by_keyboard(page, console, "ana")
    for path in ("/console/admin", "/console/review"):
        response = page.goto(console + path)
        assert response is not None and response.status == 403
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("link", name="Review")).to_have_count(0)


def test_a_clinician_lands_on_the_review_page_not_the_queues(page: Any, console: str) -> None:
    sign_in_by_keyboard(page, console, "cleo")
    assert page.url.endswith("/console/review")
    response = page.goto(console + "/console/queues")
    assert response is not None and response.status == 403


def test_a_form_without_its_csrf_token_is_refused(page: Any, console: str) -> None:
    from playwright.sync_api import expect

    sign_in_by_keyboard(page, console, "ana")
    page.evaluate("document.querySelector('form.who [name=csrf_token]').remove()")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Form refused")).to_be_visible()
    response = page.goto(console + "/console/queues")
    assert response is not None and response.status == 200  # the forged sign-out did nothing
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(console + "/console/queues")
    assert "/console/sign-in" in page.url


def test_bad_passwords_are_rate_limited(page: Any, console: str) -> None:
    from playwright.sync_api import expect

    for _ in range(5):
        sign_in_by_keyboard(page, console, "ana", "not the password")
        expect(page.get_by_role("alert")).to_have_text("The user name or password is not right.")
    sign_in_by_keyboard(page, console, "ana")
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
    assert "/console/sign-in" in page.url
