"""What a turn saves of the engine's call state: the return stack and the language."""

from __future__ import annotations

from typing import Any

from ivr.engine import CallState, Event, Turn
from ivr.services import calls
from ivr.simulate import Caller


def _turn(row: calls.CallRow, **state: Any) -> Turn:
    return Turn(
        say=(),
        state=CallState(node=row.node, slots=row.slots, **state),
        event=Event(node=row.node, input_kind="dtmf", raw="1", outcome="matched"),
    )


def test_a_turn_saves_the_return_stack_and_the_language(caller: Caller, app: Any) -> None:
    call = caller.dial()
    store = app.extensions["ivr.store"]
    with store.sessionmaker() as session:
        row = calls.read_call(session, call.sid)
        assert row is not None and row.stack == () and row.language == "en-US"
        turn = _turn(row, language="es-US", stack=("order.intake/review", "main.main_menu"))
        assert calls.record_turn(session, row, row.turn + 1, turn, "<Response/>", 1)
        session.commit()
    with store.read_sessionmaker() as session:
        saved = calls.read_call(session, call.sid)
    assert saved is not None
    assert saved.stack == ("order.intake/review", "main.main_menu")
    assert saved.language == "es-US"
