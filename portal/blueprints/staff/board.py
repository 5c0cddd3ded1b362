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
    Date,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    case,
    distinct,
    func,
    literal,
    or_,
    select,
    text,
    true,
    type_coerce,
    union_all,
)

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.checkins.models import CheckIn, ScreenerResponse
from portal.blueprints.checkins.services import SCORED
from portal.blueprints.messages.models import Message, MessageThread, PeerContact
from portal.blueprints.needs.models import (
    OPEN_STATUSES,
    CaseManagerAway,
    HelpAnswer,
    Need,
    TaskStatus,
    Urgency,
)
from portal.blueprints.programs.access import staff_program_ids
from portal.blueprints.programs.models import (
    Enrollment,
    Program,
    StaffMembership,
    Track,
)
from portal.blueprints.safety.escalation import BACKUP, DIRECTOR, raised_detail
from portal.blueprints.safety.models import RiskFlag, RiskFlagEvent, RiskSettings
from portal.blueprints.schedule.models import (
    Attendance,
    AttendanceStatus,
    GroupSession,
    SessionKind,
)
from portal.db import UTCDateTime
from portal.reporting import (
    MEDIAN,
    P90,
    days_between,
    epoch_seconds,
    greatest,
    least,
    local_date,
    percentile,
    ranked,
    rows_param,
    rows_table,
)
from portal.security import Role

WEEK_CHOICES = (4, 13, 52)
ALL = "all"
TOTAL = -1  # the week number of a row that sums up the whole period
ADMISSION_DAYS = 7  # a score this many days after admission still counts as its
SCREENER_GRACE_DAYS = 2  # as Today's "overdue" (checkins/services.py)
DISCHARGE_WINDOW_DAYS = 3  # a discharge screener opens 3 days before discharge


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


FIRST = bindparam("first", type_=Date())
TODAY = bindparam("today", type_=Date())
YESTERDAY = bindparam("yesterday", type_=Date())
START = bindparam("start_utc", type_=UTCDateTime())
NOW = bindparam("now", type_=UTCDateTime())
NOW_S = bindparam("now_s", type_=Integer())
PROGRAMS = bindparam("program_ids", expanding=True)


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


