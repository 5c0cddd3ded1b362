"""Response-time arithmetic in a program's opening hours: nights, weekends, holidays
(closed days), time zones and the clock change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.blueprints.needs.models import NeedKind, Urgency
from portal.blueprints.needs.sla import (
    Clock,
    Rule,
    deadlines,
    open_time_between,
    ride_confirm_by,
    transport_deadline,
    transport_urgency,
)

WEEKDAYS_8_TO_5 = {str(d): ["08:00", "17:00"] for d in range(5)}
NY = "America/New_York"
NEW_YORK = ZoneInfo(NY)


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


@pytest.fixture
def clock() -> Clock:
    return Clock(WEEKDAYS_8_TO_5, NY)


# 2026-03-02 is a Monday.


def test_four_opening_hours_inside_one_day(clock):
    due = deadlines(clock, Rule(4, None), NeedKind.HOUSING, ny(2026, 3, 2, 9, 0))
    assert due.contact_due == ny(2026, 3, 2, 13, 0)
    assert due.resolve_due is None


def test_hours_carry_over_the_night(clock):
    due = deadlines(clock, Rule(4, None), NeedKind.HOUSING, ny(2026, 3, 2, 15, 30))
    assert due.contact_due == ny(2026, 3, 3, 10, 30)


def test_asked_at_night_starts_counting_at_opening(clock):
    due = deadlines(clock, Rule(4, None), NeedKind.HOUSING, ny(2026, 3, 2, 22, 0))
    assert due.contact_due == ny(2026, 3, 3, 12, 0)


def test_friday_afternoon_request_is_due_monday(clock):
    due = deadlines(clock, Rule(4, 9), NeedKind.OTHER, ny(2026, 3, 6, 16, 0))
    assert due.contact_due == ny(2026, 3, 9, 11, 0)
    assert due.resolve_due == ny(2026, 3, 9, 16, 0)


def test_weekend_request_counts_from_monday_opening(clock):
    due = deadlines(clock, Rule(4, None), NeedKind.HOUSING, ny(2026, 3, 7, 10, 0))
    assert due.contact_due == ny(2026, 3, 9, 12, 0)


def test_a_closed_weekday_is_skipped():
    no_wednesday = {k: v for k, v in WEEKDAYS_8_TO_5.items() if k != "2"}
    clock = Clock(no_wednesday, NY)
    due = deadlines(clock, Rule(9, None), NeedKind.OTHER, ny(2026, 3, 3, 12, 0))
    assert due.contact_due == ny(2026, 3, 5, 12, 0)


def test_deadline_is_counted_in_the_programs_time_zone():
    clock = Clock(WEEKDAYS_8_TO_5, "America/Los_Angeles")
    # 16:00 UTC Monday is 08:00 in Los Angeles: the program has just opened.
    asked = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
    due = deadlines(clock, Rule(4, None), NeedKind.HOUSING, asked)
    assert due.contact_due == datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
    # The same moment in New York is 11:00: four hours later is 15:00 there.
    due_ny = deadlines(
        Clock(WEEKDAYS_8_TO_5, NY), Rule(4, None), NeedKind.HOUSING, asked
    )
    assert due_ny.contact_due == ny(2026, 3, 2, 15, 0)


def test_clock_change_weekend_keeps_opening_hours_in_local_time(clock):
    # US clocks go forward on Sunday 2026-03-08: Friday 14:00 EST + 4 opening hours
    # is Monday 09:00 EDT, which is 13:00 UTC, not 14:00.
    due = deadlines(clock, Rule(4, None), NeedKind.HOUSING, ny(2026, 3, 6, 14, 0))
    assert due.contact_due == ny(2026, 3, 9, 9, 0)
    assert due.contact_due.astimezone(UTC).hour == 13


def test_ride_is_confirmed_by_close_of_the_working_day_before(clock):
    # A ride on Tuesday morning: confirmed by Monday 17:00.
    assert ride_confirm_by(clock, ny(2026, 3, 3, 8, 15)) == ny(2026, 3, 2, 17, 0)


def test_monday_ride_is_confirmed_by_friday(clock):
    assert ride_confirm_by(clock, ny(2026, 3, 9, 8, 15)) == ny(2026, 3, 6, 17, 0)


def test_ride_deadlines_never_fall_after_the_confirmation(clock):
    asked = ny(2026, 3, 2, 16, 30)  # Monday, half an hour before closing
    ride = ny(2026, 3, 3, 9, 0)  # Tuesday morning
    due = deadlines(clock, Rule(9, None), NeedKind.TRANSPORT, asked, ride)
    assert due.resolve_due == ny(2026, 3, 2, 17, 0)
    assert due.contact_due == ny(2026, 3, 2, 17, 0)


def test_ride_asked_after_the_day_before_closed_is_due_before_the_ride(clock):
    asked = ny(2026, 3, 6, 18, 0)  # Friday evening, for Monday
    ride = ny(2026, 3, 9, 8, 15)
    assert transport_deadline(clock, asked, ride) == ride
    assert transport_urgency(clock, asked, ride) is Urgency.URGENT


def test_ride_urgency_follows_the_opening_time_left(clock):
    monday_nine = ny(2026, 3, 2, 9, 0)
    # Confirm by Monday 17:00: 8 opening hours left.
    assert transport_urgency(clock, monday_nine, ny(2026, 3, 3, 9)) is Urgency.URGENT
    # Confirm by Wednesday 17:00: 26 opening hours left.
    assert transport_urgency(clock, monday_nine, ny(2026, 3, 5, 9)) is Urgency.SOON
    # Confirm by the next Monday 17:00.
    assert transport_urgency(clock, monday_nine, ny(2026, 3, 10, 9)) is Urgency.ROUTINE


def test_open_time_between_skips_nights_and_weekends(clock):
    start, end = ny(2026, 3, 6, 16, 0), ny(2026, 3, 9, 10, 0)  # Fri 16:00 to Mon 10:00
    assert open_time_between(clock, start, end) == timedelta(hours=3)
    assert open_time_between(clock, end, start) == timedelta(0)


def test_open_time_between_within_one_day(clock):
    start = ny(2026, 3, 2, 7, 0)
    assert open_time_between(clock, start, ny(2026, 3, 2, 12, 30)) == timedelta(
        hours=4, minutes=30
    )
