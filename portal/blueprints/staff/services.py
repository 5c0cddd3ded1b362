"""Staff-side queries and changes: caseloads, access reasons, enrollment of patients."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import Role, User
from portal.blueprints.auth.services import issue_enrollment_code, normalize_email
from portal.blueprints.schedule.models import GroupSession
from portal.blueprints.staff.models import (
    AccessGrant,
    CareTeamAssignment,
    Enrollment,
    EnrollmentStatus,
    Program,
    StaffMembership,
    TeamRole,
    Track,
)
from portal.db import utcnow
from portal.security import patient_circle_clause, staff_program_ids

ACCESS_GRANT_HOURS = 12


def programs_of(staff: User) -> list[Program]:
    return list(
        db.session.scalars(
            select(Program)
            .where(Program.id.in_(staff_program_ids(staff)))
            .order_by(Program.name)
        )
    )


CASELOAD_LIMIT = 500


def my_patients(staff: User, first=None) -> list[Enrollment]:
    """Active enrollments of the patients in this staff member's circle, at most
    CASELOAD_LIMIT; `first` (a SQL condition) puts those patients before the cut."""
    order = [first.desc()] if first is not None else []
    return list(
        db.session.scalars(
            select(Enrollment)
            .options(joinedload(Enrollment.patient), joinedload(Enrollment.track))
            .where(
                Enrollment.status != EnrollmentStatus.DISCHARGED,
                patient_circle_clause(staff),
            )
            .order_by(*order, Enrollment.admitted_on.desc())
            .limit(CASELOAD_LIMIT)
        ).unique()
    )


def program_directory(staff: User) -> list[Enrollment]:
    """Names only of the program's other patients, to open one with a reason."""
    return list(
        db.session.scalars(
            select(Enrollment)
            .options(joinedload(Enrollment.patient))
            .where(
                Enrollment.status != EnrollmentStatus.DISCHARGED,
                Enrollment.program_id.in_(staff_program_ids(staff)),
                ~patient_circle_clause(staff),
            )
            .limit(500)
        ).unique()
    )


def in_program(staff: User, patient_id: str) -> Enrollment | None:
    return db.session.scalar(
        select(Enrollment)
        .where(
            Enrollment.patient_id == patient_id,
            Enrollment.status != EnrollmentStatus.DISCHARGED,
            Enrollment.program_id.in_(staff_program_ids(staff)),
        )
        .limit(1)
    )


def grant_access(staff: User, patient_id: str, reason: str) -> AccessGrant:
    """Record why a staff member opens a patient outside their team (for 12 hours)."""
    grant = AccessGrant(
        staff_id=staff.id,
        patient_id=patient_id,
        reason=reason.strip(),
        expires_at=utcnow() + timedelta(hours=ACCESS_GRANT_HOURS),
    )
    db.session.add(grant)
    db.session.flush()
    audit(
        "grant_access",
        "access_reason",
        patient_id=patient_id,
        object_id=grant.id,
        detail="reason recorded",
    )
    return grant


def program_director_ids(program_id: str) -> list[str]:
    """Ids of the active directors of a program (the last people any alert reaches)."""
    return list(
        db.session.scalars(
            select(User.id)
            .join(StaffMembership, StaffMembership.user_id == User.id)
            .where(
                StaffMembership.program_id == program_id,
                User.role == Role.DIRECTOR,
                User.is_active.is_(True),
            )
        )
    )


def care_team(patient_id: str) -> list[CareTeamAssignment]:
    return list(
        db.session.scalars(
            select(CareTeamAssignment)
            .options(joinedload(CareTeamAssignment.staff))
            .where(CareTeamAssignment.patient_id == patient_id)
        )
    )


def load_program_session(staff: User, session_id: str) -> GroupSession | None:
    """A group session of one of the staff member's programs, else None."""
    if len(session_id) != 36:
        return None
    return db.session.scalar(
        select(GroupSession)
        .join(Track, Track.id == GroupSession.track_id)
        .where(
            GroupSession.id == session_id,
            Track.program_id.in_(staff_program_ids(staff)),
        )
    )


