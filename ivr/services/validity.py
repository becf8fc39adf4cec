"""How long an order number is good for, in the line's time zone: the one rule every door uses.

An order issued on day D (the line's local day) is valid through the end of day D + 60.
`expires_at` is the instant that day ends, stored in UTC; callers hear the last valid day and
the whole days left after today (60 on the day of issue, 0 on the last day).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

VALID_DAYS = 60


def local_day(when: dt.datetime, zone: str) -> dt.date:
    """The line's calendar day at the instant `when`."""
    return when.astimezone(ZoneInfo(zone)).date()


def day_ends(day: dt.date, zone: str) -> dt.datetime:
    """The instant `day` ends in `zone` (the next local midnight), in UTC."""
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=ZoneInfo(zone))
    return midnight.astimezone(dt.UTC)


def expires_at(issued: dt.datetime, zone: str) -> dt.datetime:
    """The end of the 60th day after the local day of `issued`, in UTC."""
    return day_ends(local_day(issued, zone) + dt.timedelta(days=VALID_DAYS), zone)


def last_day(expires: dt.datetime, zone: str) -> dt.date:
    """The last local day an order expiring at `expires` is valid on."""
    return local_day(expires - dt.timedelta(microseconds=1), zone)


def days_left(expires: dt.datetime, now: dt.datetime, zone: str) -> int:
    """Whole days after today through the last valid day; 0 on the last day and after."""
    return max((last_day(expires, zone) - local_day(now, zone)).days, 0)


def window_opens(expires: dt.datetime, window_days: int, zone: str) -> dt.date:
    """The first of an order's last `window_days` valid days (when it may be extended)."""
    return last_day(expires, zone) - dt.timedelta(days=window_days - 1)


def in_window(expires: dt.datetime, now: dt.datetime, window_days: int, zone: str) -> bool:
    """Whether `now` falls in the order's last `window_days` days, or after it expired."""
    return local_day(now, zone) >= window_opens(expires, window_days, zone)
