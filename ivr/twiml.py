"""Engine turns to TwiML, in one pure place, with the `twilio` library's builders."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from twilio.twiml.voice_response import Gather, Record, VoiceResponse

from ivr.engine import Turn
from ivr.safetext import clean


@dataclass(frozen=True)
class Voice:
    """How the line speaks: a Twilio voice name and the call's language."""

    name: str = "Polly.Joanna"
    language: str = "en-US"


SPANISH_VOICE = "Polly.Lupe"
# The longest silence a caller on hold may hear before something is said or played.
MAX_DEAD_AIR = 30


def voice_for(language: str, default: str) -> Voice:
    if language.startswith("es"):
        return Voice(SPANISH_VOICE, language)
    return Voice(default, language)


@dataclass(frozen=True)
class Hold:
    """Where Twilio asks what a caller on hold hears, and where it reports how they left."""

    wait_url: str
    action_url: str


def render(turn: Turn, *, action_url: str, voice: Voice, hold: Hold | None = None) -> VoiceResponse:
    """Build the response: speech, then a Gather posting to `action_url`, or an ending.

    A transfer enqueues the caller; with `hold`, Twilio plays its wait URL and posts the
    queue's outcome to its action URL."""
    response = VoiceResponse()
    if turn.gather is not None:
        g = turn.gather
        question = Ask(
            texts=tuple(turn.say),
            action_url=action_url,
            input=" ".join(g.input),
            num_digits=g.num_digits,
            hints=tuple(g.hints),
            timeout=g.timeout,
            finish_on_key=g.finish_on_key,
        )
        _gather(response, question, voice, on_empty=True)
        # Should Twilio fall through the Gather anyway, the next turn still hears "nothing".
        response.redirect(action_url, method="POST")
        return response
    _say_all(response, turn.say, voice)
    if turn.transfer is not None:
        if hold is None:
            response.enqueue(turn.transfer.queue)
        else:
            response.enqueue(
                turn.transfer.queue,
                wait_url=hold.wait_url,
                wait_url_method="POST",
                action=hold.action_url,
                method="POST",
            )
    elif turn.hangup:
        response.hangup()
    return response


def _say_all(parent: VoiceResponse | Gather, texts: Iterable[str], voice: Voice) -> None:
    for text in texts:
        # Whatever reached a prompt (an outage notice, a name from a catalog), a control
        # character must not make the document invalid XML: the whole line would be down.
        said = _own_voice(text, voice)
        parent.say(clean(text), voice=said.name, language=said.language)


def _own_voice(text: str, voice: Voice) -> Voice:
    """The voice of a line said in a language of its own (`engine.Spoken`), else the call's."""
    own = getattr(text, "language", None)
    if not isinstance(own, str) or own == voice.language:
        return voice
    # The call's voice speaks the call's language; another language gets its own voice.
    default = Voice().name if voice.language.startswith("es") else voice.name
    return voice_for(own, default)


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


@dataclass(frozen=True)
class Ask:
    """A question outside the flows (the hold line's): where the answer goes, how to listen."""

    texts: tuple[str, ...]
    action_url: str
    input: str = "dtmf speech"
    num_digits: int | None = 1
    hints: tuple[str, ...] = ()
    timeout: int = 5
    finish_on_key: str = "#"


def _gather(parent: VoiceResponse, ask: Ask, voice: Voice, *, on_empty: bool) -> None:
    """The question's `<Gather>`, its prompts inside it so a key or a word interrupts them."""
    attrs: dict[str, object] = {}
    if "speech" in ask.input:
        attrs["speech_timeout"] = "auto"
        # Speaking stops the prompt, as a key does: a caller who knows the answer need not
        # hear the question out (Twilio's default, said so it stays so).
        attrs["barge_in"] = True
        if ask.hints:
            attrs["hints"] = ", ".join(h.replace(",", " ") for h in ask.hints)
    if ask.num_digits:
        attrs["num_digits"] = ask.num_digits
    gather = Gather(
        input=ask.input,
        action=ask.action_url,
        method="POST",
        timeout=ask.timeout,
        finish_on_key=ask.finish_on_key,
        action_on_empty_result=on_empty,
        language=voice.language,
        **attrs,
    )
    _say_all(gather, ask.texts, voice)
    parent.append(gather)


def on_hold(
    texts: Iterable[str],
    *,
    voice: Voice,
    offer: Ask | None = None,
    music_url: str = "",
    pause: int = 20,
) -> VoiceResponse:
    """What a caller in a queue hears, replayed by Twilio when it ends: news of the wait,
    maybe an offer they can answer, then music or a pause (never a long dead air)."""
    response = VoiceResponse()
    _say_all(response, texts, voice)
    if offer is not None:
        _gather(response, offer, voice, on_empty=False)
    if music_url:
        response.play(music_url)
    else:
        # The offer's own silence (its timeout) counts toward the 30 s.
        quiet = MAX_DEAD_AIR - (offer.timeout if offer is not None else 0)
        response.pause(length=max(1, min(pause, quiet)))
    return response


def ask(question: Ask, *, voice: Voice, otherwise: Iterable[str] = ()) -> VoiceResponse:
    """A question; with no answer Twilio posts the empty result, unless `otherwise` is
    given: then the caller hears it and the call ends."""
    response = VoiceResponse()
    fallback = tuple(otherwise)
    _gather(response, question, voice, on_empty=not fallback)
    if fallback:
        _say_all(response, fallback, voice)
        response.hangup()
    return response


def say_then(texts: Iterable[str], *, voice: Voice, leave: bool = False) -> VoiceResponse:
    """Speech, then hang up; or, for a caller on hold, `leave` the queue (Twilio then
    posts the Enqueue action, which says goodbye)."""
    response = VoiceResponse()
    _say_all(response, texts, voice)
    if leave:
        response.leave()
    else:
        response.hangup()
    return response


def record(
    texts: Iterable[str],
    *,
    voice: Voice,
    action_url: str,
    status_url: str,
    max_length: int,
    goodbye: Iterable[str],
) -> VoiceResponse:
    """A message after the tone; its URL, length and sid come to `action_url` (and, when
    the recording is ready, to `status_url`)."""
    response = VoiceResponse()
    _say_all(response, texts, voice)
    response.append(
        Record(
            action=action_url,
            method="POST",
            max_length=max_length,
            finish_on_key="#",
            play_beep=True,
            recording_status_callback=status_url,
            recording_status_callback_method="POST",
        )
    )
    # No recording at all (silence): Twilio goes on to what follows.
    _say_all(response, goodbye, voice)
    response.hangup()
    return response


def xml(response: VoiceResponse) -> str:
    return str(response.to_xml())
