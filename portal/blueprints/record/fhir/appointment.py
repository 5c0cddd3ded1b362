"""Appointment: an individual session with a member of the care team."""

from __future__ import annotations

from portal.blueprints.record.fhir.common import MapContext, instant, meta, ref
from portal.blueprints.schedule.models import Appointment, AppointmentStatus
from portal.blueprints.schedule.services import APPOINTMENT_TITLES


def appointment(appt: Appointment, staff_name: str | None, ctx: MapContext) -> dict:
    cancelled = appt.status is AppointmentStatus.CANCELLED
    return {
        "resourceType": "Appointment",
        "id": appt.id,
        "meta": meta(appt.created_at, ctx.part2),
        "status": "cancelled" if cancelled else "booked",
        "serviceType": [{"text": APPOINTMENT_TITLES[appt.kind]}],
        "description": APPOINTMENT_TITLES[appt.kind],
        "start": instant(appt.starts_at),
        "end": instant(appt.ends_at),
        "created": instant(appt.created_at),
        "participant": [
            {"actor": ref("Patient", appt.patient_id), "status": "accepted"},
            {
                "actor": ref("Practitioner", appt.staff_id, staff_name),
                "status": "accepted",
            },
        ],
    }
