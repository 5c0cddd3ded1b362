"""Who sees whom: the staff member's programs, the patient's circle (care team,
director, recorded reason), loading a patient or answering 404, and a program's
directors and care teams."""

from __future__ import annotations

from flask import abort
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import joinedload

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import (
    AccessGrant,
    CareTeamAssignment,
    Enrollment,
    EnrollmentStatus,
    Program,
    StaffMembership,
)
from portal.db import is_id, utcnow
from portal.security import CLINICAL, Role, current_actor


def staff_program_ids(staff: User) -> select:
    return select(StaffMembership.program_id).where(StaffMembership.user_id == staff.id)


def patient_circle_clause(staff: User):
    """SQL condition: the patient (Enrollment.patient_id) is in this staff's circle.

    Care-team members see their assigned patients; the director sees the program's
    patients (oversight is their job); anyone else needs a recorded, unexpired reason.
    """
    on_team = exists().where(
        CareTeamAssignment.patient_id == Enrollment.patient_id,
        CareTeamAssignment.staff_id == staff.id,
    )
    granted = exists().where(
        AccessGrant.patient_id == Enrollment.patient_id,
        AccessGrant.staff_id == staff.id,
        AccessGrant.expires_at > utcnow(),
    )
    conditions = [on_team, granted]
    if staff.role is Role.DIRECTOR:
        conditions.append(Enrollment.program_id.in_(staff_program_ids(staff)))
    return (Enrollment.program_id.in_(staff_program_ids(staff))) & or_(*conditions)


def can_see_patient(actor: User, patient_id: str) -> bool:
    if actor.role is Role.PATIENT:
        return actor.id == patient_id
    if actor.role not in CLINICAL:
        return False
    query = (
        select(Enrollment.id)
        .where(Enrollment.patient_id == patient_id, patient_circle_clause(actor))
        .limit(1)
    )
    return db.session.scalar(query) is not None


def load_patient_or_404(patient_id: str | None, data_kind: str) -> User:
    """Load a patient the actor may see, or audit the denial and answer 404."""
    actor = current_actor()
    patient = db.session.get(User, patient_id) if is_id(patient_id) else None
    if (
        patient is None
        or patient.role is not Role.PATIENT
        or not can_see_patient(actor, patient.id)
    ):
        audit(
            "read",
            data_kind,
            patient_id=patient.id if patient else None,
            object_id=None,
            outcome=Outcome.DENIED,
        )
        abort(404)
    return patient


def active_enrollment(patient_id: str) -> Enrollment | None:
    return db.session.scalar(
        select(Enrollment)
        .where(
            Enrollment.patient_id == patient_id,
            Enrollment.status != EnrollmentStatus.DISCHARGED,
        )
        .order_by(Enrollment.admitted_on.desc())
        .limit(1)
    )


def programs_of(staff: User) -> list[Program]:
    return list(
        db.session.scalars(
            select(Program)
            .where(Program.id.in_(staff_program_ids(staff)))
            .order_by(Program.name)
        )
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
