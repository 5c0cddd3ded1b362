"""The concurrent-review packet for one patient and period: coverage and
authorization, attendance by week, PHQ-9 and GAD-7 change, check-in trends, risk
flags and how they were handled, help requests, the care team, and the signed
statement of medical necessity. Saved, it is frozen (`content`) with its PDF."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.orm import aliased

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.checkins.instruments import Instrument
from portal.blueprints.checkins.models import CheckIn, Medication, ScreenerResponse
from portal.blueprints.needs.forms import OUTCOME_LABELS, STATUS_LABELS
from portal.blueprints.needs.models import Need
from portal.blueprints.programs.access import care_team, patient_circle_clause
from portal.blueprints.programs.models import (
    CareTeamAssignment,
    Enrollment,
    Program,
    TeamRole,
)
from portal.blueprints.reviews.coverage import FOCUS_LABELS
from portal.blueprints.reviews.coverage import STATUS_LABELS as AUTH_STATUS_LABELS
from portal.blueprints.reviews.models import (
    Authorization,
    Coverage,
    NecessityStatement,
    ReviewFile,
    ReviewPacket,
)
from portal.blueprints.reviews.usage import (
    attended_days,
    hours_by_week,
    used_days_statement,
    week_of,
)
from portal.blueprints.safety.answers import SOURCE_WORDS
from portal.blueprints.safety.models import RiskFlag
from portal.blueprints.schedule.models import (
    Attendance,
    AttendanceStatus,
    GroupSession,
)
from portal.db import is_id, utcnow
from portal.security import Role

MAX_PERIOD_DAYS = 180
SIGNERS = (TeamRole.PRESCRIBER, TeamRole.THERAPIST)
ABSENCE_WORDS = {
    AttendanceStatus.ABSENT: "Absent, no reason given",
    AttendanceStatus.EXCUSED: "Excused by the team",
}
RISK_STATUS_WORDS = {
    "open": "Open",
    "acknowledged": "Taken by a clinician",
    "assessed": "Assessed",
    "resolved": "Closed",
}


class PacketError(ValueError):
    """A packet or statement that cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class Review:
    """One authorization with what a packet needs to name: coverage, enrollment,
    program and patient."""

    authorization: Authorization
    coverage: Coverage
    enrollment: Enrollment
    program: Program
    patient: User

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.program.timezone)


def load_review(actor: User, authorization_id: str) -> Review | None:
    """The authorization with its coverage, enrollment, program and patient, when the
    patient is in the clinician's circle; None otherwise. One statement."""
    if not is_id(authorization_id):
        return None
    row = db.session.execute(
        select(Authorization, Coverage, Enrollment, Program, User)
        .join(Coverage, Coverage.id == Authorization.coverage_id)
        .join(Enrollment, Enrollment.id == Authorization.enrollment_id)
        .join(Program, Program.id == Authorization.program_id)
        .join(User, User.id == Authorization.patient_id)
        .where(Authorization.id == authorization_id, patient_circle_clause(actor))
    ).first()
    return Review(*row) if row else None


def load_packet(actor: User, packet_id: str) -> ReviewPacket | None:
    """A saved packet of a patient in the clinician's circle; None otherwise."""
    if not is_id(packet_id):
        return None
    in_circle = exists().where(
        Enrollment.patient_id == ReviewPacket.patient_id,
        Enrollment.program_id == ReviewPacket.program_id,
        patient_circle_clause(actor),
    )
    return db.session.scalar(
        select(ReviewPacket).where(ReviewPacket.id == packet_id, in_circle)
    )


def packet_file(packet: ReviewPacket) -> ReviewFile | None:
    return db.session.scalar(
        select(ReviewFile)
        .where(ReviewFile.packet_id == packet.id, ReviewFile.kind == "packet_pdf")
        .order_by(ReviewFile.made_at.desc())
        .limit(1)
    )


def default_period(review: Review, today: date) -> tuple[date, date]:
    """From the authorization's first day to today (or its last day, if sooner)."""
    first = review.authorization.starts_on
    return first, max(first, min(today, review.authorization.ends_on))


def check_period(review: Review, first: date, last: date) -> None:
    enrollment = review.enrollment
    if last < first:
        raise PacketError("The last day cannot be before the first day.")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise PacketError(f"Choose at most {MAX_PERIOD_DAYS} days.")
    ends = enrollment.discharged_on or date.max
    if last < enrollment.admitted_on or first > ends:
        raise PacketError(
            "The patient was not enrolled in the program at any time in that period."
        )


# ---- the evidence --------------------------------------------------------------------


