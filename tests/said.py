"""What the line says, read from `prompts/<language>.yaml`, for tests that check a call.

A test that asserts a whole sentence the caller hears should take it from here rather than
copy it: rewording a prompt then changes what the test expects, and the test still fails when
the call says something else (a wrong prompt, a missing value).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ivr.engine.prompts import Prompts

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@cache
def prompts(language: str = "en-US") -> Prompts:
    table = yaml.safe_load((PROMPTS_DIR / f"{language}.yaml").read_text(encoding="utf-8"))
    return Prompts(language, table)


def said(key: str, language: str = "en-US", **values: Any) -> str:
    """The prompt `key` as a caller hears it, its placeholders filled with `values`."""
    if values:
        return prompts(language).render(key, values)
    return prompts(language).text(key)
