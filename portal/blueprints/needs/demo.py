"""Requests for help in the demo program, and open requests at scale for the queue
benchmark (bench/needs_queue.py). Kept apart from `portal seed` so that the common
seed stays as fast as it was."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from portal.blueprints.auth.models import User
from portal.blueprints.needs.models import (
    EventKind,
    HelpAnswer,
    HousingSituation,
    Need,
    NeedEvent,
    NeedKind,
    NeedOutcome,
    OtherNeed,
    SdohCategory,
    TaskStatus,
    Urgency,
)
from portal.blueprints.needs.sla import DEFAULT_RULES, Clock, Rule, deadlines
from portal.blueprints.programs.models import Enrollment, Program, StaffMembership
from portal.db import new_id, utcnow
from portal.security import Role


def _need(program, patient, owner, kind, asked, **values) -> Need:
    clock = Clock(program.opening_hours or {}, program.timezone)
    urgency = values.pop("urgency", Urgency.SOON)
    due = deadlines(
        clock, Rule(*DEFAULT_RULES[(kind, urgency)]), kind, asked, values.get("ride_at")
    )
    need = Need(
        id=new_id(),
        patient_id=patient.id,
        program_id=program.id,
        kind=kind,
        urgency=urgency,
        owner_id=owner.id if owner else None,
        created_at=asked,
        updated_at=asked,
        contact_due_at=due.contact_due,
        resolve_due_at=due.resolve_due,
        **values,
    )
    if (
        need.status
        in (TaskStatus.REQUESTED, TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS)
        or need.status is None
    ):
        need.due_at = (
            min(d for d in (due.contact_due, due.resolve_due) if d)
            if need.first_contact_at is None
            else due.resolve_due
        )
    return need


def create_demo_needs(session: Session, program: Program, users: dict, patients):
    """A handful of realistic requests: a ride booked, rent help under way, food
    help nobody has taken yet (overdue), a phone arranged and closed, and last
    week's ride, done, with what was arranged in words for the patient (who has
    not yet said whether they got the help)."""
    tz = ZoneInfo(program.timezone)
    cm = users["casemanager@demo.test"]
    now = utcnow()
    monday = now.astimezone(tz) + timedelta(days=7 - now.astimezone(tz).weekday())
    ride_at = datetime.combine(monday.date(), time(8, 15), tz)
    jordan, casey, taylor, sam = patients[0], patients[1], patients[2], patients[3]
    ride = _need(
        program,
        jordan,
        cm,
        NeedKind.TRANSPORT,
        now - timedelta(hours=20),
        category=SdohCategory.TRANSPORTATION,
        urgency=Urgency.SOON,
        status=TaskStatus.ACCEPTED,
        ride_at=ride_at,
        pickup="418 Maple Avenue, Apt 2",
        destination="The program",
        companions="My daughter, age 4",
        first_contact_at=now - timedelta(hours=18),
        details="My car broke down last week.",
    )
    rent = _need(
        program,
        casey,
        cm,
        NeedKind.HOUSING,
        now - timedelta(days=2),
        category=SdohCategory.HOUSING_INSTABILITY,
        urgency=Urgency.URGENT,
        status=TaskStatus.IN_PROGRESS,
        housing_situation=HousingSituation.AT_RISK,
        first_contact_at=now - timedelta(days=2) + timedelta(hours=1),
        details="I am two months behind on rent. My landlord gave me a notice.",
    )
    food = _need(
        program,
        taylor,
        None,
        NeedKind.OTHER,
        now - timedelta(days=3),
        category=SdohCategory.FOOD,
        other_need=OtherNeed.FOOD,
        urgency=Urgency.URGENT,
        status=TaskStatus.REQUESTED,
        details="Nothing in the fridge until payday on Friday.",
    )
    phone = _need(
        program,
        sam,
        cm,
        NeedKind.OTHER,
        now - timedelta(days=9),
        category=SdohCategory.DIGITAL_ACCESS,
        other_need=OtherNeed.PHONE,
        urgency=Urgency.ROUTINE,
        status=TaskStatus.COMPLETED,
        first_contact_at=now - timedelta(days=8),
        closed_at=now - timedelta(days=5),
        outcome=NeedOutcome.ARRANGED,
        outcome_note="Lifeline phone approved and picked up.",
        patient_outcome_note="Your new phone is ready at the front desk. Bring an ID.",
        help_received=HelpAnswer.YES,
        help_received_at=now - timedelta(days=4),
        details="My phone was stolen. I miss calls from the program.",
    )
    last_week = now - timedelta(days=9)
    past_ride = _need(
        program,
        jordan,
        cm,
        NeedKind.TRANSPORT,
        last_week,
        category=SdohCategory.TRANSPORTATION,
        urgency=Urgency.URGENT,
        status=TaskStatus.COMPLETED,
        ride_at=last_week + timedelta(days=2),
        pickup="418 Maple Avenue, Apt 2",
        destination="The program",
        first_contact_at=last_week + timedelta(hours=2),
        closed_at=last_week + timedelta(hours=5),
        outcome=NeedOutcome.ARRANGED,
        outcome_note="County van, trip 44-1187. Billed to the transport grant.",
        patient_outcome_note="Pickup Thu 7:45 AM, white van. The driver, Luis, "
        "calls when he is outside.",
        details="My car broke down.",
    )
    session.add_all([ride, rent, food, phone, past_ride])
    session.flush()
    for need, events in (
        (
            ride,
            [
                (
                    EventKind.CREATED,
                    jordan,
                    {"to_status": TaskStatus.REQUESTED},
                    True,
                    20,
                ),
                (EventKind.ROUTED, None, {"owner_id": cm.id}, False, 20),
                (
                    EventKind.STATUS,
                    cm,
                    {
                        "from_status": TaskStatus.REQUESTED,
                        "to_status": TaskStatus.ACCEPTED,
                    },
                    True,
                    18,
                ),
                (
                    EventKind.NOTE,
                    cm,
                    {
                        "body": "Ride booked with the county van. They "
                        "will call you the evening before."
                    },
                    True,
                    18,
                ),
            ],
        ),
        (
            rent,
            [
                (
                    EventKind.CREATED,
                    casey,
                    {"to_status": TaskStatus.REQUESTED},
                    True,
                    48,
                ),
                (EventKind.ROUTED, None, {"owner_id": cm.id}, False, 48),
                (
                    EventKind.STATUS,
                    cm,
                    {
                        "from_status": TaskStatus.REQUESTED,
                        "to_status": TaskStatus.IN_PROGRESS,
                    },
                    True,
                    47,
                ),
                (
                    EventKind.NOTE,
                    cm,
                    {
                        "body": "Applied to the emergency rental fund. "
                        "Bring your lease on Tuesday."
                    },
                    True,
                    47,
                ),
                (
                    EventKind.NOTE,
                    cm,
                    {
                        "body": "Fund decision expected within 5 days; "
                        "call landlord if no answer."
                    },
                    False,
                    46,
                ),
            ],
        ),
        (
            food,
            [
                (
                    EventKind.CREATED,
                    taylor,
                    {"to_status": TaskStatus.REQUESTED},
                    True,
                    72,
                ),
            ],
        ),
        (
            past_ride,
            [
                (
                    EventKind.CREATED,
                    jordan,
                    {"to_status": TaskStatus.REQUESTED},
                    True,
                    216,
                ),
                (
                    EventKind.STATUS,
                    cm,
                    {
                        "from_status": TaskStatus.REQUESTED,
                        "to_status": TaskStatus.ACCEPTED,
                    },
                    True,
                    214,
                ),
                (
                    EventKind.STATUS,
                    cm,
                    {
                        "from_status": TaskStatus.ACCEPTED,
                        "to_status": TaskStatus.COMPLETED,
                    },
                    True,
                    211,
                ),
            ],
        ),
        (
            phone,
            [
                (
                    EventKind.CREATED,
                    sam,
                    {"to_status": TaskStatus.REQUESTED},
                    True,
                    216,
                ),
                (
                    EventKind.STATUS,
                    cm,
                    {
                        "from_status": TaskStatus.REQUESTED,
                        "to_status": TaskStatus.IN_PROGRESS,
                    },
                    True,
                    192,
                ),
                (
                    EventKind.STATUS,
                    cm,
                    {
                        "from_status": TaskStatus.IN_PROGRESS,
                        "to_status": TaskStatus.COMPLETED,
                    },
                    True,
                    120,
                ),
            ],
        ),
    ):
        for kind, actor, values, visible, hours_ago in events:
            session.add(
                NeedEvent(
                    need_id=need.id,
                    kind=kind,
                    actor_id=actor.id if actor else None,
                    patient_visible=visible,
                    at=now - timedelta(hours=hours_ago),
                    **values,
                )
            )


# ---- scale ------------------------------------------------------------------------


def seed_scale_needs(
    session: Session,
    open_requests: int = 10_000,
    program_name: str = "Scale Program 00",
) -> int:
    """Open requests spread over one scale program's patients, a fifth of them owned by
    its case manager; returns how many were made (0 when already there). Commits."""
    program = session.scalar(select(Program).where(Program.name == program_name))
    if program is None:
        raise ValueError(f"no program named {program_name!r}: run `portal seed` first")
    if session.scalar(select(Need.id).where(Need.program_id == program.id).limit(1)):
        return 0
    patients = session.scalars(
        select(Enrollment.patient_id).where(Enrollment.program_id == program.id)
    ).all()
    case_manager = session.scalar(
        select(User.id)
        .join(StaffMembership, StaffMembership.user_id == User.id)
        .where(StaffMembership.program_id == program.id, User.role == Role.CASE_MANAGER)
    )
    rng, now = random.Random(5), utcnow()  # noqa: S311 - benchmark data, not security
    kinds = list(NeedKind)
    rows = []
    for n in range(open_requests):
        kind = rng.choice(kinds)
        asked = now - timedelta(minutes=rng.randint(0, 60 * 24 * 20))
        rows.append(
            {
                "id": new_id(),
                "patient_id": patients[n % len(patients)],
                "program_id": program.id,
                "kind": kind,
                "category": {
                    NeedKind.TRANSPORT: SdohCategory.TRANSPORTATION,
                    NeedKind.HOUSING: SdohCategory.HOUSING_INSTABILITY,
                    NeedKind.OTHER: SdohCategory.FOOD,
                }[kind],
                "other_need": OtherNeed.FOOD if kind is NeedKind.OTHER else None,
                "urgency": rng.choice(list(Urgency)),
                "status": rng.choice(
                    [TaskStatus.REQUESTED, TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS]
                ),
                "owner_id": case_manager if n % 5 == 0 else None,
                "wheelchair": False,
                "details": f"Scale request {n}",
                "due_at": asked + timedelta(hours=rng.randint(2, 120)),
                "created_at": asked,
                "updated_at": asked,
                "version": 1,
            }
        )
    for start in range(0, len(rows), 5000):
        session.execute(insert(Need), rows[start : start + 5000])
    session.commit()
    return len(rows)
