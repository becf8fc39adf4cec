"""Catalogs callers choose from by keypad key or by saying a name (rapidfuzz)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process, utils

from ivr.match.types import Match

_PUNCT = re.compile(r"[^\w\s]+")


@dataclass(frozen=True)
class Entry:
    value: str
    label: str
    key: str | None = None
    aliases: tuple[str, ...] = ()
    spoken: str | None = None  # how the line says it, when not as the label

    def matched(self, score: float) -> Match:
        return Match(self.value, self.label, score, self.key, spoken=self.spoken)


def _norm(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


class ChoiceCatalog:
    """A short list (plans, reasons) matched on names and aliases, built once."""

    def __init__(self, entries: Iterable[Entry], *, cutoff: float = 72.0) -> None:
        self.entries = tuple(entries)
        self.cutoff = cutoff
        self._by_key = {e.key: e for e in self.entries if e.key}
        self._names: list[str] = []
        self._owners: list[Entry] = []
        for entry in self.entries:
            for name in (entry.label, *entry.aliases):
                self._names.append(_norm(name))
                self._owners.append(entry)

    def by_key(self, digits: str) -> Match | None:
        entry = self._by_key.get(digits)
        return entry.matched(100.0) if entry else None

    def match(self, text: str) -> Match | None:
        query = _norm(text)
        if not query:
            return None
        exact = [e for n, e in zip(self._names, self._owners, strict=True) if n == query]
        if exact:
            return exact[0].matched(100.0)
        results = process.extract(
            query,
            self._names,
            scorer=fuzz.WRatio,
            processor=utils.default_process,
            limit=6,
            score_cutoff=self.cutoff,
        )
        if not results:
            return None
        best_by_entry: dict[str, tuple[float, Entry]] = {}
        for _name, score, index in results:
            entry = self._owners[index]
            if score > best_by_entry.get(entry.value, (-1.0, entry))[0]:
                best_by_entry[entry.value] = (score, entry)
        ranked = sorted(best_by_entry.values(), key=lambda pair: -pair[0])
        score, entry = ranked[0]
        # Two different entries scoring alike is a guess, not a match.
        if len(ranked) > 1 and ranked[1][0] >= score - 3 and score < 95:
            return None
        return entry.matched(float(score))

    def choices(self) -> Sequence[tuple[str, str]]:
        return [(e.key, e.spoken or e.label) for e in self.entries if e.key]

    def hints(self) -> Sequence[str]:
        seen = dict.fromkeys(
            [e.label for e in self.entries] + [a for e in self.entries for a in e.aliases]
        )
        return list(seen)
