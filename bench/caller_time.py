"""Estimated caller time of the line's common tasks, from the first word of the greeting.

Places real calls in-process (signed webhooks, a fresh SQLite store) and estimates: every
word the line speaks at 160 words per minute, plus 3 seconds per answer the caller gives.

- order request, by keypad (a spoken diagnosis and symptoms), by keys only (the diagnosis
  as its code, symptoms and history skipped with `#`) and by speech: to the first reading of
  the order number;
- status check, by keypad: plan, existing order, number and NPI, to the end of the status
  read (the menu after it not counted);
- password reset, by keypad: plan, help desk, reset, to the end of "we've sent a code" (the
  menu after it not counted); from a phone that is an account's registered mobile, and
  from any other phone (the account named by its NPI).

Targets: an order request <= 2:00 (keypad and speech), a status check <= 45 s, a password
reset <= 60 s.

    .venv/bin/python bench/caller_time.py [-v]   (-v: every reply heard, with its words)
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml  # noqa: E402

from ivr import create_app  # noqa: E402
from ivr.engine.prompts import Prompts  # noqa: E402
from ivr.simulate import Caller, FlaskTransport, SimulatedCall  # noqa: E402

WORDS_PER_MINUTE = 160
SECONDS_PER_ANSWER = 3.0
TOKEN = "bench-token"
FACILITY = "2297655682"  # St. Brigid Hospital Radiology, in network for Summit
NPI = "1234567893"  # Dr. Alan Whitfield, the ordering physician of the bench's orders
REGISTERED_MOBILE = "+12125550143"  # jmorales's mobile (data/portal_users.csv), ZIP 10016
OTHER_PHONE = "+13125550000"  # no account's mobile
PRAMAN_NPI, PRAMAN_ZIP = "1349106546", "44113"  # one account for this NPI
PROMPTS = Prompts(
    "en-US",
    yaml.safe_load(
        (Path(__file__).resolve().parent.parent / "prompts" / "en-US.yaml").read_text("utf-8")
    ),
)


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
    for _ in range(12):
        text = call.text
        if "To submit, press 1" in text:
            return
        call.press("2" if "Press 1 for yes" in text else "8#")
    raise RuntimeError("the criteria kept asking: " + call.text)


def status_check(number: str) -> Callable[[SimulatedCall], None]:
    """Summit, existing order, the order number and the ordering physician's NPI."""

    def walk(call: SimulatedCall) -> None:
        for keys in ("1", "2", number + "#", NPI + "#"):
            call.press(keys)

    return walk


def reset_registered_mobile(call: SimulatedCall) -> None:
    """From jmorales's registered mobile: the account is known (1: this phone's account, when
    the line offers another), then only the ZIP is asked."""
    for keys in ("1", "3", "1"):
        call.press(keys)
    if "press 1" in call.text:  # "For the account registered to this phone, press 1."
        call.press("1")
    call.press("10016#")


def reset_by_npi(call: SimulatedCall) -> None:
    """From a phone no account has: the NPI names the account, the ZIP proves it."""
    for keys in ("1", "3", "1", PRAMAN_NPI + "#", PRAMAN_ZIP + "#"):
        call.press(keys)


# Where each kind of path ends: a line (or the start of one) as the caller hears it.
Ending = Callable[[str], "str | None"]


def order_number_read(line: str) -> str | None:
    """The words up to the first reading of the order number, if this line has it."""
    if "order number is" not in line:
        return None
    first = line[: line.index("order number is")] + "order number is "
    number = re.search(r"order number is ([\d ,]+)\.", line)
    return first + (number.group(1) if number else "")


def before(key: str) -> Ending:
    """The path ends just before the line that is prompt `key` (a menu after the answer)."""
    menu = PROMPTS.text(key)
    return lambda line: "" if line == menu else None


def seconds(words: int, answers: int) -> float:
    return words / WORDS_PER_MINUTE * 60 + answers * SECONDS_PER_ANSWER


def estimate(call: SimulatedCall, ending: Ending) -> tuple[int, int, float, float]:
    """Words, answers and seconds of the whole path, and the seconds after the main menu
    (from the caller's choice there: the part the task's own flow decides)."""
    words = answers = 0
    menu = PROMPTS.text("main.menu.prompt")
    at_menu: tuple[int, int] | None = None
    for index, reply in enumerate(call.replies):
        if index > 0:
            answers += 1
        for line in reply.heard:
            last = ending(line)
            if last is not None:
                words += len(last.split())
                own_words, own_answers = at_menu or (0, 0)
                own = seconds(words - own_words, answers - own_answers)
                return words, answers, seconds(words, answers), own
            words += len(line.split())
            if line == menu and at_menu is None:
                at_menu = (words, answers)
    raise RuntimeError("the path never reached its end: " + " | ".join(call.transcript))


def main() -> int:
    verbose = "-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/bench.db", "TWILIO_AUTH_TOKEN": TOKEN})
        runner = app.test_cli_runner()
        for args in (["init-db"], ["seed"]):
            result = runner.invoke(args=args)
            if result.exit_code:
                print(result.output)
                return 1

        def place(walk: Callable[[SimulatedCall], None], phone: str) -> SimulatedCall:
            caller = Caller(FlaskTransport(app.test_client()), auth_token=TOKEN, from_number=phone)
            call = caller.dial()
            walk(call)
            return call

        # The keypad order comes first: the status check looks it up.
        first = place(keypad, OTHER_PHONE)
        found = re.search(r"order number is ([\d ,]+)\.", first.text)
        if found is None:
            print("the keypad order was not issued: " + first.text)
            return 1
        number = re.sub(r"\D", "", found.group(1))
        # name, walk, phone, where it ends, target in seconds
        paths: list[tuple[str, Callable[[SimulatedCall], None], str, Ending, float]] = [
            ("order, keypad", keypad, OTHER_PHONE, order_number_read, 120.0),
            ("order, keys only", keys_only, OTHER_PHONE, order_number_read, 120.0),
            ("order, speech", speech, OTHER_PHONE, order_number_read, 120.0),
            (
                "status check",
                status_check(number),
                OTHER_PHONE,
                before("status.menu.approved"),
                45.0,
            ),
            (
                "reset, known mobile",
                reset_registered_mobile,
                REGISTERED_MOBILE,
                before("helpdesk.after"),
                60.0,
            ),
            ("reset, by NPI", reset_by_npi, OTHER_PHONE, before("helpdesk.after"), 60.0),
        ]
        print(
            f"{'path':20} {'words':>6} {'answers':>8} {'seconds':>8} {'target':>7}"
            f"  {'':4} {'after menu':>10}"
        )
        failed = 0
        for name, walk, phone, ending, target in paths:
            call = first if walk is keypad else place(walk, phone)
            words, answers, total, own = estimate(call, ending)
            ok = total <= target
            failed += not ok
            print(
                f"{name:20} {words:6d} {answers:8d} {total:8.1f} {target:7.0f}  "
                f"{'PASS' if ok else 'FAIL':4} {own:10.1f}"
            )
            if verbose:  # what the caller heard, answer by answer, with its word count
                for reply in call.replies:
                    print(f"    {sum(len(line.split()) for line in reply.heard):4d}  ", end="")
                    print(" | ".join(reply.heard))
        print(f"{len(paths) - failed} of {len(paths)} paths within their target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
