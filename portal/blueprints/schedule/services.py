"""Build a patient's program day and week; calendar feeds; rosters and attendance."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from sqlalchemy import Row, bindparam, func, literal, literal_column, select
from sqlalchemy.orm import aliased, contains_eager, joinedload

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.schedule.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    Attendance,
    AttendanceStatus,
    CalendarFeed,
    GroupSession,
    SessionKind,
)
from portal.blueprints.staff.models import Enrollment, EnrollmentStatus, Program, Track
from portal.db import utcnow

APPOINTMENT_TITLES = {
    AppointmentKind.THERAPY: "Individual therapy",
    AppointmentKind.MEDICATION: "Medication check-in",
    AppointmentKind.CASE_MANAGEMENT: "Meeting with your case manager",
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
class PatientContext:
    enrollment: Enrollment
    program: Program
    tz: ZoneInfo


def load_patient_context(patient_id: str) -> PatientContext | None:
    """The current enrollment with its program and track, in one query."""
    enrollment = db.session.scalar(_current_enrollment(), {"patient_id": patient_id})
    if enrollment is None:
        return None
    return PatientContext(
        enrollment, enrollment.program, ZoneInfo(enrollment.program.timezone)
    )


# The statements of the patient's pages are built once and reused with bound values:
# building a select and its cache key on every request costs more CPU than running it
# (bench/README.md has the figures). Those that return plain rows run on the
# connection, past the ORM's execution path, which costs more than the statement.


@cache
def _current_enrollment():
    return (
        select(Enrollment)
        .join(Enrollment.program)
        .options(contains_eager(Enrollment.program), joinedload(Enrollment.track))
        .where(
            Enrollment.patient_id == bindparam("patient_id"),
            Enrollment.status != EnrollmentStatus.DISCHARGED,
        )
        .order_by(Enrollment.admitted_on.desc())
        .limit(1)
    )


@dataclass
class TodayData:
    """Everything Today reads, from one query."""

    ctx: PatientContext
    day: date
    items: list[DayItem]
    status_values: tuple  # checkins.services.today_status_columns
    unread_notifications: int
    unread_messages: int


# An appointment shows on the local day it starts; a day in any time zone lies within
# two days of the moment in UTC, so Today reads that window and keeps its own day.
TODAY_WINDOW = timedelta(days=2)


def load_today(patient_id: str) -> TodayData | None:
    """The patient's current enrollment with its program and track, their day's group
    sessions and appointments, the check-in and screener status, and the header's two
    unread counts: one query (the rows of the day come as JSON arrays)."""
    from portal.blueprints.notifications.services import unread_count_params

    now = utcnow()
    params = {
        "patient_id": patient_id,
        "actor_id": patient_id,
        "window_start": now - TODAY_WINDOW,
        "window_end": now + TODAY_WINDOW,
        # the weekdays of the days around now: the local day is one of them
        "weekdays": sorted({(now + timedelta(days=n)).weekday() for n in (-1, 0, 1)}),
    }
    connection = db.session.connection()
    row = connection.execute(
        _today_statement(connection.dialect.name),
        params | unread_count_params(patient_id),
    ).first()
    if row is None:
        return None
    values = row._mapping
    program = db.as_loaded(Program, _prefixed(values, "program_", PROGRAMS))
    track = (
        db.as_loaded(Track, _prefixed(values, "track_", TRACKS))
        if values["track_id"] is not None
        else None
    )
    enrollment = db.as_loaded(
        Enrollment,
        _prefixed(values, "enrollment_", ENROLLMENTS),
        program=program,
        track=track,
    )
    ctx = PatientContext(enrollment, program, ZoneInfo(program.timezone))
    groups, appointments = values["groups"], values["appointments"]
    status = [values[key] for key in STATUS_KEYS]
    notes, messages = values["unread_notifications"], values["unread_messages"]
    day = now.astimezone(ctx.tz).date()
    items = _arrange(
        ctx,
        {day: []},
        [_group_from_json(value) for value in _json_list(groups)],
        [_appointment_from_json(value) for value in _json_list(appointments)],
    )[day]
    return TodayData(ctx, day, items, tuple(status), notes or 0, messages or 0)


@cache
def _today_statement(dialect: str):
    """Built once per database kind (the JSON functions differ)."""
    from portal.blueprints.auth.models import Role
    from portal.blueprints.checkins.services import today_status_columns
    from portal.blueprints.messages.caseload import unread_messages_column
    from portal.blueprints.notifications.services import UNREAD_COUNT

    patient = bindparam("patient_id")
    facilitator, staff = aliased(User), aliased(User)
    groups = (
        select(
            _json_rows(
                dialect,
                id=GroupSession.id,
                weekday=GroupSession.weekday,
                title=GroupSession.title,
                kind=GroupSession.kind,
                starts_at=GroupSession.starts_at,
                ends_at=GroupSession.ends_at,
                room=GroupSession.room,
                telehealth_url=GroupSession.telehealth_url,
                with_whom=facilitator.display_name,
            )
        )
        .select_from(GroupSession)
        .outerjoin(facilitator, GroupSession.facilitator_id == facilitator.id)
        .where(
            GroupSession.track_id == Enrollment.track_id,
            GroupSession.active,
            GroupSession.weekday.in_(bindparam("weekdays", expanding=True)),
        )
        .scalar_subquery()
    )
    appointments = (
        select(
            _json_rows(
                dialect,
                id=Appointment.id,
                kind=Appointment.kind,
                starts_at=Appointment.starts_at,
                ends_at=Appointment.ends_at,
                room=Appointment.room,
                telehealth_url=Appointment.telehealth_url,
                with_whom=staff.display_name,
            )
        )
        .select_from(Appointment)
        .join(staff, Appointment.staff_id == staff.id)
        .where(
            Appointment.patient_id == patient,
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.starts_at >= bindparam("window_start"),
            Appointment.starts_at < bindparam("window_end"),
        )
        .scalar_subquery()
    )
    status = today_status_columns(patient, Enrollment.program_id)
    return (
        select(
            *_labelled(ENROLLMENTS, "enrollment_"),
            *_labelled(PROGRAMS, "program_"),
            *_labelled(TRACKS, "track_"),
            groups.label("groups"),
            appointments.label("appointments"),
            *(
                column.label(key)
                for key, column in zip(STATUS_KEYS, status, strict=True)
            ),
            UNREAD_COUNT.scalar_subquery().label("unread_notifications"),
            unread_messages_column(Role.PATIENT).label("unread_messages"),
        )
        .select_from(Enrollment)
        .join(Program, Program.id == Enrollment.program_id)
        .outerjoin(Track, Track.id == Enrollment.track_id)
        .where(
            Enrollment.patient_id == patient,
            Enrollment.status != EnrollmentStatus.DISCHARGED,
        )
        .order_by(Enrollment.admitted_on.desc())
        .limit(1)
    )


ENROLLMENTS, PROGRAMS, TRACKS = Enrollment.__table__, Program.__table__, Track.__table__
STATUS_KEYS = ("last_checkin", "last_phq9", "last_gad7", "screener_schedule")


def _labelled(table, prefix: str) -> list:
    return [column.label(prefix + column.key) for column in table.c]


def _prefixed(values, prefix: str, table) -> dict:
    return {column.key: values[prefix + column.key] for column in table.c}


def _json_rows(dialect: str, **columns):
    """Rows as one JSON array of objects, built in the database: json_agg on
    PostgreSQL, json_group_array on SQLite (an empty set gives [] on both)."""
    pairs = [part for key, column in columns.items() for part in (literal(key), column)]
    if dialect == "postgresql":
        return func.coalesce(
            func.json_agg(func.json_build_object(*pairs)), literal_column("'[]'::json")
        )
    return func.json_group_array(func.json_object(*pairs))


def _json_list(value) -> list[dict]:
    """PostgreSQL's driver decodes JSON; SQLite gives text."""
    return json.loads(value) if isinstance(value, str) else value or []


