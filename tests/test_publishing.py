"""Publishing: flows, prompts and criteria as one immutable version that calls keep."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from flask import Flask

from ivr.config import ROOT
from ivr.publishing import bundle_checksum, read_files, verify
from ivr.simulate import Caller, FlaskTransport
from ivr.store.models import Call, FlowVersion
from ivr.versions import FlowLibrary
from tests.conftest import AUTH_TOKEN
from tests.said import said

MENU = said("main.menu.prompt")
OLD_MENU = MENU[: MENU.index(".") + 1]  # its first sentence, on option 1
NEW_MENU = "Press 1 for a new order."
GREETING = "Imaging prior authorization."


@pytest.fixture
def prompts_dir(tmp_path: Path) -> Path:
    """A copy of prompts/ this test may edit, as an admin edits the server's files."""
    return Path(shutil.copytree(ROOT / "prompts", tmp_path / "prompts"))


def edit_prompts(
    prompts_dir: Path, language: str, change: Callable[[dict[str, Any]], None]
) -> None:
    path = prompts_dir / f"{language}.yaml"
    table = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(table)
    path.write_text(yaml.safe_dump(table, allow_unicode=True), encoding="utf-8")


def new_menu_words(table: dict[str, Any]) -> None:
    table["main"]["menu"]["prompt"] = table["main"]["menu"]["prompt"].replace(OLD_MENU, NEW_MENU)


def caller_of(app: Flask) -> Caller:
    return Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN)


def publish(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["publish-flows", *args])


def look_again(app: Flask) -> None:
    """Let the refresh interval pass for this process, without waiting for it."""
    library: FlowLibrary = app.extensions["ivr.flows"]
    library.clock = lambda: time.monotonic() + library.refresh


def versions(app: Flask) -> list[FlowVersion]:
    with app.extensions["ivr.store"].read_sessionmaker() as s:
        return list(s.scalars(sa.select(FlowVersion).order_by(FlowVersion.id)))


def test_a_call_hears_the_version_it_started_on_to_its_end(
    make_app: Callable[..., Flask], prompts_dir: Path
) -> None:
    app = make_app(IVR_PROMPTS_DIR=str(prompts_dir))
    before = caller_of(app).dial()
    assert GREETING in before.heard[0]
    edit_prompts(prompts_dir, "en-US", new_menu_words)
    result = publish(app)
    assert result.exit_code == 0 and "published version" in result.output, result.output
    look_again(app)

    assert OLD_MENU in before.press("1").text  # started before the publish: the old words
    after = caller_of(app).dial()
    assert NEW_MENU in after.press("1").text
    assert OLD_MENU in before.press("*").text  # and still, a turn later


def test_a_prompts_only_change_reaches_another_process_within_the_refresh_interval(
    make_app: Callable[..., Flask], prompts_dir: Path
) -> None:
    publisher = make_app(IVR_PROMPTS_DIR=str(prompts_dir))
    worker = make_app(IVR_FLOW_REFRESH=5)  # its own prompts/ on disk never change
    assert OLD_MENU in caller_of(worker).dial().press("1").text
    edit_prompts(prompts_dir, "en-US", new_menu_words)
    assert "published version" in publish(publisher).output

    assert OLD_MENU in caller_of(worker).dial().press("1").text  # looked less than 5 s ago
    look_again(worker)
    assert NEW_MENU in caller_of(worker).dial().press("1").text  # no restart


def test_a_missing_prompt_is_refused_and_the_line_keeps_answering(
    make_app: Callable[..., Flask], prompts_dir: Path
) -> None:
    app = make_app(IVR_PROMPTS_DIR=str(prompts_dir))
    published = len(versions(app))
    edit_prompts(prompts_dir, "es-US", lambda t: t["main"]["menu"].pop("prompt"))
    result = publish(app)
    assert result.exit_code != 0
    assert "flows/main.yaml: node 'main.main_menu' field 'prompt'" in result.output
    assert "'main.menu.prompt' missing from prompts/es-US.yaml" in result.output
    assert len(versions(app)) == published
    look_again(app)
    assert GREETING in caller_of(app).dial().heard[0]

    check = app.test_cli_runner().invoke(args=["check-flows"])
    assert check.exit_code == 1
    assert "'main.menu.prompt' missing from prompts/es-US.yaml" in check.output


def test_a_placeholder_nothing_fills_is_refused_naming_flow_node_key_and_language(
    make_app: Callable[..., Flask], prompts_dir: Path
) -> None:
    app = make_app(IVR_PROMPTS_DIR=str(prompts_dir))
    edit_prompts(prompts_dir, "en-US", lambda t: t["main"]["plan"].update(selected="{plan_nam}."))
    for command in (["publish-flows"], ["check-flows"]):
        result = app.test_cli_runner().invoke(args=command)
        assert result.exit_code != 0
        assert (
            "flows/main.yaml: node 'main.plan_selected' field 'prompt': prompt "
            "'main.plan.selected' in prompts/en-US.yaml says {plan_nam}, which nothing before "
            "this node fills"
        ) in result.output
    look_again(app)
    assert "Prairie Care Advantage." in caller_of(app).dial().say("prairie care").heard


