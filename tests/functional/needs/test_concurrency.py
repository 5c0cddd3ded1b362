"""Case managers acting on one request at the same moment, on real PostgreSQL
connections in real threads: fifty claims give exactly one owner; two edits give one
winner and one conflict; nothing is half-saved.

The data is committed for real (threads cannot see a test's rolled-back transaction)
and removed afterwards; audit rows stay, as the log is append-only.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from flask_login import login_user
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.needs.models import (
    EventKind,
    Need,
    NeedEvent,
    NeedKind,
    NeedOutcome,
    OtherNeed,
    SdohCategory,
    TaskStatus,
    Urgency,
)
from portal.blueprints.needs.reading import load_need_view
from portal.blueprints.needs.steps import (
    NeedChange,
    NeedConflict,
    cancel_by_patient,
    claim_need,
    update_need,
)
from portal.blueprints.programs.models import (
    Enrollment,
    LevelOfCare,
    Program,
    StaffMembership,
)
from portal.db import new_id, utcnow
from portal.security import Role
from tests.conftest import POSTGRES_ONLY

pytestmark = POSTGRES_ONLY

CLAIMERS = 50


@dataclass
class Committed:
    program_id: str
    patient_id: str
    staff_ids: list[str]
    need_id: str


@pytest.fixture
def race_engine(race_engine_for):
    return race_engine_for(CLAIMERS)


@pytest.fixture
def committed(race_engine):
    """A program, a patient with an open unassigned request and fifty case managers,
    committed; all removed at the end."""
    session = Session(bind=race_engine)
    program = Program(id=new_id(), name="Race Program", on_call_phone="+1-555-0100")
    patient = User(
        id=new_id(),
        email=f"race-{new_id()}@example.test",
        display_name="Race Patient",
        role=Role.PATIENT,
    )
    staff = [
        User(
            id=new_id(),
            email=f"race-cm-{n}-{new_id()}@example.test",
            display_name=f"Race CM {n:02d}",
            role=Role.CASE_MANAGER,
        )
        for n in range(CLAIMERS)
    ]
    session.add_all([program, patient, *staff])
    session.flush()
    session.add_all(StaffMembership(user_id=s.id, program_id=program.id) for s in staff)
    session.add(
        Enrollment(
            patient_id=patient.id,
            program_id=program.id,
            level_of_care=LevelOfCare.IOP,
            admitted_on=date.today() - timedelta(days=3),
        )
    )
    need = Need(
        patient_id=patient.id,
        program_id=program.id,
        kind=NeedKind.OTHER,
        category=SdohCategory.FOOD,
        other_need=OtherNeed.FOOD,
        urgency=Urgency.URGENT,
        status=TaskStatus.REQUESTED,
        due_at=utcnow() + timedelta(hours=4),
    )
    session.add(need)
    session.commit()
    data = Committed(program.id, patient.id, [s.id for s in staff], need.id)
    yield data
    session.rollback()
    session.execute(delete(Need).where(Need.program_id == data.program_id))
    session.execute(delete(Enrollment).where(Enrollment.program_id == data.program_id))
    session.execute(
        delete(StaffMembership).where(StaffMembership.program_id == data.program_id)
    )
    session.execute(delete(User).where(User.id.in_([patient.id, *data.staff_ids])))
    session.execute(delete(Program).where(Program.id == data.program_id))
    session.commit()
    session.close()


def _race(app, engine, actors: list[str], step) -> list:
    """Run `step(actor, need_id)` for every actor in its own thread, connection and
    transaction, all released at once after loading; returns each result."""
    barrier = threading.Barrier(len(actors))

    def run(actor_id: str):
        with app.test_request_context():
            db.session.remove()
            session = db.session(bind=engine)
            try:
                actor = session.get(User, actor_id)
                login_user(actor)
                result = step(actor, barrier)
                session.commit()
                return result
            except Exception as problem:  # the loser's error is the result we test
                session.rollback()
                return problem
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=len(actors)) as pool:
        return list(pool.map(run, actors))


def _count(engine, query) -> int:
    with Session(bind=engine) as session:
        return session.scalar(query)


def test_fifty_simultaneous_claims_give_exactly_one_owner(app, race_engine, committed):
    def claim(staff, barrier):
        need = load_need_view(staff, committed.need_id, staff=True).need
        barrier.wait(timeout=30)
        return claim_need(staff, need)

    results = _race(app, race_engine, committed.staff_ids, claim)
    assert results.count(True) == 1, results
    assert results.count(False) == CLAIMERS - 1
    winner = committed.staff_ids[results.index(True)]
    with Session(bind=race_engine) as session:
        need = session.get(Need, committed.need_id)
        assert need.owner_id == winner
        assert need.version == 2
    claims = _count(
        race_engine,
        select(func.count())
        .select_from(NeedEvent)
        .where(
            NeedEvent.need_id == committed.need_id, NeedEvent.kind == EventKind.CLAIMED
        ),
    )
    assert claims == 1


def test_two_simultaneous_edits_give_one_winner_and_one_conflict(
    app, race_engine, committed
):
    editors = committed.staff_ids[:2]
    program = None

    def edit(staff, barrier):
        view = load_need_view(staff, committed.need_id, staff=True)
        change = NeedChange(
            version=view.need.version,  # both opened version 1
            status=TaskStatus.ACCEPTED,
            note=f"note from {staff.display_name}",
        )
        barrier.wait(timeout=30)
        update_need(staff, view.need, change, program or view.program)
        return "saved"

    results = _race(app, race_engine, editors, edit)
    assert results.count("saved") == 1, results
    loser = next(r for r in results if r != "saved")
    assert isinstance(loser, NeedConflict), results
    with Session(bind=race_engine) as session:
        need = session.get(Need, committed.need_id)
        assert need.status is TaskStatus.ACCEPTED and need.version == 2
        notes = session.scalars(
            select(NeedEvent.body).where(
                NeedEvent.need_id == need.id, NeedEvent.kind == EventKind.NOTE
            )
        ).all()
        statuses = session.scalar(
            select(func.count())
            .select_from(NeedEvent)
            .where(NeedEvent.need_id == need.id, NeedEvent.kind == EventKind.STATUS)
        )
    winner = editors[results.index("saved")]
    assert notes == [f"note from Race CM {committed.staff_ids.index(winner):02d}"]
    assert statuses == 1


def test_patient_cancel_and_staff_completion_at_once_close_it_once(
    app, race_engine, committed
):
    with Session(bind=race_engine) as session:
        session.get(Need, committed.need_id).status = TaskStatus.IN_PROGRESS
        session.commit()
    staff_id = committed.staff_ids[0]

    def act(user, barrier):
        view = load_need_view(user, committed.need_id, staff=user.id == staff_id)
        barrier.wait(timeout=30)
        if user.id == staff_id:
            update_need(
                user,
                view.need,
                NeedChange(
                    version=view.need.version,
                    status=TaskStatus.COMPLETED,
                    outcome=NeedOutcome.ARRANGED,
                ),
                view.program,
            )
        else:
            cancel_by_patient(user, view.need, "I found another way.")
        return "saved"

    results = _race(app, race_engine, [staff_id, committed.patient_id], act)
    assert results.count("saved") == 1, results
    with Session(bind=race_engine) as session:
        need = session.get(Need, committed.need_id)
        assert need.status in (TaskStatus.COMPLETED, TaskStatus.CANCELLED)
        moves = session.scalar(
            select(func.count())
            .select_from(NeedEvent)
            .where(NeedEvent.need_id == need.id, NeedEvent.kind == EventKind.STATUS)
        )
    assert moves == 1
