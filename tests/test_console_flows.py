"""The flow editor pages (ivr/console/flows.py) on ivr.services.flow_admin: the list, the
editor with problems at their line and node and the picture with the erroring node outlined,
save (and the stale-base refusal, nothing lost), publish, versions, diff, roll back."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient, FlaskCliRunner

from ivr.store.models import AuditEntry
from tests.test_console import HOSTILE, csrf_of, make_user, sign_in
from tests.test_console_admin import admin  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[1]
MAIN = (ROOT / "flows" / "main.yaml").read_text(encoding="utf-8")
BROKEN = MAIN.replace("next: plan_selected", "next: plan_chosen", 1)


def broken_line() -> int:
    return next(i for i, line in enumerate(BROKEN.splitlines(), 1) if "plan_chosen" in line)


def editor(client: FlaskClient, name: str = "main") -> str:
    response = client.get(f"/console/admin/flows/{name}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def base_of(page: str) -> str:
    found = re.search(r'name="base_version" value="(\d+)"', page)
    assert found, page
    return found.group(1)


def revision_of(page: str) -> str:
    found = re.search(r'name="draft_revision" value="([^"]*)"', page)
    assert found, page
    return found.group(1)


def save(
    client: FlaskClient,
    text: str,
    base: str | None = None,
    name: str = "main",
    page: str | None = None,
) -> Any:
    """Save from the editor as the browser does (the page's hidden fields sent back)."""
    page = page or editor(client, name)
    form = {
        "csrf_token": csrf_of(page),
        "yaml": text,
        "base_version": base or base_of(page),
        "draft_revision": revision_of(page),
    }
    return client.post(f"/console/admin/flows/{name}/draft", data=form)


def publish(client: FlaskClient, comment: str, name: str = "main") -> Any:
    page = editor(client, name)
    form = {"csrf_token": csrf_of(page), "comment": comment}
    return client.post(f"/console/admin/flows/{name}/publish", data=form)


def test_the_list_shows_every_flow_with_its_version_and_draft(
    admin: FlaskClient,  # noqa: F811
) -> None:
    page = admin.get("/console/admin/flows").get_data(as_text=True)
    for name in ("main", "order", "status", "helpdesk"):
        assert f'<tr data-flow="{name}">' in page, name
    assert "a draft waits" not in page
    assert save(admin, BROKEN).status_code == 302
    page = admin.get("/console/admin/flows").get_data(as_text=True)
    row = re.search(r'<tr data-flow="main">(.*?)</tr>', page, re.S)
    assert row and "a draft waits" in row.group(1) and "ada" in row.group(1)


def test_a_broken_draft_is_kept_and_its_problem_shown_at_its_line_node_and_picture(
    admin: FlaskClient,  # noqa: F811
    session: Any,
) -> None:
    response = save(admin, BROKEN)
    assert response.status_code == 302
    page = editor(admin)
    assert "plan_chosen" in html.unescape(page)  # the draft is shown, not the published
    line = broken_line()
    item = re.search(r'<li data-line="(\d+)" data-node="([^"]*)">', page)
    assert item and item.group(1) == str(line) and item.group(2) == "select_plan"
    assert f'href="#line-{line}"' in page
    assert f'data-problem-lines="{line}"' in page
    graph = page.split('<div id="graph">', 1)[1].split("</div>", 1)[0]
    assert "error" in graph and "select_plan" in graph
    entry = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "save_draft")).one()
    assert entry.target_id == "main"


def test_publishing_a_broken_draft_is_refused_and_a_fixed_one_publishes(
    admin: FlaskClient,  # noqa: F811
) -> None:
    save(admin, BROKEN)
    refused = publish(admin, "try a broken one")
    assert refused.status_code == 422
    assert "Not published" in refused.get_data(as_text=True)
    before = re.findall(r'<tr data-version="(\d+)">', editor(admin))
    save(admin, MAIN.replace("main.greeting", "main.greeting", 1) + "\n# a comment\n")
    done = publish(admin, HOSTILE)
    assert done.status_code == 302
    page = editor(admin)
    after = re.findall(r'<tr data-version="(\d+)">', page)
    assert len(after) == len(before) + 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "No draft: showing the published flow." in page


def test_a_save_on_an_old_base_is_refused_and_the_text_kept(
    admin: FlaskClient,  # noqa: F811
) -> None:
    page = editor(admin)
    old_base = base_of(page)
    save(admin, MAIN + "\n# first\n")
    assert publish(admin, "first").status_code == 302
    response = save(admin, MAIN + "\n# second, made on the old version\n", base=old_base)
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "Not saved" in body and "# second, made on the old version" in body


def test_an_uploaded_file_becomes_the_draft(
    admin: FlaskClient,  # noqa: F811
) -> None:
    page = editor(admin)
    form = {
        "csrf_token": csrf_of(page),
        "base_version": base_of(page),
        "yaml": "",
        "file": (io.BytesIO(BROKEN.encode()), "main.yaml"),
    }
    response = admin.post(
        "/console/admin/flows/main/draft", data=form, content_type="multipart/form-data"
    )
    assert response.status_code == 302
    assert "plan_chosen" in html.unescape(editor(admin))


