"""Patients ask for help and follow their requests; case managers triage the queue;
the director reads response times and sets the program's targets."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from portal import db
from portal.audit import Outcome, audit
from portal.blueprints.needs.forms import (
    HELP_LABELS,
    HOUSING_LABELS,
    OTHER_LABELS,
    OUTCOME_LABELS,
    PATIENT_STATUS,
    STATUS_LABELS,
    URGENCY_LABELS,
    AddInfoForm,
    AwayForm,
    CancelForm,
    HelpAnswerForm,
    HousingForm,
    OtherForm,
    ReassignForm,
    RideForm,
    UpdateForm,
    sla_form_class,
)
from portal.blueprints.needs.intake import AskData, ask_for_help
from portal.blueprints.needs.models import (
    SDOH_SYSTEM,
    HelpAnswer,
    HousingSituation,
    NeedKind,
    NeedOutcome,
    OtherNeed,
    TaskStatus,
    Urgency,
)
from portal.blueprints.needs.queue import VIEWS, QueueFilter, triage_queue
from portal.blueprints.needs.reading import (
    NeedView,
    hear_back_by,
    load_need_view,
    patient_needs,
    timeline,
)
from portal.blueprints.needs.routing import away_until, program_case_managers, set_away
from portal.blueprints.needs.sla import Rule
from portal.blueprints.needs.steps import (
    NeedChange,
    NeedConflict,
    NeedStepError,
    add_patient_info,
    allowed_statuses,
    answer_got_help,
    cancel_by_patient,
    claim_need,
    reassign_need,
    update_need,
)
from portal.blueprints.needs.targets import clock_of, save_sla_rules, sla_rules
from portal.blueprints.programs.access import programs_of
from portal.blueprints.programs.context import load_patient_context
from portal.db import utcnow
from portal.i18n import when
from portal.rendering import render_page
from portal.security import Permission, current_actor, requires

bp = Blueprint("needs", __name__)

# Neutral addresses: a shared phone's history should not say what was asked for.
ASK_SLUGS = {"a": NeedKind.TRANSPORT, "b": NeedKind.HOUSING, "c": NeedKind.OTHER}
ASK_FORMS = {
    NeedKind.TRANSPORT: RideForm,
    NeedKind.HOUSING: HousingForm,
    NeedKind.OTHER: OtherForm,
}
MAX_RIDE_DAYS = 60


@bp.context_processor
def _labels() -> dict:
    return {
        "status_labels": STATUS_LABELS,
        "urgency_labels": URGENCY_LABELS,
        "outcome_labels": OUTCOME_LABELS,
        "patient_status": PATIENT_STATUS,
        "other_labels": OTHER_LABELS,
        "housing_labels": HOUSING_LABELS,
        "help_labels": HELP_LABELS,
        "hear_back_by": hear_back_by,
        "local_time": local_time,
        "TaskStatus": TaskStatus,
        "NeedKind": NeedKind,
        "Urgency": Urgency,
        "sdoh_system": SDOH_SYSTEM,
    }


def local_time(moment: datetime, tz: ZoneInfo | str) -> str:
    """A moment in the program's time zone, the way people say it (in the page's
    language: "Tue Dec 8, 9:00 AM")."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return when(moment.astimezone(zone), "short_day_time")


def _denied(data_kind: str):
    audit("read", data_kind, outcome=Outcome.DENIED)
    abort(404)


# ---- patients -----------------------------------------------------------------------


def _context_or_404():
    ctx = load_patient_context(current_actor().id)
    if ctx is None:
        abort(404)
    return ctx


@bp.route("/help")
@requires(Permission.NEEDS_ASK)
def mine():
    """Ways to ask for help, and the patient's requests with their status."""
    ctx = _context_or_404()
    rows = patient_needs(current_actor())
    return render_template("needs/mine.html", rows=rows, tz=ctx.tz, now=utcnow())


@bp.route("/help/new/<slug>", methods=["GET", "POST"])
@requires(Permission.NEEDS_ASK)
def ask(slug: str):
    """Ask for a ride, for help with housing, or for other help."""
    kind = ASK_SLUGS.get(slug)
    if kind is None:
        abort(404)
    actor, ctx = current_actor(), _context_or_404()
    form = ASK_FORMS[kind]()
    if form.validate_on_submit():
        data = _ask_data(kind, form, ctx.tz)
        if data is not None:
            need = ask_for_help(actor, ctx.program, data)
            by = hear_back_by(need, ctx.tz, utcnow())
            flash(
                gettext(
                    "Your request was sent. You will hear back by %(moment)s.",
                    moment=by,
                )
                if by
                else gettext("Your request was sent. We will tell you when it changes.")
            )
            return redirect(url_for("needs.patient_need", need_id=need.id), code=303)
    status = 200 if request.method == "GET" else 422
    return render_template("needs/ask.html", form=form, kind=kind, slug=slug), status


