"""The director's board: each figure of a program (or of all a director's programs)
over the last 4, 13 or 52 weeks, aggregated by one SQL statement (GROUP BY, window
functions), the same on SQLite and PostgreSQL.

Weeks run Monday to Sunday in each program's own time zone; week 0 is the oldest.
Counts of days (check-ins, group sessions) stop at yesterday, because today is not
over; events (flags, requests, messages) count up to now.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from sqlalchemy import (
    select,
    text,
)

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.programs.access import staff_program_ids
from portal.blueprints.programs.models import Program
from portal.blueprints.safety.models import RiskSettings
from portal.blueprints.staff.board_attendance import AttendanceStatements
from portal.blueprints.staff.board_clinical import ClinicalStatements
from portal.blueprints.staff.board_services import ServiceStatements
from portal.reporting import rows_param

WEEK_CHOICES = (4, 13, 52)
ALL = "all"


@dataclass(frozen=True)
class ProgramFacts:
    """What the board needs of a program: its zone, hours and safety targets."""

    index: int
    id: str
    name: str
    timezone: str
    opening_hours: dict
    t1_minutes: int
    t2_minutes: int
    every_days: int
    admission_screener: bool


@dataclass(frozen=True)
class Scope:
    """One program of the director's, or all of them ("all")."""

    key: str
    programs: tuple[ProgramFacts, ...]

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.programs]

    @property
    def title(self) -> str:
        return "All my programs" if self.many else self.programs[0].name

    @property
    def many(self) -> bool:
        return len(self.programs) > 1


@dataclass(frozen=True)
class Period:
    """The last `weeks` weeks, this week (up to today) the last of them."""

    weeks: int
    first: date
    today: date
    now: datetime

    @property
    def yesterday(self) -> date:
        return self.today - timedelta(days=1)

    def week_start(self, week_no: int) -> date:
        return self.first + timedelta(weeks=week_no)

    def week_last(self, week_no: int) -> date:
        return min(self.week_start(week_no) + timedelta(days=6), self.today)


def director_programs(director: User) -> list[ProgramFacts]:
    """The director's programs with their safety targets, in one statement."""
    rows = db.session.execute(
        select(Program, RiskSettings)
        .outerjoin(RiskSettings, RiskSettings.program_id == Program.id)
        .where(Program.id.in_(staff_program_ids(director)))
        .order_by(Program.name)
    ).all()
    return [_facts(n, program, settings) for n, (program, settings) in enumerate(rows)]


def _facts(index: int, program: Program, settings: RiskSettings | None):
    schedule = (settings.screener_schedule if settings else None) or {}
    return ProgramFacts(
        index=index,
        id=program.id,
        name=program.name,
        timezone=program.timezone,
        opening_hours=program.opening_hours or {},
        t1_minutes=settings.t1_minutes if settings else 15,
        t2_minutes=settings.t2_minutes if settings else 30,
        every_days=int(schedule.get("every_days") or 7),
        admission_screener=bool(schedule.get("admission", True)),
    )


def scope_of(programs: list[ProgramFacts], key: str) -> Scope | None:
    """The scope a key names among the director's programs; None when it is not
    theirs (the view answers 404)."""
    if key == ALL:
        return Scope(ALL, tuple(programs)) if programs else None
    chosen = tuple(p for p in programs if p.id == key)
    return Scope(key, chosen) if chosen else None


def period_for(scope: Scope, weeks: int, now: datetime) -> Period:
    """The period ending this week; "today" is the latest of the programs' todays."""
    today = max(now.astimezone(ZoneInfo(p.timezone)).date() for p in scope.programs)
    monday = today - timedelta(days=today.weekday())
    return Period(weeks, monday - timedelta(weeks=weeks - 1), today, now)