def test_versions_have_diffs_and_roll_back(
    admin: FlaskClient,  # noqa: F811
    session: Any,
) -> None:
    save(admin, MAIN + "\n# changed\n")
    publish(admin, "changed")
    page = editor(admin)
    versions = re.findall(r'<tr data-version="(\d+)">', page)
    newest, older = versions[0], versions[1]
    diff = admin.get(f"/console/admin/flows/main/diff?a={older}&b={newest}")
    assert diff.status_code == 200
    assert '<span class="add">+# changed</span>' in diff.get_data(as_text=True)
    response = admin.post(
        "/console/admin/flows/main/rollback",
        data={"csrf_token": csrf_of(page), "version": older},
    )
    assert response.status_code == 302
    again = re.findall(r'<tr data-version="(\d+)">', editor(admin))
    assert len(again) == len(versions) + 1
    actions = set(session.scalars(sa.select(AuditEntry.action)))
    assert {"save_draft", "publish", "rollback"} <= actions


def test_flow_pages_are_for_admins_only(client: FlaskClient, runner: FlaskCliRunner) -> None:
    assert client.get("/console/admin/flows").location.startswith("/console/sign-in")
    make_user(runner, "ana", "agent")
    sign_in(client, "ana")
    for path in ("/console/admin/flows", "/console/admin/flows/main"):
        assert client.get(path).status_code == 403
    token = csrf_of(client.get("/console/queues").get_data(as_text=True))
    response = client.post(
        "/console/admin/flows/main/draft",
        data={"csrf_token": token, "yaml": BROKEN, "base_version": "1"},
    )
    assert response.status_code == 403


def test_a_flow_form_without_its_token_is_refused(
    admin: FlaskClient,  # noqa: F811
) -> None:
    for path in ("draft", "publish", "rollback"):
        response = admin.post(f"/console/admin/flows/main/{path}", data={"yaml": BROKEN})
        assert response.status_code == 400, path
    assert "a draft waits" not in admin.get("/console/admin/flows").get_data(as_text=True)


def test_an_unknown_flow_is_not_found(admin: FlaskClient) -> None:  # noqa: F811
    assert admin.get("/console/admin/flows/nosuch").status_code == 404


def test_the_sandbox_call_runs_the_draft_and_callers_still_hear_the_published(
    admin: FlaskClient,  # noqa: F811
    caller: Any,
) -> None:
    from tests.said import said
    from tests.test_console_try import heard, start

    draft = MAIN.replace(
        "greeting: {kind: say, prompt: main.greeting, next: select_plan}",
        "greeting: {kind: say, prompt: main.menu.prompt, next: select_plan}",
        1,
    )
    assert draft != MAIN
    assert save(admin, draft).status_code == 302
    page = admin.get("/console/admin/try").get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "drafts": "1"}
    response = admin.post("/console/admin/try", data=form)
    assert response.status_code == 302
    tried = admin.get(response.location).get_data(as_text=True)
    assert heard(tried)[0] == said("main.menu.prompt")
    assert start(admin)  # without drafts: the published words
    assert caller.dial().heard[0] == said("main.greeting")


def test_the_sandbox_call_speaks_a_prompt_draft(
    admin: FlaskClient,  # noqa: F811
    app: Any,
    caller: Any,
) -> None:
    from ivr.db import get_session
    from ivr.services import flow_admin
    from tests.said import said
    from tests.test_console_try import heard

    with app.test_request_context():
        db = get_session()
        base = flow_admin.get_prompts(db, "en-US").published_version
        problems = flow_admin.save_prompt_draft(
            db, "en-US", {"main.greeting": "Welcome to the draft line."}, base, "ada"
        )
        assert problems == []
        db.commit()
    page = admin.get("/console/admin/try").get_data(as_text=True)
    response = admin.post("/console/admin/try", data={"csrf_token": csrf_of(page), "drafts": "1"})
    tried = admin.get(response.location).get_data(as_text=True)
    assert heard(tried)[0] == "Welcome to the draft line."
    assert caller.dial().heard[0] == said("main.greeting")


# --- prompts -----------------------------------------------------------------------------