def _clean(value: str | None) -> str | None:
    return (value or "").strip() or None


def _ask_data(kind: NeedKind, form, tz) -> AskData | None:
    """The form's answers as a request; None (with the error on the form) when the
    ride's time is not in the next two months."""
    if kind is NeedKind.TRANSPORT:
        return _ride_data(form, tz)
    urgency = Urgency(int(form.urgency.data))
    if kind is NeedKind.HOUSING:
        return AskData(
            kind,
            urgency=urgency,
            housing_situation=HousingSituation(form.situation.data),
            details=_clean(form.details.data),
        )
    return AskData(
        kind,
        urgency=urgency,
        other_need=OtherNeed(form.need.data),
        details=_clean(form.details.data),
    )


def _ride_data(form, tz) -> AskData | None:
    ride_at = datetime.combine(form.ride_date.data, form.ride_time.data, tz)
    days_ahead = (ride_at - utcnow()).total_seconds() / 86400
    if not 0 < days_ahead <= MAX_RIDE_DAYS:
        form.ride_date.errors = [
            gettext("Choose a day and time in the next two months.")
        ]
        return None
    return AskData(
        NeedKind.TRANSPORT,
        ride_at=ride_at,
        pickup=_clean(form.pickup.data),
        destination=_clean(form.destination.data),
        wheelchair=bool(form.wheelchair.data),
        access_needs=_clean(form.access_needs.data),
        companions=_clean(form.companions.data),
        details=_clean(form.details.data),
    )


def _patient_view_or_404(need_id: str) -> NeedView:
    view = load_need_view(current_actor(), need_id)
    if view is None:
        _denied("need")
    return view


@bp.route("/help/<need_id>")
@requires(Permission.NEEDS_ASK)
def patient_need(need_id: str):
    """One request: its status, who is helping, what happened, what to do next."""
    view = _patient_view_or_404(need_id)
    return _patient_page(view, AddInfoForm(), CancelForm())


def _patient_page(view, add_form, cancel_form, error=None, status=200, help_form=None):
    events = timeline(view.need, for_patient=True)
    audit("read", "need", patient_id=view.need.patient_id, object_id=view.need.id)
    return render_template(
        "needs/patient_need.html",
        view=view,
        events=events,
        add_form=add_form,
        cancel_form=cancel_form,
        help_form=help_form or HelpAnswerForm(),
        error=error,
        now=utcnow(),
    ), status


@bp.route("/help/<need_id>/got-help", methods=["POST"])
@requires(Permission.NEEDS_ASK)
def got_help(need_id: str):
    """The patient says whether they got the help of a done request (once)."""
    view = _patient_view_or_404(need_id)
    form = HelpAnswerForm()
    if not form.validate_on_submit():
        return _patient_page(
            view, AddInfoForm(), CancelForm(), status=422, help_form=form
        )
    try:
        answer_got_help(current_actor(), view.need, HelpAnswer(form.answer.data))
    except (NeedStepError, NeedConflict) as problem:
        return _patient_retry(need_id, AddInfoForm(), CancelForm(), problem)
    flash(gettext("Thank you for telling us."))
    return redirect(url_for("needs.patient_need", need_id=need_id), code=303)


@bp.route("/help/<need_id>/add", methods=["POST"])
@requires(Permission.NEEDS_ASK)
def add_info(need_id: str):
    """The patient adds information to their request."""
    view = _patient_view_or_404(need_id)
    form = AddInfoForm()
    if form.validate_on_submit():
        try:
            add_patient_info(current_actor(), view.need, form.text.data.strip())
        except (NeedStepError, NeedConflict) as problem:
            return _patient_retry(need_id, form, CancelForm(), problem)
        flash(gettext("Added. Your case manager will see it."))
        return redirect(url_for("needs.patient_need", need_id=need_id), code=303)
    return _patient_page(view, form, CancelForm(), status=422)


@bp.route("/help/<need_id>/cancel", methods=["POST"])
@requires(Permission.NEEDS_ASK)
def cancel(need_id: str):
    """The patient cancels their request."""
    view = _patient_view_or_404(need_id)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            cancel_by_patient(current_actor(), view.need, form.reason.data)
        except (NeedStepError, NeedConflict) as problem:
            return _patient_retry(need_id, AddInfoForm(), form, problem)
        flash(gettext("Your request is cancelled."))
        return redirect(url_for("needs.patient_need", need_id=need_id), code=303)
    return _patient_page(view, AddInfoForm(), form, status=422)