def build_content(
    review: Review,
    first: date,
    last: date,
    actor: User,
    statements: list[NecessityStatement] | None = None,
    team: list[CareTeamAssignment] | None = None,
) -> dict:
    """Everything the packet shows, as plain values (kept as JSON when saved); a
    page that has read the statements and the care team already passes them."""
    check_period(review, first, last)
    if statements is None:
        statements = statements_of(review.authorization.id)
    if team is None:
        team = care_team(review.patient.id)
    low = datetime.combine(first, time.min, review.tz).astimezone(UTC)
    high = datetime.combine(last + timedelta(days=1), time.min, review.tz)
    high = high.astimezone(UTC)
    statement = next((s for s in statements if s.signed_at is not None), None)
    return {
        "patient": {"id": review.patient.id, "name": review.patient.display_name},
        "program": {
            "name": review.program.name,
            "part2": review.program.substance_use,
        },
        "period": {"first": first.isoformat(), "last": last.isoformat()},
        "admitted_on": review.enrollment.admitted_on.isoformat(),
        "coverage": _coverage(review.coverage),
        "authorization": _authorization(review),
        "attendance": _attendance(review, first, last),
        "scores": _scores(review, high),
        "checkins": _checkins(review.patient.id, first, last),
        "risk": _risk(review.patient.id, low, high),
        "needs": _needs(review.patient.id, low, high),
        "team": [
            {"role": a.team_role.value.replace("_", " "), "name": a.staff.display_name}
            for a in team
        ],
        "statement": _statement(statement),
        "made": {"at": utcnow().isoformat(), "by": actor.display_name},
    }


def _coverage(coverage: Coverage) -> dict:
    return {
        "payer": coverage.payer,
        "plan": coverage.plan,
        "member_id": coverage.member_id,
        "primary": coverage.is_primary,
    }


def _authorization(review: Review) -> dict:
    auth = review.authorization
    return {
        "id": auth.id,
        "reference": auth.reference,
        "level_of_care": auth.level_of_care.value,
        "focus": FOCUS_LABELS[auth.focus],
        "service_code": auth.service_code,
        "units": auth.units,
        "starts_on": auth.starts_on.isoformat(),
        "ends_on": auth.ends_on.isoformat(),
        "next_review_on": auth.next_review_on.isoformat()
        if auth.next_review_on
        else None,
        "status": AUTH_STATUS_LABELS[auth.status],
    }


def _attendance(review: Review, first: date, last: date) -> dict:
    """Days and hours by week against the level's expectation, and absences."""
    auth = review.authorization
    days = attended_days(review.patient.id, first, last)
    inside = [
        d
        for d in days
        if d.counts
        and auth.starts_on <= d.day <= auth.ends_on
        and d.level_of_care is auth.level_of_care
    ]
    used_overall = _used_in_authorization(review)
    weeks = hours_by_week(days, auth.level_of_care, first, last)
    absences = db.session.execute(
        select(Attendance.occurs_on, GroupSession.title, Attendance.status)
        .join(GroupSession, GroupSession.id == Attendance.group_session_id)
        .where(
            Attendance.patient_id == review.patient.id,
            Attendance.occurs_on.between(first, last),
            Attendance.status.in_(tuple(ABSENCE_WORDS)),
        )
        .order_by(Attendance.occurs_on, GroupSession.starts_at)
    ).all()
    return {
        "days_attended": len(days),
        "days_counted": sum(1 for d in days if d.counts),
        "days_counted_in_authorization": len(inside),
        "used": used_overall,
        "left": auth.units - used_overall,
        "uncovered": [d.day.isoformat() for d in days if d.counts and not d.covered],
        "short_days": [d.day.isoformat() for d in days if not d.counts],
        "weeks": [
            {
                "monday": w.monday.isoformat(),
                "days": w.days,
                "hours": str(w.hours),
                "expected": w.expectation,
                "meets": w.meets,
            }
            for w in weeks
        ],
        "absences": [
            {"day": day.isoformat(), "session": title, "reason": ABSENCE_WORDS[st]}
            for day, title, st in absences
        ],
    }


def _used_in_authorization(review: Review) -> int:
    row = db.session.execute(
        used_days_statement(Authorization.id == review.authorization.id)
    ).first()
    return int(row[1]) if row else 0


