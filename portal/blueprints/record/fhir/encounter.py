"""Encounter: the patient at (or absent from) one occurrence of a group session."""

from __future__ import annotations

from datetime import datetime

from portal.blueprints.record.fhir.common import (
    ACT_CODE,
    MapContext,
    instant,
    meta,
    ref,
)
from portal.blueprints.schedule.models import (
    Attendance,
    AttendanceStatus,
    GroupSession,
)

CAME = {AttendanceStatus.PRESENT, AttendanceStatus.LATE}


def encounter(
    attendance: Attendance,
    session: GroupSession,
    facilitator_name: str | None,
    ctx: MapContext,
) -> dict:
    tz = ctx.program.tz
    start = datetime.combine(attendance.occurs_on, session.starts_at, tz)
    end = datetime.combine(attendance.occurs_on, session.ends_at, tz)
    resource = {
        "resourceType": "Encounter",
        "id": attendance.id,
        "meta": meta(attendance.recorded_at, ctx.part2),
        "extension": [
            {
                "url": f"{ctx.canonical}/StructureDefinition/attendance-status",
                "valueCode": attendance.status.value,
            }
        ],
        "status": "finished" if attendance.status in CAME else "cancelled",
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "type": [{"text": f"Group session: {session.title}"}],
        "subject": ref("Patient", attendance.patient_id),
        "period": {"start": instant(start), "end": instant(end)},
    }
    if session.facilitator_id:
        resource["participant"] = [
            {
                "individual": ref(
                    "Practitioner", session.facilitator_id, facilitator_name
                )
            }
        ]
    resource["serviceProvider"] = ctx.organization_ref()
    return resource
