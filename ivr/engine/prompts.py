"""What the line says: prompt texts by key, one table per language."""

from __future__ import annotations

import re
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


_CODE_LETTER = re.compile(r"(?<=[A-Z])(?=[0-9.])|(?<=[0-9.])(?=[A-Z])")


class _Speaker(string.Formatter):
    """Format specs for the ear: {x:digits} "1 2 3", {x:groups} "4 1 7, 2 2 9", {x:date},
    {x:code} an ICD-10 code's letters apart from its numbers ("M 54.50")."""

    def __init__(self, prompts: Prompts) -> None:
        self.prompts = prompts

    def format_field(self, value: Any, format_spec: str) -> str:
        text = "" if value is None else str(value)
        if format_spec == "digits":
            return " ".join(text)
        if format_spec == "groups":
            chunks = [text[i : i + 3] for i in range(0, len(text), 3)]
            if len(chunks) > 1 and len(chunks[-1]) == 1:  # 3-3-4, never a lone last digit
                chunks[-2:] = [chunks[-2] + chunks[-1]]
            return ", ".join(" ".join(chunk) for chunk in chunks)
        if format_spec == "date":
            return self.prompts.spoken_date(text)
        if format_spec == "code":  # M54.50 -> "M 54.50", S72.001A -> "S 72.001 A"
            return _CODE_LETTER.sub(" ", text).strip()
        return str(super().format_field(value, format_spec))


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

    def spoken_date(self, iso: str) -> str:
        """An ISO date as the line says it: "March 5, 1960" / "5 de marzo de 1960"."""
        return _spoken_date(self, iso)

    def render_value(self, value: Any, spec: str) -> str:
        """One value as a placeholder `{x:spec}` says it."""
        return _Speaker(self).format_field(value, spec)

    def render(self, key: str, values: Mapping[str, Any]) -> str:
        """Fill `{placeholders}` in the prompt from `values`; unknown ones, and slots
        cleared to None, become '' (a caller never hears "None")."""
        text = self.text(key)
        known = {k: v for k, v in values.items() if v is not None}
        try:
            return _Speaker(self).vformat(text, (), _Blank(known)).strip()
        except (ValueError, IndexError, AttributeError, KeyError):
            return text.strip()


def _spoken_date(prompts: Prompts, iso: str) -> str:
    months = prompts.words("words.months")
    try:
        year, month, day = (int(part) for part in iso[:10].split("-"))
    except ValueError:
        return iso
    name = months[month - 1] if len(months) == 12 and 1 <= month <= 12 else str(month)
    pattern = prompts.text("system.date") or "{month} {day}, {year}"
    return pattern.format(month=name, day=day, year=year)


def placeholders(text: str) -> set[str]:
    """The `{names}` a prompt text uses."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}
