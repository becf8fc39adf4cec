"""The admin pages in a real browser (Debian's chromium via Playwright, with the fixtures of
tests/test_console_browser.py): an admin creates a user, revokes a token and reads the audit
log by keyboard at 1280x800; tries the line on a sandbox call; an agent is refused; and,
once the drafts' service is in the build, breaks a flow, sees it at its line and on the
picture, fixes it, tries it, publishes and rolls back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import test_console_browser as shared
from tests.said import said
from tests.test_console import HOSTILE
from tests.test_console_browser import console_with, shots, sign_in_by_keyboard

browser, page = shared.browser, shared.page
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def console(db_url: str, tmp_path: Path) -> Iterator[str]:
    """gunicorn on this test's database, with the admin "ada" and the agent "ana"."""
    with console_with(db_url, tmp_path, {"ada": "admin", "ana": "agent"}) as base:
        yield base


def fits(page: Any) -> bool:
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def unlabelled(page: Any) -> list[str]:
    """Fields of the page no label names (hidden ones aside)."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea')]
              .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
              .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
              .map(e => e.name || e.id)"""
        )
    )


def test_an_admin_creates_a_user_revokes_a_token_and_reads_the_audit_log(
    page: Any, console: str, db_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page.goto(console + "/console/admin")
    assert "/console/sign-in" in page.url
    sign_in_by_keyboard(page, console, "ada")
    page.goto(console + "/console/admin")
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("link", name="Users and API tokens").click()
    assert unlabelled(page) == []

    # A new user, by keyboard only.
    page.get_by_label("User name").focus()
    page.keyboard.type(HOSTILE)
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")  # agent -> clinician
    page.keyboard.press("Tab")
    page.keyboard.type("a long enough password")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_text(f"{HOSTILE} is created.")).to_be_visible()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("ivr_")
    row = page.locator("tr[data-user]", has_text=HOSTILE).first
    expect(row.get_by_role("cell", name="clinician", exact=True)).to_be_visible()
    assert fits(page), "the users page scrolls sideways at 1280x800"
    page.screenshot(path=str(shots(tmp_path, db_url) / "admin-users.png"), full_page=True)

    # Revoke it: the token's row says so.
    prefix = token[:12]
    revoke = page.get_by_role("button", name=re.compile(f"Revoke token {re.escape(prefix)}"))
    revoke.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_text(f"The token {prefix}… of")).to_be_visible()
    expect(page.locator(f'tr[data-token="{prefix}"] .token-state')).to_contain_text("revoked")
    assert token not in page.content()

    # The audit log shows both acts, and filters.
    page.goto(console + "/console/admin/audit")
    assert unlabelled(page) == []
    log = page.locator("#audit tbody")
    expect(log.locator("tr", has_text="revoke").first).to_contain_text("ada")
    expect(log.locator("tr", has_text="create").first).to_contain_text("user")
    page.get_by_label("Action").fill("revoke")
    with page.expect_navigation():
        page.get_by_label("Action").press("Enter")
    rows = log.locator("tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("127.0.0.1")
    href = page.locator("#export").get_attribute("href")
    assert href is not None and "action=revoke" in href
    assert fits(page)


def test_an_admin_posts_and_ends_an_outage_notice(page: Any, console: str) -> None:
    from playwright.sync_api import expect

    sign_in_by_keyboard(page, console, "ada")
    page.goto(console + "/console/admin/outages")
    assert unlabelled(page) == []
    page.get_by_label("Title (for the console)").fill("Portal down")
    page.get_by_label("What callers hear, in English (one line)").fill("The portal is down.")
    with page.expect_navigation():
        page.get_by_role("button", name="Save notice").click()
    expect(page.locator("td.state").first).to_have_text("active")
    with page.expect_navigation():
        page.get_by_role("button", name="End the notice Portal down").click()
    expect(page.locator("td.state").first).to_have_text("ended")
    page.goto(console + "/console/admin/queues")
    expect(page.locator('tr[data-queue="general"] .open-now')).to_have_text("open")


def test_an_admin_tries_the_line_on_the_keypad(page: Any, console: str) -> None:
    from playwright.sync_api import expect

    sign_in_by_keyboard(page, console, "ada")
    page.goto(console + "/console/admin/try")
    with page.expect_navigation():
        page.get_by_role("button", name="Start a call").click()
    expect(page.locator(".line-says").first).to_have_text(said("main.greeting"))
    assert unlabelled(page) == []
    key = page.get_by_role("button", name="Press 1")
    key.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#at")).to_contain_text("main.main_menu")
    page.get_by_label("Say").fill("a person please")
    with page.expect_navigation():
        page.get_by_label("Say").press("Enter")
    expect(page.locator("#at")).to_contain_text("general")
    assert fits(page)


def test_an_agent_is_refused_every_admin_page(page: Any, console: str) -> None:
    from playwright.sync_api import expect

    sign_in_by_keyboard(page, console, "ana")
    for path in ("admin", "admin/users", "admin/outages", "admin/audit", "admin/try"):
        response = page.goto(f"{console}/console/{path}")
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)


