"""Staff home and patient summaries; admin enrollment and account codes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from portal import db
from portal.audit import Outcome, audit, audit_many, chain_state
from portal.blueprints.auth.services import deactivate_user, issue_enrollment_code
from portal.blueprints.checkins.services import caseload as build_caseload
from portal.blueprints.programs.access import (
    care_team,
    in_program,
    load_patient_or_404,
    programs_of,
)
from portal.blueprints.programs.models import IN_TREATMENT, TeamRole
from portal.blueprints.safety.services import open_flag_clause, open_flag_statuses
from portal.blueprints.schedule import services as schedule
from portal.blueprints.staff import audit_report, figures, huddle, services
from portal.blueprints.staff import board as boards
from portal.blueprints.staff import huddle_followup as followup
from portal.blueprints.staff.forms import (
    LANGUAGE_NAMES,
    TEAM_LABELS,
    AccessReasonForm,
    AuditFilterForm,
    DischargeForm,
    EnrollPatientForm,
    HuddleActionForm,
    HuddleNoteForm,
    PhoneForm,
)
from portal.blueprints.staff.huddle_day import (
    first_huddle_day,
    huddle_day,
    is_clinician,
)
from portal.db import is_id, utcnow
from portal.rendering import refused_status, render_page, wants_fragment
from portal.security import Permission, Role, current_actor, has_permission, requires

bp = Blueprint("staff", __name__)


@bp.route("/staff")
@requires(Permission.STAFF_PATIENTS, Permission.ADMIN_ENROLL)
def home():
    """Staff start page: my patients and today's sessions (admins go to enrollment)."""
    actor = current_actor()
    if actor.role is Role.ADMIN:
        return redirect(url_for("staff.admin_patients"))
    today = _home_huddle_day(actor, request.args.get("program"))
    day = today.today if today else services.program_today(actor)
    clinician = has_permission(actor, Permission.CHECKINS_READ)
    flagged_first = open_flag_clause() if clinician else None
    current = services.my_patients(actor, first=flagged_first)
    audit_many("read", "enrollment", [(e.patient_id, e.id) for e in current])
    # Patients in step-down after discharge are listed apart, by name only.
    patients = [e for e in current if e.status in IN_TREATMENT]
    alumni = [e for e in current if e.status not in IN_TREATMENT]
    caseload = build_caseload(patients, day) if clinician else None
    # Peers and case managers learn only that an alert is open (the caseload shows
    # clinicians the alert itself).
    alerts = {} if clinician else open_flag_statuses([e.patient_id for e in current])
    return render_template(
        "staff/home.html",
        cut=len(patients) >= services.CASELOAD_LIMIT,
        caseload=caseload,
        patients=patients,
        alumni=alumni,
        alerts=alerts,
        day=day,
        sessions=schedule.sessions_on(actor, day),
        **_home_huddle(actor, today),
    )


def _home_huddle_day(actor, chosen: str | None):
    """The huddle day of the program chosen on the home (one of the actor's, else
    404), or of their first program."""
    if not chosen:
        return first_huddle_day(actor)
    found = huddle_day(actor, chosen) if is_id(chosen) else None
    if found is None:
        abort(404)
    return found


def _home_huddle(actor, day) -> dict:
    """The role's part of the morning huddle, at the top of its home: a clinician's
    own patients who need attention, a peer's patients with a safety alert, a case
    manager's requests due today; and everyone's own open actions. The same
    queries as the huddle (huddle.py), so the same reasons and the same view."""
    if day is None:
        return {"huddle": None}
    part = {
        "huddle": day,
        "my_actions": followup.open_actions(actor, day, mine=True),
        # a staff member of several programs picks which one's huddle the home shows
        "programs": programs_of(actor),
    }
    if actor.role is Role.CASE_MANAGER:
        due = huddle.requests_due(actor, day)
        # One audit statement whether or not any request is due (a constant count).
        if due:
            audit_many("read", "need", [(r.patient_id, r.need_id) for r in due])
        else:
            audit("read", "need", detail="requests due today: none")
        part["requests_due"] = due
    else:
        rows = huddle.my_attention(actor, day)
        if actor.role is Role.PEER:
            rows = [r for r in rows if r.flag_status is not None]
        part["attention"] = rows
    return part


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
        safety_alert=open_flag_statuses([person.id]).get(person.id),
        ctx=ctx,
        days=days,
        team=care_team(person.id),
        team_labels=TEAM_LABELS,
        language_names=LANGUAGE_NAMES,
        # Date of birth and the emergency contact are for the clinicians (who reach
        # the family in a crisis); peers and case managers see how to address the
        # patient, not more than their work needs.
        show_details=has_permission(current_actor(), Permission.CHECKINS_READ),
        may_discharge=has_permission(current_actor(), Permission.PATIENT_DISCHARGE),
    )


