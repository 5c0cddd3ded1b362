"""Reminders the worker makes: before a patient's program day starts, before each
appointment, and the daily check-in. Each is made once, however many workers run and
however often: a batch first claims its key in `reminder_runs` (insert, or nothing on
conflict), and each notification also carries a dedupe key.

Reminders are made only inside their window, never late: a worker that was down at
9 a.m. does not remind anyone about a 9 a.m. session at noon.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import func, or_, select

from portal import db
from portal.audit import audit
from portal.blueprints.notifications.models import NotificationKind, ReminderRun
from portal.blueprints.notifications.services import (
    insert_ignoring_duplicates,
    notify,
    notify_many,
)
from portal.blueprints.schedule.models import (
    Appointment,
    AppointmentStatus,
    GroupSession,
    SessionKind,
)
from portal.blueprints.staff.models import (
    Enrollment,
    EnrollmentStatus,
    Program,
    Track,
)
from portal.db import utcnow
from portal.worker import task

# The page a check-in reminder opens (the check-in feature's form).
CHECKIN_PATH = "/check-in"
# Functions (patient ids, local day) -> ids that need no check-in reminder that day.
CHECKIN_DONE: list[Callable[[list[str], date], set[str]]] = []


def checked_in_already(patient_ids: list[str], day: date) -> set[str]:
    """Patients who have done that day's check-in: a reminder would only nag."""
    from portal.blueprints.checkins.models import CheckIn

    done: set[str] = set()
    for start in range(0, len(patient_ids), 500):
        done.update(
            db.session.scalars(
                select(CheckIn.patient_id).where(
                    CheckIn.local_date == day,
                    CheckIn.patient_id.in_(patient_ids[start : start + 500]),
                )
            )
        )
    return done


CHECKIN_DONE.append(checked_in_already)


def _config(app: Flask, name: str, default: str) -> str:
    return str(app.config.get(name) or os.environ.get("PORTAL_" + name) or default)


@task("make_reminders")
def make_reminders(app: Flask) -> int:
    """Worker task: make the reminders that are due now; returns how many."""
    now = utcnow()
    lead = timedelta(minutes=int(_config(app, "REMINDER_LEAD_MINUTES", "60")))
    window = (
        time.fromisoformat(_config(app, "CHECKIN_REMINDER_AT", "10:00")),
        time.fromisoformat(_config(app, "CHECKIN_REMINDER_UNTIL", "20:00")),
    )
    made = make_appointment_reminders(now, lead)
    for program_id, tz_name in db.session.execute(select(Program.id, Program.timezone)):
        local = now.astimezone(ZoneInfo(tz_name))
        made += make_day_reminders(program_id, local, lead)
        made += make_checkin_reminders(program_id, local, window)
    db.session.commit()
    return made


def claim_run(key: str) -> bool:
    """True for the one worker (and round) that gets to make this batch."""
    statement = (
        insert_ignoring_duplicates(ReminderRun, "key")
        .values(key=key, created_at=utcnow())
        .returning(ReminderRun.key)
    )
    return db.session.scalar(statement) is not None


# Keys this process has seen committed: later rounds skip them without a query.
_KNOWN_DONE: set[str] = set()


def _unclaimed(keys: list[str]) -> set[str]:
    keys = [key for key in keys if key not in _KNOWN_DONE]
    if not keys:
        return set()
    done = set(
        db.session.scalars(select(ReminderRun.key).where(ReminderRun.key.in_(keys)))
    )
    if len(_KNOWN_DONE) > 50_000:
        _KNOWN_DONE.clear()
    _KNOWN_DONE.update(done)
    return set(keys) - done


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
    for key in sorted(_unclaimed(list(keyed))):
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
    for key in sorted(_unclaimed(list(soon))):
        track_id, starts = soon[key]
        if not claim_run(key):
            continue
        patients = _enrolled_on(day, Enrollment.track_id == track_id)
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


def make_checkin_reminders(
    program_id: str, local: datetime, window: tuple[time, time]
) -> int:
    """Once a day per program, inside the window: remind active patients to check in."""
    day = local.date()
    key = f"checkin:{program_id}:{day}"
    if not window[0] <= local.time() < window[1] or not _unclaimed([key]):
        return 0
    if not claim_run(key):
        return 0
    patients = _enrolled_on(day, Enrollment.program_id == program_id)
    for already_done in CHECKIN_DONE:
        done = already_done(patients, day)
        patients = [p for p in patients if p not in done]
    end_of_day = datetime.combine(day + timedelta(days=1), time.min, local.tzinfo)
    made = notify_many(
        patients,
        NotificationKind.CHECKIN_REMINDER,
        target=CHECKIN_PATH,
        expires_at=end_of_day.astimezone(UTC),
        dedupe_prefix=f"checkin:{day}",
    )
    detail = f"{made} check-in reminders"
    audit("create", "reminder", object_id=program_id, detail=detail)
    return made


def _enrolled_on(day: date, condition) -> list[str]:
    return list(
        db.session.scalars(
            select(Enrollment.patient_id).where(
                condition,
                Enrollment.status == EnrollmentStatus.ACTIVE,
                Enrollment.admitted_on <= day,
                or_(
                    Enrollment.discharged_on.is_(None),
                    Enrollment.discharged_on >= day,
                ),
            )
        )
    )
