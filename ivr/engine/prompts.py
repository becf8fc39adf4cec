"""What the line says: prompt texts by key, one table per language."""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping
from typing import Any

# Keys the engine itself speaks or listens for, whatever the flow says.
SYSTEM_PROMPTS = (
    "system.no_input",
    "system.no_match",
    "system.low_confidence",
    "system.catalog_choice",
    "system.catalog_choice_joiner",
)
SYSTEM_WORDS = ("words.operator", "words.repeat")


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested YAML mappings to dotted keys: {"a": {"b": "x"}} -> {"a.b": "x"}."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


class Prompts:
    """One language's prompts; `render` never fails on a missing placeholder."""

    def __init__(self, language: str, table: Mapping[str, Any]) -> None:
        self.language = language
        self.table = flatten(table)

    def __contains__(self, key: object) -> bool:
        return key in self.table

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def text(self, key: str) -> str:
        value = self.table.get(key, "")
        return value if isinstance(value, str) else ""

    def words(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key, ())
        if isinstance(value, str):
            return (value,)
        return tuple(str(v) for v in value)

    def render(self, key: str, values: Mapping[str, Any]) -> str:
        """Fill `{placeholders}` in the prompt from `values`; unknown ones become ''."""
        text = self.text(key)
        try:
            return string.Formatter().vformat(text, (), _Blank(values)).strip()
        except (ValueError, IndexError, AttributeError, KeyError):
            return text.strip()


def placeholders(text: str) -> set[str]:
    """The `{names}` a prompt text uses."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}