def _patient_retry(need_id, add_form, cancel_form, problem):
    """Show the request as it is now, with the patient's text kept in the form."""
    db.session.rollback()
    message = (
        str(problem)
        if isinstance(problem, NeedStepError)
        else gettext("Your request just changed. Look at it again, then try once more.")
    )
    view = _patient_view_or_404(need_id)
    return _patient_page(view, add_form, cancel_form, error=message, status=409)


# ---- case managers and the director --------------------------------------------------


def _queue_filter() -> QueueFilter:
    view = request.args.get("view", "all")
    kind = request.args.get("kind", "")
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        page = 1
    return QueueFilter(
        view=view if view in VIEWS else "all",
        kind=NeedKind(kind) if kind in NeedKind._value2member_map_ else None,
        page=page,
    )


@bp.route("/staff/needs")
@requires(Permission.NEEDS_TRIAGE)
def queue():
    """Open requests of my programs, most urgent and soonest due first."""
    page = triage_queue(current_actor(), _queue_filter())
    return render_page("needs/queue.html", "needs/_queue.html", q=page)


def _staff_view_or_404(need_id: str) -> NeedView:
    view = load_need_view(current_actor(), need_id, staff=True)
    if view is None:
        _denied("need")
    return view


@bp.route("/staff/needs/<need_id>", methods=["GET", "POST"])
@requires(Permission.NEEDS_TRIAGE)
def staff_need(need_id: str):
    """One request: details, deadlines, history; change status, urgency, add notes."""
    view = _staff_view_or_404(need_id)
    form = _update_form(view.need)
    if not form.validate_on_submit():
        status = 200 if request.method == "GET" else 422
        return _staff_page(view, form, _reassign_form(view), status=status)
    try:
        update_need(current_actor(), view.need, _change(form), view.program)
    except NeedConflict:
        return _staff_conflict(need_id, form)
    except NeedStepError as problem:
        return _staff_page(
            view, form, _reassign_form(view), error=str(problem), status=422
        )
    flash("Saved.")
    return redirect(url_for("needs.staff_need", need_id=need_id), code=303)


def _update_form(need) -> UpdateForm:
    form = UpdateForm()
    form.status.choices = [
        (s.value, STATUS_LABELS[s]) for s in (need.status, *allowed_statuses(need))
    ]
    if request.method == "GET":
        form.version.data = need.version
        form.status.data = need.status.value
        form.urgency.data = str(int(need.urgency))
    return form


def _change(form: UpdateForm) -> NeedChange:
    return NeedChange(
        version=form.version.data,
        status=TaskStatus(form.status.data),
        reason=_clean(form.reason.data),
        note=_clean(form.note.data),
        note_visible=bool(form.note_visible.data),
        outcome=NeedOutcome(form.outcome.data) if form.outcome.data else None,
        outcome_note=_clean(form.outcome_note.data),
        patient_outcome_note=_clean(form.patient_outcome_note.data),
        urgency=Urgency(int(form.urgency.data)) if form.urgency.data else None,
    )


def _staff_conflict(need_id: str, form: UpdateForm):
    """Someone else saved first: show their change, keep this person's text."""
    db.session.rollback()
    view = _staff_view_or_404(need_id)
    form.status.choices = [
        (s.value, STATUS_LABELS[s])
        for s in (view.need.status, *allowed_statuses(view.need))
    ]
    if form.status.data not in dict(form.status.choices):
        form.status.data = view.need.status.value
    form.version.data = view.need.version
    form.version.raw_data = [str(view.need.version)]
    return _staff_page(view, form, _reassign_form(view), conflict=True, status=409)


def _reassign_form(view, formdata=None) -> ReassignForm:
    form = ReassignForm(formdata=formdata)  # None: a fresh form, not the posted one
    form.to.choices = [("", "Nobody: back to the queue")] + [
        (u.id, u.display_name) for u in program_case_managers(view.program.id)
    ]
    if formdata is None:
        form.version.data = view.need.version
    return form


def _staff_page(view, form, reassign_form, conflict=False, error=None, status=200):
    events = timeline(view.need, for_patient=False)
    audit("read", "need", patient_id=view.need.patient_id, object_id=view.need.id)
    return render_template(
        "needs/staff_need.html",
        view=view,
        events=events,
        form=form,
        reassign_form=reassign_form,
        conflict=conflict,
        error=error,
        now=utcnow(),
    ), status


