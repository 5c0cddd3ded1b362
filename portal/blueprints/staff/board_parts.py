"""The building blocks the director's board statements share: the scope's programs,
the period's weeks and days, its opening-hours calendar and the stays that overlap it,
as tables and CTEs with named parameters (see board.py)."""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import (
    Date,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)

from portal.blueprints.programs.models import Enrollment
from portal.db import UTCDateTime
from portal.reporting import (
    MEDIAN,
    P90,
    days_between,
    greatest,
    least,
    percentile,
    ranked,
    rows_table,
)

FIRST = bindparam("first", type_=Date())
TODAY = bindparam("today", type_=Date())
YESTERDAY = bindparam("yesterday", type_=Date())
START = bindparam("start_utc", type_=UTCDateTime())
NOW = bindparam("now", type_=UTCDateTime())
NOW_S = bindparam("now_s", type_=Integer())
PROGRAMS = bindparam("program_ids", expanding=True)
TOTAL = -1  # the week number of a row that sums up the whole period


class StatementParts:
    """What every figure's statement is built from (see `board.Statements`)."""

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
