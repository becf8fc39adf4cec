"""Settings in one place: one typed, frozen object, read once when the app is built.

`Settings` is the one table of what the app reads: each field names its variable, its type,
its default and what it means. Values come from the defaults, then the environment, then the
test dict given to `create_app`; a value of the wrong type, or a missing secret in production,
stops start-up with a message naming the variable. The README's settings table is generated
from it (`write_table`), and a test keeps the two in agreement.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:  # Flask only when an app asks: ivr.config is read by Flask-free code too.
    from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-not-secret"
DEVELOPMENT, TEST, PRODUCTION = "development", "test", "production"
ENVIRONMENTS = (DEVELOPMENT, TEST, PRODUCTION)
MIN_SECRET_KEY = 32  # characters; production refuses a shorter SECRET_KEY
_TWILIO_TOKEN = re.compile(r"[0-9a-f]{32}")
EXTENSION = "ivr.settings"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


class ConfigError(RuntimeError):
    """Raised when the configuration cannot run the app."""


def _var(name: str, default: Any, meaning: str, *, shown: str = "", minimum: int = 0) -> Any:
    """One row of the table: the variable, its default, and what it means to an operator."""
    return dataclasses.field(
        default=default,
        metadata={"env": name, "meaning": meaning, "shown": shown, "minimum": minimum},
    )


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting the app reads, one field each (variable, type, default, meaning)."""

    database_url: str = _var(
        "DATABASE_URL",
        "",
        "`sqlite:///path` or `postgresql://user@host/db` (psycopg 3)",
        shown="`sqlite:///instance/ivr.db`",
    )
    twilio_auth_token: str = _var(
        "TWILIO_AUTH_TOKEN",
        "",
        "checks `X-Twilio-Signature` on every `/voice/*` request; while empty, webhooks are"
        " refused (403) unless `IVR_ENV=development`",
    )
    public_base_url: str = _var(
        "PUBLIC_BASE_URL",
        "",
        "the URL Twilio uses to reach you, e.g. `https://ivr.example.org`; signatures are"
        " checked against it and action URLs are built on it",
    )
    env: str = _var(
        "IVR_ENV",
        "",
        "`development`, `test` or `production`, exactly. `development` answers unsigned"
        " webhooks while no token is set (`make run` sets it); `test` and unset change"
        " nothing; `production` refuses to start without a 32-hex `TWILIO_AUTH_TOKEN`, a"
        f" `SECRET_KEY` of {MIN_SECRET_KEY}+ characters, an https `PUBLIC_BASE_URL` and an"
        " E.164 `IVR_BACKUP_NUMBER`",
        shown="unset",
    )
    secret_key: str = _var(
        "SECRET_KEY", DEV_SECRET, "signs sessions of the web pages", shown="a development value"
    )
    twilio_account_sid: str = _var(
        "TWILIO_ACCOUNT_SID",
        "",
        "your Twilio account, for sending SMS; while empty, texts stay in the outbox as `not_sent`",
    )
    twilio_from_number: str = _var(
        "TWILIO_FROM_NUMBER", "", "the number texts are sent from (E.164, SMS-capable)"
    )
    backup_number: str = _var(
        "IVR_BACKUP_NUMBER", "", "E.164 number callers are dialled to when the store is down"
    )
    fallback_queue: str = _var(
        "IVR_FALLBACK_QUEUE", "general", "where a step for a call we have no record of is enqueued"
    )
    default_language: str = _var(
        "IVR_DEFAULT_LANGUAGE", "en-US", "the language a call starts in (`prompts/<language>.yaml`)"
    )
    say_voice: str = _var(
        "IVR_SAY_VOICE", "Polly.Joanna", "the Twilio `<Say>` voice for English prompts"
    )
    timezone: str = _var(
        "IVR_TIMEZONE",
        "America/New_York",
        "the line's clock (an order's days of validity, dates of birth in the future, outage"
        " ends); an IANA zone name",
    )
    gather_timeout: int = _var(
        "IVR_GATHER_TIMEOUT",
        6,
        "seconds of silence before a question counts as no input",
        minimum=1,
    )
    extension_window_days: int = _var(
        "IVR_EXTENSION_WINDOW_DAYS",
        14,
        "an order can be extended in its last this many days (its last valid day counted)",
    )
    hours_override: str = _var(
        "IVR_HOURS_OVERRIDE",
        "",
        "`open` or `closed` forces every queue's business hours (demos, tests); empty: each"
        " queue's hours in `data/queues.csv`",
        shown="empty",
    )
    callback_after: int = _var(
        "IVR_CALLBACK_AFTER",
        120,
        "seconds on hold (Twilio's `QueueTime`) before the hold prompts offer a callback",
    )
    hold_music_url: str = _var(
        "IVR_HOLD_MUSIC_URL",
        "",
        "audio played on hold between announcements (`<Play>`); empty: a pause",
    )
    hold_pause: int = _var(
        "IVR_HOLD_PAUSE",
        20,
        "seconds of pause between hold announcements when no music is set (at most 30)",
        minimum=1,
    )
    voicemail_seconds: int = _var(
        "IVR_VOICEMAIL_SECONDS",
        120,
        "the longest message a caller can leave after hours",
        minimum=5,
    )
    secure_cookies: bool = _var(
        "IVR_SECURE_COOKIES",
        True,
        "the console's session cookie is sent over HTTPS only (`Secure`); off in"
        " `IVR_ENV=development` and in tests, which serve plain HTTP on 127.0.0.1",
        shown="on",
    )
    sign_in_failures: int = _var(
        "IVR_SIGN_IN_FAILURES",
        5,
        "failed console sign-ins for one user name in 15 minutes before more are refused (429)",
        minimum=1,
    )
    sign_in_address_failures: int = _var(
        "IVR_SIGN_IN_ADDRESS_FAILURES",
        20,
        "failed console sign-ins from one client address in 15 minutes before more are"
        " refused (429)",
        minimum=1,
    )
    token_days: int = _var(
        "IVR_TOKEN_DAYS",
        90,
        "days an API token made by `ivr create-user` or `ivr tokens create` lasts; 0: no expiry",
        minimum=0,
    )
    api_rate_limit: int = _var(
        "IVR_API_RATE_LIMIT",
        600,
        "API requests one token may make in a minute (every worker and host together)"
        " before more are answered 429 with `Retry-After`",
        minimum=1,
    )
    api_auth_failures: int = _var(
        "IVR_API_AUTH_FAILURES",
        20,
        "API requests with a missing or bad token from one client address in 15 minutes"
        " before more are answered 429 without looking at the token",
        minimum=1,
    )
    session_hours: int = _var(
        "IVR_SESSION_HOURS", 12, "hours a console sign-in lasts (one shift)", minimum=1
    )
    catalog_ttl: int = _var(
        "IVR_CATALOG_TTL", 30, "seconds a process keeps the catalogs it read from the store"
    )
    flow_refresh: int = _var(
        "IVR_FLOW_REFRESH",
        5,
        "at most this many seconds between a process's looks at which version is newest: a"
        " publish reaches every worker within it",
    )
    db_pool_size: int = _var(
        "IVR_DB_POOL_SIZE",
        5,
        "database connections per process (as many again on overflow)",
        minimum=1,
    )
    max_request_bytes: int = _var(
        "IVR_MAX_REQUEST_BYTES",
        1024 * 1024,
        "the largest request body taken (Flask's `MAX_CONTENT_LENGTH`); a larger one is a 413",
        shown="`1048576` (1 MiB)",
        minimum=1024,
    )
    db_statement_timeout: int = _var(
        "IVR_DB_STATEMENT_TIMEOUT",
        8,
        "seconds a PostgreSQL statement may run before it is cancelled (the webhook then"
        " answers the apology, inside Twilio's 15 s)",
        minimum=1,
    )
    db_lock_timeout: int = _var(
        "IVR_DB_LOCK_TIMEOUT",
        5,
        "seconds a request waits for a lock (PostgreSQL `lock_timeout`; SQLite: the writers'"
        " queue and its busy timeout together)",
        minimum=1,
    )
    db_pgbouncer: bool = _var(
        "IVR_DB_PGBOUNCER",
        False,
        "`DATABASE_URL` is a PgBouncer in transaction pooling: no prepared statements, and"
        " the two timeouts above are not sent at connect (set them on the role:"
        " `docs/deploy.md`)",
        shown="off",
    )
    metrics_token: str = _var(
        "IVR_METRICS_TOKEN",
        "",
        "who may read `GET /metrics`: a scraper sending `Authorization: Bearer <token>`;"
        " while empty, only requests made on this host (loopback, not through a proxy)",
    )
    log_format: str = _var(
        "IVR_LOG_FORMAT",
        "text",
        "`text`, or `json`: one JSON object a line (`time`, `level`, `logger`, `message`;"
        " an exception's type and frames, never its text)",
    )
    trusted_proxies: int = _var(
        "IVR_TRUSTED_PROXIES",
        0,
        "proxies in front of the app (nginx, a load balancer) whose `X-Forwarded-For`,"
        " `-Proto`, `-Host` and `-Port` are believed (Werkzeug's ProxyFix); 0 believes none",
    )
    preload_index: bool = _var(
        "IVR_PRELOAD_INDEX",
        False,
        "build the ICD-10-CM index before gunicorn forks",
        shown="off (`make run` sets `1`)",
    )
    flows_dir: Path = _var(
        "IVR_FLOWS_DIR", ROOT / "flows", "the flow files published by `ivr seed`", shown="`flows/`"
    )
    prompts_dir: Path = _var(
        "IVR_PROMPTS_DIR",
        ROOT / "prompts",
        "what the line says, per language",
        shown="`prompts/`",
    )
    data_dir: Path = _var(
        "IVR_DATA_DIR",
        ROOT / "data",
        "the catalogs and criteria loaded by `ivr seed`",
        shown="`data/`",
    )

    def as_config(self) -> dict[str, Any]:
        """The settings under their variable names, as `app.config` has always held them."""
        return {
            f.metadata["env"]: str(value) if isinstance(value, Path) else value
            for f, value in ((f, getattr(self, f.name)) for f in dataclasses.fields(self))
        }