def prompt_page(client: FlaskClient, query: str = "") -> str:
    response = client.get(f"/console/admin/prompts/en-US?q={query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def save_texts(client: FlaskClient, changes: dict[str, str]) -> Any:
    page = prompt_page(client)
    form: dict[str, Any] = {
        "csrf_token": csrf_of(page),
        "base_version": base_of(page),
        "key": list(changes),
        "text": list(changes.values()),
    }
    return client.post("/console/admin/prompts/en-US/draft", data=form)


def test_prompts_are_listed_by_language_and_searchable(
    admin: FlaskClient,  # noqa: F811
) -> None:
    page = admin.get("/console/admin/prompts").get_data(as_text=True)
    assert '<tr data-language="en-US">' in page and '<tr data-language="es-US">' in page
    found = prompt_page(admin, "greeting")
    keys = re.findall(r'<tr data-key="([^"]+)">', found)
    assert "main.greeting" in keys and all("greeting" in k or k for k in keys)
    assert len(keys) < len(re.findall(r'<tr data-key="([^"]+)">', prompt_page(admin)))


def test_a_text_that_loses_its_placeholder_is_kept_but_cannot_be_published(
    admin: FlaskClient,  # noqa: F811
) -> None:
    from tests.said import said

    assert "{plan_name}" in said("main.plan.selected")
    response = save_texts(admin, {"main.plan.selected": "You chose a plan."})
    assert response.status_code == 302
    page = prompt_page(admin)
    assert 'id="problems"' in page and "plan_name" in page
    refused = admin.post(
        "/console/admin/prompts/en-US/publish",
        data={"csrf_token": csrf_of(page), "comment": "lose it"},
    )
    assert refused.status_code == 422


def test_a_changed_text_is_published_diffed_and_rolled_back(
    admin: FlaskClient,  # noqa: F811
    caller: Any,
    session: Any,
) -> None:
    from tests.said import said

    assert save_texts(admin, {"main.greeting": "Hello from the new words."}).status_code == 302
    page = prompt_page(admin)
    done = admin.post(
        "/console/admin/prompts/en-US/publish",
        data={"csrf_token": csrf_of(page), "comment": HOSTILE},
    )
    assert done.status_code == 302
    page = prompt_page(admin)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    versions = re.findall(r'<tr data-version="(\d+)">', page)
    diff = admin.get(f"/console/admin/prompts/en-US/diff?a={versions[1]}&b={versions[0]}")
    assert "Hello from the new words." in diff.get_data(as_text=True)
    rolled = admin.post(
        "/console/admin/prompts/en-US/rollback",
        data={"csrf_token": csrf_of(page), "version": versions[1]},
    )
    assert rolled.status_code == 302
    assert len(re.findall(r'<tr data-version="(\d+)">', prompt_page(admin))) == len(versions) + 1
    actions = set(session.scalars(sa.select(AuditEntry.target_type)))
    assert "prompts" in actions
    assert said("main.greeting") in caller.dial().heard[0]


def test_the_languages_page_reports_texts_missing_or_left_untranslated(
    admin: FlaskClient,  # noqa: F811
    app: Any,
) -> None:
    from ivr.db import get_session
    from ivr.services import flow_admin

    with app.test_request_context():
        db = get_session()
        english = flow_admin.get_prompts(db, "en-US").texts["main.greeting"]
        base = flow_admin.get_prompts(db, "es-US").published_version
        flow_admin.save_prompt_draft(
            db, "es-US", {"main.greeting": english, "main.plan.list": None}, base, "ada"
        )
        db.commit()
    page = admin.get("/console/admin/prompts").get_data(as_text=True)
    report = page.split('<section id="coverage-es-US"', 1)[1].split("</section>", 1)[0]
    missing = report.split('<ul class="missing">', 1)[1].split("</ul>", 1)[0]
    same = report.split('<ul class="untranslated">', 1)[1].split("</ul>", 1)[0]
    assert "<code>main.plan.list</code>" in missing and "main.greeting" not in missing
    assert "<code>main.greeting</code>" in same and "main.plan.list" not in same
    assert "coverage-en-US" not in page  # the reference is not compared with itself


def test_listen_says_a_text_when_the_server_has_espeak_and_is_hidden_when_not(
    admin: FlaskClient,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make test installs it as root)")
    page = prompt_page(admin, "main.greeting")
    assert 'aria-label="Listen to main.greeting"' in page
    for lang in ("en-US", "es-US"):
        spoken = admin.get(f"/console/admin/prompts/{lang}/listen?key=main.greeting")
        assert spoken.status_code == 200 and spoken.mimetype == "audio/wav"
        assert spoken.data[:4] == b"RIFF" and len(spoken.data) > 10_000
    assert admin.get("/console/admin/prompts/en-US/listen?key=no.such").status_code == 404
    monkeypatch.setattr("ivr.console.prompt_pages.shutil.which", lambda name: None)
    assert "Listen to" not in prompt_page(admin, "main.greeting")
    assert admin.get("/console/admin/prompts/en-US/listen?key=main.greeting").status_code == 404


def test_a_second_save_from_an_editor_opened_before_the_first_is_refused_and_kept(
    admin: FlaskClient,  # noqa: F811
) -> None:
    """Two admins (or two tabs) open the same flow; the first saves; the second's save, made
    on what it saw before, is refused (409) with its text on the page, and the first draft
    stands. Reopened, the editor shows the first draft and a save goes through."""
    first_page, second_page = editor(admin), editor(admin)
    mine = MAIN + "\n# first admin\n"
    assert save(admin, mine, page=first_page).status_code == 302
    refused = save(admin, MAIN + "\n# second admin\n", page=second_page)
    assert refused.status_code == 409
    body = html.unescape(refused.get_data(as_text=True))
    assert "since you opened it" in body and "# second admin" in body
    reopened = editor(admin)
    assert "# first admin" in html.unescape(reopened)
    again = save(admin, mine + "# second admin, on top\n", page=reopened)
    assert again.status_code == 302
