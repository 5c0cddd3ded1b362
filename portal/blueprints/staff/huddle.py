"""The morning huddle of one program: today's census, who came and who is leaving,
and who needs attention first and why, with the notes and actions the team agreed.

Each part is one SQL statement that aggregates in the database (GROUP BY, window
functions), whatever the number of patients; the words are made here from the
aggregates. What a role may see is decided here too, not in the template:
clinicians get every reason; peer specialists and case managers get the
non-clinical ones (attendance, requests, authorized days), "A clinician is on it"
for an open alert, and nothing of a score, an answer or a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, case, exists, func, or_, select, true

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.checkins.instruments import Instrument
from portal.blueprints.checkins.models import CheckIn, ScreenerResponse
from portal.blueprints.needs.models import OPEN_STATUSES, Need, NeedKind
from portal.blueprints.programs.access import patient_circle_clause
from portal.blueprints.programs.models import (
    IN_TREATMENT,
    CareTeamAssignment,
    Enrollment,
    EnrollmentStatus,
    Track,
)
from portal.blueprints.reviews.worklist import attention_for_program
from portal.blueprints.safety.models import FlagStatus
from portal.blueprints.safety.services import open_flag_status
from portal.blueprints.schedule.models import Attendance, AttendanceStatus
from portal.blueprints.schedule.notices import notices_for_program
from portal.blueprints.staff.huddle_day import HuddleDay, is_clinician
from portal.blueprints.staff.huddle_followup import open_actions, recent_notes
from portal.security import Role

DISCHARGE_DAYS = 7  # discharges planned this many days ahead
SAFETY_DAYS = 7  # an unsafe answer this recent is a reason
SCORE_RISE = 5  # a PHQ-9 or GAD-7 total up this much from the one before
NEED_WORDS = {
    NeedKind.TRANSPORT: "Ride request",
    NeedKind.HOUSING: "Housing request",
    NeedKind.OTHER: "Help request",
}

# Ranks: risk first, then safety answers, then rising scores, then the rest.
RISK, SAFETY, SCORES, OTHER = range(4)


@dataclass(frozen=True)
class Reason:
    words: str
    rank: int
    clinical: bool


@dataclass
class AttentionRow:
    """One patient at the huddle and why they are on it."""

    patient_id: str
    name: str
    track: str | None
    in_circle: bool
    flag_status: FlagStatus | None = None
    reasons: list[Reason] = field(default_factory=list)
    actions: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    # Clinical reasons a peer or case manager is not shown (they see that there are).
    withheld: bool = False

    @property
    def rank(self) -> int:
        return min((r.rank for r in self.reasons), default=OTHER + 1)


def _enrolled(program_id: str, today: date) -> list:
    """In the program today: not discharged, nor stepped down to alumni (an alumnus's
    risk answer still opens an alert, which reaches the on-call chain and the alerts
    page, not the day program's huddle)."""
    return [
        Enrollment.program_id == program_id,
        Enrollment.status.in_(IN_TREATMENT),
        Enrollment.admitted_on <= today,
    ]


def census(day: HuddleDay) -> list[tuple[str, str, int]]:
    """(track, level of care, patients) enrolled and active today: one statement."""
    rows = db.session.execute(
        select(Track.name, Track.level_of_care, func.count(Enrollment.id))
        .select_from(Enrollment)
        .outerjoin(Track, Track.id == Enrollment.track_id)
        .where(
            *_enrolled(day.program.id, day.today),
            Enrollment.status == EnrollmentStatus.ACTIVE,
            or_(
                Enrollment.discharged_on.is_(None),
                Enrollment.discharged_on >= day.today,
            ),
        )
        .group_by(Track.id, Track.name, Track.level_of_care)
        .order_by(Track.name)
    ).all()
    return [
        (name or "No track", level.value if level else "", n) for name, level, n in rows
    ]


@dataclass(frozen=True)
class Movement:
    patient_id: str
    name: str
    track: str | None
    admitted_on: date
    discharged_on: date | None


def comings_and_goings(day: HuddleDay) -> tuple[list[Movement], list[Movement]]:
    """Admissions since the last huddle and discharges planned in the next 7 days:
    one statement."""
    # Admitted after the day of the last huddle, or on that day once it was held.
    admitted = or_(
        Enrollment.admitted_on > day.since_day,
        and_(
            Enrollment.admitted_on == day.since_day,
            Enrollment.created_at >= day.since,
        ),
    )
    leaving = Enrollment.discharged_on.between(
        day.today, day.today + timedelta(days=DISCHARGE_DAYS)
    )
    rows = db.session.execute(
        select(
            Enrollment.patient_id,
            User.display_name,
            Track.name,
            Enrollment.admitted_on,
            Enrollment.discharged_on,
            admitted,
        )
        .join(User, User.id == Enrollment.patient_id)
        .outerjoin(Track, Track.id == Enrollment.track_id)
        .where(*_enrolled(day.program.id, day.today), or_(admitted, leaving))
        .order_by(Enrollment.admitted_on.desc(), User.display_name)
    ).all()
    admissions = [Movement(*r[:5]) for r in rows if r[5]]
    discharges = sorted(
        (Movement(*r[:5]) for r in rows if r[4] and r[4] >= day.today),
        key=lambda m: (m.discharged_on, m.name),
    )
    return admissions, discharges


def _mine(actor: User):
    """SQL condition on Enrollment: the actor's own patients (their care team; the
    whole program for its director, whose oversight it is)."""
    if actor.role is Role.DIRECTOR:
        return patient_circle_clause(actor)
    return exists().where(
        CareTeamAssignment.patient_id == Enrollment.patient_id,
        CareTeamAssignment.staff_id == actor.id,
    )


def _attention_statement(actor: User, day: HuddleDay, mine_only: bool = False):
    """Every enrolled patient of the program (or only the actor's own) with one
    aggregate per reason: one statement of grouped subqueries, each reading only
    those patients."""
    pid, today, now = day.program.id, day.today, day.now
    chosen = [*_enrolled(pid, today), *([_mine(actor)] if mine_only else [])]
    # The program's patients, listed once for every subquery below.
    listed = select(Enrollment.patient_id).where(*chosen).cte("listed")
    patients = select(listed.c.patient_id)
    week_start = today - timedelta(days=SAFETY_DAYS - 1)
    checkins = (
        select(
            CheckIn.patient_id,
            func.sum(
                case(
                    (
                        and_(
                            CheckIn.feels_safe.is_(False),
                            CheckIn.local_date >= week_start,
                        ),
                        1,
                    ),
                    else_=0,
                )
            ).label("unsafe"),
            func.sum(
                case((CheckIn.local_date >= day.before_previous, 1), else_=0)
            ).label("recent"),
        )
        .where(
            CheckIn.patient_id.in_(patients),
            CheckIn.local_date >= min(week_start, day.before_previous),
            CheckIn.local_date <= today,
        )
        .group_by(CheckIn.patient_id)
        .subquery()
    )
    s = ScreenerResponse
    risky = (
        select(
            s.patient_id,
            func.sum(case((s.instrument == Instrument.PHQ9, 1), else_=0)).label(
                "item9"
            ),
            func.sum(case((s.instrument == Instrument.CSSRS, 1), else_=0)).label(
                "cssrs"
            ),
        )
        .where(
            s.patient_id.in_(patients),
            s.risk_positive.is_(True),
            s.completed_at >= now - timedelta(days=SAFETY_DAYS),
        )
        .group_by(s.patient_id)
        .subquery()
    )
    window = {"partition_by": (s.patient_id, s.instrument)}
    scores = (
        select(
            s.patient_id,
            s.instrument,
            s.total,
            func.lag(s.total).over(**window, order_by=s.completed_at).label("prev"),
            func.row_number()
            .over(**window, order_by=s.completed_at.desc())
            .label("newest"),
        )
        .where(
            s.patient_id.in_(patients),
            s.instrument.in_((Instrument.PHQ9, Instrument.GAD7)),
            s.total.is_not(None),
        )
        .subquery()
    )

    def latest(instrument, column):
        return func.max(case((scores.c.instrument == instrument, column)))

    rises = (
        select(
            scores.c.patient_id,
            latest(Instrument.PHQ9, scores.c.prev).label("phq9_prev"),
            latest(Instrument.PHQ9, scores.c.total).label("phq9"),
            latest(Instrument.GAD7, scores.c.prev).label("gad7_prev"),
            latest(Instrument.GAD7, scores.c.total).label("gad7"),
        )
        .where(scores.c.newest == 1, scores.c.total - scores.c.prev >= SCORE_RISE)
        .group_by(scores.c.patient_id)
        .subquery()
    )
    a = Attendance
    groups = (
        select(
            a.patient_id,
            func.sum(case((a.status == AttendanceStatus.ABSENT, 1), else_=0)).label(
                "absent"
            ),
            func.sum(case((a.status == AttendanceStatus.LATE, 1), else_=0)).label(
                "late"
            ),
        )
        .where(
            a.patient_id.in_(patients),
            a.occurs_on == day.previous,
            a.status.in_((AttendanceStatus.ABSENT, AttendanceStatus.LATE)),
        )
        .group_by(a.patient_id)
        .subquery()
    )
    needs = (
        select(
            Need.patient_id,
            func.sum(case((Need.due_at < now, 1), else_=0)).label("overdue"),
            func.sum(case((Need.due_at >= now, 1), else_=0)).label("due_today"),
            func.min(Need.kind).label("kind"),
            func.count(func.distinct(Need.kind)).label("kinds"),
        )
        .where(
            Need.program_id == pid,
            *_due_today(day),
        )
        .group_by(Need.patient_id)
        .subquery()
    )
    return (
        select(
            Enrollment.patient_id,
            User.display_name,
            Track.name,
            case((patient_circle_clause(actor), true()), else_=False).label(
                "in_circle"
            ),
            open_flag_status(Enrollment.patient_id).label("flag"),
            Enrollment.admitted_on,
            checkins.c.unsafe,
            checkins.c.recent,
            risky.c.item9,
            risky.c.cssrs,
            rises.c.phq9_prev,
            rises.c.phq9,
            rises.c.gad7_prev,
            rises.c.gad7,
            groups.c.absent,
            groups.c.late,
            needs.c.overdue,
            needs.c.due_today,
            needs.c.kind,
            needs.c.kinds,
        )
        .join(User, User.id == Enrollment.patient_id)
        .outerjoin(Track, Track.id == Enrollment.track_id)
        .outerjoin(checkins, checkins.c.patient_id == Enrollment.patient_id)
        .outerjoin(risky, risky.c.patient_id == Enrollment.patient_id)
        .outerjoin(rises, rises.c.patient_id == Enrollment.patient_id)
        .outerjoin(groups, groups.c.patient_id == Enrollment.patient_id)
        .outerjoin(needs, needs.c.patient_id == Enrollment.patient_id)
        .where(*chosen)
        .order_by(User.display_name)
    )


def _due_today(day: HuddleDay) -> list:
    """SQL conditions on Need: open, and due before the program's midnight."""
    tomorrow = datetime.combine(day.today + timedelta(days=1), time(0), day.tz)
    return [Need.status.in_(OPEN_STATUSES), Need.due_at < tomorrow]


def _reasons(row, day: HuddleDay) -> list[Reason]:
    """The plain words of why a patient needs attention, from one row of aggregates."""
    found = []
    if row.flag is not None:
        found.append(Reason(_flag_words(row.flag), RISK, True))
    if row.unsafe:
        found.append(
            Reason('Checked in "I do not feel safe" in the last 7 days', SAFETY, True)
        )
    if row.item9:
        found.append(
            Reason("PHQ-9 item 9 (self-harm) above 0 in the last 7 days", SAFETY, True)
        )
    if row.cssrs:
        found.append(
            Reason("C-SSRS screener answered yes in the last 7 days", SAFETY, True)
        )
    for name, prev, total in (
        ("PHQ-9", row.phq9_prev, row.phq9),
        ("GAD-7", row.gad7_prev, row.gad7),
    ):
        if total is not None and prev is not None:
            found.append(Reason(f"{name} up from {prev} to {total}", SCORES, True))
    if not row.recent and row.admitted_on <= day.before_previous:
        found.append(Reason("No check-in for 2 program days", OTHER, True))
    if row.absent:
        found.append(
            Reason(_times("Absent from", row.absent, _day_words(day)), OTHER, False)
        )
    if row.late:
        found.append(Reason(_times("Late to", row.late, _day_words(day)), OTHER, False))
    if row.overdue:
        found.append(Reason(_need_words(row, row.overdue, "overdue"), OTHER, False))
    if row.due_today:
        found.append(Reason(_need_words(row, row.due_today, "due today"), OTHER, False))
    return found


def _flag_words(status: FlagStatus) -> str:
    if status is FlagStatus.OPEN:
        return "Open risk flag, not yet acknowledged"
    return f"Open risk flag ({FlagStatus(status).value})"


def _day_words(day: HuddleDay) -> str:
    if day.previous == day.today - timedelta(days=1):
        return "yesterday's"
    return f"{day.previous:%A}'s"


def _times(words: str, n: int, when: str) -> str:
    if n == 1:
        return f"{words} {when} group"
    return f"{words} {n} of {when} groups"


def _need_words(row, n: int, when: str) -> str:
    kind = NEED_WORDS[NeedKind(row.kind)] if row.kinds == 1 else "Help request"
    return f"{kind} {when}" if n == 1 else f"{n} {kind.lower()}s {when}"


def attention(actor: User, day: HuddleDay) -> list[AttentionRow]:
    """Who needs attention first, risk first, with the open actions and (for
    clinicians) the recent notes; each row holds only what the actor may see."""
    clinician = is_clinician(actor)
    everyone = _rows(actor, day)
    for patient_id, words in attention_for_program(day.program.id, day.today).items():
        if patient_id in everyone:
            everyone[patient_id].reasons.extend(Reason(w, OTHER, False) for w in words)
    # "I'll be late" or "I can't come today", told by the patient for today's groups
    for patient_id, words in notices_for_program(day.program.id, day.today).items():
        if patient_id in everyone:
            everyone[patient_id].reasons.extend(Reason(w, OTHER, False) for w in words)
    for action in open_actions(actor, day):
        if action.patient_id in everyone:
            everyone[action.patient_id].actions.append(action)
    if clinician:
        for note in recent_notes(day):
            if note.patient_id in everyone:
                everyone[note.patient_id].notes.append(note)
    return _ordered(actor, everyone)


def my_attention(actor: User, day: HuddleDay) -> list[AttentionRow]:
    """The huddle's rows of the actor's own patients, for their home: the same
    reasons and the same view of them, without the authorizations' warnings (the
    worklist has those) or notes. One statement."""
    return _ordered(actor, _rows(actor, day, mine_only=True))


def _rows(actor: User, day: HuddleDay, mine_only: bool = False):
    everyone: dict[str, AttentionRow] = {}
    statement = _attention_statement(actor, day, mine_only)
    for r in db.session.execute(statement):
        row = AttentionRow(
            r.patient_id, r.display_name, r.name, bool(r.in_circle), r.flag
        )
        row.reasons = _reasons(r, day)
        everyone[r.patient_id] = row
    return everyone


def _ordered(actor: User, everyone: dict[str, AttentionRow]) -> list[AttentionRow]:
    clinician = is_clinician(actor)
    rows: dict[str, AttentionRow] = {}
    for patient_id, row in everyone.items():
        if not clinician:
            _withhold_clinical(row)
        if row.reasons or row.actions or row.notes or row.withheld or row.flag_status:
            rows[patient_id] = row
    if clinician:
        return sorted(rows.values(), key=lambda r: (r.rank, r.name))
    # Peers and case managers: alerts first (they see those), then by name, so that
    # the order says nothing of the reasons they are not shown.
    return sorted(rows.values(), key=lambda r: (r.flag_status is None, r.name))


def _withhold_clinical(row: AttentionRow) -> None:
    # The alert itself is shown as a marker ("a clinician is on it"), not withheld.
    row.withheld = any(r.clinical and r.rank != RISK for r in row.reasons)
    row.reasons = [r for r in row.reasons if not r.clinical]


@dataclass(frozen=True)
class RequestDue:
    need_id: str
    patient_id: str
    patient_name: str
    kind: NeedKind
    due_at: datetime
    overdue: bool


def requests_due(actor: User, day: HuddleDay) -> list[RequestDue]:
    """The case manager's part of the huddle: open requests due today or overdue
    that they own, or that nobody owns yet for a patient on their team, soonest
    first: one statement (the huddle's own "due today")."""
    on_team = exists().where(
        CareTeamAssignment.patient_id == Need.patient_id,
        CareTeamAssignment.staff_id == actor.id,
    )
    rows = db.session.execute(
        select(Need.id, Need.patient_id, User.display_name, Need.kind, Need.due_at)
        .join(User, User.id == Need.patient_id)
        .where(
            Need.program_id == day.program.id,
            *_due_today(day),
            or_(Need.owner_id == actor.id, and_(Need.owner_id.is_(None), on_team)),
        )
        .order_by(Need.due_at)
        .limit(100)
    ).all()
    return [RequestDue(*row, row[-1] < day.now) for row in rows]
