"""The director's board: census, admissions, discharges, length of stay and
attendance per week, as statements (see board.py)."""

from __future__ import annotations

from sqlalchemy import (
    Integer,
    and_,
    func,
    literal,
    or_,
    select,
    union_all,
)

from portal.blueprints.programs.models import (
    Enrollment,
    Program,
    Track,
)
from portal.blueprints.schedule.models import (
    Attendance,
    AttendanceStatus,
    GroupSession,
    SessionKind,
)
from portal.blueprints.staff.board_parts import (
    FIRST,
    PROGRAMS,
    TODAY,
    TOTAL,
    YESTERDAY,
    StatementParts,
    quantiles,
)
from portal.reporting import days_between


class AttendanceStatements(StatementParts):
    """Census, admissions and discharges, length of stay, attendance."""

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
