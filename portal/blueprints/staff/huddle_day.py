"""The day of a program's huddle: which program a staff member's huddle is, its
day in the program's time zone, the previous program day, and since when "since the
last huddle" counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, true

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.programs.access import staff_program_ids
from portal.blueprints.programs.models import (
    Program,
)
from portal.blueprints.staff.models import Huddle
from portal.db import utcnow
from portal.security import CLINICAL, CLINICIANS


@dataclass(frozen=True)
class HuddleDay:
    """The program, its day, and what "since the last huddle" means today."""

    program: Program
    now: datetime
    today: date
    previous: date  # the previous program day ("yesterday's groups")
    before_previous: date
    since: datetime
    last_held_at: datetime | None
    last_held_by: str | None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.program.timezone)

    @property
    def since_day(self) -> date:
        return self.since.astimezone(self.tz).date()


def previous_program_day(opening_hours: dict, day: date, n: int = 1) -> date:
    """The n-th day the program was open before `day`."""
    open_days = {int(weekday) for weekday in opening_hours} or set(range(5))
    found = day
    while n > 0:
        found -= timedelta(days=1)
        n -= found.weekday() in open_days
    return found


def is_clinician(actor: User) -> bool:
    return actor.role in CLINICIANS


def huddle_day(actor: User, program_id: str) -> HuddleDay | None:
    """The program if the actor is on its staff (care team roles only), with its last
    huddle: one statement. None when it is not theirs (the view answers 404)."""
    return _day(actor, Program.id == program_id)


def first_huddle_day(actor: User) -> HuddleDay | None:
    """The huddle day of the actor's first program (by name), for their home."""
    return _day(actor, true())


def _day(actor: User, which) -> HuddleDay | None:
    if actor.role not in CLINICAL:
        return None
    last = (
        select(Huddle.held_at, User.display_name)
        .join(User, User.id == Huddle.held_by_id)
        .where(Huddle.program_id == Program.id)
        .order_by(Huddle.held_at.desc())
        .limit(1)
    )
    row = db.session.execute(
        select(
            Program,
            last.with_only_columns(Huddle.held_at).scalar_subquery(),
            last.with_only_columns(User.display_name).scalar_subquery(),
        )
        .where(which, Program.id.in_(staff_program_ids(actor)))
        .order_by(Program.name)
        .limit(1)
    ).first()
    if row is None:
        return None
    return make_day(row[0], row[1], row[2], utcnow())


def make_day(program: Program, held_at, held_by, now: datetime) -> HuddleDay:
    tz = ZoneInfo(program.timezone)
    today = now.astimezone(tz).date()
    hours = program.opening_hours or {}
    previous = previous_program_day(hours, today)
    before = previous_program_day(hours, previous)
    since = held_at or datetime.combine(previous, time(0), tz)
    return HuddleDay(program, now, today, previous, before, since, held_at, held_by)