def names() -> list[str]:
    """Every variable the settings read, in table order."""
    return [f.metadata["env"] for f in dataclasses.fields(Settings)]


def _parse(name: str, kind: type, raw: object, minimum: int) -> Any:
    if kind is bool:
        text = str(raw).strip().lower()
        if isinstance(raw, bool) or text in _TRUE + _FALSE:
            return raw if isinstance(raw, bool) else text in _TRUE
        raise ConfigError(f"{name} must be 1 or 0 (true/false, yes/no), got {raw!r}")
    if kind is int:
        try:
            number = raw if isinstance(raw, int) and not isinstance(raw, bool) else int(str(raw))
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
        if number < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {number}")
        return number
    if kind is Path:
        return Path(str(raw))
    return str(raw)


def normalize_database_url(url: str) -> str:
    """Use psycopg (v3) for plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load(
    instance_path: str | Path,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Settings:
    """Defaults, then `environ`, then `overrides` (keyed by variable name), checked.

    An empty environment variable leaves a number or a switch at its default.
    """
    overrides = overrides or {}
    kinds = get_type_hints(Settings)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        name, kind = f.metadata["env"], kinds[f.name]
        if name in overrides:
            raw = overrides[name]
        elif name in environ and (kind is str or environ[name].strip()):
            raw = environ[name]
        else:
            continue
        values[f.name] = _parse(name, kind, raw, f.metadata["minimum"])
    settings = Settings(**values)
    url = settings.database_url or f"sqlite:///{Path(instance_path) / 'ivr.db'}"
    settings = dataclasses.replace(
        settings,
        database_url=normalize_database_url(url),
        public_base_url=settings.public_base_url.rstrip("/"),
    )
    check(settings)
    return settings


def check(settings: Settings) -> None:
    """Refuse to run with a value that cannot work, or a production app without its secrets."""
    if settings.env not in ("", *ENVIRONMENTS):
        raise ConfigError(
            "IVR_ENV must be one of "
            + ", ".join(ENVIRONMENTS)
            + f" (or unset), got {settings.env!r}"
        )
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"IVR_TIMEZONE must be an IANA zone name, got {settings.timezone!r}"
        ) from None
    if settings.hours_override not in ("", "open", "closed"):
        raise ConfigError(
            f"IVR_HOURS_OVERRIDE must be open or closed (or unset), got {settings.hours_override!r}"
        )
    if settings.log_format not in ("text", "json"):
        raise ConfigError(f"IVR_LOG_FORMAT must be text or json, got {settings.log_format!r}")
    if settings.hold_pause > 30:
        raise ConfigError(f"IVR_HOLD_PAUSE must be at most 30, got {settings.hold_pause}")
    if settings.backup_number and not _e164(settings.backup_number):
        raise ConfigError(
            "IVR_BACKUP_NUMBER must be an E.164 number (+ and digits),"
            f" got {settings.backup_number!r}"
        )
    if settings.env == PRODUCTION:
        problems = [problem for problem in _production_problems(settings) if problem]
        if problems:
            raise ConfigError("IVR_ENV=production needs " + "; ".join(problems))


def _production_problems(settings: Settings) -> list[str]:
    """What a production line lacks, each naming its variable (secrets never quoted)."""
    token, key, base = settings.twilio_auth_token, settings.secret_key, settings.public_base_url
    return [
        ""
        if _TWILIO_TOKEN.fullmatch(token)
        else "TWILIO_AUTH_TOKEN set to your account's auth token (32 hexadecimal characters)",
        ""
        if len(key) >= MIN_SECRET_KEY and key != DEV_SECRET
        else f"SECRET_KEY set to a random value of at least {MIN_SECRET_KEY} characters",
        ""
        if base.startswith("https://") and len(base) > len("https://")
        else "PUBLIC_BASE_URL set to the https URL Twilio reaches the line at",
        ""
        if settings.backup_number
        else "IVR_BACKUP_NUMBER set to the E.164 number callers are sent to when the store is down",
    ]


def _e164(number: str) -> bool:
    import phonenumbers

    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", number):
        return False
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(parsed))


def get_settings(app: Flask | None = None) -> Settings:
    """The settings `create_app` read for `app` (the current app by default)."""
    if app is None:
        from flask import current_app

        app = current_app
    settings: Settings = app.extensions[EXTENSION]
    return settings


def markdown_table() -> str:
    """The README's settings table, row by row from `Settings`."""
    rows = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    kinds = get_type_hints(Settings)
    for f in dataclasses.fields(Settings):
        kind = {bool: "switch", int: "integer", Path: "path"}.get(kinds[f.name], "text")
        default = f.metadata["shown"] or (f"`{f.default}`" if f.default != "" else "empty")
        rows.append(f"| `{f.metadata['env']}` | {kind} | {default} | {f.metadata['meaning']} |")
    return "\n".join(rows) + "\n"


REWRITE = "python -c 'import ivr.config as c; c.write_table(\"README.md\")'"
BEGIN = f"<!-- settings: generated from ivr.config.Settings by {REWRITE} -->\n"
END = "<!-- settings: end -->"


def with_table(readme: str) -> str:
    """`readme` with the text between the settings markers replaced by `markdown_table()`."""
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + BEGIN + markdown_table() + END + tail


def write_table(path: str | Path) -> None:
    """Rewrite the settings table of the README at `path`."""
    readme = Path(path)
    readme.write_text(with_table(readme.read_text()))