@bp.route("/staff/patients/<patient_id>/discharge", methods=["GET", "POST"])
@requires(Permission.PATIENT_DISCHARGE)
def discharge(patient_id: str):
    """Discharge a patient in treatment, with an aftercare plan; the account goes on
    in step-down (alumni) mode."""
    person = load_patient_or_404(patient_id, "enrollment")
    enrollment = services.load_enrollment_in_treatment(person.id)
    if enrollment is None:
        abort(404)
    program_day = schedule.local_today(schedule.load_patient_context(person.id))
    form = DischargeForm(admitted_on=enrollment.admitted_on, today=program_day)
    if request.method == "GET":
        form.discharged_on.data = form.discharged_on.data or program_day
    if form.validate_on_submit():
        services.discharge_patient(current_actor(), enrollment, form.data)
        flash(f"{person.display_name} is discharged. Their aftercare plan is saved.")
        return redirect(url_for("staff.patient", patient_id=person.id), code=303)
    audit("read", "enrollment", patient_id=person.id, detail="discharge form")
    status = 200 if request.method == "GET" else refused_status()
    page = render_template(
        "staff/discharge.html", form=form, person=person, enrollment=enrollment
    )
    return page, status


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
    enrollment = in_program(actor, patient_id) if is_id(patient_id) else None
    if enrollment is None:
        abort(404)
    form = AccessReasonForm()
    if form.validate_on_submit():
        services.grant_access(actor, enrollment.patient_id, form.reason.data)
        return redirect(url_for("staff.patient", patient_id=enrollment.patient_id))
    return render_template("staff/reason.html", form=form, patient_id=patient_id)


# ---- the director's board ------------------------------------------------------------


@bp.route("/staff/board")
@requires(Permission.BOARD_READ)
def board_start():
    """The board for all of the director's programs."""
    return redirect(url_for("staff.board", program_id=boards.ALL))


@bp.route("/staff/board/<program_id>")
@requires(Permission.BOARD_READ)
def board(program_id: str):
    """Every figure of the board for one program, or all of the director's."""
    programs, scope, period = _board_or_404(program_id)
    sections = figures.whole_board(scope, period)
    audit("read", "board", object_id=scope.key, detail=f"{period.weeks} weeks")
    return render_template(
        "staff/board.html",
        programs=programs,
        scope=scope,
        period=period,
        sections=sections,
        week_choices=boards.WEEK_CHOICES,
    )


