"""Menus and what they announce: a prompt made from the options, and the keys a hand-written
prompt names, so a menu's prompt and its options can never disagree."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ivr.engine.prompts import Prompts

# A key announced in a prompt: a lone digit ("press 1", "the patient, 2."), never part of a
# longer number or word ("10 digits", "ICD-10", "24 hours").
_KEY = re.compile(r"(?<![\w.-])([0-9])(?![\w-])")


def menu_prompt(options: Mapping[Any, Mapping[str, Any]], prompts: Prompts) -> str:
    """ "For order, press 1. For status, press 2." in the prompts' language, option by option:
    the key and the first of the option's words, through the `system.catalog_choice` line
    the catalogs use."""
    parts = []
    for key, option in options.items():
        words = prompts.words(str(option.get("words", "")))
        label = words[0] if words else str(key)
        parts.append(prompts.render("system.catalog_choice", {"key": key, "label": label}))
    joiner = prompts.text("system.catalog_choice_joiner") or " "
    return joiner.join(p for p in parts if p)


def announced_keys(text: str) -> set[str]:
    """The keypad keys a menu prompt tells the caller to press."""
    return set(_KEY.findall(text))
