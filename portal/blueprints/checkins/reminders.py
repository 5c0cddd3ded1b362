"""The daily check-in reminder: once a day per program, inside the window, to the
active patients who have not checked in yet."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import select

from portal import db
from portal.audit import audit
from portal.blueprints.checkins.models import CheckIn
from portal.blueprints.notifications.models import NotificationKind
from portal.blueprints.notifications.reminders import (
    claim_run,
    reminder_setting,
    unclaimed,
)
from portal.blueprints.notifications.services import notify_many
from portal.blueprints.programs.census import patients_enrolled_on
from portal.blueprints.programs.models import Enrollment, Program
from portal.db import utcnow
from portal.worker import task

# The page a check-in reminder opens.
CHECKIN_PATH = "/check-in"


@task("make_checkin_reminders")
def make_daily_checkin_reminders(app: Flask) -> int:
    """Worker task: each program's check-in reminder, when inside its window."""
    now = utcnow()
    window = (
        time.fromisoformat(reminder_setting(app, "CHECKIN_REMINDER_AT", "10:00")),
        time.fromisoformat(reminder_setting(app, "CHECKIN_REMINDER_UNTIL", "20:00")),
    )
    made = 0
    for program_id, tz_name in db.session.execute(select(Program.id, Program.timezone)):
        local = now.astimezone(ZoneInfo(tz_name))
        made += make_checkin_reminders(program_id, local, window)
    db.session.commit()
    return made


def checked_in_already(patient_ids: list[str], day: date) -> set[str]:
    """Patients who have done that day's check-in: a reminder would only nag."""
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


def make_checkin_reminders(
    program_id: str, local: datetime, window: tuple[time, time]
) -> int:
    """Once a day per program, inside the window: remind active patients to check in."""
    day = local.date()
    key = f"checkin:{program_id}:{day}"
    if not window[0] <= local.time() < window[1] or not unclaimed([key]):
        return 0
    if not claim_run(key):
        return 0
    patients = patients_enrolled_on(day, Enrollment.program_id == program_id)
    done = checked_in_already(patients, day)
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
