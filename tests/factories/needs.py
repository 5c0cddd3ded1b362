"""Requests for help made directly in the database, for tests of the needs feature."""

from __future__ import annotations

from datetime import timedelta

from portal import db
from portal.blueprints.needs.models import (
    Need,
    NeedKind,
    OtherNeed,
    SdohCategory,
    TaskStatus,
    Urgency,
)
from portal.db import utcnow


def make_need(patient, program, **values) -> Need:
    """An open 'other: food' request of the patient, due in a day, nobody has it."""
    now = utcnow()
    fields = {
        "patient_id": patient.id,
        "program_id": program.id,
        "kind": NeedKind.OTHER,
        "category": SdohCategory.FOOD,
        "other_need": OtherNeed.FOOD,
        "urgency": Urgency.SOON,
        "status": TaskStatus.REQUESTED,
        "details": "Food for the week",
        "contact_due_at": now + timedelta(days=1),
        "due_at": now + timedelta(days=1),
        "created_at": now,
        "updated_at": now,
    }
    fields.update(values)
    need = Need(**fields)
    db.session.add(need)
    db.session.flush()
    return need


def need_id_for(patient, program) -> str:
    """The id of a request of this patient (made once per test)."""
    from sqlalchemy import select

    found = db.session.scalar(select(Need.id).where(Need.patient_id == patient.id))
    return found or make_need(patient, program).id
