"""Engine turns to TwiML, in one pure place, with the `twilio` library's builders."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr.engine import Turn
from ivr.safetext import clean


@dataclass(frozen=True)
class Voice:
    """How the line speaks: a Twilio voice name and the call's language."""

    name: str = "Polly.Joanna"
    language: str = "en-US"


SPANISH_VOICE = "Polly.Lupe"


def voice_for(language: str, default: str) -> Voice:
    if language.startswith("es"):
        return Voice(SPANISH_VOICE, language)
    return Voice(default, language)


def render(turn: Turn, *, action_url: str, voice: Voice) -> VoiceResponse:
    """Build the response: speech, then a Gather posting to `action_url`, or an ending."""
    response = VoiceResponse()
    if turn.gather is not None:
        g = turn.gather
        attrs: dict[str, object] = {}
        if "speech" in g.input:
            attrs["speech_timeout"] = "auto"
            if g.hints:
                attrs["hints"] = ", ".join(h.replace(",", " ") for h in g.hints)
        if g.num_digits:
            attrs["num_digits"] = g.num_digits
        gather = Gather(
            input=" ".join(g.input),
            action=action_url,
            method="POST",
            timeout=g.timeout,
            finish_on_key=g.finish_on_key,
            action_on_empty_result=True,
            language=voice.language,
            **attrs,
        )
        _say_all(gather, turn.say, voice)
        response.append(gather)
        # Should Twilio fall through the Gather anyway, the next turn still hears "nothing".
        response.redirect(action_url, method="POST")
        return response
    _say_all(response, turn.say, voice)
    if turn.transfer is not None:
        response.enqueue(turn.transfer.queue)
    elif turn.hangup:
        response.hangup()
    return response


def _say_all(parent: VoiceResponse | Gather, texts: Iterable[str], voice: Voice) -> None:
    for text in texts:
        # Whatever reached a prompt (an outage notice, a name from a catalog), a control
        # character must not make the document invalid XML: the whole line would be down.
        parent.say(clean(text), voice=voice.name, language=voice.language)


def apology(
    text: str, *, voice: Voice, backup_number: str | None = None, queue: str | None = None
) -> VoiceResponse:
    """An apology, then a place in an agent `queue` (a call we have no record of), else the
    `backup_number` (the store is down), else goodbye."""
    response = VoiceResponse()
    response.say(clean(text), voice=voice.name, language=voice.language)
    if queue:
        response.enqueue(queue)
    elif backup_number:
        response.dial(backup_number)
    else:
        response.hangup()
    return response


def xml(response: VoiceResponse) -> str:
    return str(response.to_xml())
