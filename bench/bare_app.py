"""The baseline for bench/webhook.py: Flask + gunicorn + TwiML, and nothing of the IVR.

One POST endpoint answering a fixed Gather+Say, built per request with the `twilio` library's
builders, like the real app does. No signature check, no database, no flow engine.

    gunicorn -w 4 --preload --chdir bench 'bare_app:create_app()'
"""

from __future__ import annotations

from flask import Flask, Response, request
from twilio.twiml.voice_response import Gather, VoiceResponse

PROMPT = (
    "For a new imaging order, press 1. For the status of an order, press 2. "
    "For help with the provider portal, press 3. To speak with a representative, press 0. "
    "To hear these options again, press star."
)


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/voice/turn")
    def turn() -> Response:
        # Read the form as the real app does, so both pay for parsing it.
        number = request.args.get("t", default=1, type=int)
        _ = request.form.get("CallSid", "")
        action = f"{request.host_url.rstrip('/')}/voice/turn?t={number + 1}"
        response = VoiceResponse()
        gather = Gather(
            input="dtmf speech",
            action=action,
            method="POST",
            timeout=6,
            finish_on_key="#",
            action_on_empty_result=True,
            language="en-US",
            speech_timeout="auto",
        )
        gather.say(PROMPT, voice="Polly.Joanna", language="en-US")
        response.append(gather)
        response.redirect(action, method="POST")
        return Response(str(response), mimetype="text/xml")

    return app
