"""A phone call without a phone: Twilio-shaped, signed webhooks against the app.

Used by `ivr simulate` (in-process or `--url`) and by the tests::

    call = Caller(transport, auth_token=token).dial()
    call.press("1"); call.say("summit health"); call.heard
"""

from __future__ import annotations

import secrets
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from twilio.request_validator import RequestValidator


class Transport(Protocol):
    def post(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, str]:
        """POST a form to an absolute URL; returns (status, body)."""
        ...


class FlaskTransport:
    """Posts through a Flask test client, so the app sees the exact URL we signed."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def post(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, str]:
        parts = urllib.parse.urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        base = f"{parts.scheme}://{parts.netloc}"
        response = self.client.post(path, data=dict(form), headers=dict(headers), base_url=base)
        return response.status_code, response.get_data(as_text=True)


class HttpTransport:
    """Posts to a running server over HTTP."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

    def post(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(url, data=data, headers=dict(headers), method="POST")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def sign(auth_token: str, url: str, form: Mapping[str, str]) -> str:
    return str(RequestValidator(auth_token).compute_signature(url, dict(form)))


@dataclass
class Reply:
    """One TwiML answer, parsed."""

    status: int
    body: str
    root: ET.Element | None = None

    @classmethod
    def parse(cls, status: int, body: str) -> Reply:
        try:
            root = ET.fromstring(body) if body.strip().startswith("<") else None
        except ET.ParseError:
            root = None
        return cls(status, body, root)

    @property
    def heard(self) -> list[str]:
        if self.root is None:
            return []
        return [el.text or "" for el in self.root.iter("Say")]

    @property
    def gather(self) -> ET.Element | None:
        return self.root.find("Gather") if self.root is not None else None

    @property
    def enqueued(self) -> str | None:
        el = self.root.find("Enqueue") if self.root is not None else None
        return (el.text or "").strip() if el is not None else None

    @property
    def hold_urls(self) -> tuple[str, str] | None:
        """The Enqueue's (waitUrl, action), where Twilio asks and reports about the hold."""
        el = self.root.find("Enqueue") if self.root is not None else None
        if el is None:
            return None
        return el.get("waitUrl", ""), el.get("action", "")

    @property
    def dialed(self) -> str | None:
        el = self.root.find("Dial") if self.root is not None else None
        return (el.text or "").strip() if el is not None else None

    @property
    def hung_up(self) -> bool:
        return self.root is not None and self.root.find("Hangup") is not None


@dataclass
class SimulatedCall:
    caller: Caller
    sid: str
    replies: list[Reply] = field(default_factory=list)
    _last: tuple[str, dict[str, str]] | None = None

    @property
    def reply(self) -> Reply:
        return self.replies[-1]

    @property
    def heard(self) -> list[str]:
        """What the caller heard in the last answer, in order."""
        return self.reply.heard

    @property
    def text(self) -> str:
        return " ".join(self.heard)

    @property
    def transcript(self) -> list[str]:
        return [line for reply in self.replies for line in reply.heard]

    @property
    def gather(self) -> ET.Element | None:
        return self.reply.gather

    @property
    def enqueued(self) -> str | None:
        return self.reply.enqueued

    @property
    def ended(self) -> bool:
        return self.gather is None

    def _action(self) -> str:
        gather = self.gather
        if gather is None:
            raise AssertionError(f"the call is not waiting for input: {self.reply.body}")
        return urllib.parse.urljoin(self.caller.base_url + "/", gather.get("action", ""))

    def post(self, url: str, extra: Mapping[str, str]) -> Reply:
        form = self.caller.form(self.sid, extra)
        self._last = (url, form)
        reply = self.caller.send(url, form)
        self.replies.append(reply)
        return reply

    def press(self, digits: str) -> SimulatedCall:
        """Press keys at the current question."""
        self.post(self._action(), {"Digits": digits})
        return self

    def say(self, speech: str, confidence: float = 0.92) -> SimulatedCall:
        """Answer the current question by voice."""
        self.post(self._action(), {"SpeechResult": speech, "Confidence": f"{confidence:.6f}"})
        return self

    def silence(self) -> SimulatedCall:
        """Say and press nothing until the question times out."""
        self.post(self._action(), {})
        return self

    def _hold_url(self, which: int) -> str:
        for reply in reversed(self.replies):
            if reply.hold_urls is not None:
                return urllib.parse.urljoin(self.caller.base_url + "/", reply.hold_urls[which])
        raise AssertionError("the call was never enqueued with a wait URL")

    def wait(self, *, position: int = 1, waited: int = 0, average: int = 0) -> Reply:
        """Twilio asks the wait URL what the caller on hold hears now (position in line,
        seconds waited, the queue's average wait); answer an offer with `press`/`say`."""
        form = {
            "QueuePosition": str(position),
            "QueueTime": str(waited),
            "AvgQueueTime": str(average),
            "CurrentQueueSize": str(max(position, 1)),
            "QueueSid": "QU" + "0" * 32,
        }
        return self.post(self._hold_url(0), form)

    def leave_queue(self, result: str, waited: int) -> Reply:
        """Twilio posts the Enqueue action: the QueueResult, after `waited` seconds."""
        return self.post(self._hold_url(1), {"QueueResult": result, "QueueTime": str(waited)})

    def replay(self) -> Reply:
        """Send the last webhook again, as Twilio does when a response is slow."""
        if self._last is None:
            raise AssertionError("nothing to replay")
        url, form = self._last
        reply = self.caller.send(url, form)
        self.replies.append(reply)
        return reply

    def hang_up(self, status: str = "completed", duration: int = 42) -> int:
        """Send Twilio's final status callback."""
        form = self.caller.form(self.sid, {"CallStatus": status, "CallDuration": str(duration)})
        return self.caller.send(self.caller.base_url + "/voice/status", form).status


@dataclass
class Caller:
    """A provider office's phone, posting as Twilio would."""

    transport: Transport
    base_url: str = "http://localhost"
    auth_token: str | None = None
    from_number: str = "+12125550143"
    to_number: str = "+18005550100"
    account_sid: str = "AC" + "0" * 32

    def form(self, sid: str, extra: Mapping[str, str]) -> dict[str, str]:
        form = {
            "CallSid": sid,
            "AccountSid": self.account_sid,
            "From": self.from_number,
            "To": self.to_number,
            "Caller": self.from_number,
            "Called": self.to_number,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }
        form.update(extra)
        return form

    def send(self, url: str, form: Mapping[str, str]) -> Reply:
        headers = {}
        if self.auth_token:
            headers["X-Twilio-Signature"] = sign(self.auth_token, url, form)
        status, body = self.transport.post(url, form, headers)
        return Reply.parse(status, body)

    def dial(self, sid: str | None = None) -> SimulatedCall:
        """Place a call: Twilio's first webhook to /voice/incoming."""
        call = SimulatedCall(self, sid or "CA" + secrets.token_hex(16))
        call.post(self.base_url + "/voice/incoming", {"CallStatus": "ringing"})
        return call
