"""The `ivr` command: init-db, seed, check-flows, create-user, simulate."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from ivr.store.models import ApiToken, CallEvent, ExamType, Plan
from tests.conftest import bearer


def test_seed_is_idempotent(runner: FlaskCliRunner, session: Any) -> None:
    result = runner.invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert "plans: 0 added or changed" in result.output
    assert "flows: unchanged" in result.output
    assert session.scalar(sa.select(sa.func.count()).select_from(Plan)) == 7


def test_init_db_twice_is_fine(runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["init-db"]).exit_code == 0


def test_create_user_prints_a_working_token_last(
    runner: FlaskCliRunner, client: FlaskClient, session: Any
) -> None:
    result = runner.invoke(args=["create-user", "dana", "--role", "supervisor"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("ivr_") and " " not in token
    stored = session.scalars(sa.select(ApiToken)).one()
    assert stored.token_hash != token and token not in stored.token_hash
    response = client.get("/api/v1/calls/CAnone", headers=bearer(token))
    assert response.status_code == 404


def test_create_user_twice_or_bad_role_fails_clearly(runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["create-user", "eve", "--role", "agent"]).exit_code == 0
    again = runner.invoke(args=["create-user", "eve", "--role", "agent"])
    assert again.exit_code != 0 and "already exists" in again.output
    bad = runner.invoke(args=["create-user", "mallory", "--role", "root"])
    assert bad.exit_code != 0 and "root" in bad.output


def test_simulate_places_a_call(runner: FlaskCliRunner, session: Any) -> None:
    result = runner.invoke(args=["simulate"], input="prairie care\n\n3\n0\n")
    assert result.exit_code == 0, result.output
    assert "IVR: Prairie Care Advantage." in result.output
    assert "IVR: Sorry, I didn't hear anything." in result.output
    assert "[transferred to the helpdesk queue]" in result.output
    outcomes = session.scalars(sa.select(CallEvent.outcome).order_by(CallEvent.turn)).all()
    assert outcomes == ["start", "matched", "no_input", "matched", "operator"]


def test_simulate_in_process_works_on_a_line_without_a_token(
    make_app: Callable[..., Flask], session: Any
) -> None:
    runner = make_app(TWILIO_AUTH_TOKEN="", IVR_ENV="").test_cli_runner()
    result = runner.invoke(args=["simulate"], input="prairie care\n0\n")
    assert result.exit_code == 0, result.output
    assert "IVR: Prairie Care Advantage." in result.output
    assert "[transferred to the" in result.output


def test_python_dash_m_and_console_script_agree(tmp_path: Path) -> None:
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path}/cli.db")
    for argv in (
        [sys.executable, "-m", "ivr", "check-flows"],
        [str(Path(sys.executable).parent / "ivr"), "check-flows"],
    ):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("ok: ")
    broken = subprocess.run(
        [sys.executable, "-m", "ivr", "seed"], capture_output=True, text=True, env=env, timeout=60
    )
    assert broken.returncode != 0
    assert "ivr init-db" in broken.stderr


def test_seed_refuses_an_exam_said_with_parentheses(tmp_path: Any, session: Any) -> None:
    """A description that would read an aside aloud needs a spoken form in the catalog."""
    from ivr.services.catalogs import seed_exams

    path = Path(tmp_path) / "exam_types.csv"
    head = "code,modality,body_region,contrast,description,spoken,aliases\n"
    path.write_text(head + "72148,MRI,lumbar spine,none,MRI of the lower spine (lumbar spine),,\n")
    with pytest.raises(ValueError, match="needs a spoken"):
        seed_exams(session, path)
    path.write_text(
        head + "72148,MRI,lumbar spine,none,MRI of the lower spine (lumbar spine),"
        "MRI of the lower spine,\n"
    )
    assert seed_exams(session, path) == 1
    assert session.get(ExamType, "72148").said == "MRI of the lower spine"
    session.rollback()
