"""An order's 60 days, counted in the line's calendar days: plain functions, no store."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from ivr.services import validity

ZONE = "America/New_York"
NEW_YORK = ZoneInfo(ZONE)


@pytest.mark.parametrize(
    "issued",
    [
        dt.datetime(2026, 11, 28, 0, 0, tzinfo=NEW_YORK),  # the day's first instant
        dt.datetime(2026, 11, 28, 23, 30, tzinfo=NEW_YORK),  # 04:30 UTC on November 29
        dt.datetime(2026, 11, 29, 0, 30, tzinfo=dt.UTC),  # 19:30 on November 28 in New York
    ],
)
def test_an_order_is_valid_through_the_end_of_the_sixtieth_day(issued: dt.datetime) -> None:
    expires = validity.expires_at(issued, ZONE)
    assert expires == dt.datetime(2027, 1, 28, 5, 0, tzinfo=dt.UTC)  # midnight in New York
    assert expires.tzinfo == dt.UTC
    assert validity.last_day(expires, ZONE) == dt.date(2027, 1, 27)
    assert validity.days_left(expires, issued, ZONE) == 60


def test_the_day_ends_at_local_midnight_across_a_clock_change() -> None:
    # Issued in standard time, expiring in daylight time: the end is 04:00 UTC, not 05:00.
    expires = validity.expires_at(dt.datetime(2026, 3, 1, 12, 0, tzinfo=NEW_YORK), ZONE)
    assert expires == dt.datetime(2026, 5, 1, 4, 0, tzinfo=dt.UTC)
    assert validity.last_day(expires, ZONE) == dt.date(2026, 4, 30)


def test_days_left_counts_calendar_days_down_to_zero() -> None:
    expires = validity.expires_at(dt.datetime(2026, 11, 28, 9, 0, tzinfo=NEW_YORK), ZONE)
    left = {
        dt.datetime(2026, 11, 29, 0, 1, tzinfo=NEW_YORK): 59,
        dt.datetime(2027, 1, 27, 0, 0, tzinfo=NEW_YORK): 0,
        dt.datetime(2027, 1, 27, 23, 59, tzinfo=NEW_YORK): 0,
        dt.datetime(2027, 2, 10, 12, 0, tzinfo=NEW_YORK): 0,
    }
    assert {now: validity.days_left(expires, now, ZONE) for now in left} == left


def test_the_extension_window_is_the_last_fourteen_days() -> None:
    expires = validity.expires_at(dt.datetime(2026, 11, 28, 9, 0, tzinfo=NEW_YORK), ZONE)
    assert validity.window_opens(expires, 14, ZONE) == dt.date(2027, 1, 14)
    before = dt.datetime(2027, 1, 13, 23, 59, tzinfo=NEW_YORK)
    opens = dt.datetime(2027, 1, 14, 0, 0, tzinfo=NEW_YORK)
    after = dt.datetime(2027, 3, 1, 12, 0, tzinfo=NEW_YORK)
    assert not validity.in_window(expires, before, 14, ZONE)
    assert validity.in_window(expires, opens, 14, ZONE)
    assert validity.in_window(expires, after, 14, ZONE)  # expired orders may be extended too
