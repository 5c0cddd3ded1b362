"""Days used against an authorization, counted from the attendance already recorded:
a program day counts when the patient attended at least the track's minimum hours of
sessions that day (breaks are not service). Hours of service per week against the
level of care's expectation, and attended days that no authorization covers."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Integer, and_, exists, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from portal import db
from portal.blueprints.programs.models import LevelOfCare, Track
from portal.blueprints.reviews.models import COVERING, Authorization
from portal.blueprints.schedule.models import (
    Attendance,
    AttendanceStatus,
    GroupSession,
    SessionKind,
)

ATTENDED = (AttendanceStatus.PRESENT, AttendanceStatus.LATE)
# Hours of service a week each level of care is expected to give (CMS: PHP at least
# 20; IOP 9 to 19). None: no upper bound.
WEEKLY_HOURS = {LevelOfCare.PHP: (20, None), LevelOfCare.IOP: (9, 19)}


class session_minutes(FunctionElement):
    """Minutes from a session's start to its end (two TIME columns)."""

    type = Integer()
    inherit_cache = True


@compiles(session_minutes)
def _minutes_sqlite(element, compiler, **kw):
    starts, ends = (compiler.process(arg, **kw) for arg in element.clauses)
    seconds = "CAST(strftime('%s', {}) AS INTEGER)"
    return f"(({seconds.format(ends)} - {seconds.format(starts)}) / 60)"


@compiles(session_minutes, "postgresql")
def _minutes_postgresql(element, compiler, **kw):
    starts, ends = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({ends} - {starts})) / 60 AS INTEGER)"


# Each session that gives service, with its level of care, its length and its
# track's daily minimum in minutes: computed once per session, not per attendance
# row, and kept apart from the outer query (MATERIALIZED) so that PostgreSQL hashes
# these few rows instead of planning around them.
SERVICE = (
    select(
        GroupSession.id,
        Track.level_of_care.label("level"),
        session_minutes(GroupSession.starts_at, GroupSession.ends_at).label("minutes"),
        (Track.minimum_daily_hours * 60).label("minimum"),
    )
    .join(Track, Track.id == GroupSession.track_id)
    .where(GroupSession.kind != SessionKind.BREAK)
    .cte("service_sessions")
    .prefix_with("MATERIALIZED")
)


def _minutes():
    return func.sum(SERVICE.c.minutes)


def attended_sessions():
    """Attendance (present or late) at sessions that give service."""
    return (
        select()
        .select_from(Attendance)
        .join(SERVICE, SERVICE.c.id == Attendance.group_session_id)
        .where(Attendance.status.in_(ATTENDED))
    )


def reaches_minimum():
    """In a query grouped by patient and day (and level): the day counts."""
    return _minutes() >= func.max(SERVICE.c.minimum)


def used_days_statement(*conditions):
    """(authorization id, days used) for the authorizations matching `conditions`:
    days inside each one, at its level of care, that reach the track's minimum.
    The days are counted per patient first, then matched to the authorizations."""
    patients = select(Authorization.patient_id).where(*conditions)
    counted = (
        attended_sessions()
        .add_columns(Attendance.patient_id, Attendance.occurs_on, SERVICE.c.level)
        .where(Attendance.patient_id.in_(patients))
        .group_by(Attendance.patient_id, Attendance.occurs_on, SERVICE.c.level)
        .having(reaches_minimum())
        .subquery("counted_days")
    )
    return (
        select(Authorization.id.label("authorization_id"), func.count().label("used"))
        .join(
            counted,
            and_(
                counted.c.patient_id == Authorization.patient_id,
                counted.c.level == Authorization.level_of_care,
                counted.c.occurs_on.between(
                    Authorization.starts_on, Authorization.ends_on
                ),
            ),
        )
        .where(*conditions)
        .group_by(Authorization.id)
    )


def _covered(patient_id, level, day):
    """SQL: an authorization that pays covers this patient's day at this level."""
    return exists().where(
        Authorization.patient_id == patient_id,
        Authorization.level_of_care == level,
        Authorization.status.in_(COVERING),
        day.between(Authorization.starts_on, Authorization.ends_on),
    )