def _scores(review: Review, high: datetime) -> dict:
    """PHQ-9 and GAD-7 at admission (the first since admission) and the latest in
    the period, with the change, response (a drop of half) and remission (below 5)."""
    admitted = datetime.combine(review.enrollment.admitted_on, time.min, review.tz)
    rows = db.session.execute(
        select(
            ScreenerResponse.instrument,
            ScreenerResponse.total,
            ScreenerResponse.severity,
            ScreenerResponse.completed_at,
        )
        .where(
            ScreenerResponse.patient_id == review.patient.id,
            ScreenerResponse.instrument.in_((Instrument.PHQ9, Instrument.GAD7)),
            ScreenerResponse.completed_at >= admitted.astimezone(UTC),
            ScreenerResponse.completed_at < high,
            ScreenerResponse.total.is_not(None),
        )
        .order_by(ScreenerResponse.completed_at)
    ).all()
    found = defaultdict(list)
    for instrument, total, severity, at in rows:
        found[instrument].append(
            {"total": total, "severity": severity, "on": _local_day(at, review.tz)}
        )
    return {
        name: _change(found[instrument])
        for name, instrument in (("PHQ-9", Instrument.PHQ9), ("GAD-7", Instrument.GAD7))
    }


def _change(scores: list[dict]) -> dict | None:
    if not scores:
        return None
    first, latest = scores[0], scores[-1]
    change = latest["total"] - first["total"]
    return {
        "admission": first,
        "latest": latest,
        "change": change,
        "response": first["total"] > 0 and latest["total"] <= first["total"] / 2,
        "remission": latest["total"] < 5,
        "count": len(scores),
    }


def _local_day(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).date().isoformat()


def _checkins(patient_id: str, first: date, last: date) -> dict:
    """Weekly averages of mood, craving and sleep, and medicine taken."""
    rows = db.session.execute(
        select(
            CheckIn.local_date,
            CheckIn.mood,
            CheckIn.craving,
            CheckIn.sleep_hours,
            CheckIn.medication,
        ).where(
            CheckIn.patient_id == patient_id, CheckIn.local_date.between(first, last)
        )
    ).all()
    weeks = defaultdict(list)
    for row in rows:
        weeks[week_of(row.local_date)].append(row)
    return {
        "count": len(rows),
        "weeks": [_week_of_checkins(monday, weeks[monday]) for monday in sorted(weeks)],
    }


def _week_of_checkins(monday: date, rows: list) -> dict:
    def average(values) -> str:
        values = [Decimal(v) for v in values]
        return str((sum(values) / len(values)).quantize(Decimal("0.1")))

    prescribed = [r for r in rows if r.medication is not Medication.NONE_PRESCRIBED]
    return {
        "monday": monday.isoformat(),
        "count": len(rows),
        "mood": average(r.mood for r in rows),
        "craving": average(r.craving for r in rows),
        "sleep": average(r.sleep_hours for r in rows),
        "medication": f"{sum(r.medication is Medication.YES for r in prescribed)} of "
        f"{len(prescribed)}"
        if prescribed
        else "none prescribed",
    }


def _risk(patient_id: str, low: datetime, high: datetime) -> list[dict]:
    """Risk flags open at any time in the period, and how they were handled."""
    assessor = aliased(User)
    rows = db.session.execute(
        select(RiskFlag, assessor.display_name)
        .outerjoin(assessor, assessor.id == RiskFlag.assessed_by_id)
        .where(
            RiskFlag.patient_id == patient_id,
            RiskFlag.opened_at < high,
            (RiskFlag.resolved_at.is_(None)) | (RiskFlag.resolved_at >= low),
        )
        .order_by(RiskFlag.opened_at)
    ).all()
    return [
        {
            "opened": flag.opened_at.isoformat(),
            "source": SOURCE_WORDS.get(flag.source, flag.source),
            "status": RISK_STATUS_WORDS.get(flag.status.value, flag.status.value),
            "acknowledged": flag.acknowledged_at.isoformat()
            if flag.acknowledged_at
            else None,
            "level": flag.risk_level.value if flag.risk_level else None,
            "plan": flag.plan,
            "assessed_by": name,
            "resolved": flag.resolved_at.isoformat() if flag.resolved_at else None,
            "resolution": flag.resolution_note,
        }
        for flag, name in rows
    ]


def _needs(patient_id: str, low: datetime, high: datetime) -> list[dict]:
    rows = db.session.scalars(
        select(Need)
        .where(
            Need.patient_id == patient_id,
            Need.created_at < high,
            (Need.closed_at.is_(None)) | (Need.closed_at >= low),
        )
        .order_by(Need.created_at)
    ).all()
    return [
        {
            "asked": need.created_at.isoformat(),
            "kind": need.category.value.replace("-", " "),
            "status": STATUS_LABELS.get(need.status, need.status.value),
            "outcome": OUTCOME_LABELS.get(need.outcome) if need.outcome else None,
        }
        for need in rows
    ]


def _statement(statement: NecessityStatement | None) -> dict | None:
    if statement is None:
        return None
    return {
        "id": statement.id,
        "version": statement.version,
        "text": statement.text,
        "signer_name": statement.signer_name,
        "signer_role": statement.signer_role,
        "signed_at": statement.signed_at.isoformat(),
    }


