"""Estimated caller time of a complete order request, greeting to first order-number reading.

Places real calls in-process (signed webhooks, a fresh SQLite store) by keypad and by
speech, and estimates: every word the line speaks at 160 words per minute, plus 3 seconds
per answer the caller gives. Target: under 3 minutes.

    .venv/bin/python bench/caller_time.py
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr import create_app  # noqa: E402
from ivr.simulate import Caller, FlaskTransport, SimulatedCall  # noqa: E402

WORDS_PER_MINUTE = 160
SECONDS_PER_ANSWER = 3.0
TARGET_SECONDS = 180.0
TOKEN = "bench-token"
FACILITY = "2297655682"  # St. Brigid Hospital Radiology, in network for Summit


def keypad(call: SimulatedCall) -> None:
    for keys in ("1", "1", "1234567893", "537548187#", "09271995", "72148"):
        call.press(keys)
    call.say("low back pain")
    call.say("lower back pain for eight weeks")
    call.say("physical therapy and ibuprofen for seven weeks")
    call.press(FACILITY)
    answer_criteria(call)
    call.press("1")


def keys_only(call: SimulatedCall) -> None:
    """No word said: the diagnosis as its code by keys (M54.50), symptoms and history skipped."""
    for keys in ("1", "1", "1234567893", "537548187#", "09271995", "72148", "65450#", "1"):
        call.press(keys)
    call.press("#")
    call.press("#")
    call.press(FACILITY)
    answer_criteria(call)
    call.press("1")


def speech(call: SimulatedCall) -> None:
    for words in (
        "summit health",
        "new order",
        "one two three four five six seven eight nine three",
        "five three seven five four eight one eight seven",
        "September twenty seventh nineteen ninety five",
        "MRI of the lumbar spine without contrast",
        "low back pain",
        "lower back pain for eight weeks",
        "physical therapy and ibuprofen for seven weeks",
        "Saint Brigid Hospital Radiology",
    ):
        call.say(words)
    answer_criteria(call)
    call.say("submit")


def answer_criteria(call: SimulatedCall) -> None:
    """Answer whatever the criteria ask: no red flag, 8 weeks of symptoms and of care.

    The member is under 50, so lumbar MRI's criteria ask all their questions: the worst case.
    """
    for _ in range(6):
        text = call.text
        if "To submit, press 1" in text:
            return
        call.press("2" if "Press 1 for yes" in text else "8#")
    raise RuntimeError("the criteria kept asking: " + call.text)


def estimate(call: SimulatedCall) -> tuple[int, int, float]:
    words = answers = 0
    for index, reply in enumerate(call.replies):
        if index > 0:
            answers += 1
        for line in reply.heard:
            if "order number is" in line:
                first = line[: line.index("order number is")] + "order number is "
                number = re.search(r"order number is ([\d ,]+)\.", line)
                words += len((first + (number.group(1) if number else "")).split())
                return words, answers, words / WORDS_PER_MINUTE * 60 + answers * SECONDS_PER_ANSWER
            words += len(line.split())
    raise RuntimeError("no order number was read: " + call.text)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/bench.db", "TWILIO_AUTH_TOKEN": TOKEN})
        runner = app.test_cli_runner()
        for args in (["init-db"], ["seed"]):
            result = runner.invoke(args=args)
            if result.exit_code:
                print(result.output)
                return 1
        worst = 0.0
        header = f"{'path':8} {'words':>6} {'answers':>8} {'seconds':>8}"
        print(f"{header}  target < {TARGET_SECONDS:.0f} s")
        paths: list[tuple[str, Callable[[SimulatedCall], None]]] = [
            ("keypad", keypad),
            ("keys", keys_only),
            ("speech", speech),
        ]
        for name, walk in paths:
            caller = Caller(FlaskTransport(app.test_client()), auth_token=TOKEN)
            call = caller.dial()
            walk(call)
            words, answers, seconds = estimate(call)
            worst = max(worst, seconds)
            print(
                f"{name:8} {words:6d} {answers:8d} {seconds:8.1f}  "
                f"{'PASS' if seconds < TARGET_SECONDS else 'FAIL'}"
            )
        print(f"longest estimated order request: {worst:.1f} s ({worst / 60:.2f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
