"""A program's opening hours in its own time zone: open now?, next opening, and
durations counted in opening hours only."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def _window(
    opening_hours: dict, day: date, tz: ZoneInfo
) -> tuple[datetime, datetime] | None:
    hours = opening_hours.get(str(day.weekday()))
    if not hours:
        return None
    start, end = (time.fromisoformat(value) for value in hours)
    return datetime.combine(day, start, tz), datetime.combine(day, end, tz)


def is_open(opening_hours: dict, tz_name: str, at: datetime) -> bool:
    tz = ZoneInfo(tz_name)
    local = at.astimezone(tz)
    window = _window(opening_hours, local.date(), tz)
    return window is not None and window[0] <= local < window[1]


def next_opening(opening_hours: dict, tz_name: str, at: datetime) -> datetime | None:
    """The next time the program opens after `at` (None when it never opens)."""
    tz = ZoneInfo(tz_name)
    local = at.astimezone(tz)
    for offset in range(0, 15):
        window = _window(opening_hours, local.date() + timedelta(days=offset), tz)
        if window and window[0] > local:
            return window[0]
    return None


def add_open_time(
    opening_hours: dict, tz_name: str, start: datetime, duration: timedelta
) -> datetime | None:
    """The moment when `duration` of opening hours has passed since `start`."""
    tz = ZoneInfo(tz_name)
    local = start.astimezone(tz)
    remaining = duration
    for offset in range(0, 366):
        window = _window(opening_hours, local.date() + timedelta(days=offset), tz)
        if window is None:
            continue
        begin = max(window[0], local)
        if begin >= window[1]:
            continue
        available = window[1] - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    return None


def closes_at(opening_hours: dict, tz_name: str, at: datetime) -> datetime | None:
    """When the current opening window ends, or None when the program is closed now."""
    tz = ZoneInfo(tz_name)
    local = at.astimezone(tz)
    window = _window(opening_hours, local.date(), tz)
    if window is None or not window[0] <= local < window[1]:
        return None
    return window[1]
