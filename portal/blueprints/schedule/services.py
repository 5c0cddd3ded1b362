"""Build a patient's program day and week; calendar feeds; rosters and attendance."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from icalendar import Calendar, Component, Event
from sqlalchemy import Row, or_, select
from sqlalchemy.orm import aliased, joinedload

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.programs.access import staff_program_ids
from portal.blueprints.programs.context import (
    PatientContext,
    load_patient_context,
    local_today,
)
from portal.blueprints.programs.models import Enrollment, EnrollmentStatus, Track
from portal.blueprints.schedule.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    Attendance,
    AttendanceStatus,
    CalendarFeed,
    GroupSession,
)
from portal.db import is_id, utcnow

APPOINTMENT_TITLES = {
    AppointmentKind.THERAPY: "Individual therapy",
    AppointmentKind.MEDICATION: "Medication check-in",
    AppointmentKind.CASE_MANAGEMENT: "Meeting with your case manager",
}
# The same titles on the patient's own pages, in the page's language (lazy); the
# record and FHIR keep the English above.
APPOINTMENT_WORDS = {
    AppointmentKind.THERAPY: _l("Individual therapy"),
    AppointmentKind.MEDICATION: _l("Medication check-in"),
    AppointmentKind.CASE_MANAGEMENT: _l("Meeting with your case manager"),
}


@dataclass(frozen=True)
class DayItem:
    """One thing on a patient's day, in the program's local time."""

    starts: datetime
    ends: datetime
    title: str
    kind: str
    room: str | None
    telehealth_url: str | None
    with_whom: str | None
    source: str
    source_id: str

    def calendar_title(self) -> str:
        """Neutral words for a phone calendar: no diagnosis, no program type."""
        return "Appointment" if self.source == "appointment" else "Session"


@dataclass
class TodayData:
    """The patient's context and their day, read as the week reads it."""

    ctx: PatientContext
    day: date
    items: list[DayItem]


def load_today(patient_id: str) -> TodayData | None:
    """The patient's context and today's items, through `schedule_between`: Today is
    the week's reading of one day."""
    ctx = load_patient_context(patient_id)
    if ctx is None:
        return None
    day = local_today(ctx)
    return TodayData(ctx, day, schedule_between(ctx, day, day)[day])


def schedule_between(
    ctx: PatientContext, first: date, last: date
) -> dict[date, list[DayItem]]:
    """Every day from first to last inclusive, each with its items in time order."""
    days = {first + timedelta(n): [] for n in range((last - first).days + 1)}
    in_program = any(_enrolled_on(ctx.enrollment, d) for d in days)
    sessions = (
        _group_sessions(ctx.enrollment.track_id, {d.weekday() for d in days})
        if ctx.enrollment.track_id and in_program
        else []
    )
    return _arrange(ctx, days, sessions, _appointments(ctx, first, last))


def _arrange(ctx: PatientContext, days: dict, sessions, appointments) -> dict:
    """Put the track's sessions on the days the patient is enrolled and their weekday
    comes, and each appointment on its local day; each day in time order."""
    in_program = [d for d in days if _enrolled_on(ctx.enrollment, d)]
    for session in sessions:
        for day in in_program:
            if day.weekday() == session.weekday:
                days[day].append(_group_item(ctx.tz, day, session))
    for appt in appointments:
        local_day = appt.starts_at.astimezone(ctx.tz).date()
        if local_day in days:
            days[local_day].append(_appointment_item(ctx.tz, appt))
    for items in days.values():
        items.sort(key=lambda item: (item.starts, item.title))
    return days


def _enrolled_on(enrollment: Enrollment, day: date) -> bool:
    ended = enrollment.discharged_on is not None and day > enrollment.discharged_on
    return enrollment.admitted_on <= day and not ended


def _group_sessions(track_id: str, weekdays: set[int]) -> list[Row]:
    """Only the columns a day item shows: rows, not entities, are cheap to load."""
    facilitator = aliased(User)
    return db.session.execute(
        select(
            GroupSession.id,
            GroupSession.weekday,
            GroupSession.title,
            GroupSession.kind,
            GroupSession.starts_at,
            GroupSession.ends_at,
            GroupSession.room,
            GroupSession.telehealth_url,
            facilitator.display_name.label("with_whom"),
        )
        .outerjoin(facilitator, GroupSession.facilitator_id == facilitator.id)
        .where(
            GroupSession.track_id == track_id,
            GroupSession.active.is_(True),
            GroupSession.weekday.in_(sorted(weekdays)),
        )
    ).all()