def sessions_on(staff: User, day: date) -> list[tuple[GroupSession, Track]]:
    rows = db.session.execute(
        select(GroupSession, Track)
        .join(Track, Track.id == GroupSession.track_id)
        .where(
            Track.program_id.in_(staff_program_ids(staff)),
            GroupSession.weekday == day.weekday(),
            GroupSession.active.is_(True),
        )
        .order_by(GroupSession.starts_at, Track.name)
    ).all()
    return [(row[0], row[1]) for row in rows]


def program_today(staff: User) -> date:
    programs = programs_of(staff)
    tz = ZoneInfo(programs[0].timezone) if programs else ZoneInfo("UTC")
    return utcnow().astimezone(tz).date()


# ---- admin: accounts and enrollment --------------------------------------------------


class EnrollmentError(ValueError):
    """An enrollment that cannot be made as asked; the message says why."""


def enroll_patient(admin: User, program: Program, data: dict) -> tuple[User, str]:
    """Create the account, enrollment and care team; return the one-time code."""
    email = normalize_email(data["email"])
    if db.session.scalar(select(User.id).where(User.email == email)):
        raise EnrollmentError("That email is already used by an account.")
    track = db.session.get(Track, data["track_id"])
    if track is None or track.program_id != program.id:
        raise EnrollmentError("Choose a track of this program.")
    patient = User(
        email=email, display_name=data["display_name"].strip(), role=Role.PATIENT
    )
    db.session.add(patient)
    db.session.flush()
    enrollment = Enrollment(
        patient_id=patient.id,
        program_id=program.id,
        track_id=track.id,
        level_of_care=track.level_of_care,
        admitted_on=data["admitted_on"],
    )
    db.session.add(enrollment)
    assign_care_team(program, patient, data.get("team", {}))
    audit("create", "enrollment", patient_id=patient.id, object_id=enrollment.id)
    return patient, issue_enrollment_code(admin, patient)


def assign_care_team(
    program: Program, patient: User, team: dict[TeamRole, str]
) -> None:
    staff_ids = set(
        db.session.scalars(
            select(StaffMembership.user_id).where(
                StaffMembership.program_id == program.id
            )
        )
    )
    for team_role, staff_id in team.items():
        if staff_id and staff_id in staff_ids:
            db.session.add(
                CareTeamAssignment(
                    patient_id=patient.id, staff_id=staff_id, team_role=team_role
                )
            )


def staff_by_team_role(program: Program) -> dict[TeamRole, list[User]]:
    members = db.session.scalars(
        select(User)
        .join(StaffMembership, StaffMembership.user_id == User.id)
        .where(StaffMembership.program_id == program.id, User.is_active.is_(True))
        .order_by(User.display_name)
    ).all()
    return {
        team_role: [m for m in members if m.role.value == team_role.value]
        for team_role in TeamRole
    }


def admin_patient_list(admin: User) -> list[Enrollment]:
    return list(
        db.session.scalars(
            select(Enrollment)
            .options(joinedload(Enrollment.patient), joinedload(Enrollment.track))
            .where(Enrollment.program_id.in_(staff_program_ids(admin)))
            .order_by(Enrollment.admitted_on.desc())
            .limit(500)
        ).unique()
    )


def load_program_account(admin: User, user_id: str) -> User | None:
    """A patient enrolled in, or a staff member of, one of the admin's programs."""
    if len(user_id) != 36:
        return None
    programs = staff_program_ids(admin)
    patient = select(Enrollment.patient_id).where(Enrollment.program_id.in_(programs))
    staff = select(StaffMembership.user_id).where(
        StaffMembership.program_id.in_(programs)
    )
    return db.session.scalar(
        select(User).where(User.id == user_id, User.id.in_(patient.union(staff)))
    )
