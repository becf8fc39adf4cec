"""A queue's business hours: weekly opening times in its own zone, closed on its holidays.

Pure: no store, no clock it is not handed. US federal holidays are computed (the rules of
5 U.S.C. 6103, observed on the Friday before a Saturday and the Monday after a Sunday), not
typed in, so the calendar never runs out.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_HOURS = "Mon-Fri 08:30-19:00"
DEFAULT_TIMEZONE = "America/New_York"
US_FEDERAL, NO_HOLIDAYS = "us-federal", "none"
HOLIDAY_CALENDARS = (US_FEDERAL, NO_HOLIDAYS)
# How far ahead the next opening is looked for (a year of holidays cannot close more).
_LOOKAHEAD_DAYS = 370

_SEGMENT = re.compile(
    r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+"
    r"(?P<opens>\d{1,2}:\d{2})-(?P<closes>\d{1,2}:\d{2})$"
)


class HoursError(ValueError):
    """A schedule that cannot be read; the message names what is wrong."""


@dataclass(frozen=True)
class Segment:
    """Open from `opens` to `closes` (local time) on each of `days` (0 = Monday)."""

    days: tuple[int, ...]
    opens: dt.time
    closes: dt.time


@dataclass(frozen=True)
class Schedule:
    segments: tuple[Segment, ...]
    timezone: str = DEFAULT_TIMEZONE
    holidays: str = US_FEDERAL

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_holiday(self, day: dt.date) -> bool:
        return self.holidays == US_FEDERAL and day in us_federal_holidays(day.year)

    def hours_on(self, day: dt.date) -> list[tuple[dt.time, dt.time]]:
        """The opening spans of a local date (none on a holiday)."""
        if self.is_holiday(day):
            return []
        return [(s.opens, s.closes) for s in self.segments if day.weekday() in s.days]

    def is_open(self, at: dt.datetime) -> bool:
        """Open at the aware instant `at`, judged on the queue's own clock."""
        local = at.astimezone(self.zone)
        now = local.time().replace(tzinfo=None)
        return any(opens <= now < closes for opens, closes in self.hours_on(local.date()))

    def next_open(self, at: dt.datetime) -> dt.datetime | None:
        """The next opening strictly after `at` (aware, in the queue's zone); None if never."""
        zone = self.zone
        local = at.astimezone(zone)
        for offset in range(_LOOKAHEAD_DAYS):
            day = local.date() + dt.timedelta(days=offset)
            for opens, _ in sorted(self.hours_on(day)):
                start = dt.datetime.combine(day, opens, tzinfo=zone)
                if start > local:
                    return start
        return None


def _clock(text: str, where: str) -> dt.time:
    hour, minute = (int(part) for part in text.split(":"))
    if hour == 24 and minute == 0:
        return dt.time.max
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise HoursError(f"{where}: {text!r} is not a time of day")
    return dt.time(hour, minute)


def parse_schedule(
    hours: str = "", timezone: str = "", holidays: str = "", where: str = "hours"
) -> Schedule:
    """Read "Mon-Fri 08:30-19:00; Sat 09:00-13:00", a zone and a holiday calendar.

    Empty values take the defaults (Monday to Friday 08:30-19:00, New York, US federal).
    """
    timezone = timezone.strip() or DEFAULT_TIMEZONE
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursError(f"{where}: {timezone!r} is not an IANA zone name") from None
    calendar = holidays.strip().lower() or US_FEDERAL
    if calendar not in HOLIDAY_CALENDARS:
        raise HoursError(f"{where}: holidays must be one of {', '.join(HOLIDAY_CALENDARS)}")
    segments = []
    for part in (hours.strip() or DEFAULT_HOURS).split(";"):
        found = _SEGMENT.match(" ".join(part.lower().split()))
        if not found or found["first"] not in DAYS or (found["last"] or "mon") not in DAYS:
            raise HoursError(f"{where}: {part.strip()!r} is not like 'Mon-Fri 08:30-19:00'")
        first = DAYS.index(found["first"])
        last = DAYS.index(found["last"]) if found["last"] else first
        if last < first:
            raise HoursError(f"{where}: {part.strip()!r}: days run Monday to Sunday")
        opens = _clock(found["opens"], where)
        closes = _clock(found["closes"], where)
        if closes <= opens:
            raise HoursError(f"{where}: {part.strip()!r} closes before it opens")
        segments.append(Segment(tuple(range(first, last + 1)), opens, closes))
    return Schedule(tuple(segments), timezone, calendar)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th `weekday` (0 = Monday) of a month; n = -1 for the last."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    end = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return end - dt.timedelta(days=(end.weekday() - weekday) % 7)


def _observed(day: dt.date) -> dt.date:
    if day.weekday() == 5:
        return day - dt.timedelta(days=1)
    if day.weekday() == 6:
        return day + dt.timedelta(days=1)
    return day


@cache
def us_federal_holidays(year: int) -> frozenset[dt.date]:
    """The days federal offices close in `year`, as observed (a Saturday's on the Friday
    before, a Sunday's on the Monday after; next New Year's Day may fall on December 31)."""
    mon, thu = 0, 3
    fixed = [(1, 1), (7, 4), (11, 11), (12, 25)]
    if year >= 2021:
        fixed.append((6, 19))  # Juneteenth National Independence Day
    days = {_observed(dt.date(year, month, day)) for month, day in fixed}
    days |= {
        _nth_weekday(year, 1, mon, 3),  # Birthday of Martin Luther King, Jr.
        _nth_weekday(year, 2, mon, 3),  # Washington's Birthday
        _nth_weekday(year, 5, mon, -1),  # Memorial Day
        _nth_weekday(year, 9, mon, 1),  # Labor Day
        _nth_weekday(year, 10, mon, 2),  # Columbus Day
        _nth_weekday(year, 11, thu, 4),  # Thanksgiving Day
    }
    days.add(_observed(dt.date(year + 1, 1, 1)))  # Dec 31 when New Year's Day is a Saturday
    return frozenset(d for d in days if d.year == year)