class Statements:
    """Builds the figures' statements (see `statements`)."""

    def __init__(self, dialect: str):
        self.dialect = dialect

    def _week_of(self, day_expr):
        return days_between(day_expr, FIRST) // 7

    @cached_property
    def programs(self):
        """program_id, tz, targets, the opening-day length and the opening seconds
        from the period's start to now, as a table."""
        columns = [
            ("program_id", String()),
            ("tz", String()),
            ("t1_s", Integer()),
            ("t2_s", Integer()),
            ("every_days", Integer()),
            ("admission", Integer()),
            ("day_s", Integer()),
            ("open_now_s", Integer()),
        ]
        return rows_table(self.dialect, "scope_programs", columns)

    @cached_property
    def weeks(self):
        """week_no, its Monday, its last day (today at most) and its last counted day
        (yesterday at most; before the Monday when none is counted yet)."""
        columns = [
            ("week_no", Integer()),
            ("first_day", Date()),
            ("last_day", Date()),
            ("counted_last", Date()),
        ]
        return rows_table(self.dialect, "weeks", columns)

    @cached_property
    def calendar(self):
        """Per program and local day of the period: its opening and closing as epoch
        seconds (equal on a closed day) and the opening seconds before it, so that
        the opening time between two moments is two look-ups by day."""
        columns = [
            ("program_id", String()),
            ("day", Date()),
            ("open_s", Integer()),
            ("close_s", Integer()),
            ("before_s", Integer()),
        ]
        return rows_table(self.dialect, "opening_days", columns)

    @cached_property
    def stays(self):
        """Enrollments of the scope that overlap the period, with the last day they
        count (today at most), the last day their days are counted (yesterday), and
        their program's time zone and settings (so that rows joined to a stay need
        not look them up again)."""
        e, p = Enrollment, self.programs
        return (
            select(
                e.id.label("stay_id"),
                # a small key for sorts: UUIDs make every sort row wide
                func.row_number().over(order_by=e.id).label("stay_no"),
                e.patient_id,
                e.program_id,
                e.track_id,
                e.admitted_on,
                e.discharged_on,
                p.c.tz,
                p.c.every_days,
                p.c.admission,
                p.c.day_s,
                p.c.open_now_s,
                least(func.coalesce(e.discharged_on, TODAY), TODAY).label("ends_on"),
                least(func.coalesce(e.discharged_on, YESTERDAY), YESTERDAY).label(
                    "counted_to"
                ),
            )
            .join(p, p.c.program_id == e.program_id)
            .where(
                e.program_id.in_(PROGRAMS),
                e.admitted_on <= TODAY,
                or_(e.discharged_on.is_(None), e.discharged_on >= FIRST),
            )
            .cte("stays")
        )

    def _open_seconds_at(self, day_row, seconds):
        """Opening seconds from the calendar's start to a moment (epoch `seconds`)
        whose local day's calendar row is `day_row`."""
        inside = least(
            greatest(seconds - day_row.c.open_s, literal(0)),
            day_row.c.close_s - day_row.c.open_s,
        )
        return day_row.c.before_s + inside

    # ---- census, admissions, discharges, length of stay ------------------------------

    def flow(self):
        """Per week: admissions, discharges, census at the week's end, and the length
        of stay (days) of that week's discharges; week TOTAL for the whole period."""
        e, first, today = Enrollment, FIRST, TODAY
        in_scope = e.program_id.in_(PROGRAMS)

        def per_week(column):
            dated = (
                select(self._week_of(column).label("week_no"))
                .where(in_scope, column.between(first, today))
                .subquery()
            )
            return (
                select(dated.c.week_no, func.count().label("n"))
                .group_by(dated.c.week_no)
                .subquery()
            )

        admitted, discharged = per_week(e.admitted_on), per_week(e.discharged_on)
        base = (
            select(func.count())
            .where(
                in_scope,
                e.admitted_on < first,
                or_(e.discharged_on.is_(None), e.discharged_on >= first),
            )
            .scalar_subquery()
        )
        stays = self._stay_lengths(in_scope, today)
        w = self.weeks
        came = func.coalesce(admitted.c.n, 0)
        left = func.coalesce(discharged.c.n, 0)
        weekly = (
            select(
                w.c.week_no,
                came.label("admissions"),
                left.label("discharges"),
                (base + func.sum(came - left).over(order_by=w.c.week_no)).label(
                    "census"
                ),
            )
            .outerjoin(admitted, admitted.c.week_no == w.c.week_no)
            .outerjoin(discharged, discharged.c.week_no == w.c.week_no)
            .subquery()
        )
        everything = union_all(
            select(weekly),
            select(
                literal(TOTAL),
                func.coalesce(select(func.sum(admitted.c.n)).scalar_subquery(), 0),
                func.coalesce(select(func.sum(discharged.c.n)).scalar_subquery(), 0),
                literal(None, Integer()),
            ),
        ).subquery()
        return (
            select(
                everything.c.week_no,
                everything.c.admissions,
                everything.c.discharges,
                everything.c.census,
                func.coalesce(stays.c.n, 0).label("stay_n"),
                stays.c.median.label("stay_median"),
                stays.c.p90.label("stay_p90"),
            )
            .outerjoin(stays, stays.c.week_no == everything.c.week_no)
            .order_by(everything.c.week_no)
        )

    def _stay_lengths(self, in_scope, today):
        e = Enrollment
        days = days_between(e.discharged_on, e.admitted_on)
        where = (in_scope, e.discharged_on.between(FIRST, today))
        both = union_all(
            select(
                self._week_of(e.discharged_on).label("week_no"), days.label("v")
            ).where(*where),
            select(literal(TOTAL).label("week_no"), days.label("v")).where(*where),
        ).subquery()
        return quantiles(both, [both.c.week_no], both.c.v)

    # ---- who was enrolled, day by day -----------------------------------------------

    @cached_property
    def days(self):
        """Each day of the period through yesterday: its week and weekday."""
        columns = [("day", Date()), ("week_no", Integer()), ("weekday", Integer())]
        return rows_table(self.dialect, "days", columns)

    def _enrolled_weeks(self, key, sessions=None):
        """Per `key` (a stays column, or a constant for all) and week: days patients
        were enrolled (through yesterday), how many patients, and with `sessions`
        (key, weekday, n) the group sessions they were scheduled for. Running sums
        over the days (window functions) count who was enrolled each day, so no
        stay is paired with every week."""
        s, d = self.stays, self.days
        start = greatest(s.c.admitted_on, FIRST)
        moves = union_all(
            select(
                key.label("key"), start.label("day"), literal(1).label("came")
            ).where(start <= s.c.counted_to),
            select(key.label("key"), s.c.counted_to.label("day"), literal(0)).where(
                start <= s.c.counted_to
            ),
        ).subquery()
        per_day = (
            select(
                moves.c.key,
                moves.c.day,
                func.sum(moves.c.came).label("came"),
                func.count().label("moved"),
            )
            .group_by(moves.c.key, moves.c.day)
            .subquery()
        )
        keys = select(moves.c.key).distinct().subquery()
        came = func.coalesce(per_day.c.came, 0)
        left = func.coalesce(per_day.c.moved, 0) - came
        running = {"partition_by": keys.c.key, "order_by": d.c.day}
        daily = (
            select(
                keys.c.key,
                d.c.week_no,
                d.c.weekday,
                func.sum(came).over(**running).label("came_by"),
                (func.sum(left).over(**running) - left).label("left_before"),
            )
            .select_from(keys)
            .join(d, true())
            .outerjoin(
                per_day, and_(per_day.c.key == keys.c.key, per_day.c.day == d.c.day)
            )
            .subquery()
        )
        enrolled = daily.c.came_by - daily.c.left_before
        columns = [
            daily.c.key,
            daily.c.week_no,
            func.sum(enrolled).label("days"),
            (func.max(daily.c.came_by) - func.min(daily.c.left_before)).label(
                "patients"
            ),
        ]
        weekly = select(*columns).select_from(daily)
        if sessions is not None:
            weekly = weekly.add_columns(
                func.sum(enrolled * func.coalesce(sessions.c.n, 0)).label("scheduled")
            ).outerjoin(
                sessions,
                and_(
                    sessions.c.track_id == daily.c.key,
                    sessions.c.weekday == daily.c.weekday,
                ),
            )
        return weekly.group_by(daily.c.key, daily.c.week_no).subquery()

    # ---- attendance ------------------------------------------------------------------

    def attendance(self):
        """Per track and week: group sessions the enrolled patients were scheduled for
        (through yesterday) and how many of them they came to (present or late)."""
        w, gs = self.weeks, GroupSession
        tracks = (
            select(Track.id, Track.name, Program.name.label("program"))
            .join(Program, Program.id == Track.program_id)
            .where(Track.program_id.in_(PROGRAMS))
            .subquery()
        )
        per_weekday = (
            select(gs.track_id, gs.weekday, func.count().label("n"))
            .where(
                gs.track_id.in_(select(tracks.c.id)),
                gs.kind == SessionKind.GROUP,
                gs.active.is_(True),
            )
            .group_by(gs.track_id, gs.weekday)
            .subquery()
        )
        scheduled = self._enrolled_weeks(self.stays.c.track_id, per_weekday)
        came = self._attended(tracks)
        grid = (
            select(tracks, w.c.week_no)
            .select_from(tracks)
            .join(w, w.c.counted_last >= w.c.first_day)
            .subquery()
        )
        return (
            select(
                grid.c.id.label("track_id"),
                grid.c.name.label("track"),
                grid.c.program,
                grid.c.week_no,
                func.coalesce(scheduled.c.patients, 0).label("patients"),
                func.coalesce(scheduled.c.scheduled, 0).label("scheduled"),
                func.coalesce(came.c.n, 0).label("attended"),
            )
            .outerjoin(
                scheduled,
                and_(
                    scheduled.c.key == grid.c.id,
                    scheduled.c.week_no == grid.c.week_no,
                ),
            )
            .outerjoin(
                came,
                and_(came.c.track_id == grid.c.id, came.c.week_no == grid.c.week_no),
            )
            .order_by(grid.c.program, grid.c.name, grid.c.id, grid.c.week_no)
        )

    def _attended(self, tracks):
        """Present or late. Attendance is taken on the session's roster, the patients
        enrolled in its track that day (schedule's `record_attendance` refuses
        anyone else), so these rows are scheduled sessions attended: they are counted
        straight from the index, without pairing each with a stay."""
        a, gs = Attendance, GroupSession
        sessions = select(gs.id).where(
            gs.track_id.in_(select(tracks.c.id)),
            gs.kind == SessionKind.GROUP,
            gs.active.is_(True),
        )
        # counted per session and day first, in the index's own order
        per_day = (
            select(a.group_session_id, a.occurs_on, func.count().label("n"))
            .where(
                a.group_session_id.in_(sessions),
                a.occurs_on.between(FIRST, YESTERDAY),
                a.status.in_([AttendanceStatus.PRESENT, AttendanceStatus.LATE]),
            )
            .group_by(a.group_session_id, a.occurs_on)
            .subquery()
        )
        dated = (
            select(
                gs.track_id,
                self._week_of(per_day.c.occurs_on).label("week_no"),
                per_day.c.n,
            )
            .join(gs, gs.id == per_day.c.group_session_id)
            .subquery()
        )
        return (
            select(dated.c.track_id, dated.c.week_no, func.sum(dated.c.n).label("n"))
            .group_by(dated.c.track_id, dated.c.week_no)
            .subquery()
        )

    # ---- check-ins and questionnaires ------------------------------------------------

    def engagement(self):
        """Per week: days patients were enrolled (through yesterday) and the check-ins
        made on them."""
        s, w = self.stays, self.weeks
        expected = self._enrolled_weeks(literal("all"))
        c = CheckIn
        dated = (
            select(self._week_of(c.local_date).label("week_no"))
            .select_from(c)
            .join(
                s,
                and_(
                    s.c.patient_id == c.patient_id,
                    c.local_date.between(s.c.admitted_on, s.c.counted_to),
                ),
            )
            .where(c.local_date.between(FIRST, YESTERDAY))
            .subquery()
        )
        done = (
            select(dated.c.week_no, func.count().label("n"))
            .group_by(dated.c.week_no)
            .subquery()
        )
        return (
            select(
                w.c.week_no,
                func.coalesce(expected.c.patients, 0).label("patients"),
                func.coalesce(expected.c.days, 0).label("expected"),
                func.coalesce(done.c.n, 0).label("checkins"),
            )
            .outerjoin(expected, expected.c.week_no == w.c.week_no)
            .outerjoin(done, done.c.week_no == w.c.week_no)
            .order_by(w.c.week_no)
        )

    def scores(self):
        """PHQ-9 and GAD-7 of the stays, read once for two figures. Rows with a week:
        questionnaires done that week and how many on time (the first of a stay by
        admission, or a full interval after it; each next one within the interval
        of the one before; each plus the grace days; one in the discharge window is
        on time). Rows with an instrument (week TOTAL): the stays with a score in
        their first days and a later one, and how many responded (a drop of half or
        more) and remitted (below 5)."""
        r, s = ScreenerResponse, self.stays
        # each response's local day worked out once (PostgreSQL would otherwise
        # convert it again for every use)
        dated = materialized(
            select(
                s.c.stay_no,
                s.c.admitted_on,
                s.c.discharged_on,
                s.c.ends_on,
                s.c.every_days,
                s.c.admission,
                r.instrument,
                r.total,
                r.completed_at,
                local_date(r.completed_at, s.c.tz).label("day"),
            )
            .select_from(r)
            .join(s, s.c.patient_id == r.patient_id)
            .where(r.instrument.in_(SCORED)),
            "dated_scores",
        )
        d = dated.c
        partition = [d.stay_no, d.instrument]
        scores = materialized(
            select(
                d.stay_no,
                d.instrument,
                d.total,
                d.day,
                func.lag(d.day)
                .over(partition_by=partition, order_by=d.completed_at)
                .label("previous"),
                func.row_number()
                .over(partition_by=partition, order_by=d.completed_at)
                .label("first"),
                func.count().over(partition_by=partition).label("taken"),
                d.admitted_on,
                d.discharged_on,
                d.every_days,
                d.admission,
            ).where(d.day.between(d.admitted_on, d.ends_on)),
            "scores",
        )
        weekly, outcomes = self._on_time(scores), self._outcomes(scores)
        return union_all(weekly, outcomes).order_by("week_no", "instrument")

    def _on_time(self, scores):
        x = scores.c
        allowed = case(
            (x.previous.is_(None), (1 - x.admission) * x.every_days),
            else_=days_between(x.previous, x.admitted_on) + x.every_days,
        )
        late_by = days_between(x.day, x.admitted_on) - allowed
        on_time = or_(
            late_by <= SCREENER_GRACE_DAYS,
            and_(
                x.discharged_on.is_not(None),
                days_between(x.discharged_on, x.day) <= DISCHARGE_WINDOW_DAYS,
            ),
        )
        marked = (
            select(
                x.stay_no,
                self._week_of(x.day).label("week_no"),
                case((on_time, 1), else_=0).label("on_time"),
            )
            .where(x.day >= FIRST)
            .subquery()
        )
        none = literal(None, Integer())
        return select(
            marked.c.week_no,
            literal("").label("instrument"),
            func.count().label("done"),
            func.sum(marked.c.on_time).label("on_time"),
            func.count(distinct(marked.c.stay_no)).label("patients"),
            none.label("admission_sum"),
            none.label("latest_sum"),
            none.label("responded"),
            none.label("remitted"),
        ).group_by(marked.c.week_no)

    def _outcomes(self, scores):
        start, latest = scores.alias("start"), scores.alias("latest")
        pairs = (
            select(
                start.c.instrument,
                start.c.total.label("admission"),
                latest.c.total.label("latest"),
            )
            .join(
                latest,
                and_(
                    latest.c.stay_no == start.c.stay_no,
                    latest.c.instrument == start.c.instrument,
                    latest.c.first == latest.c.taken,
                    latest.c.first > 1,
                ),
            )
            .where(
                start.c.first == 1,
                days_between(start.c.day, start.c.admitted_on) <= ADMISSION_DAYS,
                start.c.total.is_not(None),
                latest.c.total.is_not(None),
            )
            .subquery()
        )
        responded = and_(pairs.c.admission > 0, pairs.c.latest * 2 <= pairs.c.admission)
        none = literal(None, Integer())
        return select(
            literal(TOTAL).label("week_no"),
            pairs.c.instrument,
            none.label("done"),
            none.label("on_time"),
            func.count().label("patients"),
            func.sum(pairs.c.admission).label("admission_sum"),
            func.sum(pairs.c.latest).label("latest_sum"),
            func.sum(case((responded, 1), else_=0)).label("responded"),
            func.sum(case((pairs.c.latest < 5, 1), else_=0)).label("remitted"),
        ).group_by(pairs.c.instrument)

    # ---- safety ----------------------------------------------------------------------

    def safety(self):
        """Per week and in all (TOTAL): flags opened, acknowledged, and against each
        program's T1 and T2; flags that reached the backup or the director; the
        median and 90th percentile minutes to acknowledge."""
        f, p = RiskFlag, self.programs
        opened = epoch_seconds(f.opened_at)
        waited = epoch_seconds(f.acknowledged_at) - opened
        now_s = NOW_S
        level = self._highest_levels()
        facts = (
            select(
                self._week_of(local_date(f.opened_at, p.c.tz)).label("week_no"),
                case((f.acknowledged_at.is_not(None), waited / 60.0)).label("minutes"),
                # a flag counts against T1 once acknowledged or once T1 has passed
                case(
                    (or_(f.acknowledged_at.is_not(None), now_s - opened > p.c.t1_s), 1),
                    else_=0,
                ).label("due"),
                case((waited <= p.c.t1_s, 1), else_=0).label("in_t1"),
                case((waited <= p.c.t2_s, 1), else_=0).label("in_t2"),
                case((level.c.top >= BACKUP, 1), else_=0).label("backup"),
                case((level.c.top >= DIRECTOR, 1), else_=0).label("director"),
            )
            .select_from(f)
            .join(p, p.c.program_id == f.program_id)
            .outerjoin(level, level.c.flag_id == f.id)
            .where(f.program_id.in_(PROGRAMS), f.opened_at >= START)
            .cte("flag_facts")
        )
        both = materialized(
            union_all(
                select(facts).where(facts.c.week_no >= 0),
                select(literal(TOTAL).label("week_no"), *list(facts.c)[1:]).where(
                    facts.c.week_no >= 0
                ),
            ),
            "flags_by_week",
        )
        counts = (
            select(
                both.c.week_no,
                func.count().label("opened"),
                func.count(both.c.minutes).label("acknowledged"),
                func.sum(both.c.due).label("due"),
                func.sum(both.c.in_t1).label("in_t1"),
                func.sum(both.c.in_t2).label("in_t2"),
                func.sum(both.c.backup).label("backup"),
                func.sum(both.c.director).label("director"),
            )
            .group_by(both.c.week_no)
            .subquery()
        )
        times = quantiles(both, [both.c.week_no], both.c.minutes)
        grid = self._weeks_and_total()
        return (
            select(
                grid.c.week_no,
                func.coalesce(counts.c.opened, 0).label("opened"),
                func.coalesce(counts.c.acknowledged, 0).label("acknowledged"),
                func.coalesce(counts.c.due, 0).label("due"),
                func.coalesce(counts.c.in_t1, 0).label("in_t1"),
                func.coalesce(counts.c.in_t2, 0).label("in_t2"),
                func.coalesce(counts.c.backup, 0).label("backup"),
                func.coalesce(counts.c.director, 0).label("director"),
                times.c.median,
                times.c.p90,
            )
            .outerjoin(counts, counts.c.week_no == grid.c.week_no)
            .outerjoin(times, times.c.week_no == grid.c.week_no)
            .order_by(grid.c.week_no)
        )

    def _highest_levels(self):
        """Per flag of the scope, the highest level it was raised to (1 the backup,
        2 the director)."""
        e = RiskFlagEvent
        top = case(
            (e.detail == raised_detail(DIRECTOR), DIRECTOR),
            (e.detail == raised_detail(BACKUP), BACKUP),
        )
        return (
            select(e.flag_id, func.max(top).label("top"))
            .where(
                e.kind == "raised",
                e.detail.in_([raised_detail(BACKUP), raised_detail(DIRECTOR)]),
                e.flag_id.in_(
                    select(RiskFlag.id).where(
                        RiskFlag.program_id.in_(PROGRAMS),
                        RiskFlag.opened_at >= START,
                    )
                ),
            )
            .group_by(e.flag_id)
            .subquery()
        )

    def _weeks_and_total(self):
        w = self.weeks
        return union_all(
            select(w.c.week_no), select(literal(TOTAL).label("week_no"))
        ).subquery()

    # ---- help requests ---------------------------------------------------------------

    def requests(self):
        """Requests asked in the period, per kind and per week (kind ""): asked, first
        contact and on time, done and on time, the median and 90th percentile
        opening hours to each, how many patients answered "Did you get the help?"
        and how many said yes; and per kind the open and overdue now."""
        n, p = Need, self.programs
        done = and_(n.status == TaskStatus.COMPLETED, n.closed_at.is_not(None))
        contact_on_time = and_(
            n.first_contact_at.is_not(None),
            or_(n.contact_due_at.is_(None), n.first_contact_at <= n.contact_due_at),
        )
        done_on_time = and_(
            done, or_(n.resolve_due_at.is_(None), n.closed_at <= n.resolve_due_at)
        )
        # each request's local days and moments, worked out once
        asked = materialized(
            select(
                n.kind,
                n.program_id,
                local_date(n.created_at, p.c.tz).label("asked_on"),
                local_date(n.first_contact_at, p.c.tz).label("contact_on"),
                local_date(case((done, n.closed_at)), p.c.tz).label("done_on"),
                epoch_seconds(n.created_at).label("asked_s"),
                epoch_seconds(n.first_contact_at).label("contact_s"),
                epoch_seconds(case((done, n.closed_at))).label("done_s"),
                case((contact_on_time, 1), else_=0).label("contact_on_time"),
                case((done_on_time, 1), else_=0).label("done_on_time"),
                case((n.help_received.is_not(None), 1), else_=0).label("help_answered"),
                case((n.help_received == HelpAnswer.YES, 1), else_=0).label("got_help"),
            )
            .join(p, p.c.program_id == n.program_id)
            .where(n.program_id.in_(PROGRAMS), n.created_at >= START),
            "asked",
        )
        x, cal = asked.c, self.calendar
        asked_day = cal.alias("asked_day")
        contact_day = cal.alias("contact_day")
        done_day = cal.alias("done_day")
        start = self._open_seconds_at(asked_day, x.asked_s)
        timed = materialized(
            select(
                x.kind,
                self._week_of(x.asked_on).label("week_no"),
                (
                    (self._open_seconds_at(contact_day, x.contact_s) - start) / 3600.0
                ).label("contact_h"),
                x.contact_on_time,
                ((self._open_seconds_at(done_day, x.done_s) - start) / 3600.0).label(
                    "done_h"
                ),
                x.done_on_time,
                x.help_answered,
                x.got_help,
            )
            .select_from(asked)
            .join(asked_day, self._on_day(asked_day, x.program_id, x.asked_on))
            .outerjoin(
                contact_day, self._on_day(contact_day, x.program_id, x.contact_on)
            )
            .outerjoin(done_day, self._on_day(done_day, x.program_id, x.done_on))
            .where(x.asked_on >= FIRST),
            "timed",
        )
        # the week rows first: their "" names the column's type (text, not a kind)
        both = materialized(
            union_all(
                select(literal("").label("kind"), *list(timed.c)[1:]),
                select(
                    timed.c.kind, literal(TOTAL).label("week_no"), *list(timed.c)[2:]
                ),
            ),
            "by_kind_and_week",
        )
        return self._request_rows(both)

    @staticmethod
    def _on_day(day_row, program_id, day):
        return and_(day_row.c.program_id == program_id, day_row.c.day == day)

    def _request_rows(self, both) -> list:
        keys = [both.c.kind, both.c.week_no]
        counts = (
            select(
                *keys,
                func.count().label("asked"),
                func.count(both.c.contact_h).label("contacted"),
                func.sum(both.c.contact_on_time).label("contact_on_time"),
                func.count(both.c.done_h).label("done"),
                func.sum(both.c.done_on_time).label("done_on_time"),
                func.sum(both.c.help_answered).label("help_answered"),
                func.sum(both.c.got_help).label("got_help"),
            )
            .group_by(*keys)
            .subquery()
        )
        contact = quantiles(both, keys, both.c.contact_h)
        finish = quantiles(both, keys, both.c.done_h)
        n = Need
        now = NOW
        open_now = (
            select(
                n.kind,
                func.count().label("open"),
                func.count(case((n.due_at < now, 1))).label("overdue"),
                func.count(case((n.owner_id.is_(None), 1))).label("unassigned"),
            )
            .where(n.program_id.in_(PROGRAMS), n.status.in_(OPEN_STATUSES))
            .group_by(n.kind)
            .subquery()
        )

        def same(other):
            return and_(
                other.c.kind == counts.c.kind, other.c.week_no == counts.c.week_no
            )

        return (
            select(
                counts,
                contact.c.median.label("contact_median"),
                contact.c.p90.label("contact_p90"),
                finish.c.median.label("done_median"),
                finish.c.p90.label("done_p90"),
                func.coalesce(open_now.c.open, 0).label("open_now"),
                func.coalesce(open_now.c.overdue, 0).label("overdue_now"),
                func.coalesce(open_now.c.unassigned, 0).label("unassigned_now"),
            )
            .outerjoin(contact, same(contact))
            .outerjoin(finish, same(finish))
            .outerjoin(
                open_now,
                and_(open_now.c.kind == counts.c.kind, counts.c.week_no == TOTAL),
            )
            .order_by(counts.c.kind, counts.c.week_no)
        )

    def case_manager_load(self):
        """Every case manager of the scope with their open, urgent and overdue
        requests, and until when they are away."""
        n = Need
        now = NOW
        is_open = and_(n.owner_id == User.id, n.status.in_(OPEN_STATUSES))
        return (
            select(
                User.id,
                User.display_name,
                func.count(n.id).label("open"),
                func.count(n.id).filter(n.urgency == Urgency.URGENT).label("urgent"),
                func.count(n.id).filter(n.due_at < now).label("overdue"),
                CaseManagerAway.until,
            )
            .outerjoin(n, is_open)
            .outerjoin(CaseManagerAway, CaseManagerAway.staff_id == User.id)
            .where(
                User.id.in_(
                    select(StaffMembership.user_id).where(
                        StaffMembership.program_id.in_(PROGRAMS)
                    )
                ),
                User.role == Role.CASE_MANAGER,
            )
            .group_by(User.id, User.display_name, CaseManagerAway.until)
            .order_by(func.count(n.id).desc(), User.display_name)
        )

    # ---- peer support ----------------------------------------------------------------

    def peer_support(self):
        """Per week: peer-support contacts, their minutes and H0038 units (15 minutes,
        a unit from 8), and patients' messages answered by staff within one opening
        day (the program's longest) of opening time."""
        w, s = self.weeks, self.stays
        pc = PeerContact
        dated = (
            select(
                self._week_of(pc.contact_on).label("week_no"),
                pc.minutes,
                ((pc.minutes + 7) // 15).label("units"),
            )
            .select_from(pc)
            .join(
                s,
                and_(
                    s.c.patient_id == pc.patient_id,
                    pc.contact_on.between(s.c.admitted_on, s.c.ends_on),
                ),
            )
            .where(
                # the semi-join first: PostgreSQL then hashes the stays, not the
                # year's contacts of every program
                pc.patient_id.in_(select(s.c.patient_id)),
                pc.contact_on.between(FIRST, TODAY),
            )
            .subquery()
        )
        contacts = (
            select(
                dated.c.week_no,
                func.count().label("n"),
                func.sum(dated.c.minutes).label("minutes"),
                func.sum(dated.c.units).label("units"),
            )
            .group_by(dated.c.week_no)
            .subquery()
        )
        answers = self._answers()
        return (
            select(
                w.c.week_no,
                func.coalesce(contacts.c.n, 0).label("contacts"),
                func.coalesce(contacts.c.minutes, 0).label("minutes"),
                func.coalesce(contacts.c.units, 0).label("units"),
                func.coalesce(answers.c.due, 0).label("messages"),
                func.coalesce(answers.c.in_time, 0).label("answered"),
                func.coalesce(answers.c.patients, 0).label("writers"),
            )
            .outerjoin(contacts, contacts.c.week_no == w.c.week_no)
            .outerjoin(answers, answers.c.week_no == w.c.week_no)
            .order_by(w.c.week_no)
        )

    def _answers(self):
        """Per week, patients' messages whose day of opening time has passed (or that
        were answered), and those answered within it."""
        m, t, s = Message, MessageThread, self.stays
        reply = (
            func.min(case((m.author_id != t.patient_id, m.created_at)))
            .over(partition_by=m.thread_id, order_by=m.seq, rows=(1, None))
            .label("reply_at")
        )
        threads = materialized(
            select(
                t.patient_id,
                m.created_at,
                (m.author_id == t.patient_id).label("from_patient"),
                reply,
            )
            .join(t, t.id == m.thread_id)
            .where(
                t.patient_id.in_(select(s.c.patient_id)),
                m.created_at >= START,
            ),
            "thread_messages",
        )
        x = threads.c
        sent_on = local_date(x.created_at, s.c.tz)
        asks = materialized(
            select(
                x.patient_id,
                s.c.program_id,
                sent_on.label("sent_on"),
                local_date(x.reply_at, s.c.tz).label("reply_on"),
                epoch_seconds(x.created_at).label("sent_s"),
                epoch_seconds(x.reply_at).label("reply_s"),
                s.c.day_s,
                s.c.open_now_s,
            )
            .select_from(threads)
            .join(s, s.c.patient_id == x.patient_id)
            .where(
                x.from_patient.is_(true()),
                sent_on.between(greatest(s.c.admitted_on, FIRST), s.c.ends_on),
            ),
            "asks",
        )
        y, cal = asks.c, self.calendar
        sent_day, reply_day = cal.alias("sent_day"), cal.alias("reply_day")
        sent = self._open_seconds_at(sent_day, y.sent_s)
        waited = self._open_seconds_at(reply_day, y.reply_s) - sent
        marked = (
            select(
                y.patient_id,
                self._week_of(y.sent_on).label("week_no"),
                case(
                    (and_(y.reply_s.is_not(None), waited <= y.day_s), 1), else_=0
                ).label("in_time"),
                case(
                    (or_(y.reply_s.is_not(None), y.open_now_s - sent > y.day_s), 1),
                    else_=0,
                ).label("due"),
            )
            .select_from(asks)
            .join(sent_day, self._on_day(sent_day, y.program_id, y.sent_on))
            .outerjoin(reply_day, self._on_day(reply_day, y.program_id, y.reply_on))
            .subquery()
        )
        return (
            select(
                marked.c.week_no,
                func.sum(marked.c.due).label("due"),
                func.sum(marked.c.in_time).label("in_time"),
                func.count(distinct(marked.c.patient_id)).label("patients"),
            )
            .group_by(marked.c.week_no)
            .subquery()
        )


def materialized(statement, name: str):
    """A CTE worked out once: the rows it feeds are joined and read several times,
    and without it PostgreSQL may compute its local dates again for every pair."""
    return statement.cte(name).prefix_with("MATERIALIZED")


def quantiles(source, keys, value):
    """Per group of `keys` in `source`: how many values (not NULL) and their median
    and 90th percentile."""
    rows = (
        select(*keys, value.label("v"), *ranked(value, keys))
        .where(value.is_not(None))
        .subquery()
    )
    grouped = [rows.c[k.name] for k in keys]
    return (
        select(
            *grouped,
            func.max(rows.c.n).label("n"),
            type_coerce(percentile(rows.c.v, rows.c.rn, rows.c.n, MEDIAN), Float).label(
                "median"
            ),
            type_coerce(percentile(rows.c.v, rows.c.rn, rows.c.n, P90), Float).label(
                "p90"
            ),
        )
        .group_by(*grouped)
        .subquery()
    )


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