@bp.route("/staff/needs/<need_id>/claim", methods=["POST"])
@requires(Permission.NEEDS_TRIAGE)
def claim(need_id: str):
    """Take an unassigned request; when someone else was first, say so."""
    view, actor = _staff_view_or_404(need_id), current_actor()
    if claim_need(actor, view.need):
        flash("This request is yours now.")
    elif not view.need.is_open:
        flash("This request is closed.")
    elif view.need.owner_id == actor.id:
        flash("This request is already yours.")
    else:
        flash("Someone else took this request first. See who has it below.")
    return redirect(url_for("needs.staff_need", need_id=need_id), code=303)


@bp.route("/staff/needs/<need_id>/reassign", methods=["POST"])
@requires(Permission.NEEDS_TRIAGE)
def reassign(need_id: str):
    """Give the request to another case manager (or the queue), with a reason."""
    view = _staff_view_or_404(need_id)
    form = _reassign_form(view, formdata=request.form)
    update_form = _update_form(view.need)
    update_form.version.data = view.need.version
    if not form.validate_on_submit():
        return _staff_page(view, update_form, form, status=422)
    try:
        reassign_need(
            current_actor(),
            view.need,
            form.version.data,
            form.to.data or None,
            form.why.data.strip(),
        )
    except NeedConflict:
        return _reassign_conflict(need_id, form)
    except NeedStepError as problem:
        return _staff_page(view, update_form, form, error=str(problem), status=422)
    flash("Reassigned.")
    return redirect(url_for("needs.staff_need", need_id=need_id), code=303)


def _reassign_conflict(need_id: str, form: ReassignForm):
    """Someone else saved first: show their change, keep this person's choice."""
    db.session.rollback()
    view = _staff_view_or_404(need_id)
    form.version.data = view.need.version
    form.version.raw_data = [str(view.need.version)]
    return _staff_page(view, _update_form(view.need), form, conflict=True, status=409)


@bp.route("/staff/needs/away", methods=["GET", "POST"])
@requires(Permission.NEEDS_TRIAGE)
def away():
    """Mark myself away until a day (new requests go to others), or back now."""
    actor = current_actor()
    form, tz = AwayForm(), clock_of(_first_program_or_404(actor)).timezone
    if form.validate_on_submit():
        back_on = None if request.form.get("back") else form.back_on.data
        until = _start_of(back_on, tz) if back_on else None
        if back_on is not None and until <= utcnow():
            form.back_on.errors = ["Choose a day after today."]
        else:
            set_away(actor, until)
            flash("Saved." if until else "Welcome back. New requests can come to you.")
            return redirect(url_for("needs.away"), code=303)
    status = 200 if request.method == "GET" else 422
    return render_template(
        "needs/away.html", form=form, until=away_until(actor), tz=tz
    ), status


def _start_of(day, tz_name: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(tz_name))


# The response-time report moved to the director's board (its "Requests" section).
REPORT_WEEKS = {"30": 4, "90": 13, "365": 52}


@bp.route("/staff/needs/report")
@requires(Permission.NEEDS_REPORT)
def report():
    """Response times now live on the director's board: send the reader there."""
    weeks = REPORT_WEEKS.get(request.args.get("days", "90"), 13)
    board = url_for("staff.board", program_id="all", weeks=weeks)
    return redirect(f"{board}#requests")


def _first_program_or_404(actor):
    """The staff member's first program: away days and targets follow its time zone."""
    programs = programs_of(actor)
    if not programs:
        abort(404)
    return programs[0]


def _sla_key(kind: NeedKind, urgency: Urgency) -> str:
    return f"{kind.value}_{urgency.name.lower()}"


def _fill_sla_form(form, keys: dict, rules: dict) -> None:
    for key, pair in keys.items():
        form[f"{key}_contact"].data = rules[pair].contact_hours
        form[f"{key}_resolve"].data = rules[pair].resolve_hours


def _rules_from(form, keys: dict) -> dict:
    return {
        pair: Rule(form[f"{key}_contact"].data, form[f"{key}_resolve"].data)
        for key, pair in keys.items()
    }


@bp.route("/staff/needs/settings", methods=["GET", "POST"])
@requires(Permission.NEEDS_REPORT)
def settings():
    """The program's response-time targets per kind and urgency, in opening hours."""
    program = _first_program_or_404(current_actor())
    rules = sla_rules(program.id)
    keys = {_sla_key(k, u): (k, u) for (k, u) in rules}
    form = sla_form_class(list(keys))()
    if request.method == "GET":
        _fill_sla_form(form, keys, rules)
    elif form.validate_on_submit():
        save_sla_rules(program, _rules_from(form, keys))
        flash("Saved. New requests use these times.")
        return redirect(url_for("needs.settings"), code=303)
    status = 200 if request.method == "GET" else 422
    return render_template(
        "needs/settings.html", form=form, keys=keys, program=program
    ), status