def test_an_admin_fixes_a_flow_sees_it_tries_it_publishes_and_rolls_back(
    page: Any, console: str, db_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    main = (ROOT / "flows" / "main.yaml").read_text(encoding="utf-8")
    sign_in_by_keyboard(page, console, "ada")
    page.goto(console + "/console/admin/flows")
    with page.expect_navigation():
        page.get_by_role("link", name="main", exact=True).click()
    expect(page.locator(".CodeMirror")).to_be_visible()  # the vendored editor, no CDN
    broken = main.replace("next: plan_selected", "next: plan_chosen", 1)
    page.evaluate("text => window.flowEditor.setValue(text)", broken)
    with page.expect_navigation():
        page.get_by_role("button", name="Save draft and check").click()
    line = next(i for i, t in enumerate(broken.splitlines(), 1) if "plan_chosen" in t)
    problem = page.locator(f'#problems li[data-line="{line}"]')
    expect(problem).to_contain_text("select_plan")
    expect(page.locator(".CodeMirror .problem-line")).to_have_count(1)
    expect(page.locator("#graph g.error")).to_have_count(1)
    page.screenshot(path=str(shots(tmp_path, db_url) / "admin-flow-editor.png"), full_page=True)
    page.locator("#graph g.error").first.click()  # the node jumps to its YAML
    node_line = next(i for i, t in enumerate(broken.splitlines(), 1) if t == "  select_plan:")
    assert page.evaluate("window.flowEditor.getCursor().line + 1") == node_line

    changed = main.replace(
        "greeting: {kind: say, prompt: main.greeting, next: select_plan}",
        "greeting: {kind: say, prompt: main.menu.prompt, next: select_plan}",
        1,
    )
    page.evaluate("text => window.flowEditor.setValue(text)", changed)
    with page.expect_navigation():
        page.get_by_role("button", name="Save draft and check").click()
    expect(page.locator("#no-problems")).to_be_visible()

    page.goto(console + "/console/admin/try?drafts=1")
    with page.expect_navigation():
        page.get_by_role("button", name="Start a call").click()
    expect(page.locator(".line-says").first).to_have_text(said("main.menu.prompt"))

    page.goto(console + "/console/admin/flows/main")
    page.get_by_label("What changed (kept with the version)").fill("menu first")
    with page.expect_navigation():
        page.get_by_role("button", name="Publish the draft").click()
    expect(page.get_by_text(re.compile(r"Published as version \d+"))).to_be_visible()
    versions = page.locator("#versions tbody tr")
    expect(versions.first).to_contain_text("menu first")
    with page.expect_navigation():
        versions.first.get_by_role("link").click()
    expect(page.locator("#diff .add").first).to_be_visible()
    page.go_back()
    with page.expect_navigation():
        page.locator("#versions tbody tr").nth(1).get_by_role("button").click()
    expect(page.get_by_text(re.compile(r"is published again"))).to_be_visible()
