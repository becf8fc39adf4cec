"""What a matcher answers. Here, not in the engine, so `match` depends on nothing of ivr and
the engine depends on `match` (it hears digits, dates and yes/no through it), never back."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Match:
    """A catalog entry the caller's input matched, with a 0-100 score."""

    value: str
    label: str
    score: float
    key: str | None = None
    # How the line says the entry, when not as its written label.
    spoken: str | None = None
    # What the answer leaves open, for one follow-up question: "contrast_none_with_both"
    # (an exam said without its contrast, the variants the catalog has), or the general word
    # a diagnosis was said as ("pain"). None: nothing to ask.
    open: str | None = None
    # A second answer said in the same breath ("chest pain and shortness of breath": the
    # match for shortness of breath), to offer as an additional one. None: nothing more said.
    more: Match | None = None

    @property
    def said(self) -> str:
        """The words the caller hears for this entry."""
        return self.spoken or self.label
