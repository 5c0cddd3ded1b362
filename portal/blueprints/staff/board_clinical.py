"""The director's board: check-ins, questionnaires (on time, outcomes) and safety
per week, as statements (see board.py)."""

from __future__ import annotations

from sqlalchemy import (
    Integer,
    and_,
    case,
    distinct,
    func,
    literal,
    or_,
    select,
    union_all,
)

from portal.blueprints.checkins.models import CheckIn, ScreenerResponse
from portal.blueprints.checkins.services import SCORED
from portal.blueprints.safety.escalation import BACKUP, DIRECTOR, raised_detail
from portal.blueprints.safety.models import RiskFlag, RiskFlagEvent
from portal.blueprints.staff.board_parts import (
    FIRST,
    NOW_S,
    PROGRAMS,
    START,
    TOTAL,
    YESTERDAY,
    StatementParts,
    materialized,
    quantiles,
)
from portal.reporting import (
    days_between,
    epoch_seconds,
    local_date,
)

ADMISSION_DAYS = 7  # a score this many days after admission still counts as its first
SCREENER_GRACE_DAYS = 2  # as Today's "overdue" (checkins/services.py)
DISCHARGE_WINDOW_DAYS = 3  # a discharge screener opens 3 days before discharge


class ClinicalStatements(StatementParts):
    """Check-ins and questionnaires, outcomes, risk flags and their acknowledgement."""

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