class Board:
    """The figures' statements run for one scope and period; each runs once, when a
    figure first asks for it."""

    def __init__(self, scope: Scope, period: Period):
        self.scope, self.period = scope, period
        self.dialect = db.session.get_bind().dialect.name
        self.results: dict[str, list] = {}

    def __getattr__(self, name: str):
        if name not in QUERIES:
            raise AttributeError(name)

        def run() -> list:
            if name not in self.results:
                if not self.results:
                    self._plan_with_the_values()
                statement = statements(self.dialect).get(name)
                self.results[name] = db.session.execute(statement, self.params).all()
            return self.results[name]

        return run

    def _plan_with_the_values(self) -> None:
        """PostgreSQL plans these statements for this board's values, every time.
        The driver prepares a statement it has sent five times, and after five more
        the server may switch to one generic plan, blind to the values; for the
        questionnaire statement at 50,000 patients that plan took 15 s instead of
        0.2 s (bench/README.md)."""
        if self.dialect == "postgresql":
            db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))

    @cached_property
    def params(self) -> dict:
        """The values of the statements' named parameters for this board."""
        period, programs = self.period, self.scope.programs
        return {
            "first": period.first,
            "today": period.today,
            "yesterday": period.yesterday,
            "start_utc": min(
                datetime.combine(period.first, time.min, ZoneInfo(p.timezone))
                for p in programs
            ),
            "now": period.now,
            "now_s": int(period.now.timestamp()),
            "program_ids": self.scope.ids,
            "scope_programs_rows": rows_param(
                (
                    p.id,
                    p.timezone,
                    p.t1_minutes * 60,
                    p.t2_minutes * 60,
                    p.every_days,
                    int(p.admission_screener),
                    _longest_day_seconds(p.opening_hours),
                    _open_seconds_before(p, period.first, period.now),
                )
                for p in programs
            ),
            "weeks_rows": rows_param(
                (
                    n,
                    period.week_start(n),
                    period.week_last(n),
                    min(period.week_last(n), period.yesterday),
                )
                for n in range(period.weeks)
            ),
            "days_rows": rows_param(_days(period)),
            "opening_days_rows": rows_param(
                row
                for p in programs
                for row in _opening_days(p, period.first, period.today)
            ),
        }


QUERIES = (
    "flow",
    "attendance",
    "engagement",
    "scores",
    "safety",
    "requests",
    "case_manager_load",
    "peer_support",
)


@functools.cache
def statements(dialect: str) -> dict:
    """Every figure's statement, built once per dialect: the values come as named
    parameters, so a request neither builds nor compiles them again."""
    built = Statements(dialect)
    return {name: getattr(built, name)() for name in QUERIES}


class Statements(AttendanceStatements, ClinicalStatements, ServiceStatements):
    """Builds the figures' statements (see `statements`), one module per part of
    the board: board_attendance, board_clinical, board_services, on the shared
    tables and CTEs of board_parts."""


# ---- opening hours as a calendar -----------------------------------------------------


def _days(period: Period):
    """Each day of the period through yesterday, with its week and weekday."""
    day = period.first
    while day <= period.yesterday:
        yield (day, (day - period.first).days // 7, day.weekday())
        day += timedelta(days=1)


def _window(program: ProgramFacts, day: date) -> tuple[int, int] | None:
    hours = program.opening_hours.get(str(day.weekday()))
    if not hours:
        return None
    tz = ZoneInfo(program.timezone)
    start, end = (time.fromisoformat(value) for value in hours)
    return (
        int(datetime.combine(day, start, tz).timestamp()),
        int(datetime.combine(day, end, tz).timestamp()),
    )


def _opening_days(program: ProgramFacts, first: date, last: date) -> list[tuple]:
    """Calendar rows of one program from `first` to `last` (see Board.calendar)."""
    rows, before, day = [], 0, first
    tz = ZoneInfo(program.timezone)
    while day <= last:
        window = _window(program, day)
        if window is None:
            midnight = int(datetime.combine(day, time.min, tz).timestamp())
            window = (midnight, midnight)
        rows.append((program.id, day, window[0], window[1], before))
        before += window[1] - window[0]
        day += timedelta(days=1)
    return rows


def _open_seconds_before(program: ProgramFacts, first: date, now: datetime) -> int:
    """Opening seconds from the start of `first` to `now` in the program's hours."""
    total, day = 0, first
    moment = int(now.timestamp())
    while day <= now.astimezone(ZoneInfo(program.timezone)).date():
        window = _window(program, day)
        if window is not None:
            total += max(0, min(moment, window[1]) - window[0])
        day += timedelta(days=1)
    return total


def _longest_day_seconds(opening_hours: dict) -> int:
    """The program's longest opening day, in seconds ("one opening day")."""
    longest = 0
    for start, end in (hours for hours in opening_hours.values() if hours):
        opens, closes = time.fromisoformat(start), time.fromisoformat(end)
        longest = max(
            longest,
            (closes.hour * 60 + closes.minute - opens.hour * 60 - opens.minute) * 60,
        )
    return longest or 9 * 3600
