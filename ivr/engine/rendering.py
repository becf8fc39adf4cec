"""Every node's prompts rendered in every language with sample values, before a bundle is
served: a text that still holds a brace, or says nothing, would be said wrongly."""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping

from ivr.engine.graph import PROMPT_FIELDS, Bundle, Node, problem
from ivr.engine.prompts import Prompts

# Sample values a prompt is rendered with; the format specs (`digits`, `groups`, `date`) need
# something shaped like what a call would hold.
_SAMPLE = "2026-01-02"


def _prompt_keys(node: Node) -> Iterator[tuple[str, str]]:
    for field in PROMPT_FIELDS:
        if isinstance(node.spec.get(field), str):
            yield field, node.spec[field]
    invalid = node.spec.get("invalid")
    if isinstance(invalid, str):
        yield "invalid", invalid
    elif isinstance(invalid, Mapping):
        yield from ((f"invalid.{k}", v) for k, v in invalid.items() if isinstance(v, str))


def rendering_problems(bundle: Bundle, prompts: Mapping[str, Prompts]) -> list[str]:
    """Render every node's prompts in every language with sample values: a text that still
    holds a brace, or says nothing, would be said wrongly to a caller. (A placeholder that
    nothing fills is the flow checker's: `ivr.engine.fillable`.)"""
    problems: list[str] = []
    for node in bundle.nodes.values():
        file = bundle.files.get(node.flow, f"flows/{node.flow}.yaml")
        for field, key in _prompt_keys(node):
            for language, table in sorted(prompts.items()):
                if key not in table:
                    continue  # the compiler names a key missing in a language
                text = table.text(key)
                try:
                    used = [n for _, n, _, _ in string.Formatter().parse(text) if n]
                except ValueError:
                    continue  # the compiler names a malformed prompt
                said = table.render(key, dict.fromkeys(used, _SAMPLE))
                if text.strip() and (not said or "{" in said or "}" in said):
                    where = f"prompt '{key}' in {language}"
                    problems.append(problem(file, node.id, field, f"{where} cannot be rendered"))
    return problems