@bp.route("/staff/board/<program_id>/<figure>.csv")
@requires(Permission.BOARD_READ)
def board_csv(program_id: str, figure: str):
    """One figure's table as a CSV file: the same rows and cells as on the page."""
    if figure not in figures.BUILDERS:
        abort(404)
    _programs, scope, period = _board_or_404(program_id)
    table = figures.one_figure(scope, period, figure)
    audit(
        "export", "board", object_id=scope.key, detail=f"{figure}, {period.weeks} weeks"
    )
    name = f"{figure}-{period.weeks}-weeks-{period.today.isoformat()}.csv"
    return Response(
        table.csv(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _board_or_404(program_id: str):
    """The director's programs, the chosen scope and period; 404 (audited) for a
    program that is not theirs or a period the board does not offer."""
    weeks = request.args.get("weeks", "13")
    programs = boards.director_programs(current_actor())
    scope = boards.scope_of(programs, program_id)
    if scope is None or weeks not in {str(w) for w in boards.WEEK_CHOICES}:
        audit("read", "board", object_id=program_id[:64], outcome=Outcome.DENIED)
        abort(404)
    return programs, scope, boards.period_for(scope, int(weeks), utcnow())


# ---- the morning huddle --------------------------------------------------------------


@bp.route("/staff/huddle")
@requires(Permission.HUDDLE_READ)
def huddle_start():
    """The huddle of the staff member's first program."""
    programs = programs_of(current_actor())
    if not programs:
        abort(404)
    return redirect(url_for("staff.huddle_board", program_id=programs[0].id))


@bp.route("/staff/huddle/<program_id>")
@requires(Permission.HUDDLE_READ)
def huddle_board(program_id: str):
    """The program's morning huddle: census, comings and goings, who needs
    attention first and why, with the notes and actions agreed."""
    actor, day = _huddle_or_404(program_id)
    return _huddle_page(actor, day)


@bp.route("/staff/huddle/<program_id>/held", methods=["POST"])
@requires(Permission.HUDDLE_WRITE)
def huddle_held(program_id: str):
    """Mark the huddle held now: the next one lists admissions since then."""
    actor, day = _huddle_or_404(program_id)
    followup.mark_held(actor, day)
    flash("The huddle is marked held.")
    return redirect(url_for("staff.huddle_board", program_id=day.program.id), code=303)


@bp.route("/staff/huddle/<program_id>/patients/<patient_id>")
@requires(Permission.HUDDLE_WRITE)
def huddle_patient(program_id: str, patient_id: str):
    """One patient's notes and actions with the forms to add them (htmx puts this
    part into the patient's row of the huddle; without JavaScript it is a page)."""
    actor, day = _huddle_or_404(program_id)
    patient = _huddle_patient_or_404(day, patient_id, "huddle", "read")
    return _followup(actor, day, patient, editing=True)


@bp.route("/staff/huddle/<program_id>/patients/<patient_id>/notes", methods=["POST"])
@requires(Permission.HUDDLE_WRITE)
def huddle_note(program_id: str, patient_id: str):
    """Keep a huddle note about a patient of the program."""
    actor, day = _huddle_or_404(program_id)
    patient = _huddle_patient_or_404(day, patient_id, "huddle_note")
    form = HuddleNoteForm()
    if form.validate_on_submit():
        followup.add_note(actor, day, patient.id, form.body.data)
        return _huddle_saved(actor, day, patient)
    return _followup(actor, day, patient, True, refused_status(), note_form=form)


@bp.route("/staff/huddle/<program_id>/patients/<patient_id>/actions", methods=["POST"])
@requires(Permission.HUDDLE_WRITE)
def huddle_action(program_id: str, patient_id: str):
    """Agree an action for a patient: who does what, by when."""
    actor, day = _huddle_or_404(program_id)
    patient = _huddle_patient_or_404(day, patient_id, "huddle_action")
    form = _action_form(day)
    if form.validate_on_submit():
        due = followup.due_moment(day, form.due_on.data, form.due_time.data)
        followup.add_action(
            actor, day, patient.id, form.what.data, form.owner.data, due
        )
        return _huddle_saved(actor, day, patient)
    return _followup(actor, day, patient, True, refused_status(), action_form=form)


@bp.route("/staff/huddle/<program_id>/actions/<action_id>/done", methods=["POST"])
@requires(Permission.HUDDLE_READ)
def huddle_action_done(program_id: str, action_id: str):
    """Mark an action done (its owner, or a clinician)."""
    actor, day = _huddle_or_404(program_id)
    action = (
        followup.load_open_action(actor, day, action_id) if is_id(action_id) else None
    )
    if action is None:
        audit("update", "huddle_action", outcome=Outcome.DENIED)
        abort(404)
    followup.mark_done(actor, action, day.now)
    patient = followup.enrolled_patient(day, action.patient_id)
    return _huddle_saved(actor, day, patient or followup.Patient(action.patient_id, ""))


def _huddle_or_404(program_id: str):
    """The actor and the huddle's day; 404 (audited) for a program not theirs."""
    actor = current_actor()
    day = huddle_day(actor, program_id) if is_id(program_id) else None
    if day is None:
        audit("read", "huddle", object_id=program_id[:64], outcome=Outcome.DENIED)
        abort(404)
    return actor, day


def _huddle_patient_or_404(day, patient_id: str, data_kind: str, action="create"):
    """A patient enrolled in the huddle's program; anyone else answers 404 (audited)
    and nothing is saved."""
    found = followup.enrolled_patient(day, patient_id) if is_id(patient_id) else None
    if found is None:
        audit(
            action,
            data_kind,
            patient_id=patient_id if is_id(patient_id) else None,
            outcome=Outcome.DENIED,
        )
        abort(404)
    return found


def _action_form(day, **kwargs) -> HuddleActionForm:
    form = HuddleActionForm(**kwargs)
    form.owner.choices = [
        ("", "Choose a team member"),
        *((i, name) for i, name in followup.program_staff(day)),
    ]
    return form


def _huddle_page(actor, day):
    rows = huddle.attention(actor, day)
    admissions, discharges = huddle.comings_and_goings(day)
    seen = {r.patient_id for r in rows} | {m.patient_id for m in admissions}
    seen |= {m.patient_id for m in discharges}
    if seen:
        audit_many("read", "huddle", [(p, day.program.id) for p in sorted(seen)])
    else:
        audit("read", "huddle", object_id=day.program.id)
    return render_template(
        "staff/huddle.html",
        day=day,
        census=huddle.census(day),
        admissions=admissions,
        discharges=discharges,
        rows=rows,
        clinician=is_clinician(actor),
    )


def _followup(actor, day, patient, editing=False, status=200, **forms):
    """The notes and actions of one patient, with the forms when `editing`: the
    fragment htmx swaps into the patient's row, or a page of its own."""
    clinician = is_clinician(actor)
    if editing:
        forms.setdefault("note_form", HuddleNoteForm(formdata=None))
        forms.setdefault(
            "action_form", _action_form(day, formdata=None, data={"due_on": day.today})
        )
    audit("read", "huddle", patient_id=patient.id, object_id=day.program.id)
    return render_page(
        "staff/huddle_patient.html",
        "staff/_huddle_followup.html",
        status,
        day=day,
        pid=patient.id,
        patient=patient,
        notes=followup.recent_notes(day, patient.id) if clinician else [],
        actions=followup.open_actions(actor, day, patient.id),
        clinician=clinician,
        editing=editing,
        **forms,
    )


def _huddle_saved(actor, day, patient):
    if wants_fragment():
        return _followup(actor, day, patient)
    return redirect(
        url_for(
            "staff.huddle_board", program_id=day.program.id, _anchor=f"p-{patient.id}"
        ),
        code=303,
    )


# ---- the audit report ----------------------------------------------------------------


@bp.route("/staff/audit")
@requires(Permission.AUDIT_READ)
def audit_log():
    """Who read or changed which patient's data, newest first, with filters."""
    actor = current_actor()
    form, filters, patient, tz = _audit_filters_or_404(actor)
    rows, more = [], False
    if not form.errors:
        rows, more = audit_report.report_page(actor, filters, tz)
        audit(
            "read", "audit_report", patient_id=filters.patient_id, detail=str(filters)
        )
    page = render_template(
        "staff/audit_report.html",
        form=form,
        filters=filters,
        patient=patient,
        rows=rows,
        more=more,
        tz=tz,
        chain=chain_state(db.session),
        query_without=_query_without,
    )
    return page, 422 if form.errors else 200


@bp.route("/staff/audit.csv")
@requires(Permission.AUDIT_READ)
def audit_log_csv():
    """Every row the filters match (newest first), as a CSV file."""
    actor = current_actor()
    form, filters, _patient, tz = _audit_filters_or_404(actor)
    if form.errors:
        abort(404)
    filters = replace(filters, before=None)
    audit("export", "audit_report", patient_id=filters.patient_id, detail=str(filters))
    rows = audit_report.report_rows(actor, filters, tz)
    name = f"audit-report-{utcnow().astimezone(tz):%Y-%m-%d}.csv"
    return Response(
        stream_with_context(audit_report.as_csv(rows, tz)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _query_without(*names: str) -> dict[str, str]:
    """The report's filters in the address, less some (for its links)."""
    return {k: v for k, v in request.args.items() if v and k not in names}


def _audit_filters_or_404(actor):
    """The filters from the address; a patient or staff member outside the
    director's programs answers 404 (audited as denied)."""
    form = AuditFilterForm(request.args, meta={"csrf": False})
    staff = audit_report.staff_choices(actor)
    form.staff.choices = [("", "Anyone"), *((u.id, u.display_name) for u in staff)]
    patient_id = request.args.get("patient") or None
    patient = (
        audit_report.patient_in_programs(actor, patient_id) if patient_id else None
    )
    if (patient_id and patient is None) or not form.validate_on_staff(staff):
        denied = patient_id if is_id(patient_id) else None
        audit("read", "audit_report", patient_id=denied, outcome=Outcome.DENIED)
        abort(404)
    form.validate()
    programs = programs_of(actor)
    tz = ZoneInfo(programs[0].timezone if programs else "UTC")
    return form, form.filters(patient, request.args.get("before", "")), patient, tz


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
    programs = programs_of(actor)
    if not programs:
        abort(404)
    program = programs[0]
    form = _enroll_form(program)
    if form.validate_on_submit():
        data = dict(
            form.data,
            mobile_phone=form.mobile_phone.number,
            emergency_phone=form.emergency_phone.number,
        )
        data["team"] = {role: form[role.value].data for role in TeamRole}
        try:
            patient, code = services.enroll_patient(actor, program, data)
            if form.text_code.data and patient.phone:
                services.send_code_text(patient, code)
        except services.EnrollmentError as error:
            wrong = (
                form.mobile_phone if str(error) == services.PHONE_TAKEN else form.email
            )
            wrong.errors = [str(error)]
        else:
            return render_template(
                "staff/code_issued.html",
                person=patient,
                code=code,
                texted=form.text_code.data and patient.phone,
            )
    status = 200 if request.method == "GET" else refused_status()
    return render_template("staff/enroll.html", form=form, program=program), status


@bp.route("/admin/patients/<patient_id>/phone", methods=["GET", "POST"])
@requires(Permission.ADMIN_ENROLL)
def phone(patient_id: str):
    """Add or change the patient's mobile number, for the care team to call."""
    actor = current_actor()
    enrollment = services.load_program_enrollment(actor, patient_id)
    if enrollment is None:
        audit("read", "enrollment", outcome=Outcome.DENIED)
        abort(404)
    form = PhoneForm(data={"mobile_phone": enrollment.mobile_phone})
    if form.validate_on_submit():
        try:
            services.change_mobile_phone(actor, enrollment, form.mobile_phone.number)
        except services.EnrollmentError as error:
            form.mobile_phone.errors = [str(error)]
        else:
            flash(f"Saved the mobile number of {enrollment.patient.display_name}.")
            return redirect(url_for("staff.admin_patients"), code=303)
    audit("read", "enrollment", patient_id=enrollment.patient_id, detail="phone")
    status = 200 if request.method == "GET" else refused_status()
    return render_template("staff/phone.html", form=form, enrollment=enrollment), status


def _enroll_form(program) -> EnrollPatientForm:
    from portal import db
    from portal.blueprints.programs.models import Track

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


@bp.route("/admin/patients/<patient_id>/text-code", methods=["POST"])
@requires(Permission.ADMIN_ENROLL)
def text_code(patient_id: str):
    """Text a new one-time code to the patient's mobile number (first sign-in or a
    forgotten password); the code is not shown on the page."""
    actor = current_actor()
    enrollment = services.load_program_enrollment(actor, patient_id)
    if enrollment is None:
        audit("update", "account", outcome=Outcome.DENIED)
        abort(404)
    try:
        services.text_enrollment_code(actor, enrollment)
    except services.EnrollmentError as error:
        flash(str(error))
    else:
        flash(
            f"A new code is on its way to {enrollment.patient.display_name}'s mobile "
            "phone. Older codes stop working."
        )
    return redirect(url_for("staff.admin_patients"), code=303)


@bp.route("/admin/accounts/<user_id>/deactivate", methods=["POST"])
@requires(Permission.ADMIN_ENROLL)
def deactivate(user_id: str):
    """Turn an account off; every session it has ends at once."""
    person = services.load_program_account(current_actor(), user_id)
    if person is None or person.id == current_actor().id:
        abort(404)
    deactivate_user(current_actor(), person)
    return redirect(url_for("staff.admin_patients"))
