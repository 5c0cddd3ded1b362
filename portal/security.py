"""Roles, permissions as data, @requires/@public, and object-level policy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from flask import abort, g
from sqlalchemy import exists, or_, select

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.auth.models import Role, User
from portal.blueprints.staff.models import (
    AccessGrant,
    CareTeamAssignment,
    Enrollment,
    EnrollmentStatus,
    StaffMembership,
)
from portal.db import utcnow


class Permission(StrEnum):
    SIGNED_IN = "account:self"
    PATIENT_SELF = "patient:self"
    STAFF_PATIENTS = "staff:patients:read"
    STAFF_SCHEDULE = "staff:schedule:read"
    STAFF_ATTENDANCE = "staff:attendance:write"
    STAFF_ACCESS_REASON = "staff:access:reason"
    ADMIN_ENROLL = "admin:enroll"
    AUDIT_READ = "audit:read"
    NOTIFICATIONS = "notifications:self"
    CHECKINS_READ = "staff:checkins:read"
    RISK_HANDLE = "staff:risk:handle"
    # messages (issue 6)
    MESSAGES_PATIENT = "patient:messages"
    MESSAGES_STAFF = "staff:messages"
    MESSAGES_PEER = "staff:messages:peer"
    MESSAGES_CLINICAL = "staff:messages:clinical"
    # needs: requests for help (transport, housing, other)
    NEEDS_ASK = "patient:needs"
    NEEDS_TRIAGE = "staff:needs:triage"
    NEEDS_REPORT = "staff:needs:report"


CLINICAL = {
    Role.PEER,
    Role.CASE_MANAGER,
    Role.THERAPIST,
    Role.PRESCRIBER,
    Role.NURSE,
    Role.DIRECTOR,
}
CLINICAL_PERMISSIONS = {
    Permission.SIGNED_IN,
    Permission.NOTIFICATIONS,
    Permission.STAFF_PATIENTS,
    Permission.STAFF_SCHEDULE,
    Permission.STAFF_ATTENDANCE,
    Permission.STAFF_ACCESS_REASON,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PATIENT: frozenset(
        {Permission.SIGNED_IN, Permission.PATIENT_SELF, Permission.NOTIFICATIONS}
    ),
    **{role: frozenset(CLINICAL_PERMISSIONS) for role in CLINICAL},
    Role.ADMIN: frozenset(
        {Permission.SIGNED_IN, Permission.ADMIN_ENROLL, Permission.NOTIFICATIONS}
    ),
}
# Check-ins, scores, safety plans and risk alerts are for the clinicians of the team.
for _clinician in (Role.THERAPIST, Role.PRESCRIBER, Role.NURSE, Role.DIRECTOR):
    ROLE_PERMISSIONS[_clinician] = ROLE_PERMISSIONS[_clinician] | {
        Permission.CHECKINS_READ,
        Permission.RISK_HANDLE,
    }
ROLE_PERMISSIONS[Role.DIRECTOR] = ROLE_PERMISSIONS[Role.DIRECTOR] | {
    Permission.AUDIT_READ
}
# ---- messages (issue 6): patients and the clinical staff read the threads they may
# (object rules in portal/blueprints/messages/access.py); peers set themselves away
# and log contacts; clinicians close flags and edit the crisis phrase list.
ROLE_PERMISSIONS[Role.PATIENT] |= {Permission.MESSAGES_PATIENT}
for _role in CLINICAL:
    ROLE_PERMISSIONS[_role] |= {Permission.MESSAGES_STAFF}
ROLE_PERMISSIONS[Role.PEER] |= {Permission.MESSAGES_PEER}
for _clinician in (Role.THERAPIST, Role.PRESCRIBER, Role.NURSE, Role.DIRECTOR):
    ROLE_PERMISSIONS[_clinician] |= {Permission.MESSAGES_CLINICAL}
# ---- /messages
# needs: patients ask; case managers and the director triage; the director reports.
ROLE_PERMISSIONS[Role.PATIENT] = ROLE_PERMISSIONS[Role.PATIENT] | {Permission.NEEDS_ASK}
for _triager in (Role.CASE_MANAGER, Role.DIRECTOR):
    ROLE_PERMISSIONS[_triager] = ROLE_PERMISSIONS[_triager] | {Permission.NEEDS_TRIAGE}
ROLE_PERMISSIONS[Role.DIRECTOR] = ROLE_PERMISSIONS[Role.DIRECTOR] | {
    Permission.NEEDS_REPORT
}
# /needs


def grant_permissions(role: Role, *permissions: str) -> None:
    """Let a feature add its own permissions to a role at import time."""
    ROLE_PERMISSIONS[role] = ROLE_PERMISSIONS[role] | frozenset(permissions)


def has_permission(user: User | None, permission: str) -> bool:
    return user is not None and permission in ROLE_PERMISSIONS.get(user.role, ())


def requires(*permissions: str) -> Callable:
    """Declare the permissions a view needs (any one); enforced before the view."""

    def decorate(view: Callable) -> Callable:
        view.required_permissions = frozenset(permissions)
        view.is_public = False
        return view

    return decorate


def public(view: Callable) -> Callable:
    """Declare that a view is open to anyone, signed in or not."""
    view.required_permissions = frozenset()
    view.is_public = True
    return view


# ---- record: system API (FHIR) -------------------------------------------------------


def system_api(scope_resource: str) -> Callable:
    """Declare a route for EHR clients with bearer tokens, not sessions: the session
    check is skipped (no signed-in user can use it) and the view itself checks the
    token for the SMART scope `system/<scope_resource>.read`."""

    def decorate(view: Callable) -> Callable:
        view.required_permissions = frozenset({f"system/{scope_resource}.read"})
        view.is_public = True
        view.system_scope = scope_resource
        return view

    return decorate


# ---- /record: system API -------------------------------------------------------------


def current_actor() -> User:
    return g.actor


# ---- object-level policy -------------------------------------------------------------


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
    patient = db.session.get(User, patient_id) if _looks_like_id(patient_id) else None
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


def _looks_like_id(value: str | None) -> bool:
    return bool(value) and len(value) == 36 and value.count("-") == 4


def is_expired(when: datetime | None) -> bool:
    return when is not None and when <= utcnow()
