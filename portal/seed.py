"""Deterministic synthetic programs, staff and patients at scale, for the
benchmarks (`portal seed`); with `--history`, a year of their days."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import (
    CareTeamAssignment,
    Enrollment,
    LevelOfCare,
    Program,
    StaffMembership,
)
from portal.blueprints.schedule.models import (
    Appointment,
    AppointmentKind,
)
from portal.db import new_id, utcnow
from portal.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, TEAM_OF_ROLE, _make_tracks
from portal.security import Role


def seed_scale(
    session: Session,
    patients: int,
    programs: int = 20,
    history: bool = False,
    weeks: int = 52,
) -> int:
    """Deterministic synthetic programs, staff and patients for benchmarks. Commits.

    With `history`, the patients are everyone enrolled over the last `weeks` weeks
    (stays of 4 to 8 weeks) with their attendance, check-ins, questionnaires, alerts,
    requests, messages and audit rows; each program also gets a director."""
    rng = random.Random(42)  # noqa: S311 - synthetic data, not security
    start = (
        session.scalar(select(User.id).where(User.email.like("scale-%"))) is not None
    )
    if start:
        return 0
    password_hash = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(
        DEMO_PASSWORD
    )
    per_program = max(1, patients // programs)
    made, audit_rows = 0, []
    for p in range(programs):
        count = per_program if p < programs - 1 else patients - made
        seeded = _seed_program(session, rng, p, count, password_hash, history)
        made += len(seeded.patient_ids)
        if history:
            audit_rows += _seed_history(session, rng, seeded, weeks)
        session.commit()
    if history:
        from portal.demo_history import insert_audit_rows

        insert_audit_rows(session, audit_rows)
        session.commit()
    return made


@dataclass
class _Seeded:
    program: Program
    tracks: dict
    staff: dict
    patient_ids: list[str]


def _seed_history(session, rng, seeded: _Seeded, weeks: int) -> list[tuple]:
    from portal.demo_history import Cast, make_history

    cast = Cast(seeded.program, seeded.tracks, seeded.staff)
    return make_history(session, cast, seeded.patient_ids, weeks, utcnow(), rng).audit


def _seed_program(session, rng, index, count, password_hash, history) -> _Seeded:
    program = Program(
        id=new_id(),
        name=f"Scale Program {index:02d}",
        timezone="America/Chicago",
        on_call_phone="+1-555-010-0100",
    )
    session.add(program)
    staff = {}
    for role in [*TEAM_OF_ROLE, *([Role.DIRECTOR] if history else [])]:
        staff[role] = User(
            id=new_id(),
            email=f"scale-{index}-{role.value}@scale.test",
            display_name=f"Staff {index}-{role.value}",
            role=role,
            password_hash=password_hash,
            totp_secret=DEMO_TOTP_SECRET,
            totp_enabled=True,
        )
        session.add(staff[role])
        session.add(StaffMembership(user_id=staff[role].id, program_id=program.id))
    session.flush()
    tracks = _make_tracks(session, program, staff[Role.THERAPIST])
    session.flush()
    today = date.today()
    users, enrollments, team, appointments = [], [], [], []
    for n in range(count):
        uid = new_id()
        level = rng.choice([LevelOfCare.IOP, LevelOfCare.PHP])
        users.append(
            {
                "id": uid,
                "email": f"scale-{index}-{n}@scale.test",
                "display_name": f"Patient {index}-{n}",
                "role": Role.PATIENT,
                "password_hash": password_hash,
                "is_active": True,
                "totp_enabled": False,
                "created_at": utcnow(),
            }
        )
        team += [
            {
                "id": new_id(),
                "patient_id": uid,
                "staff_id": staff[r].id,
                "team_role": TEAM_OF_ROLE[r],
            }
            for r in TEAM_OF_ROLE
        ]
        if history:
            continue  # enrollments come with the history
        enrollments.append(
            {
                "id": new_id(),
                "patient_id": uid,
                "program_id": program.id,
                "track_id": tracks[level].id,
                "level_of_care": level,
                "admitted_on": today - timedelta(days=rng.randint(0, 40)),
                "status": "active",
                "created_at": utcnow(),
            }
        )
        starts = datetime.combine(
            today + timedelta(days=rng.randint(-3, 10)), time(15, 0), ZoneInfo("UTC")
        )
        appointments.append(
            {
                "id": new_id(),
                "patient_id": uid,
                "staff_id": staff[Role.THERAPIST].id,
                "kind": AppointmentKind.THERAPY,
                "starts_at": starts,
                "ends_at": starts + timedelta(minutes=50),
                "status": "booked",
                "created_at": utcnow(),
            }
        )
    for model, rows in (
        (User, users),
        (CareTeamAssignment, team),
        (Enrollment, enrollments),
        (Appointment, appointments),
    ):
        for chunk in range(0, len(rows), 5000):
            session.execute(insert(model), rows[chunk : chunk + 5000])
    return _Seeded(program, tracks, staff, [u["id"] for u in users])
