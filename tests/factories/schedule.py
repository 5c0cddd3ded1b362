"""Appointments and requests to change them, made directly in the database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal import db
from portal.blueprints.schedule.models import Appointment, AppointmentChange
from portal.db import utcnow


def appointment_id_for(patient, staff) -> str:
    """An appointment of the patient (made once per test)."""
    found = db.session.scalar(
        select(Appointment.id).where(Appointment.patient_id == patient.id)
    )
    if found:
        return found
    start = utcnow() + timedelta(days=2)
    appointment = Appointment(
        patient_id=patient.id,
        staff_id=staff.id,
        kind="therapy",
        starts_at=start,
        ends_at=start + timedelta(minutes=50),
    )
    db.session.add(appointment)
    db.session.flush()
    return appointment.id


def make_change(appointment: Appointment, **values) -> AppointmentChange:
    """A pending request to move the appointment a day later."""
    fields = {
        "appointment_id": appointment.id,
        "patient_id": appointment.patient_id,
        "was_starts_at": appointment.starts_at,
        "wanted_at": appointment.starts_at + timedelta(days=1),
        "note": "Mornings work better for me",
    }
    change = AppointmentChange(**(fields | values))
    db.session.add(change)
    db.session.flush()
    return change


def change_id_for(patient, staff) -> str:
    """A request of the patient to change an appointment (made once per test)."""
    appointment = db.session.get(Appointment, appointment_id_for(patient, staff))
    found = db.session.scalar(
        select(AppointmentChange.id).where(
            AppointmentChange.appointment_id == appointment.id
        )
    )
    return found or make_change(appointment).id
