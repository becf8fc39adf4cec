"""Spanish-speaking callers (issue 13): 9 or "español" at the greeting, then the whole call in
Spanish, as whole calls; and a call that never asks stays in English.

What the caller hears comes from `tests/said.py` in the call's language; what lands in the
store is read back (`calls.language`, the order, the agent queue entry).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import sqlalchemy as sa

from ivr.match.spoken import parse_date, spoken_digits, yes_no
from ivr.simulate import Caller, SimulatedCall
from ivr.store.models import Call, Order, OrderStatus, utcnow
from tests.conftest import bearer
from tests.said import prompts, said
from tests.test_helpdesk_calls import (  # noqa: F401 (fixtures)
    MORALES_MOBILE,
    deliver,
    desk,
    desk_app,
    outbox,
    twilio,
)
from tests.test_outage_calls import post_outage  # noqa: F401 (a fixture)
from tests.test_publishing import edit_prompts, prompts_dir  # noqa: F401 (a fixture)
from tests.test_status_line import approved_read, make_order  # noqa: F401 (a fixture)

ES = "es-US"
WHITFIELD = "1234567893"  # Dr. Alan Whitfield, ordering
LOPEZ = "100200300"  # SUMMIT, Maria Lopez, born 1960-03-05
LAKESIDE = "2358850222"  # Lakeside Diagnostic Imaging: SUMMIT
ORDER_NUMBER = re.compile(r"(\d \d \d, \d \d \d, \d \d \d)")


def call_row(session: Any, sid: str) -> Call:
    session.rollback()
    return session.scalars(sa.select(Call).where(Call.sid == sid)).one()


def order_of(session: Any, sid: str) -> Order:
    session.rollback()
    return session.scalars(sa.select(Order).where(Order.call_sid == sid)).one()


def gather_of(call: SimulatedCall) -> dict[str, str]:
    assert call.gather is not None, call.heard
    return dict(call.gather.attrib)


def says_of(call: SimulatedCall) -> list[dict[str, str]]:
    """The <Say> elements of the last reply, each with its voice and language."""
    root = call.gather if call.gather is not None else None
    assert root is not None
    return [dict(el.attrib) for el in root.iter("Say")]


def in_spanish(caller: Caller, *, by: str = "key") -> SimulatedCall:
    """Dial, then 9 (or "español") at the greeting: the plan question again, in Spanish."""
    call = caller.dial()
    if by == "key":
        call.press("9")
    else:
        call.say(by)
    assert call.heard == [said("main.greeting", ES), said("main.plan.ask", ES)]
    return call


def test_the_first_question_offers_spanish_in_a_spanish_voice(caller: Caller) -> None:
    call = caller.dial()
    assert call.heard == [
        said("main.greeting"),
        said("main.plan.ask"),
        said("main.spanish_offer", ES),
    ]
    voices = [(s.get("voice"), s.get("language")) for s in says_of(call)]
    assert voices[0][1] == "en-US" and voices[1][1] == "en-US"
    assert voices[2] == ("Polly.Lupe", "es-US")
    # Asked again (nothing heard), the offer is made again; in Spanish it is not.
    call.silence()
    assert call.heard[-1] == said("main.spanish_offer", ES)
    call.press("9")
    assert said("main.spanish_offer", ES) not in call.heard
    call.silence()
    assert said("main.spanish_offer", ES) not in call.heard
    # "Español" is heard at the first question: a hint, and the Gather still takes one key.
    assert "español" in gather_of(call)["hints"]
    assert gather_of(call)["numDigits"] == "1"


def test_nine_switches_the_call_to_spanish_voice_hints_and_store(
    caller: Caller, session: Any
) -> None:
    call = in_spanish(caller)
    gather = gather_of(call)
    assert gather["language"] == ES
    assert {s.get("voice") for s in says_of(call)} == {"Polly.Lupe"}
    assert {s.get("language") for s in says_of(call)} == {ES}
    assert call_row(session, call.sid).language == ES
    call.press("1")  # Summit
    assert call.heard[-1] == said("main.menu.prompt", ES)
    hints = gather_of(call)["hints"]
    assert "nueva orden" in hints and "representante" in hints
    assert gather_of(call)["language"] == ES


def test_saying_espanol_switches_too(caller: Caller, session: Any) -> None:
    call = in_spanish(caller, by="español")
    assert call_row(session, call.sid).language == ES
    call = in_spanish(caller, by="nueve")  # the key, said in Spanish to the English question
    assert call_row(session, call.sid).language == ES


def test_the_way_out_and_plan_keys_still_work_at_the_first_question(caller: Caller) -> None:
    call = caller.dial()
    call.press("*")  # the plans and their keys, 1 to 7: no 9 among them
    assert prompts().render("main.plan.choice", {"label": "Summit Health Plan", "key": 1}) in (
        call.text
    )
    assert "9" not in call.text
    call = caller.dial()
    call.press("1")
    assert call.heard[-1] == said("main.menu.prompt")
    call = caller.dial()
    call.press("0")
    assert call.enqueued == "general"


def test_a_spanish_order_by_keypad_is_approved(caller: Caller, session: Any) -> None:
    call = in_spanish(caller)
    call.press("1").press("1")  # Summit, new order
    assert call.heard == [said("order.intro", ES), said("order.physician.ask", ES)]
    call.press(WHITFIELD).press(LOPEZ + "#").press("03051960").press("70450")
    assert call.heard[-1] == said("order.diagnosis.ask", ES), call.transcript
    call.press("7519#")  # R51.9 by its letter's key
    call.press("1")
    call.say("dolor de cabeza cada mañana desde hace tres semanas")
    call.say("ibuprofeno sin alivio")
    call.press(LAKESIDE)
    assert call.heard[-1] == said("order.review.menu", ES)
    call.press("1")
    read = ORDER_NUMBER.search(call.text)
    assert read, call.heard
    order = order_of(session, call.sid)
    assert order.status == OrderStatus.APPROVED
    assert (order.member_id, order.member_dob, order.exam_code) == (
        LOPEZ,
        dt.date(1960, 3, 5),
        "70450",
    )
    assert order.symptoms == "dolor de cabeza cada mañana desde hace tres semanas"
    assert call_row(session, call.sid).language == ES


def test_a_spanish_order_by_speech_reads_spanish_numbers_and_dates(
    caller: Caller, session: Any
) -> None:
    call = in_spanish(caller, by="en español")
    call.say("summit health").say("nueva orden")
    assert call.heard[-1] == said("order.physician.ask", ES), call.transcript
    call.say("uno dos tres cuatro cinco seis siete ocho nueve tres")
    assert call.heard[-1] == said("order.member.ask", ES), call.transcript
    call.say("el número es uno cero cero dos cero cero tres cero cero")
    assert call.heard[-1] == said("order.dob.ask", ES), call.transcript
    call.say("cinco de marzo de mil novecientos sesenta")
    assert call.heard[-1] == said("order.exam.ask", ES), call.transcript
    call.say("siete cero cuatro cinco cero")  # the CPT code, said
    assert call.heard[-1] == said("order.diagnosis.ask", ES), call.transcript
    call.press("7519#").press("1")  # R51.9 by its letter's key, the first of those it means
    call.say("dolor de cabeza cada mañana desde hace tres semanas")
    call.say("ibuprofeno sin alivio")
    call.say("Lakeside Diagnostic Imaging")
    assert call.heard[-1] == said("order.review.menu", ES), call.transcript
    call.say("sí, así es")
    assert ORDER_NUMBER.search(call.text), call.transcript
    order = order_of(session, call.sid)
    assert order.status == OrderStatus.APPROVED
    assert (order.ordering_npi, order.member_id, order.member_dob, order.exam_code) == (
        WHITFIELD,
        LOPEZ,
        dt.date(1960, 3, 5),
        "70450",
    )
    assert order.facility_npi == LAKESIDE


def test_a_spanish_status_check(caller: Caller, make_order: Any) -> None:  # noqa: F811 (a fixture)
    order = make_order("approved", days=40)
    call = in_spanish(caller).press("1").press("2")
    assert call.heard[-1] == said("status.number.ask", ES)
    call.press(order.order_number + "#")
    assert call.heard[-1] == said("status.proof.ask", ES)
    call.say("uno dos tres cuatro cinco seis siete ocho nueve tres")
    assert approved_read(ES) in call.text, call.transcript
    assert "40 días" in call.text or "40" in call.text
    assert call.heard[-1] == said("status.menu.approved", ES)


def test_a_spanish_status_check_proved_by_a_spoken_spanish_birth_date(
    caller: Caller,
    make_order: Any,  # noqa: F811
) -> None:
    order = make_order("approved", days=40)
    call = in_spanish(caller).say("summit").say("orden existente")
    call.press(order.order_number + "#")
    call.say("cinco de marzo de mil novecientos sesenta")
    assert approved_read(ES) in call.text, call.transcript


def test_a_spanish_password_reset(caller: Caller) -> None:
    # From jmorales's registered mobile (the caller's number): this phone's account.
    call = in_spanish(caller).press("1").press("3")
    assert call.heard[-1] == said("helpdesk.menu", ES)
    call.say("contraseña")
    assert call.heard == [said("helpdesk.reset.which", ES)]
    call.say("esta cuenta")
    assert call.heard == [said("helpdesk.reset.factor", ES)]
    call.say("uno cero cero uno seis")
    assert call.heard[0].startswith(said("helpdesk.reset.sent", ES)), call.transcript


def test_a_spanish_caller_asking_for_a_person_is_queued_with_the_language_shown(
    caller: Caller, client: Any, token_for: Any, session: Any
) -> None:
    call = in_spanish(caller).press("1")
    call.say("quiero hablar con un representante")
    assert call.enqueued == "general"
    assert said("main.agent", ES) in call.heard
    row = call_row(session, call.sid)
    assert (row.language, row.queue) == (ES, "general")
    shown = client.get(f"/api/v1/calls/{call.sid}", headers=bearer(token_for("supervisor")))
    assert shown.status_code == 200
    assert (shown.json["language"], shown.json["queue"]) == (ES, "general")


def test_a_call_that_never_presses_9_stays_in_english(caller: Caller, session: Any) -> None:
    call = caller.dial().press("1")
    assert call.heard[-1] == said("main.menu.prompt")
    assert gather_of(call)["language"] == "en-US"
    call.press("2")
    assert call.heard == [said("status.number.ask")]
    assert {s.get("language") for s in says_of(call)} == {"en-US"}
    # Spanish words are no answer here: "nueve" is not a 9, "sí" not a yes.
    assert call_row(session, call.sid).language == "en-US"
    call = caller.dial()
    call.say("summit")
    assert call.heard[-1] == said("main.menu.prompt")
    assert {s.get("voice") for s in says_of(call)} == {"Polly.Joanna"}


def test_check_flows_names_a_spanish_prompt_the_offer_needs(
    make_app: Any,
    prompts_dir: Any,  # noqa: F811
) -> None:
    app = make_app(IVR_PROMPTS_DIR=str(prompts_dir))
    edit_prompts(prompts_dir, ES, lambda t: t["main"].pop("spanish_offer"))
    edit_prompts(prompts_dir, "en-US", lambda t: t["words"].pop("spanish"))
    check = app.test_cli_runner().invoke(args=["check-flows"])
    assert check.exit_code == 1
    assert "'main.spanish_offer' missing from prompts/es-US.yaml" in check.output
    assert "'words.spanish' missing from prompts/en-US.yaml" in check.output


@pytest.mark.parametrize(
    ("spoken", "digits"),
    [
        ("cinco cinco cero uno dos", "55012"),
        ("ochenta y cuatro", "84"),
        ("veintidós", "22"),
        ("doble cinco tres", "553"),
        ("ciento veinte", "120"),
        ("el número es uno cero cero", "100"),
    ],
)
def test_spanish_numbers_are_read_in_a_spanish_call_only(spoken: str, digits: str) -> None:
    assert spoken_digits(spoken, ES) == digits
    assert spoken_digits(spoken) is None or spoken_digits(spoken) != digits


@pytest.mark.parametrize(
    ("spoken", "day"),
    [
        ("cinco de marzo de mil novecientos sesenta", dt.date(1960, 3, 5)),
        ("el primero de enero de dos mil cinco", dt.date(2005, 1, 1)),
        ("veintisiete de septiembre de mil novecientos noventa y cinco", dt.date(1995, 9, 27)),
        ("27 de septiembre de 1995", dt.date(1995, 9, 27)),
    ],
)
def test_spanish_dates(spoken: str, day: dt.date) -> None:
    assert parse_date(spoken, language=ES) == day


@pytest.mark.parametrize(
    ("spoken", "answer"),
    [
        ("sí", True),
        ("si", True),
        ("correcto", True),
        ("así es", True),
        ("sí, así es", True),
        ("por supuesto", True),
        ("no", False),
        ("no es correcto", False),
        ("no sé", None),
    ],
)
def test_spanish_yes_and_no(spoken: str, answer: bool | None) -> None:
    assert yes_no(spoken, ES) is answer


def _flow_problems(edit: Any) -> list[str]:
    from ivr.engine import FlowError, compile_bundle
    from ivr.versions import read_flow_files
    from tests.test_flow_validation import ROOT, _real_prompts

    docs, files = read_flow_files(ROOT / "flows")
    edit(docs["main"]["nodes"]["select_plan"])
    try:
        compile_bundle(docs, files=files, prompts=_real_prompts())
    except FlowError as exc:
        return exc.problems
    return []


def test_the_real_flows_offer_spanish_without_a_problem() -> None:
    assert _flow_problems(lambda node: None) == []


def test_an_also_key_of_the_way_out_or_without_words_is_refused() -> None:
    def zero(node: dict[str, Any]) -> None:
        node["also"] = {"0": {"next": "spanish", "words": "words.spanish"}}

    def wordless(node: dict[str, Any]) -> None:
        node["also"] = {"9": {"next": "spanish"}}

    assert any("also.0" in p and "way out" in p for p in _flow_problems(zero))
    assert any("also.9.words" in p for p in _flow_problems(wordless))


def test_an_offer_in_a_language_the_line_has_no_prompts_for_is_refused() -> None:
    def french(node: dict[str, Any]) -> None:
        node["offer"] = {"prompt": "main.spanish_offer", "language": "fr-FR"}

    problems = _flow_problems(french)
    assert any("offer.language" in p and "'fr-FR'" in p for p in problems), problems


# --- Spanish throughout: the words a Spanish call understands and says --------------------


def _english_lines() -> set[str]:
    """Every English prompt without placeholders, as the line would say it."""
    lines: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, str) and "{" not in node and len(node.split()) > 1:
            lines.add(node)

    walk(dict(prompts().table))
    return lines


ENGLISH = _english_lines()


def heard_in_spanish(call: SimulatedCall, since: int = 1) -> None:
    """Every line of every answer after the switch (answer `since` on) is said in Spanish,
    in the Spanish voice, and none is an English prompt."""
    for reply in call.replies[since:]:
        assert reply.root is not None, reply.body
        for say in reply.root.iter("Say"):
            assert (say.get("language"), say.get("voice")) == (ES, "Polly.Lupe"), say.text
            assert (say.text or "") not in ENGLISH, say.text


def test_english_prompts_are_known_to_the_check() -> None:
    assert said("order.intro") in ENGLISH  # the check above has something to compare with


def test_a_spanish_order_by_keypad_is_heard_in_spanish_throughout(
    caller: Caller, session: Any
) -> None:
    call = in_spanish(caller)
    call.press("1").press("1")
    call.press(WHITFIELD).press(LOPEZ + "#").press("03051960").press("72148")
    assert call.heard[-1] == said("order.diagnosis.ask", ES), call.transcript
    call.press("65450#")  # M54.50: M on 6, then its numbers
    assert call.heard[-1].startswith("M 54.50, dolor lumbar."), call.transcript
    call.press("1")
    call.say("dolor lumbar desde hace seis semanas")
    call.say("terapia física sin alivio")
    call.press(LAKESIDE)
    assert call.heard[0].startswith(
        "Estudio: resonancia magnética de la columna lumbar sin contraste, para Maria Lopez"
    ), call.transcript
    assert "Diagnóstico: dolor lumbar." in call.heard[0]
    call.press("1")
    assert ORDER_NUMBER.search(call.text), call.transcript
    heard_in_spanish(call)
    order = order_of(session, call.sid)
    assert (order.exam_code, order.diagnosis_codes) == ("72148", ["M54.50"])


def test_a_spanish_order_by_speech_with_the_exam_and_diagnosis_said_in_spanish(
    caller: Caller, session: Any
) -> None:
    call = in_spanish(caller, by="español")
    call.say("el plan summit").say("nueva orden")
    call.say("uno dos tres cuatro cinco seis siete ocho nueve tres")
    call.say("uno cero cero dos cero cero tres cero cero")
    call.say("cinco de marzo de mil novecientos sesenta")
    assert call.heard[-1] == said("order.exam.ask", ES), call.transcript
    call.say("una resonancia magnética de la columna lumbar")
    # Said without its contrast: the line asks, in Spanish, and hears the answer in Spanish.
    assert call.heard[-1] == said("order.exam.contrast_two", ES), call.transcript
    call.say("sin contraste")
    assert call.heard[-1] == said("order.diagnosis.ask", ES), call.transcript
    call.say("la paciente tiene dolor de espalda baja")
    assert call.heard[-1] == said("order.symptoms.ask", ES), call.transcript
    call.say("dolor desde hace seis semanas")
    call.say("terapia física por seis semanas sin alivio")
    call.say("Lakeside Diagnostic Imaging")
    readback = call.heard[0]
    assert "resonancia magnética de la columna lumbar sin contraste" in readback, readback
    assert "Diagnóstico: dolor lumbar." in readback
    call.say("sí, envíela")
    assert ORDER_NUMBER.search(call.text), call.transcript
    heard_in_spanish(call)
    order = order_of(session, call.sid)
    assert order.status == OrderStatus.APPROVED
    assert (order.exam_code, order.diagnosis_codes) == ("72148", ["M54.50"])


def test_a_diagnosis_code_spoken_in_spanish_is_read_back_and_stored(
    caller: Caller, session: Any
) -> None:
    call = in_spanish(caller)
    call.press("1").press("1")
    call.press(WHITFIELD).press(LOPEZ + "#").press("03051960")
    call.say("tomografía de la cabeza sin contraste")
    assert call.heard[-1] == said("order.diagnosis.ask", ES), call.transcript
    call.say("erre cincuenta y uno punto nueve")
    call.say("dolor de cabeza cada mañana")
    call.say("ibuprofeno sin alivio")
    call.press(LAKESIDE)
    assert "tomografía de la cabeza sin contraste" in call.heard[0], call.transcript
    assert "Diagnóstico: dolor de cabeza." in call.heard[0]
    call.press("1")
    heard_in_spanish(call)
    order = order_of(session, call.sid)
    assert (order.exam_code, order.diagnosis_codes) == ("70450", ["R51.9"])


def test_a_spanish_code_said_short_of_billable_is_confirmed_in_spanish(
    caller: Caller, session: Any
) -> None:
    call = in_spanish(caller)
    call.press("1").press("1")
    call.press(WHITFIELD).press(LOPEZ + "#").press("03051960").press("72148")
    call.say("eme cincuenta y cuatro punto cinco")  # M54.5: a category, its billable M54.50
    assert call.heard[-1] == said(
        "order.diagnosis.confirm", ES, diagnosis_name="dolor lumbar", diagnosis="M54.50"
    ), call.transcript
    call.say("sí")
    assert call.heard[-1] == said("order.symptoms.ask", ES), call.transcript
    heard_in_spanish(call)


def test_a_spanish_status_check_names_the_exam_in_spanish(
    caller: Caller,
    make_order: Any,  # noqa: F811
) -> None:
    order = make_order("approved", days=40)  # 72148
    call = in_spanish(caller).say("summit").say("orden existente")
    call.press(order.order_number + "#")
    call.press(WHITFIELD + "#")
    assert call.heard[0].startswith(
        approved_read(ES) + "resonancia magnética de la columna lumbar sin contraste"
    ), call.transcript
    heard_in_spanish(call)


def test_a_spanish_caller_is_shown_as_spanish_in_the_agent_queue(
    caller: Caller, client: Any, token_for: Any
) -> None:
    call = in_spanish(caller).press("1")
    call.say("operador")
    assert call.enqueued == "general"
    shown = client.get("/api/v1/queues/general", headers=bearer(token_for("agent")))
    assert shown.status_code == 200
    [waiting] = [w for w in shown.json["waiting"] if w["call_sid"] == call.sid]
    assert waiting["language"] == ES


@pytest.mark.parametrize("word", ["representante", "agente", "operador", "una persona"])
def test_asking_for_a_person_in_spanish_at_a_question(caller: Caller, word: str) -> None:
    call = in_spanish(caller).press("1").press("1")
    call.say(word)
    assert call.enqueued is not None, call.transcript


def test_check_flows_names_any_flow_prompt_missing_in_spanish(
    make_app: Any,
    prompts_dir: Any,  # noqa: F811
) -> None:
    app = make_app(IVR_PROMPTS_DIR=str(prompts_dir))
    edit_prompts(prompts_dir, ES, lambda t: t["order"]["exam"].pop("contrast_two"))
    check = app.test_cli_runner().invoke(args=["check-flows"])
    assert check.exit_code == 1
    assert "'order.exam.contrast_two' missing from prompts/es-US.yaml" in check.output


def test_a_spanish_password_reset_texts_the_code_in_spanish(
    desk: Any,  # noqa: F811 (a fixture)
    twilio: Any,  # noqa: F811
    session: Any,
    deliver: Any,  # noqa: F811
) -> None:
    call = in_spanish(desk(MORALES_MOBILE)).press("1").press("3")
    call.say("restablecer contraseña").say("esta cuenta").say("uno cero cero uno seis")
    assert call.heard[0].startswith(said("helpdesk.reset.sent", ES)), call.transcript
    heard_in_spanish(call)
    [queued] = outbox(session)
    assert queued.body.startswith("Su código para restablecer la contraseña de ProviderPortal")
    assert deliver() == "sent: 1 (1 due)\n"
    [request] = twilio.requests
    body = request["data"]["Body"]
    assert re.search(r"^Su código para restablecer .* es \d{8}\. Vence en 10 minutos\.", body)


def test_registration_steps_are_texted_in_spanish(
    desk: Any,  # noqa: F811 (a fixture)
    session: Any,
) -> None:
    call = in_spanish(desk(MORALES_MOBILE)).press("1").press("3")
    call.press("3")
    assert call.heard[0] == said("helpdesk.registration.steps", ES), call.transcript
    call.press("1")
    [queued] = outbox(session)
    assert (queued.kind, queued.to) == ("registration_steps", MORALES_MOBILE)
    assert queued.body.startswith("Registro en ProviderPortal")


def test_an_outage_notice_is_heard_in_spanish_without_its_english_title(
    caller: Caller,
    post_outage: Any,  # noqa: F811 (a fixture)
) -> None:
    ends = utcnow() + dt.timedelta(hours=3)
    post_outage(
        starts_at=(utcnow() - dt.timedelta(hours=1)).isoformat(),
        ends_at=ends.isoformat(),
        message={"en-US": "The portal is down.", "es-US": "El portal no está disponible."},
    )
    call = in_spanish(caller).press("1")
    [notice] = [line for line in call.heard if line.startswith("El portal")]
    assert notice.startswith("El portal no está disponible. Se espera que quede resuelto el ")
    assert "Portal maintenance" not in notice
    assert "de la tarde" in notice or "de la mañana" in notice  # the hour as the line says it
    heard_in_spanish(call)
    english = caller.dial().press("1")
    assert any(line.startswith("Portal maintenance: The portal is down.") for line in english.heard)
