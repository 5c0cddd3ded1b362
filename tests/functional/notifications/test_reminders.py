"""Reminders the worker makes: before the program day, before appointments, and the
daily check-in; each once, only inside its window, only for active patients."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from portal import db
from portal.blueprints.checkins import reminders as checkin_reminders
from portal.blueprints.checkins.models import CheckIn, Medication
from portal.blueprints.notifications.models import Notification, NotificationKind
from portal.blueprints.programs.models import EnrollmentStatus
from portal.blueprints.schedule import reminders as schedule_reminders
from portal.db import utcnow
from tests import factories as f

NY = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)
CHECKIN_WINDOW = (time(10), time(20))


def _at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    """A moment today (New York) on the weekday of the world's groups."""
    day = datetime.now(NY).date() + timedelta(days=days)
    return datetime.combine(day, time(hour, minute), NY)


def _reminders(kind: NotificationKind) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.kind == kind)
            .order_by(Notification.recipient_id)
        )
    )


def test_appointment_reminders_are_made_once_within_the_lead(world):
    now = utcnow()
    assert (
        schedule_reminders.make_appointment_reminders(now, HOUR + timedelta(minutes=1))
        == 2
    )
    assert (
        schedule_reminders.make_appointment_reminders(now, HOUR + timedelta(minutes=1))
        == 0
    )
    made = _reminders(NotificationKind.SESSION_REMINDER)
    assert {n.recipient_id for n in made} == {world.patient.id, world.patient_b.id}
    mine = next(n for n in made if n.recipient_id == world.patient.id)
    assert mine.expires_at == world.appointment.starts_at and mine.target == "/"


def test_an_appointment_further_off_is_not_reminded_yet(world):
    assert (
        schedule_reminders.make_appointment_reminders(utcnow(), timedelta(minutes=30))
        == 0
    )


def test_a_moved_appointment_gets_a_new_reminder(world):
    schedule_reminders.make_appointment_reminders(utcnow(), 2 * HOUR)
    world.appointment.starts_at += timedelta(minutes=15)
    db.session.flush()
    assert schedule_reminders.make_appointment_reminders(utcnow(), 2 * HOUR) == 1


def test_a_day_reminder_goes_to_every_patient_of_the_track_once(world):
    program = world.program.id
    assert (
        schedule_reminders.make_day_reminders(program, _at(7, 0), HOUR) == 0
    )  # too early
    assert schedule_reminders.make_day_reminders(program, _at(8, 15), HOUR) == 2
    assert schedule_reminders.make_day_reminders(program, _at(8, 45), HOUR) == 0
    made = _reminders(NotificationKind.SESSION_REMINDER)
    assert {n.recipient_id for n in made} == {world.patient.id, world.patient_b.id}
    assert made[0].expires_at == _at(9, 0)


def test_no_day_reminder_once_the_day_has_started(world):
    assert (
        schedule_reminders.make_day_reminders(world.program.id, _at(9, 30), HOUR) == 0
    )


def test_the_checkin_reminder_is_made_once_a_day_inside_its_window(world):
    program = world.program.id
    assert (
        checkin_reminders.make_checkin_reminders(program, _at(9, 59), CHECKIN_WINDOW)
        == 0
    )
    assert (
        checkin_reminders.make_checkin_reminders(program, _at(10, 5), CHECKIN_WINDOW)
        == 2
    )
    assert (
        checkin_reminders.make_checkin_reminders(program, _at(15, 0), CHECKIN_WINDOW)
        == 0
    )
    assert (
        checkin_reminders.make_checkin_reminders(program, _at(20, 0), CHECKIN_WINDOW)
        == 0
    )
    tomorrow = _at(10, 5, days=1)
    assert (
        checkin_reminders.make_checkin_reminders(program, tomorrow, CHECKIN_WINDOW) == 2
    )
    today = _reminders(NotificationKind.CHECKIN_REMINDER)[0]
    assert today.expires_at in {_at(0, 0, days=1), _at(0, 0, days=2)}


def test_checkin_reminders_skip_discharged_held_and_already_checked_in(world):
    extra = [f.UserFactory() for _ in range(3)]
    for person, status in zip(
        extra,
        (
            EnrollmentStatus.DISCHARGED,
            EnrollmentStatus.ON_HOLD,
            EnrollmentStatus.ACTIVE,
        ),
        strict=True,
    ):
        f.EnrollmentFactory(
            patient_id=person.id,
            program_id=world.program.id,
            track_id=world.track.id,
            status=status,
        )
    db.session.add(
        CheckIn(
            patient_id=world.patient.id,
            local_date=_at(11).date(),
            mood=5,
            craving=2,
            sleep_hours=Decimal("7.5"),
            medication=Medication.YES,
            feels_safe=True,
            idempotency_key="reminder-test-checkin",
        )
    )
    db.session.flush()
    made = checkin_reminders.make_checkin_reminders(
        world.program.id, _at(11), CHECKIN_WINDOW
    )
    recipients = {n.recipient_id for n in _reminders(NotificationKind.CHECKIN_REMINDER)}
    assert made == 2 and recipients == {world.patient_b.id, extra[2].id}


def test_the_worker_task_makes_each_reminder_once_however_often_it_runs(app, world):
    app.config.update(CHECKIN_REMINDER_AT="00:00", CHECKIN_REMINDER_UNTIL="23:59:59")
    try:
        first = _every_reminder_task(app)
        again = _every_reminder_task(app)
    finally:
        del app.config["CHECKIN_REMINDER_AT"], app.config["CHECKIN_REMINDER_UNTIL"]
    assert first >= 3 and again == 0  # two programs' check-ins, two appointments
    total = db.session.scalar(select(func.count()).select_from(Notification))
    assert total == first


def _every_reminder_task(app) -> int:
    """One round of the worker's reminder tasks, as the worker runs them."""
    return schedule_reminders.make_schedule_reminders(
        app
    ) + checkin_reminders.make_daily_checkin_reminders(app)
