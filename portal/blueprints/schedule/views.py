"""Today, this week, the phone-calendar link, and (for staff) rosters and attendance."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from portal import db
from portal.audit import Outcome, audit, audit_many
from portal.blueprints.programs.context import load_patient_context, local_today
from portal.blueprints.programs.models import EnrollmentStatus
from portal.blueprints.schedule import changes, notices, services
from portal.blueprints.schedule.forms import (
    ApproveForm,
    ChangeForm,
    NoticeForm,
    OfferForm,
)
from portal.blueprints.schedule.models import (
    AttendanceStatus,
    ChangeStatus,
    NoticeKind,
    NoticeReason,
)
from portal.dates import OUT_OF_RANGE, in_range
from portal.rendering import render_page
from portal.security import Permission, current_actor, public, requires

bp = Blueprint("schedule", __name__)

# How the week marks a session the patient was marked for (words, not colour alone).
MARK_WORDS = {
    AttendanceStatus.PRESENT: _l("Attended"),
    AttendanceStatus.LATE: _l("Attended, late"),
    AttendanceStatus.ABSENT: _l("Missed"),
    AttendanceStatus.EXCUSED: _l("Missed, excused"),
}


@bp.route("/")
@requires(Permission.SIGNED_IN)
def today():
    """The patient's program day: groups and appointments, with now and next marked."""
    actor = current_actor()
    if actor.is_staff:
        return redirect(url_for("staff.home"))
    today = services.load_today(actor.id)
    audit("read", "schedule", patient_id=actor.id)
    if today is None:
        return render_template("schedule/not_enrolled.html")
    if today.ctx.enrollment.status is EnrollmentStatus.ALUMNI:
        return render_template("schedule/program_ended.html", ctx=today.ctx)
    ctx, day, items = today.ctx, today.day, today.items
    current, upcoming = services.now_and_next(
        items, services.utcnow().astimezone(ctx.tz)
    )
    return render_page(
        "schedule/today.html",
        "schedule/_day.html",
        ctx=ctx,
        day=day,
        items=items,
        current=current,
        upcoming=upcoming,
        told=notices.patient_notices(actor.id, day),
        now=services.utcnow().astimezone(ctx.tz),
        notice_words=notices.notice_words,
    )


@bp.route("/today/tell/<session_id>", methods=["GET", "POST"])
@requires(Permission.PATIENT_SELF)
def tell(session_id: str):
    """Tell the program "I'll be late" or "I can't come today", with a reason."""
    actor = current_actor()
    ctx = load_patient_context(actor.id)
    session = notices.todays_session(ctx, session_id) if ctx else None
    if session is None:
        audit("read", "schedule", outcome=Outcome.DENIED)
        abort(404)
    form, refused = NoticeForm(), None
    if form.validate_on_submit():
        data = notices.NoticeData(
            NoticeKind(form.kind.data),
            NoticeReason(form.reason.data),
            (form.note.data or "").strip() or None,
        )
        try:
            notices.tell_program(actor, ctx, session, data)
        except notices.NoticeRefused as problem:
            refused = str(problem)
        else:
            flash(gettext("Thank you for telling us. Your team will see it."))
            return redirect(url_for("schedule.today"), code=303)
    if request.method == "GET":
        refused = notices.refusal(actor.id, ctx, session, services.utcnow())
    audit("read", "schedule", patient_id=actor.id, object_id=session.id)
    status = 200 if request.method == "GET" else (409 if refused else 422)
    return render_template(
        "schedule/tell.html", session=session, form=form, refused=refused
    ), status


def _week_start(ctx) -> date | None:
    """The Monday of the asked week (this week when the date is not understood);
    None for a date too far out to show."""
    raw = request.args.get("start", "")
    try:
        chosen = date.fromisoformat(raw) if raw else local_today(ctx)
    except ValueError:
        chosen = local_today(ctx)
    return services.week_of(chosen)[0] if in_range(chosen) else None


@bp.route("/week")
@requires(Permission.PATIENT_SELF)
def week():
    """Seven days of the patient's program, Monday to Sunday."""
    actor = current_actor()
    ctx = load_patient_context(actor.id)
    audit("read", "schedule", patient_id=actor.id)
    if ctx is None:
        return render_template("schedule/not_enrolled.html")
    if ctx.enrollment.status is EnrollmentStatus.ALUMNI:
        return render_template("schedule/program_ended.html", ctx=ctx)
    first = _week_start(ctx)
    if first is None:
        return render_template(
            "error.html",
            title=gettext("We cannot show that week"),
            message=gettext(
                "%(problem)s Go to the start page to see this week.",
                problem=OUT_OF_RANGE,
            ),
        ), 400
    days = services.schedule_between(ctx, first, first + timedelta(days=6))
    marks = services.attendance_between(actor.id, first, first + timedelta(days=6))
    return render_page(
        "schedule/week.html",
        "schedule/_week.html",
        ctx=ctx,
        days=days,
        first=first,
        today=local_today(ctx),
        now=services.utcnow().astimezone(ctx.tz),
        marks=marks,
        mark_words=MARK_WORDS,
        previous=first - timedelta(days=7),
        following=first + timedelta(days=7),
    )


