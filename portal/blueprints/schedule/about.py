"""What a notification about an appointment change says in the list: "About your
appointment of Thu 10 Dec" (for staff, whose)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask_babel import gettext
from sqlalchemy import exists, or_, select

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.notifications.about import describes
from portal.blueprints.programs.access import staff_program_ids
from portal.blueprints.programs.models import Enrollment, EnrollmentStatus, Program
from portal.blueprints.schedule.models import Appointment, AppointmentChange
from portal.i18n import when
from portal.text import local_day_label


@describes(AppointmentChange.__tablename__)
def describe_changes(reader: User, change_ids: list[str]) -> dict[str, str]:
    """One statement: the patient's own requests, or for staff those of their own
    appointments and their programs' patients; the appointment's day as it is now."""
    enrollment = (Enrollment.patient_id == AppointmentChange.patient_id) & (
        Enrollment.status != EnrollmentStatus.DISCHARGED
    )
    if reader.is_staff:
        in_program = exists().where(
            Enrollment.patient_id == AppointmentChange.patient_id,
            Enrollment.program_id.in_(staff_program_ids(reader)),
        )
        scope = or_(Appointment.staff_id == reader.id, in_program)
    else:
        scope = AppointmentChange.patient_id == reader.id
    rows = db.session.execute(
        select(
            AppointmentChange.id,
            Appointment.starts_at,
            Program.timezone,
            User.display_name,
        )
        .join(Appointment, Appointment.id == AppointmentChange.appointment_id)
        .join(User, User.id == AppointmentChange.patient_id)
        .join(Enrollment, enrollment)
        .join(Program, Program.id == Enrollment.program_id)
        .where(AppointmentChange.id.in_(change_ids), scope)
    ).all()
    if reader.is_staff:  # staff read English
        return {
            row.id: f"About {row.display_name}'s appointment of "
            f"{local_day_label(row.starts_at, row.timezone)}"
            for row in rows
        }
    return {
        row.id: gettext(
            "About your appointment of %(day)s",
            day=when(row.starts_at.astimezone(ZoneInfo(row.timezone)), "day_label"),
        )
        for row in rows
    }
