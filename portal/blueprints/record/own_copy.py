"""The patient's own copy of their record: a readable page and a FHIR Bundle, built
from the same rows (one query per source)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.programs.context import PatientContext
from portal.blueprints.record.fhir import patient as patient_map
from portal.blueprints.record.fhir.common import MapContext, bundle, meta
from portal.blueprints.record.fhir.registry import EVERYTHING_ORDER, PARTS
from portal.blueprints.record.fhir.service import program_info
from portal.blueprints.record.sources import one_patient
from portal.db import utcnow

# Sources whose rows the readable page shows, by name.
PAGE_SOURCES = ("checkins", "screeners", "risk_flags", "appointments", "attendance")


@dataclass
class OwnRecord:
    patient: User
    ctx: PatientContext
    rows: dict[str, list]

    def of(self, source_name: str) -> list:
        return self.rows.get(source_name, [])


def load_own_record(patient: User, ctx: PatientContext) -> OwnRecord:
    """Every source of the patient's record except the audit log, once each."""
    rows: dict[str, list] = {}
    for resource_type in EVERYTHING_ORDER:
        for part in PARTS[resource_type]:
            name = part.source.name
            if name not in rows and name != "patients":
                rows[name] = part.source.rows(patients=one_patient(patient.id))
    return OwnRecord(patient, ctx, rows)


def own_bundle(record: OwnRecord, base: str, canonical: str) -> dict:
    """The record as a FHIR R4 collection Bundle, with the program and staff named."""
    ctx = MapContext(base, canonical, program_info(record.ctx.program))
    resources = [patient_map.patient(record.patient, ctx)]
    staff_ids: set[str] = set()
    for resource_type in EVERYTHING_ORDER:
        for part in PARTS[resource_type]:
            for row in record.of(part.source.name):
                resources.append(part.to_fhir(row, ctx))
                staff_ids.update(filter(None, part.practitioners(row)))
    resources.append(patient_map.organization(record.ctx.program, ctx))
    if staff_ids:
        staff = db.session.scalars(select(User).where(User.id.in_(sorted(staff_ids))))
        resources += [patient_map.practitioner(user, ctx) for user in staff]
    return bundle(
        "collection",
        [(resource, None) for resource in resources],
        base,
        bundle_meta=meta(utcnow(), ctx.part2),
        timestamp=utcnow(),
    )
