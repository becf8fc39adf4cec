"""The pure call engine: flow + call state + caller input -> what to say and do next.

Nothing here imports Flask or SQLAlchemy or reads a clock; the caller hands in all it needs.
"""

from ivr.engine.compiler import compile_bundle
from ivr.engine.graph import Bundle, FlowError, Node
from ivr.engine.prompts import Prompts
from ivr.engine.runtime import Context, run_turn
from ivr.engine.types import (
    ActionResult,
    Actions,
    CallState,
    Catalog,
    EngineError,
    Event,
    Gather,
    Input,
    Match,
    Transfer,
    Turn,
)

__all__ = [
    "ActionResult",
    "Actions",
    "Bundle",
    "CallState",
    "Catalog",
    "Context",
    "EngineError",
    "Event",
    "FlowError",
    "Gather",
    "Input",
    "Match",
    "Node",
    "Prompts",
    "Transfer",
    "Turn",
    "compile_bundle",
    "run_turn",
]
