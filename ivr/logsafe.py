"""Log lines nobody can forge: every value a line includes has its control characters escaped.

A CallSid, a path or a header comes from whoever sent the request; a newline in one, logged
as is, starts a line of the sender's choosing (`%0A` in a URL decodes to one). Values are
escaped the way Python writes them (`\\n`, `\\x1b`, `\\u2028`), so the line stays one line and
still shows what was sent. The message's own text (the format string) is the code's and
kept; a value the code vouches for (a traceback's frames) is marked `Trusted`.

- The app's loggers (`ivr` and below): `install()`, called by `create_app`, escapes the
  arguments of their records as each record is made, whatever handler writes it.
- gunicorn's access log: `--logger-class ivr.accesslog.GunicornLogger` (the Makefile's
  `run`) escapes every atom of the access log format.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import traceback
from collections.abc import Mapping
from typing import Any

# C0 and C1 controls, the line and paragraph separators, lone surrogates.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_INSTALLED = "_ivr_logsafe"


class Trusted(str):
    """A value the code wrote itself (a traceback's frames): logged as is."""


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}.get(
        code, f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
    )


def escape(value: str) -> str:
    """`value` with each control character written as its escape (`\\n`, `\\x00`)."""
    return _UNSAFE.sub(_escape_char, value)


def _safe(value: Any) -> Any:
    if isinstance(value, Trusted) or isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, str):
        return escape(value)
    shown = str(value)  # an exception, a path...: kept as is (for %r, %d) unless it is unsafe
    return escape(shown) if _UNSAFE.search(shown) else value


def safe_args(args: Any) -> Any:
    """A record's arguments, each value escaped (a tuple, or a mapping for `%(name)s`)."""
    if isinstance(args, Mapping):
        return {key: _safe(value) for key, value in args.items()}
    if isinstance(args, tuple):
        return tuple(_safe(value) for value in args)
    return args


class _NoRows(logging.Filter):
    """SQLAlchemy's engine logger at DEBUG writes every row it fetches, and rows hold member
    ids and dates of birth: those records are dropped (its statements and timings stay; the
    engines hide their parameters)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Row "))


def install(prefix: str = "ivr") -> None:
    """Escape the arguments of every record of the `prefix` loggers (once per process), and
    keep SQLAlchemy's rows out of the log whatever its level."""
    engine_log = logging.getLogger("sqlalchemy.engine.Engine")
    if not any(isinstance(f, _NoRows) for f in engine_log.filters):
        engine_log.addFilter(_NoRows())
    make = logging.getLogRecordFactory()
    if getattr(make, _INSTALLED, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if record.name == prefix or record.name.startswith(prefix + "."):
            record.args = safe_args(record.args)
        return record

    setattr(factory, _INSTALLED, True)
    logging.setLogRecordFactory(factory)


class JsonFormatter(logging.Formatter):
    """One JSON object a line (`IVR_LOG_FORMAT=json`): time, level, logger, message.

    The message is the same text the plain format writes (its values already escaped); an
    exception adds its type and our frames, never its text, which can quote patient data.
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            out["exception"] = record.exc_info[0].__name__
            out["frames"] = "".join(traceback.format_tb(record.exc_info[2]))
        return json.dumps(out, ensure_ascii=True)


def configure(log_format: str) -> None:
    """The root logger's format, once per process: plain lines, or JSON (`JsonFormatter`)."""
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler])
    else:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