# ---- the statement of medical necessity ----------------------------------------------


def statements_of(authorization_id: str) -> list[NecessityStatement]:
    """Every version of the authorization's statement, newest first."""
    return list(
        db.session.scalars(
            select(NecessityStatement)
            .where(NecessityStatement.authorization_id == authorization_id)
            .order_by(NecessityStatement.version.desc())
        )
    )


def latest_statement(authorization_id: str) -> NecessityStatement | None:
    return db.session.scalar(
        select(NecessityStatement)
        .where(NecessityStatement.authorization_id == authorization_id)
        .order_by(NecessityStatement.version.desc())
        .limit(1)
    )


def may_sign(actor: User, patient_id: str, team=None) -> bool:
    """Only the patient's own prescriber or therapist writes and signs."""
    if actor.role not in (Role.PRESCRIBER, Role.THERAPIST):
        return False
    if team is None:
        team = care_team(patient_id)
    return any(a.staff_id == actor.id and a.team_role in SIGNERS for a in team)


def save_statement(actor: User, review: Review, text: str) -> NecessityStatement:
    """Write or change the draft; a signed statement stays as it is and the change
    becomes its next version."""
    text = (text or "").strip()
    if not text:
        raise PacketError("Write why this level of care is still needed.")
    if not may_sign(actor, review.patient.id):
        raise PacketError("Only the patient's prescriber or therapist can write this.")
    latest = latest_statement(review.authorization.id)
    if latest is not None and latest.signed_at is None:
        latest.text, latest.author_id, latest.written_at = text, actor.id, utcnow()
        statement = latest
    else:
        statement = NecessityStatement(
            authorization_id=review.authorization.id,
            patient_id=review.patient.id,
            version=(latest.version + 1) if latest else 1,
            text=text,
            author_id=actor.id,
        )
        db.session.add(statement)
    db.session.flush()
    audit(
        "update",
        "necessity_statement",
        patient_id=review.patient.id,
        object_id=statement.id,
        detail=f"version {statement.version}",
    )
    return statement


def sign_statement(actor: User, review: Review) -> NecessityStatement:
    """Sign the draft with name, role and time; it can no longer change."""
    if not may_sign(actor, review.patient.id):
        raise PacketError("Only the patient's prescriber or therapist can sign this.")
    latest = latest_statement(review.authorization.id)
    if latest is None or latest.signed_at is not None:
        raise PacketError("Write the statement first, then sign it.")
    latest.signed_at = utcnow()
    latest.signer_id = actor.id
    latest.signer_name = actor.display_name
    latest.signer_role = actor.role.label
    db.session.flush()
    audit(
        "sign",
        "necessity_statement",
        patient_id=review.patient.id,
        object_id=latest.id,
        detail=f"version {latest.version}",
    )
    return latest


# ---- saving a packet -----------------------------------------------------------------


def make_packet(actor: User, review: Review, first: date, last: date) -> ReviewPacket:
    """Freeze the packet for this period and make its PDF, both in the database."""
    content = build_content(review, first, last, actor)
    packet = ReviewPacket(
        authorization_id=review.authorization.id,
        patient_id=review.patient.id,
        program_id=review.program.id,
        first_day=first,
        last_day=last,
        content=content,
        statement_id=(content["statement"] or {}).get("id"),
        made_by_id=actor.id,
    )
    db.session.add(packet)
    db.session.flush()
    # fpdf2 (with fontTools and Pillow) is 43 MB of every worker's memory; only this
    # step needs it, so a worker loads it the first time it makes a packet.
    from portal.blueprints.reviews.pdf import packet_pdf

    data = packet_pdf(content)
    db.session.add(
        ReviewFile(
            kind="packet_pdf",
            program_id=review.program.id,
            packet_id=packet.id,
            filename=f"review-packet-{packet.made_at:%Y%m%d}.pdf",
            media_type="application/pdf",
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            made_by_id=actor.id,
        )
    )
    db.session.flush()
    audit("create", "review_packet", patient_id=review.patient.id, object_id=packet.id)
    return packet


def mark_released(actor: User, packet: ReviewPacket, payer: str) -> None:
    """Note on the packet that it went to the payer (the disclosure itself is
    recorded by the record's accounting)."""
    packet.released_at = utcnow()
    packet.released_to = payer
    packet.released_by_id = actor.id
    db.session.flush()


def packets_of(authorization_id: str) -> list[ReviewPacket]:
    return list(
        db.session.scalars(
            select(ReviewPacket)
            .where(ReviewPacket.authorization_id == authorization_id)
            .order_by(ReviewPacket.made_at.desc())
            .limit(20)
        )
    )


def coverage_payer(packet: ReviewPacket) -> str:
    return packet.content["coverage"]["payer"]
