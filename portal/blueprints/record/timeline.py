"""The staff timeline: every kind of a patient's record as dated entries, newest first,
in one query per kind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from portal import db
from portal.blueprints.checkins.instruments import (
    CSSRS_RECENT_QUESTION,
    QUESTIONNAIRES,
    Instrument,
)
from portal.blueprints.messages.access import may_read
from portal.blueprints.needs.models import EventKind
from portal.blueprints.record import sources
from portal.blueprints.record.fhir.service_request import what_was_asked
from portal.blueprints.record.kinds import RecordKind
from portal.blueprints.record.sources import Source, Window, one_patient
from portal.blueprints.schedule.models import AppointmentStatus, AttendanceStatus
from portal.blueprints.schedule.services import APPOINTMENT_TITLES
from portal.db import utcnow

LIMIT = 500
MEDICATION = {
    "yes": "medicine taken",
    "no": "medicine not taken",
    "none": "no medicine",
}
SOURCE_WORDS = {
    "checkin": "the daily check-in",
    "phq9": "the PHQ-9",
    "cssrs": "the C-SSRS screener",
}
ATTENDANCE_WORDS = {
    AttendanceStatus.PRESENT: "present",
    AttendanceStatus.LATE: "late",
    AttendanceStatus.ABSENT: "absent",
    AttendanceStatus.EXCUSED: "excused",
}


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: RecordKind
    title: str
    lines: tuple[str, ...] = ()
    author: str | None = None
    alert: bool = False
    day_only: bool = False


@dataclass
class Timeline:
    entries: list[Entry] = field(default_factory=list)
    truncated: list[RecordKind] = field(default_factory=list)

    def days(self, tz) -> list[tuple[date, list[Entry]]]:
        """Entries grouped by local day, both newest first."""
        grouped: dict[date, list[Entry]] = {}
        for entry in self.entries:
            grouped.setdefault(entry.at.astimezone(tz).date(), []).append(entry)
        return list(grouped.items())


@dataclass(frozen=True)
class KindSource:
    """How one kind of the timeline is read and worded; `restrict` narrows the rows to
    what the viewer may see (a SQL condition and its bound values)."""

    source: Source
    to_entries: Callable
    restrict: Callable | None = None


def build_timeline(
    viewer, patient_id: str, kinds, first: date, last: date, tz
) -> Timeline:
    """Entries of the chosen kinds between two local days, newest first."""
    window = Window.local_days(first, last, tz)
    timeline = Timeline()
    for kind in kinds:
        spec = TIMELINE_SOURCES.get(kind)
        if spec is None:
            continue
        stmt = spec.source.statement(
            patients=one_patient(patient_id), dates=window, limit=LIMIT
        )
        params = {}
        if spec.restrict is not None:
            condition, params = spec.restrict(viewer)
            stmt = stmt.where(condition)
        rows = db.session.execute(stmt, params).all()
        if len(rows) >= LIMIT:
            timeline.truncated.append(kind)
        for row in rows:
            timeline.entries.extend(spec.to_entries(row, tz))
    timeline.entries.sort(key=lambda e: e.at, reverse=True)
    return timeline


def _checkin(row, tz) -> list[Entry]:
    c = row[0]
    lines = [
        f"Mood {c.mood} of 10, craving {c.craving} of 10, sleep {c.sleep_hours} h, "
        f"{MEDICATION[c.medication.value]}",
        "Feels safe: yes" if c.feels_safe else "Feels safe: NO",
    ]
    if c.note:
        lines.append(f"Note: {c.note}")
    at = c.created_at
    if at.astimezone(tz).date() != c.local_date:  # sent later, from a saved copy
        at = datetime.combine(c.local_date, time(12), tz).astimezone(UTC)
    return [
        Entry(
            at,
            RecordKind.CHECKIN,
            "Daily check-in",
            tuple(lines),
            alert=not c.feels_safe,
        )
    ]


def _screener(row, tz) -> list[Entry]:
    r = row[0]
    questionnaire = QUESTIONNAIRES[r.instrument]
    if r.instrument is Instrument.CSSRS:
        title = f"{questionnaire.short_title}: {r.severity} risk"
        lines = [
            f"Yes: {item.text}"
            for item, value in zip(questionnaire.items, r.answers, strict=False)
            if value
        ]
        if len(r.answers) > 6 and r.answers[6]:
            lines.append(f"{CSSRS_RECENT_QUESTION} Yes")
    else:
        title = (
            f"{questionnaire.short_title}: {r.total} of {questionnaire.max_score}, "
            f"{r.severity.lower()}"
        )
        lines = []
        if r.instrument is Instrument.PHQ9 and r.answers[8]:
            answer = questionnaire.answers[r.answers[8]].text
            lines.append(f"Question 9 (thoughts of death or self-harm): {answer}")
    return [
        Entry(
            r.completed_at,
            RecordKind.SCREENER,
            title,
            tuple(lines),
            alert=r.risk_positive,
        )
    ]


def _risk_event(row, tz) -> list[Entry]:
    event, flag, actor, recipient = row[0], row[1], row[2], row[3]
    title, lines = _risk_words(event, flag, recipient)
    return [
        Entry(
            event.at,
            RecordKind.RISK,
            title,
            tuple(lines),
            author=actor,
            alert=event.kind in ("opened", "positive_again", "raised"),
        )
    ]


def _risk_words(event, flag, recipient) -> tuple[str, list[str]]:
    kind = event.kind
    if kind == "opened":
        return (
            f"Risk flag opened from {SOURCE_WORDS.get(event.detail, event.detail)}",
            [],
        )
    if kind == "positive_again":
        source = SOURCE_WORDS.get(event.detail, event.detail)
        return f"Another risk answer, on {source}", []
    if kind == "told":
        return f"{recipient or 'Staff'} alerted by {event.channel}", []
    if kind == "raised":
        return f"Alert moved up ({event.detail})", []
    if kind == "after_hours":
        return "After-hours alert path", []
    if kind == "acknowledged":
        return "Risk flag acknowledged", []
    if kind == "assessed":
        lines = [f"Plan: {flag.plan}"] if flag.plan else []
        if flag.assessment_note:
            lines.append(f"Note: {flag.assessment_note}")
        return f"Risk assessed: {event.detail}", lines
    if kind == "resolved":
        lines = [f"Note: {flag.resolution_note}"] if flag.resolution_note else []
        return "Risk flag resolved", lines
    return kind.replace("_", " ").capitalize(), []


def _appointment(row, tz) -> list[Entry]:
    appt, staff_name = row[0], row[1]
    title = APPOINTMENT_TITLES[appt.kind]
    if appt.status is AppointmentStatus.CANCELLED:
        title += " (cancelled)"
    end = appt.ends_at.astimezone(tz).strftime("%-I:%M %p")
    return [
        Entry(
            appt.starts_at,
            RecordKind.APPOINTMENT,
            title,
            (f"Until {end}",),
            author=staff_name,
        )
    ]


def _attendance(row, tz) -> list[Entry]:
    attendance, session, facilitator = row[0], row[1], row[2]
    start = datetime.combine(attendance.occurs_on, session.starts_at, tz)
    status = ATTENDANCE_WORDS[attendance.status]
    return [
        Entry(
            start.astimezone(UTC),
            RecordKind.ATTENDANCE,
            f"Group: {session.title}, {status}",
            author=facilitator,
            alert=attendance.status is AttendanceStatus.ABSENT,
        )
    ]


def _need_event(row, tz) -> list[Entry]:
    event, need, actor, owner = row[0], row[1], row[2], row[3]
    title, lines = _need_words(event, need, owner)
    if event.patient_visible and event.kind is EventKind.NOTE:
        lines.append("The patient sees this note.")
    return [
        Entry(
            event.at,
            RecordKind.NEED,
            title,
            tuple(lines),
            author=actor,
            alert=event.kind is EventKind.CREATED and int(need.urgency) == 1,
        )
    ]


def _need_words(event, need, owner) -> tuple[str, list[str]]:
    asked = what_was_asked(need)
    reason = [f"Reason: {event.reason}"] if event.reason else []
    body = [event.body] if event.body else []
    words = {
        EventKind.CREATED: (f"Asked for help: {asked}", body),
        EventKind.ROUTED: (f"{asked}: sent to {owner or 'a case manager'}", []),
        EventKind.CLAIMED: (f"{asked}: taken by {owner or 'a case manager'}", []),
        EventKind.REASSIGNED: (
            f"{asked}: given to {owner or 'a case manager'}",
            reason,
        ),
        EventKind.STATUS: (
            f"{asked}: {_status(event.from_status)} to {_status(event.to_status)}",
            reason + body,
        ),
        EventKind.NOTE: (f"{asked}: note", body),
        EventKind.PATIENT_INFO: (f"{asked}: the patient added", body),
        EventKind.URGENCY: (f"{asked}: urgency now {event.reason or 'changed'}", []),
    }
    return words.get(event.kind, (f"{asked}: {event.kind.value}", body))


def _status(status) -> str:
    return status.value.replace("-", " ") if status else "none"


def _message(row, tz) -> list[Entry]:
    message, thread, author_name = row[0], row[1], row[3]
    who = "the patient" if message.author_id == thread.patient_id else author_name
    return [
        Entry(
            message.created_at,
            RecordKind.MESSAGE,
            f"Message from {who}",
            (message.body,),
            alert=bool(message.crisis_phrases),
        )
    ]


def _messages_shared_with(viewer) -> tuple:
    """Only conversations this viewer may read (the messages feature's own rule)."""
    return may_read(viewer.role), {"actor_id": viewer.id, "now": utcnow()}


TIMELINE_SOURCES: dict[RecordKind, KindSource] = {
    RecordKind.CHECKIN: KindSource(sources.CHECKINS, _checkin),
    RecordKind.SCREENER: KindSource(sources.SCREENERS, _screener),
    RecordKind.RISK: KindSource(sources.RISK_EVENTS, _risk_event),
    RecordKind.APPOINTMENT: KindSource(sources.APPOINTMENTS, _appointment),
    RecordKind.ATTENDANCE: KindSource(sources.ATTENDANCE, _attendance),
    RecordKind.NEED: KindSource(sources.NEED_EVENTS, _need_event),
    RecordKind.MESSAGE: KindSource(
        sources.MESSAGES, _message, restrict=_messages_shared_with
    ),
}