@bp.route("/calendar", methods=["GET", "POST"])
@requires(Permission.PATIENT_SELF)
def calendar():
    """Make, replace or stop the private link to the schedule for a phone calendar."""
    actor = current_actor()
    token = None
    if request.method == "POST":
        if request.form.get("action") == "revoke":
            services.revoke_calendar_feeds(actor)
        else:
            token = services.create_calendar_feed(actor)
    has_feed = token is not None or services.has_active_feed(actor.id)
    feed_url = (
        url_for("schedule.calendar_feed", token=token, _external=True)
        if token
        else None
    )
    response = make_response(
        render_template("schedule/calendar.html", feed_url=feed_url, has_feed=has_feed)
    )
    return response


@bp.route("/calendar/<token>.ics")
@public
def calendar_feed(token: str):
    """The iCalendar feed behind a secret, revocable link; neutral titles only."""
    feed = services.active_feed_for_token(token)
    if feed is None:
        abort(404)
    ctx = load_patient_context(feed.patient_id)
    if ctx is None:
        abort(404)
    first = local_today(ctx) - timedelta(days=14)
    days = services.schedule_between(ctx, first, first + timedelta(days=14 + 56))
    items = [item for day_items in days.values() for item in day_items]
    audit(
        "read",
        "schedule",
        patient_id=feed.patient_id,
        object_id=feed.id,
        detail="calendar feed",
    )
    body = services.render_ics(items, current_app.config["APP_NAME"])
    response = make_response(body)
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.cache_control.no_store = True
    return response


# ---- staff: rosters and attendance ---------------------------------------------------


def _load_session_or_404(session_id: str, raw_day: str):
    try:
        day = date.fromisoformat(raw_day)
    except ValueError:
        abort(404)
    session = services.load_program_session(current_actor(), session_id)
    if session is None or session.weekday != day.weekday():
        abort(404)
    return session, day


@bp.route("/staff/sessions/<session_id>/<day>", methods=["GET", "POST"])
@requires(Permission.STAFF_ATTENDANCE)
def roster(session_id: str, day: str):
    """A session's roster on one date; staff mark who came."""
    session, occurs_on = _load_session_or_404(session_id, day)
    saved = None
    if request.method == "POST":
        marks = services.parse_attendance_form(request.form)
        saved = services.record_attendance(current_actor(), session, occurs_on, marks)
    rows = services.roster_for(session, occurs_on)
    if request.method == "GET":
        audit_many("read", "attendance", [(r.patient.id, session.id) for r in rows])
    db.session.flush()
    return render_template(
        "schedule/roster.html",
        session=session,
        day=occurs_on,
        rows=rows,
        saved=saved,
        statuses=list(services.AttendanceStatus),
        told=notices.session_notices(session.id, occurs_on),
        suggested=notices.SUGGESTED_MARK,
        notice_words=notices.notice_words,
    )


# ---- appointment changes ------------------------------------------------------------


def _local_moment(day: date, at: time, ctx_tz) -> datetime:
    return datetime.combine(day, at, ctx_tz)


def _own_appointment_or_404(appointment_id: str, action: str, kind: str):
    """The signed-in patient, their context and their own booked appointment; 404
    (audited as denied) for anything else."""
    actor = current_actor()
    ctx = load_patient_context(actor.id)
    appointment = changes.own_appointment(actor, appointment_id) if ctx else None
    if appointment is None:
        audit(action, kind, outcome=Outcome.DENIED)
        abort(404)
    return actor, ctx, appointment


def _ask_page(ctx, appointment, asked, form, refused, status):
    audit(
        "read",
        "appointment",
        patient_id=appointment.patient_id,
        object_id=appointment.id,
    )
    return render_template(
        "schedule/change.html",
        appointment=appointment,
        asked=asked,
        form=form,
        refused=refused,
        tz=ctx.tz,
        now=services.utcnow(),
        pending=any(c.status is ChangeStatus.PENDING for c in asked),
        title_of=services.APPOINTMENT_WORDS,
    ), status


def _back_to_change(appointment):
    return redirect(
        url_for(".change_appointment", appointment_id=appointment.id), code=303
    )


