"""Business hours and the holiday calendar (ivr/services/hours.py): pure, no app."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ivr.config import ConfigError, load
from ivr.services.hours import HoursError, parse_schedule, us_federal_holidays
from ivr.services.queues import is_open, read_queues
from tests.said import prompts

ROOT = Path(__file__).resolve().parent.parent
NY = ZoneInfo("America/New_York")
DEFAULT = parse_schedule()


def at(year: int, month: int, day: int, hour: int, minute: int = 0, zone: str = "") -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone) if zone else NY)


@pytest.mark.parametrize(
    ("day", "why"),
    [
        (dt.date(2026, 1, 1), "New Year's Day"),
        (dt.date(2026, 1, 19), "Martin Luther King Jr. Day, third Monday of January"),
        (dt.date(2026, 2, 16), "Washington's Birthday, third Monday of February"),
        (dt.date(2026, 5, 25), "Memorial Day, last Monday of May"),
        (dt.date(2026, 6, 19), "Juneteenth"),
        (dt.date(2026, 7, 3), "Independence Day falls on a Saturday: observed Friday"),
        (dt.date(2026, 9, 7), "Labor Day"),
        (dt.date(2026, 10, 12), "Columbus Day"),
        (dt.date(2026, 11, 11), "Veterans Day"),
        (dt.date(2026, 11, 26), "Thanksgiving, fourth Thursday of November"),
        (dt.date(2026, 12, 25), "Christmas Day"),
        (dt.date(2027, 12, 24), "Christmas 2027 falls on a Saturday: observed Friday"),
        (dt.date(2027, 12, 31), "New Year's Day 2028 falls on a Saturday: observed Dec 31"),
        (dt.date(2023, 1, 2), "New Year's Day 2023 fell on a Sunday: observed Monday"),
    ],
)
def test_us_federal_holidays_as_observed(day: dt.date, why: str) -> None:
    assert day in us_federal_holidays(day.year), why


def test_a_year_has_eleven_observed_holidays_and_not_the_saturday_itself() -> None:
    assert len(us_federal_holidays(2026)) == 11
    assert dt.date(2026, 7, 4) not in us_federal_holidays(2026)
    assert dt.date(2026, 11, 27) not in us_federal_holidays(2026)  # the day after Thanksgiving


def test_closed_on_thanksgiving_2026_at_noon_and_open_the_next_day() -> None:
    assert not DEFAULT.is_open(at(2026, 11, 26, 12))
    assert DEFAULT.is_open(at(2026, 11, 27, 12))
    assert not DEFAULT.is_open(at(2026, 7, 3, 12))  # July 4th observed


def test_hours_are_judged_in_the_queues_zone() -> None:
    utc = ZoneInfo("UTC")
    assert not DEFAULT.is_open(dt.datetime(2026, 12, 7, 13, 29, tzinfo=utc))  # 8:29 EST
    assert DEFAULT.is_open(dt.datetime(2026, 12, 7, 13, 30, tzinfo=utc))  # 8:30 EST
    assert DEFAULT.is_open(dt.datetime(2026, 12, 7, 23, 59, tzinfo=utc))  # 18:59 EST
    assert not DEFAULT.is_open(dt.datetime(2026, 12, 8, 0, 0, tzinfo=utc))  # 19:00 EST
    assert DEFAULT.is_open(dt.datetime(2026, 7, 6, 12, 30, tzinfo=utc))  # 8:30 EDT
    assert not DEFAULT.is_open(at(2026, 12, 5, 12))  # a Saturday
    west = parse_schedule("Mon-Fri 08:30-19:00", "America/Los_Angeles")
    assert not west.is_open(at(2026, 12, 7, 9))  # 6 a.m. in Los Angeles
    assert west.is_open(at(2026, 12, 7, 21))  # 6 p.m. there


def test_the_next_opening_skips_nights_weekends_and_holidays() -> None:
    assert DEFAULT.next_open(at(2026, 12, 4, 19)) == at(2026, 12, 7, 8, 30)  # Fri night
    assert DEFAULT.next_open(at(2026, 12, 7, 7)) == at(2026, 12, 7, 8, 30)  # before opening
    assert DEFAULT.next_open(at(2026, 11, 25, 20)) == at(2026, 11, 27, 8, 30)  # Thanksgiving
    assert DEFAULT.next_open(at(2026, 12, 24, 20)) == at(2026, 12, 28, 8, 30)  # Christmas


def test_several_spans_and_no_holidays() -> None:
    schedule = parse_schedule("Mon-Fri 08:00-17:00; Sat 09:00-13:00", "America/Chicago", "none")
    chicago = "America/Chicago"
    assert schedule.is_open(at(2026, 12, 5, 10, zone=chicago))  # Saturday morning
    assert not schedule.is_open(at(2026, 12, 5, 13, zone=chicago))
    assert schedule.is_open(at(2026, 11, 26, 10, zone=chicago))  # no holidays: open


@pytest.mark.parametrize(
    ("hours", "zone", "holidays"),
    [
        ("Mon-Fri 8:30", "", ""),
        ("Fri-Mon 08:30-19:00", "", ""),
        ("Mon-Fri 19:00-08:30", "", ""),
        ("Mon-Fri 08:30-25:00", "", ""),
        ("", "Mars/Olympus", ""),
        ("", "", "canadian"),
    ],
)
def test_a_bad_schedule_is_refused_with_its_place(hours: str, zone: str, holidays: str) -> None:
    with pytest.raises(HoursError, match="queues.csv:3"):
        parse_schedule(hours, zone, holidays, where="queues.csv:3")


def test_the_queues_file_gives_every_queue_the_default_hours() -> None:
    queues = read_queues(ROOT / "data")
    assert set(queues) == {"general", "orders", "helpdesk", "clinical"}
    for queue in queues.values():
        assert queue.schedule == DEFAULT


def test_the_override_forces_a_state() -> None:
    queue = read_queues(ROOT / "data")["general"]
    thanksgiving = at(2026, 11, 26, 12)
    assert not is_open(queue, thanksgiving)
    assert is_open(queue, thanksgiving, "open")
    assert not is_open(queue, at(2026, 11, 27, 12), "closed")


def test_a_bad_override_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="IVR_HOURS_OVERRIDE"):
        load(tmp_path, {"IVR_HOURS_OVERRIDE": "maybe"})
    with pytest.raises(ConfigError, match="IVR_HOLD_PAUSE"):
        load(tmp_path, {"IVR_HOLD_PAUSE": 45})


def test_every_hold_line_prompt_is_in_every_language() -> None:
    english = {k for k in prompts("en-US").table if k.startswith("queue.")}
    spanish = {k for k in prompts("es-US").table if k.startswith("queue.")}
    assert english and english == spanish