def test_a_prompt_that_cannot_be_rendered_is_refused(
    make_app: Callable[..., Flask], prompts_dir: Path
) -> None:
    app = make_app(IVR_PROMPTS_DIR=str(prompts_dir))
    edit_prompts(prompts_dir, "es-US", lambda t: t["main"]["plan"].update(selected="{plan_name:x}"))
    result = publish(app)
    assert result.exit_code != 0
    assert "prompt 'main.plan.selected' in es-US cannot be rendered" in result.output


def test_the_checksum_is_the_same_for_the_same_content(
    make_app: Callable[..., Flask], prompts_dir: Path
) -> None:
    app = make_app(IVR_PROMPTS_DIR=str(prompts_dir))
    seeded = versions(app)[-1]
    assert "nothing published" in publish(app).output
    assert "published version" in publish(app, "--force").output
    again = versions(app)[-1]
    assert again.id != seeded.id and again.checksum == seeded.checksum
    assert bundle_checksum(read_files(app.extensions["ivr.flows"])) == seeded.checksum
    edit_prompts(prompts_dir, "es-US", lambda t: t["main"].update(agent="Un momento."))
    assert "published version" in publish(app).output
    assert versions(app)[-1].checksum != seeded.checksum


def test_a_version_holds_flows_prompts_and_criteria_and_never_changes(app: Flask) -> None:
    store = app.extensions["ivr.store"]
    with store.sessionmaker() as s:
        version = s.scalars(sa.select(FlowVersion).order_by(FlowVersion.id.desc())).first()
        assert version is not None
        assert set(version.content) == {"flows", "files", "sources"}  # sources: the YAML text
        assert {"en-US", "es-US"} <= set(version.prompts or {})
        assert (version.criteria or {}).get("rules")
        version.note = "edited in place"
        with pytest.raises(ValueError, match="cannot change"):
            s.flush()


def test_a_call_decides_with_its_versions_criteria(app: Flask, tmp_path: Path) -> None:
    """The criteria actions read the call's version, not data/criteria.yaml."""
    library: FlowLibrary = app.extensions["ivr.flows"]
    with app.extensions["ivr.store"].sessionmaker() as s:
        newest = s.scalars(sa.select(FlowVersion).order_by(FlowVersion.id.desc())).first()
        assert newest is not None
        criteria = dict(newest.criteria or {}, default="pending_review")
        s.add(
            FlowVersion(
                source="admin",
                checksum="c" * 64,
                content=newest.content,
                prompts=newest.prompts,
                criteria=criteria,
            )
        )
        s.commit()
        look_again(app)
        served = library.current(s)
    assert served.criteria.default == "pending_review"
    assert library.criteria.default != "pending_review"  # the file on disk is not what counts


def publish_unloadable(app: Flask) -> int:
    """Store a version no process can load (its main flow starts at a node that does not
    exist) after the newest one; returns the id of that newest, loadable one."""
    with app.extensions["ivr.store"].sessionmaker() as s:
        good = s.scalars(sa.select(FlowVersion).order_by(FlowVersion.id.desc())).first()
        assert good is not None
        flows = dict(good.content["flows"])
        flows["main"] = dict(flows["main"], start="nowhere")
        content = {"flows": flows, "files": good.content["files"]}
        s.add(
            FlowVersion(
                source="admin",
                checksum="b" * 64,
                content=content,
                prompts=good.prompts,
                criteria=good.criteria,
            )
        )
        s.commit()
        return good.id


def version_of(app: Flask, sid: str) -> int:
    with app.extensions["ivr.store"].sessionmaker() as s:
        return s.scalars(sa.select(Call.flow_version_id).where(Call.sid == sid)).one()


def test_a_process_that_cannot_load_the_newest_version_keeps_the_one_it_serves(
    app: Flask,
) -> None:
    call = caller_of(app).dial()
    good = publish_unloadable(app)
    look_again(app)
    fresh = caller_of(app).dial()
    assert GREETING in fresh.heard[0]
    assert version_of(app, fresh.sid) == good
    assert call.press("1").reply.status == 200


def test_a_process_started_after_a_version_it_cannot_load_serves_the_one_before(
    make_app: Callable[..., Flask],
) -> None:
    """A worker started after a bad version landed (or after an upgrade whose code no longer
    compiles the newest version) has served nothing yet: it must not apologise to every
    caller, but start calls on the newest version it can load."""
    good = publish_unloadable(make_app())
    fresh = make_app()  # another worker, starting now
    call = caller_of(fresh).dial()
    assert GREETING in call.heard[0]
    assert version_of(fresh, call.sid) == good
    assert call.press("1").reply.status == 200


def test_the_real_files_pass_the_publish_checks() -> None:
    library = FlowLibrary(ROOT / "flows", ROOT / "prompts", ROOT / "data")
    published = verify(library, read_files(library))
    assert {"en-US", "es-US"} <= set(published.prompts)