@bp.route("/appointments/<appointment_id>/change", methods=["GET", "POST"])
@requires(Permission.PATIENT_SELF)
def change_appointment(appointment_id: str):
    """Ask to move an appointment to another time, and see the team's answer."""
    actor, ctx, appointment = _own_appointment_or_404(
        appointment_id, "read", "appointment"
    )
    asked = changes.changes_of(appointment.id)
    form, refused = ChangeForm(), None
    if form.validate_on_submit():
        wanted = _local_moment(form.wanted_date.data, form.wanted_time.data, ctx.tz)
        note = (form.note.data or "").strip() or None
        try:
            changes.ask_to_change(actor, appointment, wanted, note, asked)
        except changes.ChangeRefused as problem:
            refused = str(problem)
        else:
            flash(gettext("Sent. Your team will answer, and we will tell you."))
            return _back_to_change(appointment)
    status = 200 if request.method == "GET" else (409 if refused else 422)
    return _ask_page(ctx, appointment, asked, form, refused, status)


@bp.route("/appointments/<appointment_id>/change/withdraw", methods=["POST"])
@requires(Permission.PATIENT_SELF)
def withdraw_change(appointment_id: str):
    """Take back a request to change an appointment that is still waiting (the
    app's CSRF protection has checked the post; there is nothing else to fill)."""
    actor, ctx, appointment = _own_appointment_or_404(
        appointment_id, "update", "appointment_change"
    )
    asked = changes.changes_of(appointment.id)
    try:
        changes.withdraw_change(actor, asked)
    except changes.ChangeRefused as problem:
        form = ChangeForm(formdata=None)
        return _ask_page(ctx, appointment, asked, form, str(problem), 409)
    flash(gettext("Your request is withdrawn. Your appointment has not moved."))
    return _back_to_change(appointment)


@bp.route("/staff/appointment-changes")
@requires(Permission.STAFF_SCHEDULE)
def appointment_changes():
    """Requests to change an appointment that wait for an answer."""
    views = changes.pending_for_staff(current_actor())
    return render_template(
        "schedule/changes.html",
        views=views,
        title_of=services.APPOINTMENT_TITLES,
        when=_when,
    )


def _when(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%a %b %-d, %-I:%M %p")


def _change_or_404(change_id: str) -> changes.ChangeView:
    view = changes.load_change_for_staff(current_actor(), change_id)
    if view is None:
        audit("read", "appointment_change", outcome=Outcome.DENIED)
        abort(404)
    return view


def _change_page(view, approve_form, offer_form, refused=None, status=200):
    audit(
        "read",
        "appointment_change",
        patient_id=view.change.patient_id,
        object_id=view.change.id,
    )
    return render_template(
        "schedule/change_answer.html",
        view=view,
        approve_form=approve_form,
        offer_form=offer_form,
        refused=refused,
        tz=ZoneInfo(view.timezone),
        title_of=services.APPOINTMENT_TITLES,
    ), status


@bp.route("/staff/appointment-changes/<change_id>")
@requires(Permission.STAFF_SCHEDULE)
def appointment_change(change_id: str):
    """One request to change an appointment: approve it or offer another time."""
    return _change_page(_change_or_404(change_id), ApproveForm(), OfferForm())


@bp.route("/staff/appointment-changes/<change_id>/approve", methods=["POST"])
@requires(Permission.STAFF_SCHEDULE)
def approve_change(change_id: str):
    """Move the appointment to the time the patient asked for."""
    view = _change_or_404(change_id)
    form = ApproveForm()
    if not form.validate_on_submit():
        return _change_page(view, form, OfferForm(), status=422)
    return _answer(view, None, form.note.data, form, OfferForm())


@bp.route("/staff/appointment-changes/<change_id>/offer", methods=["POST"])
@requires(Permission.STAFF_SCHEDULE)
def offer_change(change_id: str):
    """Move the appointment to another time staff offer."""
    view = _change_or_404(change_id)
    form = OfferForm()
    if not form.validate_on_submit():
        return _change_page(view, ApproveForm(), form, status=422)
    moment = _local_moment(
        form.new_date.data, form.new_time.data, ZoneInfo(view.timezone)
    )
    return _answer(view, moment, form.note.data, ApproveForm(), form)


def _answer(view, moment, note, approve_form, offer_form):
    try:
        changes.answer_change(
            current_actor(), view, moment, (note or "").strip() or None
        )
    except changes.ChangeRefused as problem:
        return _change_page(view, approve_form, offer_form, str(problem), 409)
    flash("Saved. The patient is told.")
    return redirect(url_for(".appointment_changes"), code=303)
