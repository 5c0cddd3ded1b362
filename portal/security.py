"""Roles and permissions as data, and the @requires / @public / @system_api marks
every route carries. Object-level policy (who sees which patient) needs the programs'
models, so it lives in `portal/blueprints/programs/access.py`."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from flask import has_request_context
from flask_login import current_user


class Role(StrEnum):
    PATIENT = "patient"
    PEER = "peer"
    CASE_MANAGER = "case_manager"
    THERAPIST = "therapist"
    PRESCRIBER = "prescriber"
    NURSE = "nurse"
    DIRECTOR = "director"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def is_staff(self) -> bool:
        return self is not Role.PATIENT


ROLE_LABELS = {
    Role.PATIENT: "Patient",
    Role.PEER: "Peer specialist",
    Role.CASE_MANAGER: "Case manager",
    Role.THERAPIST: "Therapist",
    Role.PRESCRIBER: "Psychiatrist or NP",
    Role.NURSE: "Nurse",
    Role.DIRECTOR: "Program director",
    Role.ADMIN: "Admin staff",
}


class Permission(StrEnum):
    SIGNED_IN = "account:self"
    NOTIFICATIONS = "notifications:self"
    PATIENT_SELF = "patient:self"
    MESSAGES_PATIENT = "patient:messages"
    NEEDS_ASK = "patient:needs"
    STAFF_PATIENTS = "staff:patients:read"
    STAFF_SCHEDULE = "staff:schedule:read"
    STAFF_ATTENDANCE = "staff:attendance:write"
    STAFF_ACCESS_REASON = "staff:access:reason"
    MESSAGES_STAFF = "staff:messages"
    MESSAGES_PEER = "staff:messages:peer"
    MESSAGES_CLINICAL = "staff:messages:clinical"
    CHECKINS_READ = "staff:checkins:read"
    RISK_HANDLE = "staff:risk:handle"
    NEEDS_TRIAGE = "staff:needs:triage"
    NEEDS_REPORT = "staff:needs:report"
    BOARD_READ = "staff:board:read"
    # The morning huddle: the whole care team reads it (each role its part); the
    # clinicians write its notes and actions and mark it held; an action's owner
    # marks it done.
    HUDDLE_READ = "staff:huddle:read"
    HUDDLE_WRITE = "staff:huddle:write"
    AUDIT_READ = "audit:read"
    ADMIN_ENROLL = "admin:enroll"
    # The patient's clinicians (and the director) discharge them with an aftercare
    # plan; which patient is checked per object.
    PATIENT_DISCHARGE = "staff:patients:discharge"
    # Utilization review: coverage and authorizations are numbers and dates (admin
    # staff keep them); the worklist and packets are clinical (clinicians only);
    # the statement of medical necessity is signed by the patient's prescriber or
    # therapist (checked per patient); the billing export is the program's.
    REVIEWS_COVERAGE = "staff:reviews:coverage"
    REVIEWS_READ = "staff:reviews:read"
    REVIEWS_SIGN = "staff:reviews:sign"
    REVIEWS_BILLING = "staff:reviews:billing"


# Clinicians see check-ins, scores, safety plans and risk alerts of their patients.
CLINICIANS = {Role.THERAPIST, Role.PRESCRIBER, Role.NURSE, Role.DIRECTOR}
# The care team: clinicians, and peers and case managers, who see that a patient needs
# attention but not the clinical content.
CLINICAL = {Role.PEER, Role.CASE_MANAGER} | CLINICIANS

_EVERYONE = frozenset({Permission.SIGNED_IN, Permission.NOTIFICATIONS})
_CARE_TEAM = _EVERYONE | {
    Permission.STAFF_PATIENTS,
    Permission.STAFF_SCHEDULE,
    Permission.STAFF_ATTENDANCE,
    Permission.STAFF_ACCESS_REASON,
    Permission.MESSAGES_STAFF,
    Permission.HUDDLE_READ,
}
_CLINICIAN = _CARE_TEAM | {
    Permission.HUDDLE_WRITE,
    Permission.CHECKINS_READ,
    Permission.RISK_HANDLE,
    Permission.MESSAGES_CLINICAL,
    Permission.REVIEWS_READ,
    Permission.PATIENT_DISCHARGE,
}

# Which thread, patient or request a permitted person may open is decided per object
# (programs/access.py, messages/access.py); this table only says what a role may use.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PATIENT: _EVERYONE
    | {Permission.PATIENT_SELF, Permission.MESSAGES_PATIENT, Permission.NEEDS_ASK},
    Role.PEER: _CARE_TEAM | {Permission.MESSAGES_PEER},
    Role.CASE_MANAGER: _CARE_TEAM | {Permission.NEEDS_TRIAGE},
    Role.THERAPIST: _CLINICIAN | {Permission.REVIEWS_SIGN},
    Role.PRESCRIBER: _CLINICIAN | {Permission.REVIEWS_SIGN},
    Role.NURSE: _CLINICIAN,
    Role.DIRECTOR: _CLINICIAN
    | {
        Permission.NEEDS_TRIAGE,
        Permission.NEEDS_REPORT,
        Permission.BOARD_READ,
        Permission.AUDIT_READ,
        Permission.REVIEWS_COVERAGE,
        Permission.REVIEWS_BILLING,
    },
    Role.ADMIN: _EVERYONE
    | {
        Permission.ADMIN_ENROLL,
        Permission.REVIEWS_COVERAGE,
        Permission.REVIEWS_BILLING,
    },
}


def has_permission(user: Any, permission: str) -> bool:
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


def signed_in_by(load_user: Callable) -> Callable:
    """Declare that a view's user comes from the request itself (a signed token in the
    form), not from the session cookie; the view still declares its permissions."""

    def decorate(view: Callable) -> Callable:
        view.user_loader = load_user
        return view

    return decorate


def resent_after_sign_out_to(endpoint: str) -> Callable:
    """Declare where a post of this view goes when its session has ended and the form
    carries a signed sending token (checkins/sending.py): the browser re-sends the same
    body there (307), so answers posted from a page left open are stored, not lost at
    the sign-in page."""

    def decorate(view: Callable) -> Callable:
        view.resent_to = endpoint
        return view

    return decorate


# ---- /record: system API -------------------------------------------------------------


def current_actor() -> Any:
    """The signed-in user (Flask-Login's `current_user`) as the model itself, for the
    services that take an actor; None outside a request or when nobody is signed in."""
    if not has_request_context():
        return None
    user = current_user._get_current_object()
    return user if user.is_authenticated else None
