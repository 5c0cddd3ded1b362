"""A patient asks to move an individual appointment to another time; the
appointment's clinician, or staff of the patient's program, approve it (the
appointment moves to the time asked) or offer another time (it moves there). Each
side is told through a notification whose push stays generic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext
from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import aliased

from portal import db
from portal.audit import audit, audit_many
from portal.blueprints.auth.models import User
from portal.blueprints.notifications.models import NotificationKind
from portal.blueprints.notifications.services import notify
from portal.blueprints.programs.access import staff_program_ids
from portal.blueprints.programs.models import Enrollment, EnrollmentStatus, Program
from portal.blueprints.schedule.models import (
    Appointment,
    AppointmentChange,
    AppointmentStatus,
    ChangeStatus,
)
from portal.db import is_id, utcnow

MAX_DAYS_AHEAD = 60
STAFF_LIST_LENGTH = 50


class ChangeRefused(ValueError):
    """The change cannot be made as asked; the message says why in plain words."""


def patient_target(appointment_id: str) -> str:
    return f"/appointments/{appointment_id}/change"


def staff_target(change_id: str) -> str:
    return f"/staff/appointment-changes/{change_id}"


def own_appointment(patient: User, appointment_id: str) -> Appointment | None:
    """The patient's own booked appointment, else None (the view answers 404)."""
    if not is_id(appointment_id):
        return None
    return db.session.scalar(
        select(Appointment).where(
            Appointment.id == appointment_id,
            Appointment.patient_id == patient.id,
            Appointment.status == AppointmentStatus.BOOKED,
        )
    )


def changes_of(appointment_id: str) -> list[AppointmentChange]:
    """The appointment's change requests, newest first."""
    return list(
        db.session.scalars(
            select(AppointmentChange)
            .where(AppointmentChange.appointment_id == appointment_id)
            .order_by(AppointmentChange.created_at.desc())
        )
    )


def ask_to_change(
    patient: User,
    appointment: Appointment,
    wanted_at: datetime,
    note: str | None,
    pending: list[AppointmentChange],
) -> AppointmentChange:
    """Ask to move the appointment to `wanted_at`; its clinician is told."""
    now = utcnow()
    if appointment.starts_at <= now:
        raise ChangeRefused(gettext("This appointment has already started or is over."))
    if any(c.status is ChangeStatus.PENDING for c in pending):
        raise ChangeRefused(
            gettext(
                "You already asked to change this appointment. Your team will "
                "answer soon."
            )
        )
    check_new_time(wanted_at, appointment, now)
    change = AppointmentChange(
        appointment_id=appointment.id,
        patient_id=patient.id,
        was_starts_at=appointment.starts_at,
        wanted_at=wanted_at,
        note=note,
    )
    db.session.add(change)
    db.session.flush()
    audit("create", "appointment_change", patient_id=patient.id, object_id=change.id)
    notify(
        appointment.staff_id,
        NotificationKind.APPOINTMENT_CHANGE,
        change,
        patient_id=patient.id,
        target=staff_target(change.id),
    )
    return change


def withdraw_change(patient: User, pending: list[AppointmentChange]) -> None:
    """Take back the request still waiting for an answer; the appointment stays. One
    conditional UPDATE, so a request staff answer at the same moment is either
    answered or withdrawn, never both."""
    waiting = [c.id for c in pending if c.status is ChangeStatus.PENDING]
    withdrawn = db.session.scalars(
        update(AppointmentChange)
        .where(
            AppointmentChange.id.in_(waiting),
            AppointmentChange.patient_id == patient.id,
            AppointmentChange.status == ChangeStatus.PENDING,
        )
        .values(status=ChangeStatus.WITHDRAWN, answered_at=utcnow())
        .returning(AppointmentChange.id)
        .execution_options(synchronize_session="fetch")
    ).all()
    if not withdrawn:
        raise ChangeRefused(
            gettext("There is no request waiting for an answer. Nothing was changed.")
        )
    for change_id in withdrawn:
        audit(
            "update",
            "appointment_change",
            patient_id=patient.id,
            object_id=change_id,
            detail=ChangeStatus.WITHDRAWN.value,
        )


