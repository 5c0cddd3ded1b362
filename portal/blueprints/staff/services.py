"""Staff-side queries and changes: caseloads, access reasons, enrollment of patients."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.auth.services import issue_enrollment_code, normalize_email
from portal.blueprints.programs.access import (
    patient_circle_clause,
    programs_of,
    staff_program_ids,
)
from portal.blueprints.programs.models import (
    IN_TREATMENT,
    AccessGrant,
    CareTeamAssignment,
    Enrollment,
    EnrollmentStatus,
    Program,
    StaffMembership,
    TeamRole,
    Track,
)
from portal.blueprints.safety.paging import queue_code_text
from portal.db import is_id, utcnow
from portal.i18n import known_language
from portal.security import Role

ACCESS_GRANT_HOURS = 12


CASELOAD_LIMIT = 500


def my_patients(staff: User, first=None) -> list[Enrollment]:
    """Current enrollments (in treatment or in step-down after discharge) of the
    patients in this staff member's circle, at most CASELOAD_LIMIT; `first` (a SQL
    condition) puts those patients before the cut."""
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
                Enrollment.status.in_(IN_TREATMENT),
                Enrollment.program_id.in_(staff_program_ids(staff)),
                ~patient_circle_clause(staff),
            )
            .limit(500)
        ).unique()
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


def program_today(staff: User) -> date:
    programs = programs_of(staff)
    tz = ZoneInfo(programs[0].timezone) if programs else ZoneInfo("UTC")
    return utcnow().astimezone(tz).date()


# ---- admin: accounts and enrollment --------------------------------------------------


class EnrollmentError(ValueError):
    """An enrollment that cannot be made as asked; the message says why."""


PHONE_TAKEN = (
    "That mobile number already signs in to another account. Enter the patient's "
    "own number, or an email instead."
)

PATIENT_DETAILS = (
    "date_of_birth",
    "preferred_name",
    "pronouns",
    "emergency_name",
    "emergency_relationship",
    "emergency_phone",
)


def enroll_patient(admin: User, program: Program, data: dict) -> tuple[User, str]:
    """Create the account, enrollment and care team; return the one-time code."""
    email = normalize_email(data["email"]) if data.get("email") else None
    phone = data.get("mobile_phone")
    if email and db.session.scalar(select(User.id).where(User.email == email)):
        raise EnrollmentError("That email is already used by an account.")
    if phone and db.session.scalar(select(User.id).where(User.phone == phone)):
        raise EnrollmentError(PHONE_TAKEN)
    track = db.session.get(Track, data["track_id"])
    if track is None or track.program_id != program.id:
        raise EnrollmentError("Choose a track of this program.")
    patient = User(
        email=email,
        phone=phone,
        display_name=data["display_name"].strip(),
        role=Role.PATIENT,
        preferred_language=data.get("preferred_language") or None,
    )
    db.session.add(patient)
    db.session.flush()
    details = {key: _cleaned(data.get(key)) for key in PATIENT_DETAILS}
    enrollment = Enrollment(
        patient_id=patient.id,
        program_id=program.id,
        track_id=track.id,
        level_of_care=track.level_of_care,
        admitted_on=data["admitted_on"],
        mobile_phone=phone,
        **details,
    )
    db.session.add(enrollment)
    assign_care_team(program, patient, data.get("team", {}))
    audit("create", "enrollment", patient_id=patient.id, object_id=enrollment.id)
    return patient, issue_enrollment_code(admin, patient)


def _cleaned(value):
    """Text fields stripped, and empty ones kept as None."""
    if isinstance(value, str):
        return value.strip() or None
    return value


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


def load_program_enrollment(admin: User, patient_id: str) -> Enrollment | None:
    """The patient's latest enrollment in one of the admin's programs, with the
    patient; None when there is none."""
    if not is_id(patient_id):
        return None
    return db.session.scalar(
        select(Enrollment)
        .options(joinedload(Enrollment.patient))
        .where(
            Enrollment.patient_id == patient_id,
            Enrollment.program_id.in_(staff_program_ids(admin)),
        )
        .order_by(Enrollment.admitted_on.desc())
        .limit(1)
    )


def change_mobile_phone(
    admin: User, enrollment: Enrollment, number: str | None
) -> None:
    """Set or clear the patient's mobile number, which they may also sign in with
    (the number stays out of the audit detail, like any contact data)."""
    patient = enrollment.patient
    if number and db.session.scalar(
        select(User.id).where(User.phone == number, User.id != patient.id)
    ):
        raise EnrollmentError(PHONE_TAKEN)
    if number is None and not patient.email:
        raise EnrollmentError(
            "This patient has no email and signs in with this number: enter a new "
            "number instead of clearing it."
        )
    enrollment.mobile_phone = number
    patient.phone = number
    audit(
        "update",
        "enrollment",
        patient_id=enrollment.patient_id,
        object_id=enrollment.id,
        detail="mobile phone " + ("set" if number else "cleared"),
    )


def load_program_account(admin: User, user_id: str) -> User | None:
    """A patient enrolled in, or a staff member of, one of the admin's programs."""
    if not is_id(user_id):
        return None
    programs = staff_program_ids(admin)
    patient = select(Enrollment.patient_id).where(Enrollment.program_id.in_(programs))
    staff = select(StaffMembership.user_id).where(
        StaffMembership.program_id.in_(programs)
    )
    return db.session.scalar(
        select(User).where(User.id == user_id, User.id.in_(patient.union(staff)))
    )


NO_MOBILE = (
    "This patient has no mobile number. Add one first, or give the code in person."
)


def text_enrollment_code(admin: User, enrollment: Enrollment) -> None:
    """Issue a new one-time code and text it to the patient's mobile number."""
    patient = enrollment.patient
    if not patient.phone or not patient.is_active:
        raise EnrollmentError(NO_MOBILE)
    send_code_text(patient, issue_enrollment_code(admin, patient))


def send_code_text(patient: User, code: str) -> None:
    """Text a code through the pager (sent by the worker after the commit; the
    stored text loses the code once it is sent)."""
    queue_code_text(
        patient.id,
        current_app.config["APP_NAME"],
        code,
        known_language(patient.preferred_language),
    )
    audit(
        "text_code",
        "account",
        patient_id=patient.id,
        object_id=patient.id,
        detail="one-time code texted to the mobile number",
    )


# ---- discharge and step-down ---------------------------------------------------------


def load_enrollment_in_treatment(patient_id: str) -> Enrollment | None:
    """The patient's enrollment that is in treatment now, or None."""
    return db.session.scalar(
        select(Enrollment)
        .where(Enrollment.patient_id == patient_id, Enrollment.status.in_(IN_TREATMENT))
        .order_by(Enrollment.admitted_on.desc())
        .limit(1)
    )


def discharge_patient(actor: User, enrollment: Enrollment, data: dict) -> None:
    """Discharge with an aftercare plan: the account goes on in step-down (alumni)
    mode, keeping peer messaging, optional check-ins and the safety plan."""
    enrollment.status = EnrollmentStatus.ALUMNI
    enrollment.discharged_on = data["discharged_on"]
    enrollment.aftercare_appointments = data["aftercare_appointments"].strip()
    enrollment.aftercare_help = data["aftercare_help"].strip()
    enrollment.discharged_by_id = actor.id
    audit(
        "discharge",
        "enrollment",
        patient_id=enrollment.patient_id,
        object_id=enrollment.id,
        detail="discharged to step-down with an aftercare plan",
    )
