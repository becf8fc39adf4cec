"""gunicorn's logger with every access log atom escaped (`ivr.logsafe`): a `%0A` in a URL,
or a newline in a header, cannot end the line. `make run` passes
`--logger-class ivr.accesslog.GunicornLogger`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gunicorn.glogging import Logger, SafeAtoms  # type: ignore[import-untyped]

from ivr.logsafe import escape


class _EscapedAtoms(SafeAtoms):  # type: ignore[misc]
    def __init__(self, atoms: Mapping[str, Any]) -> None:
        super().__init__({k: escape(v) if isinstance(v, str) else v for k, v in atoms.items()})


class GunicornLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, its access log atoms escaped: no value can end the line."""

    atoms_wrapper_class = _EscapedAtoms