def _appointments(ctx: PatientContext, first: date, last: date) -> list[Row]:
    start = datetime.combine(first, time.min, ctx.tz)
    end = datetime.combine(last + timedelta(days=1), time.min, ctx.tz)
    return db.session.execute(
        select(
            Appointment.id,
            Appointment.kind,
            Appointment.starts_at,
            Appointment.ends_at,
            Appointment.room,
            Appointment.telehealth_url,
            User.display_name.label("with_whom"),
        )
        .join(User, Appointment.staff_id == User.id)
        .where(
            Appointment.patient_id == ctx.enrollment.patient_id,
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
        )
    ).all()


def _group_item(tz: ZoneInfo, day: date, session: Row) -> DayItem:
    return DayItem(
        starts=datetime.combine(day, session.starts_at, tz),
        ends=datetime.combine(day, session.ends_at, tz),
        title=session.title,
        kind=session.kind.value,
        room=session.room,
        telehealth_url=session.telehealth_url,
        with_whom=session.with_whom,
        source="group",
        source_id=session.id,
    )


def _appointment_item(tz: ZoneInfo, appt: Row) -> DayItem:
    return DayItem(
        starts=appt.starts_at.astimezone(tz),
        ends=appt.ends_at.astimezone(tz),
        title=str(APPOINTMENT_WORDS[appt.kind]),
        kind=appt.kind.value,
        room=appt.room,
        telehealth_url=appt.telehealth_url,
        with_whom=appt.with_whom,
        source="appointment",
        source_id=appt.id,
    )


def now_and_next(
    items: list[DayItem], now: datetime
) -> tuple[DayItem | None, DayItem | None]:
    """What is on now, and the next thing that has not started yet."""
    current = next((i for i in items if i.starts <= now < i.ends), None)
    upcoming = next((i for i in items if i.starts > now), None)
    return current, upcoming


def week_of(day: date) -> tuple[date, date]:
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def attendance_between(
    patient_id: str, first: date, last: date
) -> dict[tuple[str, date], AttendanceStatus]:
    """The patient's attendance marks from first to last, by (session id, day)."""
    rows = db.session.execute(
        select(
            Attendance.group_session_id, Attendance.occurs_on, Attendance.status
        ).where(
            Attendance.patient_id == patient_id,
            Attendance.occurs_on >= first,
            Attendance.occurs_on <= last,
        )
    ).all()
    return {(row.group_session_id, row.occurs_on): row.status for row in rows}


# ---- calendar feed -------------------------------------------------------------------


def feed_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_calendar_feed(patient: User) -> str:
    """Revoke any old link and return a new secret token (shown once)."""
    revoke_calendar_feeds(patient)
    token = secrets.token_urlsafe(24)
    db.session.add(CalendarFeed(patient_id=patient.id, token_hash=feed_digest(token)))
    audit("create", "calendar_feed", patient_id=patient.id)
    return token


def revoke_calendar_feeds(patient: User) -> int:
    feeds = db.session.scalars(
        select(CalendarFeed).where(
            CalendarFeed.patient_id == patient.id, CalendarFeed.revoked_at.is_(None)
        )
    ).all()
    for feed in feeds:
        feed.revoked_at = utcnow()
    if feeds:
        audit("revoke", "calendar_feed", patient_id=patient.id)
    return len(feeds)


def active_feed_for_token(token: str) -> CalendarFeed | None:
    if not token or len(token) > 64:
        return None
    return db.session.scalar(
        select(CalendarFeed).where(
            CalendarFeed.token_hash == feed_digest(token),
            CalendarFeed.revoked_at.is_(None),
        )
    )


def has_active_feed(patient_id: str) -> bool:
    return (
        db.session.scalar(
            select(CalendarFeed.id)
            .where(
                CalendarFeed.patient_id == patient_id, CalendarFeed.revoked_at.is_(None)
            )
            .limit(1)
        )
        is not None
    )


