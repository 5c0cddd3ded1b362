"""A patient asks for help: the request is recorded, given deadlines and routed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.needs.events import record_event
from portal.blueprints.needs.models import (
    OTHER_NEED_CATEGORY,
    EventKind,
    HousingSituation,
    Need,
    NeedKind,
    OtherNeed,
    SdohCategory,
    TaskStatus,
    Urgency,
)
from portal.blueprints.needs.routing import route_need_to_case_manager
from portal.blueprints.needs.sla import transport_urgency
from portal.blueprints.needs.targets import clock_of, schedule_deadlines, sla_rule
from portal.blueprints.programs.models import Program
from portal.db import utcnow


@dataclass
class AskData:
    """What a patient asks for, already validated by the form."""

    kind: NeedKind
    urgency: Urgency | None = None
    other_need: OtherNeed | None = None
    housing_situation: HousingSituation | None = None
    ride_at: datetime | None = None
    pickup: str | None = None
    destination: str | None = None
    wheelchair: bool = False
    access_needs: str | None = None
    companions: str | None = None
    details: str | None = None


def category_for(data: AskData) -> SdohCategory:
    """The Gravity SDOH category of what was asked."""
    if data.kind is NeedKind.TRANSPORT:
        return SdohCategory.TRANSPORTATION
    if data.kind is NeedKind.HOUSING:
        homeless = {HousingSituation.HOMELESS, HousingSituation.SHELTER}
        return (
            SdohCategory.HOMELESSNESS
            if data.housing_situation in homeless
            else SdohCategory.HOUSING_INSTABILITY
        )
    return OTHER_NEED_CATEGORY[data.other_need]


def ask_for_help(patient: User, program: Program, data: AskData) -> Need:
    """Record a patient's request, set its deadlines and route it to a case manager."""
    clock, now = clock_of(program), utcnow()
    urgency = data.urgency or Urgency.ROUTINE
    if data.kind is NeedKind.TRANSPORT and data.ride_at is not None:
        urgency = transport_urgency(clock, now, data.ride_at)
    need = Need(
        patient_id=patient.id,
        program_id=program.id,
        kind=data.kind,
        category=category_for(data),
        other_need=data.other_need,
        urgency=urgency,
        status=TaskStatus.REQUESTED,
        ride_at=data.ride_at,
        pickup=data.pickup,
        destination=data.destination,
        wheelchair=data.wheelchair,
        access_needs=data.access_needs,
        companions=data.companions,
        housing_situation=data.housing_situation,
        details=data.details,
        created_at=now,
        updated_at=now,
    )
    schedule_deadlines(need, clock, now, sla_rule(program.id, data.kind, urgency))
    db.session.add(need)
    db.session.flush()
    record_event(
        need, patient, EventKind.CREATED, to_status=TaskStatus.REQUESTED, visible=True
    )
    audit("create", "need", patient_id=patient.id, object_id=need.id)
    route_need_to_case_manager(need)
    return need