def uncovered_days_statement(first: date, last: date, *conditions):
    """(patient id, day, level of care) of counted days from first to last that no
    paying authorization covers, for the patients matching `conditions`."""
    return (
        attended_sessions()
        .add_columns(Attendance.patient_id, Attendance.occurs_on, SERVICE.c.level)
        .where(
            Attendance.occurs_on.between(first, last),
            ~_covered(Attendance.patient_id, SERVICE.c.level, Attendance.occurs_on),
            *conditions,
        )
        .group_by(Attendance.patient_id, Attendance.occurs_on, SERVICE.c.level)
        .having(reaches_minimum())
    )


@dataclass(frozen=True)
class AttendedDay:
    day: date
    level_of_care: LevelOfCare
    minutes: int
    counts: bool  # reached the track's minimum hours
    covered: bool  # a paying authorization covers it


def attended_days(patient_id: str, first: date, last: date) -> list[AttendedDay]:
    """Each day the patient attended from first to last: hours, whether it counts,
    whether an authorization covers it. One statement."""
    rows = db.session.execute(
        attended_sessions()
        .add_columns(
            Attendance.occurs_on,
            SERVICE.c.level,
            _minutes().label("minutes"),
            reaches_minimum().label("counts"),
            _covered(
                Attendance.patient_id, SERVICE.c.level, Attendance.occurs_on
            ).label("covered"),
        )
        .where(
            Attendance.patient_id == patient_id,
            Attendance.occurs_on.between(first, last),
        )
        .group_by(Attendance.patient_id, Attendance.occurs_on, SERVICE.c.level)
        .order_by(Attendance.occurs_on)
    ).all()
    return [
        AttendedDay(day, LevelOfCare(level), int(minutes), bool(counts), bool(cov))
        for day, level, minutes, counts, cov in rows
    ]


@dataclass(frozen=True)
class WeekHours:
    monday: date
    days: int
    hours: Decimal
    expected_low: int
    expected_high: int | None

    @property
    def meets(self) -> bool:
        high = self.expected_high
        return self.hours >= self.expected_low and (high is None or self.hours <= high)

    @property
    def expectation(self) -> str:
        low, high = self.expected_low, self.expected_high
        return f"at least {low} h" if high is None else f"{low} to {high} h"


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def hours_by_week(
    days: list[AttendedDay], level: LevelOfCare, first: date, last: date
) -> list[WeekHours]:
    """Hours of service in each week from first to last, against the expectation of
    the level of care (every attended hour counts here, not only counted days)."""
    minutes, counted = defaultdict(int), defaultdict(int)
    for item in days:
        minutes[week_of(item.day)] += item.minutes
        counted[week_of(item.day)] += 1
    low, high = WEEKLY_HOURS[level]
    weeks, monday = [], week_of(first)
    while monday <= last:
        hours = (Decimal(minutes[monday]) / 60).quantize(Decimal("0.1"))
        weeks.append(WeekHours(monday, counted[monday], hours, low, high))
        monday += timedelta(days=7)
    return weeks


def program_days_between(weekdays: set[int], first: date, last: date) -> int:
    """How many days from first to last fall on one of these weekdays."""
    if last < first or not weekdays:
        return 0
    total = (last - first).days + 1
    whole, rest = divmod(total, 7)
    count = whole * len(weekdays)
    for offset in range(rest):
        if (first + timedelta(days=whole * 7 + offset)).weekday() in weekdays:
            count += 1
    return count


def track_weekdays(track_ids: set[str]) -> dict[str, set[int]]:
    """The weekdays on which each track has sessions that give service."""
    if not track_ids:
        return {}
    rows = db.session.execute(
        select(GroupSession.track_id, GroupSession.weekday)
        .where(
            GroupSession.track_id.in_(track_ids),
            GroupSession.active.is_(True),
            GroupSession.kind != SessionKind.BREAK,
        )
        .distinct()
    ).all()
    result: dict[str, set[int]] = defaultdict(set)
    for track_id, weekday in rows:
        result[track_id].add(weekday)
    return result
