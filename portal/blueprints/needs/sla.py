"""Response-time targets (SLA) for requests, counted in the program's opening hours and
time zone.

Each program sets, per kind and urgency, the opening hours to a first contact and to a
resolution. A ride has one more rule: it is confirmed by the close of the last working
day before the ride.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from portal.blueprints.needs.models import NeedKind, Urgency
from portal.hours import add_open_time

# (kind, urgency) -> (opening hours to first contact, opening hours to resolution).
# A working day of the default program is 9 opening hours (08:00 to 17:00).
DEFAULT_RULES: dict[tuple[NeedKind, Urgency], tuple[int, int | None]] = {
    (NeedKind.HOUSING, Urgency.URGENT): (4, 45),
    (NeedKind.HOUSING, Urgency.SOON): (9, 90),
    (NeedKind.HOUSING, Urgency.ROUTINE): (18, 135),
    (NeedKind.TRANSPORT, Urgency.URGENT): (2, None),
    (NeedKind.TRANSPORT, Urgency.SOON): (4, None),
    (NeedKind.TRANSPORT, Urgency.ROUTINE): (9, None),
    (NeedKind.OTHER, Urgency.URGENT): (4, 27),
    (NeedKind.OTHER, Urgency.SOON): (9, 45),
    (NeedKind.OTHER, Urgency.ROUTINE): (18, 90),
}
# A ride whose confirmation is due within this much opening time is urgent; within
# SOON_WINDOW it is soon; later, routine.
URGENT_WINDOW = timedelta(hours=9)
SOON_WINDOW = timedelta(hours=27)


@dataclass(frozen=True)
class Rule:
    contact_hours: int
    resolve_hours: int | None


@dataclass(frozen=True)
class Clock:
    """A program's opening hours and time zone."""

    opening_hours: dict
    timezone: str

    def after(self, start: datetime, hours: float) -> datetime | None:
        return add_open_time(
            self.opening_hours, self.timezone, start, timedelta(hours=hours)
        )

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """Opening and closing time on a local date (None: closed that day)."""
        hours = self.opening_hours.get(str(day.weekday()))
        if not hours:
            return None
        tz = ZoneInfo(self.timezone)
        start, end = (time.fromisoformat(value) for value in hours)
        return datetime.combine(day, start, tz), datetime.combine(day, end, tz)


@dataclass(frozen=True)
class Deadlines:
    contact_due: datetime | None
    resolve_due: datetime | None


def ride_confirm_by(clock: Clock, ride_at: datetime) -> datetime | None:
    """The close of the last working day before the ride's day (None: no such day in
    the two weeks before it)."""
    tz = ZoneInfo(clock.timezone)
    ride_day = ride_at.astimezone(tz).date()
    for back in range(1, 15):
        window = clock.window(ride_day - timedelta(days=back))
        if window is not None:
            return window[1]
    return None


def transport_deadline(clock: Clock, asked_at: datetime, ride_at: datetime) -> datetime:
    """When a ride must be confirmed: by the working day before, or, when that has
    already closed, before the ride itself."""
    confirm_by = ride_confirm_by(clock, ride_at)
    if confirm_by is None or confirm_by <= asked_at:
        return ride_at
    return confirm_by


def transport_urgency(clock: Clock, asked_at: datetime, ride_at: datetime) -> Urgency:
    """How urgent a ride is, from how much opening time is left to confirm it."""
    deadline = transport_deadline(clock, asked_at, ride_at)
    if deadline == ride_at or deadline <= _later(clock, asked_at, URGENT_WINDOW):
        return Urgency.URGENT
    if deadline <= _later(clock, asked_at, SOON_WINDOW):
        return Urgency.SOON
    return Urgency.ROUTINE


def _later(clock: Clock, start: datetime, span: timedelta) -> datetime:
    return clock.after(start, span.total_seconds() / 3600) or start + span


def deadlines(
    clock: Clock,
    rule: Rule,
    kind: NeedKind,
    start: datetime,
    ride_at: datetime | None = None,
) -> Deadlines:
    """First-contact and resolution deadlines for a request asked (or resumed) at
    `start`. A ride's deadlines never fall after its confirmation deadline."""
    contact = clock.after(start, rule.contact_hours)
    resolve = (
        clock.after(start, rule.resolve_hours)
        if rule.resolve_hours is not None
        else None
    )
    if kind is NeedKind.TRANSPORT and ride_at is not None:
        confirm = transport_deadline(clock, start, ride_at)
        resolve = min(resolve, confirm) if resolve else confirm
        contact = min(contact, confirm) if contact else confirm
    return Deadlines(contact, resolve)


def open_time_between(clock: Clock, start: datetime, end: datetime) -> timedelta:
    """Opening time between two moments (for response-time reports)."""
    if end <= start:
        return timedelta(0)
    tz = ZoneInfo(clock.timezone)
    day, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    total = timedelta(0)
    while day <= last:
        window = clock.window(day)
        if window is not None:
            begin, finish = max(window[0], start), min(window[1], end)
            if finish > begin:
                total += finish - begin
        day += timedelta(days=1)
    return total
