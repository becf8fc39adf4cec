"""Configuration in one place: defaults, then the environment, then a test dict.

A missing secret in production stops start-up with a message naming it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """Raised when the configuration cannot run the app."""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def defaults(instance_path: str) -> dict[str, Any]:
    """The settings a fresh checkout runs with."""
    return {
        "IVR_ENV": "development",
        "SECRET_KEY": "dev-only-not-secret",
        "DATABASE_URL": f"sqlite:///{Path(instance_path) / 'ivr.db'}",
        "TWILIO_AUTH_TOKEN": "",
        "TWILIO_ACCOUNT_SID": "",
        "TWILIO_FROM_NUMBER": "",
        "PUBLIC_BASE_URL": "",
        "IVR_BACKUP_NUMBER": "",
        "IVR_FLOWS_DIR": str(ROOT / "flows"),
        "IVR_PROMPTS_DIR": str(ROOT / "prompts"),
        "IVR_DATA_DIR": str(ROOT / "data"),
        "IVR_DEFAULT_LANGUAGE": "en-US",
        "IVR_SAY_VOICE": "Polly.Joanna",
        "IVR_TIMEZONE": "America/New_York",
        "IVR_GATHER_TIMEOUT": 6,
        "IVR_CATALOG_TTL": 30,
        # Seconds between a process's looks at which flow version is newest.
        "IVR_FLOW_REFRESH": 5,
        "IVR_DB_POOL_SIZE": 5,
        "IVR_EXTENSION_WINDOW_DAYS": 14,
        "IVR_PRELOAD_INDEX": False,
        "IVR_FALLBACK_QUEUE": "general",
    }


_STRINGS = (
    "IVR_ENV",
    "SECRET_KEY",
    "DATABASE_URL",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_FROM_NUMBER",
    "PUBLIC_BASE_URL",
    "IVR_BACKUP_NUMBER",
    "IVR_FLOWS_DIR",
    "IVR_PROMPTS_DIR",
    "IVR_DATA_DIR",
    "IVR_DEFAULT_LANGUAGE",
    "IVR_SAY_VOICE",
    "IVR_TIMEZONE",
    "IVR_FALLBACK_QUEUE",
)
_INTS = (
    "IVR_GATHER_TIMEOUT",
    "IVR_CATALOG_TTL",
    "IVR_FLOW_REFRESH",
    "IVR_DB_POOL_SIZE",
    "IVR_EXTENSION_WINDOW_DAYS",
)


def from_environ(base: dict[str, Any]) -> dict[str, Any]:
    """Overlay environment variables on `base`, converting types."""
    out = dict(base)
    for name in _STRINGS:
        if name in os.environ:
            out[name] = os.environ[name]
    for name in _INTS:
        out[name] = _int(name, int(out[name]))
    if "IVR_PRELOAD_INDEX" in os.environ:
        out["IVR_PRELOAD_INDEX"] = os.environ["IVR_PRELOAD_INDEX"].lower() in ("1", "true", "yes")
    return out


def normalize_database_url(url: str) -> str:
    """Use psycopg (v3) for plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def check(config: dict[str, Any]) -> None:
    """Refuse to run a production app without its secrets."""
    config["DATABASE_URL"] = normalize_database_url(config["DATABASE_URL"])
    config["PUBLIC_BASE_URL"] = config["PUBLIC_BASE_URL"].rstrip("/")
    if config["IVR_ENV"] == "production":
        missing = [
            name
            for name in ("TWILIO_AUTH_TOKEN", "SECRET_KEY")
            if not config.get(name) or config[name] == "dev-only-not-secret"
        ]
        if missing:
            raise ConfigError(
                "IVR_ENV=production needs " + ", ".join(missing) + " set in the environment"
            )
