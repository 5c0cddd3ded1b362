"""Reminders before a patient's program day starts and before each appointment."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import func, select

from portal import db
from portal.audit import audit
from portal.blueprints.notifications.models import NotificationKind
from portal.blueprints.notifications.reminders import (
    claim_run,
    reminder_setting,
    unclaimed,
)
from portal.blueprints.notifications.services import notify, notify_many
from portal.blueprints.programs.census import patients_enrolled_on
from portal.blueprints.programs.models import Enrollment, Program, Track
from portal.blueprints.schedule.models import (
    Appointment,
    AppointmentStatus,
    GroupSession,
    SessionKind,
)
from portal.db import utcnow
from portal.worker import task


@task("make_schedule_reminders")
def make_schedule_reminders(app: Flask) -> int:
    """Worker task: the day and appointment reminders due now; returns how many."""
    now = utcnow()
    lead = timedelta(minutes=int(reminder_setting(app, "REMINDER_LEAD_MINUTES", "60")))
    made = make_appointment_reminders(now, lead)
    for program_id, tz_name in db.session.execute(select(Program.id, Program.timezone)):
        made += make_day_reminders(program_id, now.astimezone(ZoneInfo(tz_name)), lead)
    db.session.commit()
    return made


def make_appointment_reminders(now: datetime, lead: timedelta) -> int:
    """One reminder per appointment that starts within `lead`."""
    appointments = db.session.execute(
        select(Appointment.id, Appointment.patient_id, Appointment.starts_at).where(
            Appointment.status == AppointmentStatus.BOOKED,
            Appointment.starts_at > now,
            Appointment.starts_at <= now + lead,
        )
    ).all()
    keyed = {f"appt:{a.id}:{a.starts_at:%Y%m%dT%H%M}": a for a in appointments}
    made = 0
    for key in sorted(unclaimed(list(keyed))):
        appointment = keyed[key]
        if claim_run(key) and notify(
            appointment.patient_id,
            NotificationKind.SESSION_REMINDER,
            patient_id=appointment.patient_id,
            target="/",
            dedupe_key=key,
            expires_at=appointment.starts_at,
        ):
            made += 1
    return made


def make_day_reminders(program_id: str, local: datetime, lead: timedelta) -> int:
    """Remind each patient of a track when its first session today starts soon."""
    day, horizon = local.date(), local + lead
    latest = horizon.time() if horizon.date() == day else time.max
    firsts = db.session.execute(
        select(GroupSession.track_id, func.min(GroupSession.starts_at))
        .join(Track, Track.id == GroupSession.track_id)
        .where(
            Track.program_id == program_id,
            GroupSession.weekday == day.weekday(),
            GroupSession.active.is_(True),
            GroupSession.kind != SessionKind.BREAK,
        )
        .group_by(GroupSession.track_id)
    ).all()
    soon = {
        f"day:{track_id}:{day}": (track_id, starts)
        for track_id, starts in firsts
        if local.time() < starts <= latest
    }
    made = 0
    for key in sorted(unclaimed(list(soon))):
        track_id, starts = soon[key]
        if not claim_run(key):
            continue
        patients = patients_enrolled_on(day, Enrollment.track_id == track_id)
        starts_at = datetime.combine(day, starts, local.tzinfo).astimezone(UTC)
        count = notify_many(
            patients,
            NotificationKind.SESSION_REMINDER,
            target="/",
            expires_at=starts_at,
            dedupe_prefix=f"day:{day}",
        )
        audit("create", "reminder", object_id=track_id, detail=f"{count} day reminders")
        made += count
    return made
