"""Today, this week, the phone-calendar link, and (for staff) rosters and attendance."""

from __future__ import annotations

from datetime import date, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from portal import db
from portal.audit import audit
from portal.blueprints.schedule import services
from portal.security import Permission, current_actor, public, requires

bp = Blueprint("schedule", __name__)


def _wants_fragment() -> bool:
    """htmx asks for part of a page; a boosted link or form gets the whole page."""
    return bool(request.headers.get("HX-Request")) and not request.headers.get(
        "HX-Boosted"
    )


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
    # the header's counts came with the page's one query: the template asks no more
    g.unread_notifications = today.unread_notifications
    g.unread_messages = today.unread_messages
    ctx, day, items = today.ctx, today.day, today.items
    current, upcoming = services.now_and_next(
        items, services.utcnow().astimezone(ctx.tz)
    )
    from portal.blueprints.checkins.services import today_status_from

    template = "schedule/_day.html" if _wants_fragment() else "schedule/today.html"
    return render_template(
        template,
        ctx=ctx,
        day=day,
        items=items,
        current=current,
        upcoming=upcoming,
        status=today_status_from(today.status_values, ctx),
    )


def _week_start(ctx) -> date:
    raw = request.args.get("start", "")
    try:
        chosen = date.fromisoformat(raw) if raw else services.local_today(ctx)
    except ValueError:
        chosen = services.local_today(ctx)
    return services.week_of(chosen)[0]


@bp.route("/week")
@requires(Permission.PATIENT_SELF)
def week():
    """Seven days of the patient's program, Monday to Sunday."""
    actor = current_actor()
    ctx = services.load_patient_context(actor.id)
    audit("read", "schedule", patient_id=actor.id)
    if ctx is None:
        return render_template("schedule/not_enrolled.html")
    first = _week_start(ctx)
    days = services.schedule_between(ctx, first, first + timedelta(days=6))
    template = "schedule/_week.html" if _wants_fragment() else "schedule/week.html"
    return render_template(
        template,
        ctx=ctx,
        days=days,
        first=first,
        today=services.local_today(ctx),
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
    ctx = services.load_patient_context(feed.patient_id)
    if ctx is None:
        abort(404)
    first = services.local_today(ctx) - timedelta(days=14)
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
    from portal.blueprints.staff.services import load_program_session

    try:
        day = date.fromisoformat(raw_day)
    except ValueError:
        abort(404)
    session = load_program_session(current_actor(), session_id)
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
        for row in rows:
            audit("read", "attendance", patient_id=row.patient.id, object_id=session.id)
    db.session.flush()
    return render_template(
        "schedule/roster.html",
        session=session,
        day=occurs_on,
        rows=rows,
        saved=saved,
        statuses=list(services.AttendanceStatus),
    )
