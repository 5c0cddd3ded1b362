"""The review worklist: running authorizations by next review date with days used
and left, warnings when days run low or a review is near, and the patients who
attend with no authorization. `attention_for_program` gives the same warnings in
plain words for the huddle board."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import IN_TREATMENT, Enrollment, Program
from portal.blueprints.reviews.models import CURRENT, Authorization
from portal.blueprints.reviews.usage import (
    program_days_between,
    track_weekdays,
    uncovered_days_statement,
    used_days_statement,
)
from portal.blueprints.schedule.models import Attendance

DAYS_LEFT_WARNING = 3
REVIEW_WARNING_PROGRAM_DAYS = 2
GAP_LOOKBACK_DAYS = 14
NO_AUTHORIZATION = "Attending with no authorization"


@dataclass
class WorklistRow:
    authorization: Authorization
    patient_name: str
    used: int
    scheduled_ahead: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def left(self) -> int:
        return self.authorization.units - self.used


@dataclass(frozen=True)
class GapRow:
    patient_id: str
    patient_name: str
    days: int
    last_day: date


@dataclass(frozen=True)
class Worklist:
    rows: list[WorklistRow]
    gaps: list[GapRow]
    day: date


def nth_program_day(opening_hours: dict, day: date, n: int) -> date:
    """The n-th day the program is open after `day` (the day itself when n is 0)."""
    open_days = {int(weekday) for weekday in opening_hours} or set(range(5))
    found = day
    while n > 0:
        found += timedelta(days=1)
        n -= found.weekday() in open_days
    return found


def days_left_words(left: int) -> str:
    if left <= 0:
        return "No authorized days left"
    return f"{left} authorized day{'s' if left != 1 else ''} left"


def review_words(review: date, day: date) -> str:
    if review < day:
        return "Review overdue"
    if review == day:
        return "Review due today"
    if review == day + timedelta(days=1):
        return "Review due tomorrow"
    return f"Review due {review:%A}"


def warnings_for(units: int, used: int, review: date | None, day, horizon) -> list:
    """The plain words of what needs doing about one authorization, if anything."""
    words = []
    if units - used <= DAYS_LEFT_WARNING:
        words.append(days_left_words(units - used))
    if review is not None and review <= horizon:
        words.append(review_words(review, day))
    return words


def _running(program_id: str, day: date) -> list:
    return [
        Authorization.program_id == program_id,
        Authorization.status.in_(CURRENT),
        Authorization.ends_on >= day,
    ]


def _authorizations(program_id: str, day: date, circle=None):
    """Running authorizations of the program's enrolled patients, with the patient's
    name and track and the days used: one statement."""
    used = used_days_statement(*_running(program_id, day)).subquery()
    stmt = (
        select(
            Authorization,
            User.display_name,
            Enrollment.track_id,
            func.coalesce(used.c.used, 0),
        )
        .join(Enrollment, Enrollment.id == Authorization.enrollment_id)
        .join(User, User.id == Authorization.patient_id)
        .outerjoin(used, used.c.authorization_id == Authorization.id)
        .where(*_running(program_id, day))
        # The program's enrollments only (its index), not every enrollment.
        .where(
            Enrollment.program_id == program_id,
            Enrollment.status.in_(IN_TREATMENT),
        )
        .order_by(
            Authorization.next_review_on.is_(None),
            Authorization.next_review_on,
            Authorization.ends_on,
            User.display_name,
        )
    )
    return stmt.where(circle) if circle is not None else stmt


def _gaps(program_id: str, day: date, circle=None):
    """Patients of the program with counted days in the last two weeks that no
    authorization covers: (patient id, name, days, last day). One statement."""
    first = day - timedelta(days=GAP_LOOKBACK_DAYS - 1)
    enrolled = [
        Enrollment.program_id == program_id,
        Enrollment.status.in_(IN_TREATMENT),
    ]
    if circle is not None:
        enrolled.append(circle)
    days = (
        uncovered_days_statement(first, day)
        .join(Enrollment, Enrollment.patient_id == Attendance.patient_id)
        .where(*enrolled)
        .subquery()
    )
    return (
        select(
            days.c.patient_id,
            User.display_name,
            func.count(),
            func.max(days.c.occurs_on),
        )
        .join(User, User.id == days.c.patient_id)
        .group_by(days.c.patient_id, User.display_name)
        .order_by(User.display_name)
    )


def build_worklist(program: Program, day: date, circle=None) -> Worklist:
    """The worklist of one program on one day, within a staff member's circle:
    three statements whatever the number of patients."""
    horizon = nth_program_day(program.opening_hours, day, REVIEW_WARNING_PROGRAM_DAYS)
    found = db.session.execute(_authorizations(program.id, day, circle)).all()
    weekdays = track_weekdays({track_id for _, _, track_id, _ in found if track_id})
    rows = []
    for authorization, name, track_id, used in found:
        ahead = program_days_between(
            weekdays.get(track_id, set()),
            max(day + timedelta(days=1), authorization.starts_on),
            authorization.ends_on,
        )
        rows.append(
            WorklistRow(
                authorization,
                name,
                int(used),
                ahead,
                warnings_for(
                    authorization.units,
                    int(used),
                    authorization.next_review_on,
                    day,
                    horizon,
                ),
            )
        )
    gaps = [
        GapRow(patient_id, name, int(count), last)
        for patient_id, name, count, last in db.session.execute(
            _gaps(program.id, day, circle)
        )
    ]
    return Worklist(rows, gaps, day)


def attention_for_program(program_id: str, day: date) -> dict[str, list[str]]:
    """Patient id -> what needs doing about their authorization, in plain words
    ("2 authorized days left", "Review due tomorrow", "Attending with no
    authorization"), for every enrolled patient of the program who needs it. Two
    statements (the program comes from the session when it is already loaded)."""
    program = db.session.get(Program, program_id)
    horizon = nth_program_day(program.opening_hours, day, REVIEW_WARNING_PROGRAM_DAYS)
    attention: dict[str, list[str]] = {}
    for authorization, _name, _track, used in db.session.execute(
        _authorizations(program_id, day)
    ):
        words = warnings_for(
            authorization.units, int(used), authorization.next_review_on, day, horizon
        )
        if words:
            attention.setdefault(authorization.patient_id, []).extend(words)
    for patient_id, *_rest in db.session.execute(_gaps(program_id, day)):
        attention.setdefault(patient_id, []).append(NO_AUTHORIZATION)
    return attention