def render_ics(items: list[DayItem], app_name: str) -> str:
    """An iCalendar body with neutral titles, times in UTC.

    icalendar escapes each value and then folds its lines at 75 octets, so a long
    room name never leaves an over-long line or a backslash cut from its escape.
    """
    stamp = utcnow().astimezone(UTC)
    calendar = Calendar()
    calendar.add("prodid", "-//portal//schedule//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    _add_text(calendar, "x-wr-calname", app_name)
    for item in items:
        calendar.add_component(_ics_event(item, stamp))
    return calendar.to_ical().decode("utf-8")


def _ics_event(item: DayItem, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", f"{item.source_id}-{item.starts.date().isoformat()}@portal")
    event.add("dtstamp", stamp)
    event.add("dtstart", item.starts.astimezone(UTC))
    event.add("dtend", item.ends.astimezone(UTC))
    _add_text(event, "summary", item.calendar_title())
    _add_text(event, "location", _where(item))
    event.add("description", "Details are in the app.")
    return event


def _add_text(component: Component, name: str, value: str | None) -> None:
    """Add a text property only when it says something: RFC 5545 has no empty ones."""
    if value and value.strip():
        component.add(name, value)


def _where(item: DayItem) -> str:
    return item.room or ("Video" if item.telehealth_url else "")


# ---- rosters and attendance ----------------------------------------------------------


@dataclass
class RosterRow:
    patient: User
    status: AttendanceStatus | None


def roster_for(session: GroupSession, day: date) -> list[RosterRow]:
    """Patients of the session's track enrolled on that day, with their attendance."""
    enrollments = db.session.scalars(
        select(Enrollment)
        .options(joinedload(Enrollment.patient))
        .where(
            Enrollment.track_id == session.track_id,
            Enrollment.status != EnrollmentStatus.DISCHARGED,
            Enrollment.admitted_on <= day,
            # Patients in step-down after discharge come to no more sessions.
            or_(Enrollment.discharged_on.is_(None), Enrollment.discharged_on >= day),
        )
    ).all()
    marks = {
        row.patient_id: row.status
        for row in db.session.scalars(
            select(Attendance).where(
                Attendance.group_session_id == session.id, Attendance.occurs_on == day
            )
        )
    }
    rows = [
        RosterRow(e.patient, marks.get(e.patient_id))
        for e in enrollments
        if _enrolled_on(e, day)
    ]
    return sorted(rows, key=lambda r: r.patient.display_name.lower())


def record_attendance(
    actor: User, session: GroupSession, day: date, marks: dict[str, AttendanceStatus]
) -> int:
    """Create or change attendance marks on this roster; returns the changes."""
    allowed = {row.patient.id: row for row in roster_for(session, day)}
    existing = {
        row.patient_id: row
        for row in db.session.scalars(
            select(Attendance).where(
                Attendance.group_session_id == session.id, Attendance.occurs_on == day
            )
        )
    }
    changed = 0
    for patient_id, status in marks.items():
        if patient_id not in allowed:
            continue
        row = existing.get(patient_id)
        if row is not None and row.status == status:
            continue
        if row is None:
            row = Attendance(
                patient_id=patient_id,
                group_session_id=session.id,
                occurs_on=day,
                status=status,
                recorded_by_id=actor.id,
            )
            db.session.add(row)
        else:
            row.status, row.recorded_by_id, row.recorded_at = status, actor.id, utcnow()
        audit("write", "attendance", patient_id=patient_id, object_id=session.id)
        changed += 1
    return changed


def parse_attendance_form(form) -> dict[str, AttendanceStatus]:
    """Read `mark-<patient id>` fields; unknown values are ignored, not guessed."""
    marks = {}
    for key, value in form.items():
        if key.startswith("mark-") and value in AttendanceStatus._value2member_map_:
            marks[key.removeprefix("mark-")] = AttendanceStatus(value)
    return marks


# ---- staff: the program's group sessions ---------------------------------------------


def load_program_session(staff: User, session_id: str) -> GroupSession | None:
    """A group session of one of the staff member's programs, else None."""
    if not is_id(session_id):
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