def _moment(value: str) -> datetime:
    """A stored UTC moment from JSON: PostgreSQL writes the offset, SQLite does not."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _group_from_json(value: dict) -> SimpleNamespace:
    return SimpleNamespace(
        **value
        | {
            "kind": SessionKind(value["kind"]),
            "starts_at": time.fromisoformat(value["starts_at"]),
            "ends_at": time.fromisoformat(value["ends_at"]),
        }
    )


def _appointment_from_json(value: dict) -> SimpleNamespace:
    return SimpleNamespace(
        **value
        | {
            "kind": AppointmentKind(value["kind"]),
            "starts_at": _moment(value["starts_at"]),
            "ends_at": _moment(value["ends_at"]),
        }
    )


def local_today(ctx: PatientContext) -> date:
    return utcnow().astimezone(ctx.tz).date()


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
    params = {"track_id": track_id, "weekdays": sorted(weekdays)}
    return db.session.connection().execute(_group_sessions_query(), params).all()


@cache
def _group_sessions_query():
    """Only the columns a day item shows: rows, not entities, are cheap to load."""
    facilitator = aliased(User)
    return (
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
            GroupSession.track_id == bindparam("track_id"),
            GroupSession.active.is_(True),
            GroupSession.weekday.in_(bindparam("weekdays", expanding=True)),
        )
    )


def _appointments(ctx: PatientContext, first: date, last: date) -> list[Row]:
    params = {
        "patient_id": ctx.enrollment.patient_id,
        "start": datetime.combine(first, time.min, ctx.tz),
        "end": datetime.combine(last + timedelta(days=1), time.min, ctx.tz),
    }
    return db.session.connection().execute(_appointments_query(), params).all()


@cache
def _appointments_query():
    return (
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
            Appointment.patient_id == bindparam("patient_id"),
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.starts_at >= bindparam("start"),
            Appointment.starts_at < bindparam("end"),
        )
    )


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
        title=APPOINTMENT_TITLES[appt.kind],
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
    """An iCalendar body with neutral titles, times in UTC."""
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//portal//schedule//EN",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{_ics_text(app_name)}",
    ]
    for item in items:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{item.source_id}-{item.starts.date().isoformat()}@portal",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{_ics_time(item.starts)}",
            f"DTEND:{_ics_time(item.ends)}",
            f"SUMMARY:{item.calendar_title()}",
            f"LOCATION:{_ics_text(_where(item))}",
            "DESCRIPTION:Details are in the app.",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def _where(item: DayItem) -> str:
    return item.room or ("Video" if item.telehealth_url else "")


def _ics_time(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%SZ")


def _ics_text(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace(";", r"\;")
        .replace(",", r"\,")
        .replace("\n", r"\n")
    )[:200]


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
