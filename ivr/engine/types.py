"""Plain data the engine reads and returns: no Flask, no database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from ivr.match.types import Match as Match  # re-exported: the engine hands matches on

InputKind = Literal["start", "none", "dtmf", "speech"]


@dataclass(frozen=True)
class Input:
    """What the caller did this turn: nothing, keys, or words."""

    kind: InputKind
    digits: str = ""
    speech: str = ""
    confidence: float | None = None

    @property
    def raw(self) -> str:
        return self.digits if self.kind == "dtmf" else self.speech


@dataclass(frozen=True)
class CallState:
    """Everything a turn needs about a call; persisted on the call row between turns."""

    node: str
    slots: Mapping[str, Any] = field(default_factory=dict)
    attempts: int = 0
    language: str = "en-US"
    # The services' own notes on the call (accounts a caller may mean, notices heard):
    # never said to the caller nor shown to agents, and apart from the caller's answers.
    scratch: Mapping[str, Any] = field(default_factory=dict)
    # Where each `return` goes back to, innermost last: the nodes after the open `call`s.
    stack: tuple[str, ...] = ()

    def moved(self, node: str, **slots: Any) -> CallState:
        merged = dict(self.slots)
        merged.update(slots)
        return replace(self, node=node, slots=merged, attempts=0)

    def noted(self, scratch: Mapping[str, Any]) -> CallState:
        """The state with the services' notes `scratch` added."""
        if not scratch:
            return self
        return replace(self, scratch={**self.scratch, **scratch})


class Catalog(Protocol):
    """A list callers choose from by key or by name (plans, exam types, ...)."""

    def by_key(self, digits: str) -> Match | None: ...

    def match(self, text: str) -> Match | None: ...

    def choices(self) -> Sequence[tuple[str, str]]: ...

    def hints(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class ActionResult:
    """What a service said back: an outcome to branch on, slots to fill, and notes of its
    own for later actions of the same call (`scratch`)."""

    outcome: str
    slots: Mapping[str, Any] = field(default_factory=dict)
    scratch: Mapping[str, Any] = field(default_factory=dict)


class EngineError(RuntimeError):
    """The flow itself is broken in a way validation should have caught."""


class Actions(Protocol):
    def __call__(
        self,
        name: str,
        params: Mapping[str, Any],
        slots: Mapping[str, Any],
        scratch: Mapping[str, Any],
    ) -> ActionResult: ...


def call_action(
    actions: Actions | None,
    name: str,
    params: Mapping[str, Any],
    slots: Mapping[str, Any],
    scratch: Mapping[str, Any],
) -> ActionResult:
    """An action's result; a missing or failing service is the outcome "error" (the flow
    routes the caller on, never a 500). The services log
    their own failures (with the call, see `ivr.actions.registry.run_action`): the engine
    has no call id and no logger, so this is only the last net."""
    if actions is None:
        return ActionResult(outcome="error")
    try:
        return actions(name, params, slots, scratch)
    except Exception:  # noqa: BLE001 - see above
        return ActionResult(outcome="error")


@dataclass(frozen=True)
class Gather:
    """How to listen for the next answer."""

    action_node: str
    input: tuple[str, ...] = ("dtmf", "speech")
    hints: tuple[str, ...] = ()
    num_digits: int | None = None
    finish_on_key: str = "#"
    timeout: int = 6


@dataclass(frozen=True)
class Transfer:
    """Hand the caller to a person in a named queue."""

    queue: str
    reason: str


@dataclass(frozen=True)
class Event:
    """What the turn heard and made of it; becomes one call_events row."""

    node: str
    input_kind: str
    raw: str | None
    outcome: str
    matched: str | None = None
    confidence: float | None = None


class Spoken(str):
    """A line said in a language other than the call's, with that language's voice: the
    offer of Spanish at the greeting of an English call."""

    language: str

    def __new__(cls, text: str, language: str) -> Spoken:
        said = super().__new__(cls, text)
        said.language = language
        return said


@dataclass(frozen=True)
class Turn:
    """The engine's answer: what to say, then gather, transfer or hang up."""

    say: tuple[str, ...]
    state: CallState
    event: Event
    gather: Gather | None = None
    transfer: Transfer | None = None
    hangup: bool = False
    visited: tuple[str, ...] = ()
