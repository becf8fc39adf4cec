"""Settings: read once into one typed object, documented from the same table, failing loudly."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from ivr import create_app
from ivr.config import (
    ROOT,
    ConfigError,
    Settings,
    get_settings,
    load,
    markdown_table,
    names,
    with_table,
)

from .conftest import base_config


def test_the_readme_settings_table_is_the_one_in_code() -> None:
    readme = (ROOT / "README.md").read_text()
    assert with_table(readme) == readme, (
        "README.md's settings table differs from ivr.config.Settings; expected:\n"
        + markdown_table()
    )


def test_every_setting_the_code_reads_is_in_the_table() -> None:
    read = re.compile(r"""(?:config|environ)(?:\[|\.get\()\s*["']([A-Z][A-Z0-9_]+)["']""")
    flask_keys = {"TESTING"}
    found = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "ivr").rglob("*.py")
        if path.name != "config.py"
        for name in read.findall(path.read_text())
        if name not in names() and name not in flask_keys
    }
    assert not found


def test_defaults_then_environment_then_the_test_dict(tmp_path: Path) -> None:
    environ = {"IVR_GATHER_TIMEOUT": "9", "IVR_FALLBACK_QUEUE": "orders", "IVR_CATALOG_TTL": ""}
    settings = load(tmp_path, {"IVR_FALLBACK_QUEUE": "clinical"}, environ=environ)
    assert settings.gather_timeout == 9
    assert settings.fallback_queue == "clinical"
    assert settings.catalog_ttl == 30  # an empty variable leaves a number at its default
    assert settings.database_url == f"sqlite:///{tmp_path / 'ivr.db'}"
    assert settings.flows_dir == ROOT / "flows"


def test_urls_are_normalized(tmp_path: Path) -> None:
    environ = {"DATABASE_URL": "postgresql://u@h/db", "PUBLIC_BASE_URL": "https://ivr.example/"}
    settings = load(tmp_path, environ=environ)
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.public_base_url == "https://ivr.example"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IVR_GATHER_TIMEOUT", "six"),
        ("IVR_DB_POOL_SIZE", "0"),
        ("IVR_EXTENSION_WINDOW_DAYS", "1.5"),
        ("IVR_PRELOAD_INDEX", "maybe"),
        ("IVR_ENV", "prod"),
        ("IVR_ENV", "Production"),
        ("IVR_ENV", "PRODUCTION"),
        ("IVR_ENV", " production"),
        ("IVR_ENV", "dev"),
        ("IVR_BACKUP_NUMBER", "18005550123"),
        ("IVR_BACKUP_NUMBER", "+1555555555"),
        ("IVR_BACKUP_NUMBER", "+1 800 555 0123"),
        ("IVR_MAX_REQUEST_BYTES", "10"),
        ("IVR_DB_STATEMENT_TIMEOUT", "0"),
        ("IVR_DB_LOCK_TIMEOUT", "0"),
        ("IVR_TIMEZONE", "Mars/Olympus_Mons"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=name):
        load(tmp_path, environ={name: value})


def test_a_bad_value_in_the_environment_stops_create_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("IVR_CATALOG_TTL", "half a minute")
    with pytest.raises(ConfigError, match="IVR_CATALOG_TTL must be an integer"):
        create_app(base_config(f"sqlite:///{tmp_path}/ivr.db"))


@pytest.mark.parametrize(("raw", "on"), [("1", True), ("yes", True), ("0", False), ("", False)])
def test_switches(tmp_path: Path, raw: str, on: bool) -> None:
    assert load(tmp_path, environ={"IVR_PRELOAD_INDEX": raw}).preload_index is on


def test_the_app_holds_one_frozen_settings_object_and_the_config_keys(tmp_path: Path) -> None:
    app = create_app(base_config(f"sqlite:///{tmp_path}/ivr.db", IVR_GATHER_TIMEOUT="8"))
    settings = get_settings(app)
    assert isinstance(settings, Settings)
    assert settings.gather_timeout == 8
    assert app.config["IVR_GATHER_TIMEOUT"] == 8
    assert app.config["TWILIO_AUTH_TOKEN"] == settings.twilio_auth_token
    assert app.config["IVR_FLOWS_DIR"] == str(settings.flows_dir)
    assert app.config["TESTING"] is True
    with app.app_context():
        assert get_settings() is settings
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.gather_timeout = 1  # type: ignore[misc]
    app.extensions["ivr.store"].engine.dispose()


PRODUCTION = {
    "IVR_ENV": "production",
    "TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
    "SECRET_KEY": "k" * 32,
    "PUBLIC_BASE_URL": "https://ivr.example.org",
    "IVR_BACKUP_NUMBER": "+18005550123",
}


def test_production_starts_with_everything_it_needs(tmp_path: Path) -> None:
    settings = load(tmp_path, environ=PRODUCTION)
    assert settings.env == "production"
    assert settings.public_base_url == "https://ivr.example.org"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TWILIO_AUTH_TOKEN", ""),
        ("TWILIO_AUTH_TOKEN", "x"),
        ("TWILIO_AUTH_TOKEN", "0123456789abcdef0123456789abcdeg"),
        ("SECRET_KEY", ""),
        ("SECRET_KEY", "x"),
        ("SECRET_KEY", "k" * 31),
        ("SECRET_KEY", "dev-only-not-secret"),
        ("PUBLIC_BASE_URL", ""),
        ("PUBLIC_BASE_URL", "http://ivr.example.org"),
        ("PUBLIC_BASE_URL", "https://"),
        ("IVR_BACKUP_NUMBER", ""),
    ],
)
def test_production_refuses_a_missing_or_toy_value_naming_it(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=name) as raised:
        load(tmp_path, environ={**PRODUCTION, name: value})
    if len(value) > 8 and name in ("TWILIO_AUTH_TOKEN", "SECRET_KEY"):
        assert value not in str(raised.value).replace(name, "")  # a secret is never quoted


@pytest.mark.parametrize("env", ["development", "test", "production", ""])
def test_the_environments(tmp_path: Path, env: str) -> None:
    assert load(tmp_path, environ={**PRODUCTION, "IVR_ENV": env}).env == env
