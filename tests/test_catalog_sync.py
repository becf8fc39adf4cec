"""`ivr seed` makes the catalogs those of data/: a row removed from the CSV is retired (never
offered again, still there for the orders that name it), and plan keys are one key, 1-9."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from ivr.config import ROOT
from ivr.simulate import Caller, FlaskTransport
from ivr.store.models import ExamType, Plan
from tests.conftest import AUTH_TOKEN

CEDAR = "Cedar Valley Health Partners"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A copy of data/ this test may edit, as an admin edits the server's files."""
    return Path(shutil.copytree(ROOT / "data", tmp_path / "data"))


@pytest.fixture
def edited(make_app: Callable[..., Flask], data_dir: Path) -> Iterator[Flask]:
    """An app on the edited data/; the catalogs are put back as seeded afterwards (the
    PostgreSQL database is shared by the tests of a session)."""
    app = make_app(IVR_DATA_DIR=str(data_dir))
    yield app
    restore = make_app()
    with restore.extensions["ivr.store"].sessionmaker() as s:
        s.execute(sa.delete(Plan).where(Plan.code == "NEWPLAN"))
        s.commit()
    assert restore.test_cli_runner().invoke(args=["seed"]).exit_code == 0


def drop_lines(path: Path, starting: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(x for x in lines if not x.startswith(starting)), encoding="utf-8")


def plan_list(app: Flask) -> str:
    call = Caller(FlaskTransport(app.test_client()), auth_token=AUTH_TOKEN).dial()
    return call.press("*").text


def test_a_plan_removed_from_the_csv_is_retired_not_offered_and_kept(
    edited: Flask, data_dir: Path, session: Any
) -> None:
    assert CEDAR in plan_list(edited)
    drop_lines(data_dir / "plans.csv", "CEDAR,")
    drop_lines(data_dir / "exam_types.csv", "C8930,")
    result = edited.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert "plans: 0 added or changed" in result.output
    assert "retired plan CEDAR" in result.output and "retired exam type C8930" in result.output
    assert CEDAR not in plan_list(edited)
    session.rollback()
    cedar = session.get(Plan, "CEDAR")
    assert cedar is not None and cedar.active is False  # orders that name it still find it
    exam = session.get(ExamType, "C8930")
    assert exam is not None and exam.active is False

    shutil.copyfile(ROOT / "data" / "plans.csv", data_dir / "plans.csv")  # put back
    assert edited.test_cli_runner().invoke(args=["seed"]).exit_code == 0
    session.rollback()
    assert session.get(Plan, "CEDAR").active is True  # type: ignore[union-attr]
    assert CEDAR in plan_list(edited)


def test_a_plan_key_that_is_not_one_key_is_refused_clearly(
    edited: Flask, data_dir: Path, session: Any
) -> None:
    plans = data_dir / "plans.csv"
    plans.write_text(
        plans.read_text(encoding="utf-8") + "NEWPLAN,New Plan,10,new plan\n", encoding="utf-8"
    )
    result = edited.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code != 0
    assert "plans.csv:9: dtmf_key '10' must be one key from 1 to 9 (plan NEWPLAN)" in result.output
    session.rollback()
    assert session.get(Plan, "NEWPLAN") is None  # nothing was loaded


def test_a_plan_without_members_or_facilities_is_warned_of(
    edited: Flask, data_dir: Path, session: Any
) -> None:
    plans = data_dir / "plans.csv"
    plans.write_text(
        plans.read_text(encoding="utf-8") + "NEWPLAN,New Plan,8,new plan\n", encoding="utf-8"
    )
    result = edited.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert "warning: plan NEWPLAN has no members in members.csv" in result.output
    assert "warning: plan NEWPLAN has no imaging facilities in providers.csv" in result.output
    assert "warning: plan CEDAR" not in result.output