def check_new_time(moment: datetime, appointment: Appointment, now: datetime) -> None:
    # in the reader's language: the patient's page, or staff's (English)
    if moment <= now:
        raise ChangeRefused(gettext("Choose a time that is still to come."))
    if moment > now + timedelta(days=MAX_DAYS_AHEAD):
        raise ChangeRefused(gettext("Choose a time in the next two months."))
    if moment == appointment.starts_at:
        raise ChangeRefused(
            gettext("That is the time it has now. Choose another time.")
        )


# ---- staff ---------------------------------------------------------------------------


@dataclass
class ChangeView:
    change: AppointmentChange
    appointment: Appointment
    patient_name: str
    timezone: str


def _staff_scope(staff: User):
    """The appointment's clinician, or staff of the patient's current program."""
    in_program = exists().where(
        Enrollment.patient_id == AppointmentChange.patient_id,
        Enrollment.status != EnrollmentStatus.DISCHARGED,
        Enrollment.program_id.in_(staff_program_ids(staff)),
    )
    return or_(Appointment.staff_id == staff.id, in_program)


def _staff_select(staff: User):
    patient = aliased(User)
    enrollment = aliased(Enrollment)
    return (
        select(AppointmentChange, Appointment, patient.display_name, Program.timezone)
        .join(Appointment, Appointment.id == AppointmentChange.appointment_id)
        .join(patient, patient.id == AppointmentChange.patient_id)
        .join(
            enrollment,
            (enrollment.patient_id == AppointmentChange.patient_id)
            & (enrollment.status != EnrollmentStatus.DISCHARGED),
        )
        .join(Program, Program.id == enrollment.program_id)
        .where(_staff_scope(staff))
    )


def load_change_for_staff(staff: User, change_id: str) -> ChangeView | None:
    """One change request the staff member may answer, with names; else None."""
    if not is_id(change_id):
        return None
    row = db.session.execute(
        _staff_select(staff).where(AppointmentChange.id == change_id)
    ).first()
    return ChangeView(*row) if row else None


def pending_for_staff(staff: User) -> list[ChangeView]:
    """Change requests waiting for an answer: the staff member's own appointments and
    their programs' patients', the oldest first; audited as one statement."""
    rows = db.session.execute(
        _staff_select(staff)
        .where(AppointmentChange.status == ChangeStatus.PENDING)
        .order_by(AppointmentChange.created_at)
        .limit(STAFF_LIST_LENGTH)
    ).all()
    views = [ChangeView(*row) for row in rows]
    audit_many(
        "read",
        "appointment_change",
        [(v.change.patient_id, v.change.id) for v in views],
    )
    return views


def answer_change(
    staff: User,
    view: ChangeView,
    new_starts_at: datetime | None,
    note: str | None,
) -> None:
    """Approve (no new time: the time asked) or offer another time; either way the
    appointment moves, keeps its length, and the patient is told."""
    change, appointment = view.change, view.appointment
    if change.status is ChangeStatus.WITHDRAWN:
        raise ChangeRefused("The patient withdrew this request. Nothing was moved.")
    if change.status is not ChangeStatus.PENDING:
        raise ChangeRefused("This request was answered already.")
    if appointment.status is not AppointmentStatus.BOOKED:
        raise ChangeRefused("This appointment was cancelled.")
    now = utcnow()
    moving_to = new_starts_at or change.wanted_at
    check_new_time(moving_to, appointment, now)
    # Claimed by one conditional UPDATE: the patient may withdraw it this moment.
    claimed = db.session.execute(
        update(AppointmentChange)
        .where(
            AppointmentChange.id == change.id,
            AppointmentChange.status == ChangeStatus.PENDING,
        )
        .values(
            status=ChangeStatus.OFFERED if new_starts_at else ChangeStatus.APPROVED,
            answered_by_id=staff.id,
            answered_at=now,
            new_starts_at=moving_to,
            staff_note=note,
        )
        .execution_options(synchronize_session="fetch")
    )
    if claimed.rowcount != 1:
        raise ChangeRefused("The patient withdrew this request a moment ago.")
    length = appointment.ends_at - appointment.starts_at
    appointment.starts_at, appointment.ends_at = moving_to, moving_to + length
    db.session.flush()
    audit(
        "update",
        "appointment_change",
        patient_id=change.patient_id,
        object_id=change.id,
        detail=change.status.value,
    )
    notify(
        change.patient_id,
        NotificationKind.SCHEDULE_CHANGE,
        change,
        patient_id=change.patient_id,
        target=patient_target(appointment.id),
    )
