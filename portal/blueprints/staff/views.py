"""Staff home and patient summaries; admin enrollment and account codes."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, redirect, render_template, url_for

from portal.audit import audit, audit_many
from portal.blueprints.auth.models import Role
from portal.blueprints.auth.services import deactivate_user, issue_enrollment_code
from portal.blueprints.checkins.services import caseload as build_caseload
from portal.blueprints.checkins.services import open_flag_clause
from portal.blueprints.schedule import services as schedule
from portal.blueprints.staff import services
from portal.blueprints.staff.forms import (
    TEAM_LABELS,
    AccessReasonForm,
    EnrollPatientForm,
)
from portal.blueprints.staff.models import TeamRole
from portal.security import (
    Permission,
    current_actor,
    has_permission,
    load_patient_or_404,
    requires,
)

bp = Blueprint("staff", __name__)


@bp.route("/staff")
@requires(Permission.STAFF_PATIENTS, Permission.ADMIN_ENROLL)
def home():
    """Staff start page: my patients and today's sessions (admins go to enrollment)."""
    actor = current_actor()
    if actor.role is Role.ADMIN:
        return redirect(url_for("staff.admin_patients"))
    day = services.program_today(actor)
    clinician = has_permission(actor, Permission.CHECKINS_READ)
    flagged_first = open_flag_clause() if clinician else None
    patients = services.my_patients(actor, first=flagged_first)
    audit_many("read", "enrollment", [(e.patient_id, e.id) for e in patients])
    caseload = build_caseload(patients, day) if clinician else None
    return render_template(
        "staff/home.html",
        cut=len(patients) >= services.CASELOAD_LIMIT,
        caseload=caseload,
        patients=patients,
        day=day,
        sessions=services.sessions_on(actor, day),
    )


@bp.route("/staff/patients/<patient_id>")
@requires(Permission.STAFF_PATIENTS)
def patient(patient_id: str):
    """One patient's enrollment, care team and this week's schedule."""
    person = load_patient_or_404(patient_id, "enrollment")
    ctx = schedule.load_patient_context(person.id)
    audit("read", "enrollment", patient_id=person.id)
    days = {}
    if ctx is not None:
        first = schedule.week_of(schedule.local_today(ctx))[0]
        days = schedule.schedule_between(ctx, first, first + timedelta(days=6))
    return render_template(
        "staff/patient.html",
        person=person,
        ctx=ctx,
        days=days,
        team=services.care_team(person.id),
        team_labels=TEAM_LABELS,
    )


@bp.route("/staff/directory")
@requires(Permission.STAFF_ACCESS_REASON)
def directory():
    """Other patients of my programs, by name only; opening one needs a reason."""
    actor = current_actor()
    enrollments = services.program_directory(actor)
    audit("read", "directory", detail=f"{len(enrollments)} names")
    return render_template("staff/directory.html", enrollments=enrollments)


@bp.route("/staff/patients/<patient_id>/reason", methods=["GET", "POST"])
@requires(Permission.STAFF_ACCESS_REASON)
def access_reason(patient_id: str):
    """Record a reason to see a program patient outside my team, then open them."""
    actor = current_actor()
    enrollment = (
        services.in_program(actor, patient_id) if len(patient_id) == 36 else None
    )
    if enrollment is None:
        abort(404)
    form = AccessReasonForm()
    if form.validate_on_submit():
        services.grant_access(actor, enrollment.patient_id, form.reason.data)
        return redirect(url_for("staff.patient", patient_id=enrollment.patient_id))
    return render_template("staff/reason.html", form=form, patient_id=patient_id)


# ---- admin ---------------------------------------------------------------------------


@bp.route("/admin/patients")
@requires(Permission.ADMIN_ENROLL)
def admin_patients():
    """Enrolled patients of my programs: names, tracks, status. No clinical content."""
    enrollments = services.admin_patient_list(current_actor())
    audit("read", "enrollment", detail=f"admin list of {len(enrollments)}")
    return render_template("staff/admin_patients.html", enrollments=enrollments)


@bp.route("/admin/patients/new", methods=["GET", "POST"])
@requires(Permission.ADMIN_ENROLL)
def enroll():
    """Enroll a patient; the page then shows their one-time code to hand over."""
    actor = current_actor()
    programs = services.programs_of(actor)
    if not programs:
        abort(404)
    program = programs[0]
    form = _enroll_form(program)
    if form.validate_on_submit():
        data = dict(form.data)
        data["team"] = {role: form[role.value].data for role in TeamRole}
        try:
            patient, code = services.enroll_patient(actor, program, data)
        except services.EnrollmentError as error:
            form.email.errors = [str(error)]
        else:
            return render_template("staff/code_issued.html", person=patient, code=code)
    return render_template("staff/enroll.html", form=form, program=program)


def _enroll_form(program) -> EnrollPatientForm:
    from portal import db
    from portal.blueprints.staff.models import Track

    form = EnrollPatientForm()
    tracks = db.session.query(Track).filter(Track.program_id == program.id).all()
    form.track_id.choices = [
        (t.id, f"{t.name} ({t.level_of_care.value})") for t in tracks
    ]
    for team_role, members in services.staff_by_team_role(program).items():
        form[team_role.value].choices = [("", "None yet")] + [
            (m.id, m.display_name) for m in members
        ]
    return form


@bp.route("/admin/accounts/<user_id>/code", methods=["POST"])
@requires(Permission.ADMIN_ENROLL)
def new_code(user_id: str):
    """Issue a new one-time code (first sign-in or a forgotten password)."""
    person = services.load_program_account(current_actor(), user_id)
    if person is None:
        abort(404)
    code = issue_enrollment_code(current_actor(), person)
    return render_template("staff/code_issued.html", person=person, code=code)


@bp.route("/admin/accounts/<user_id>/deactivate", methods=["POST"])
@requires(Permission.ADMIN_ENROLL)
def deactivate(user_id: str):
    """Turn an account off; every session it has ends at once."""
    person = services.load_program_account(current_actor(), user_id)
    if person is None or person.id == current_actor().id:
        abort(404)
    deactivate_user(current_actor(), person)
    return redirect(url_for("staff.admin_patients"))
