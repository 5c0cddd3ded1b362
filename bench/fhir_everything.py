"""Benchmark of FHIR Patient/$everything for a patient with a year of daily check-ins.

Measures, in-process through the Flask test client with a real bearer token and a
Part 2 consent (so every check of a real request runs, and every request writes its
accounting and audit rows):
1. SQL statements per request for a patient with one week of data and one with a year
   (they must be equal: the count does not grow with the number of resources);
2. wall-clock latency of the request for the year patient (median, p95, max; target
   median under 500 ms), and its CPU time;
3. the number of resources and the size of the Bundle.

    .venv/bin/python bench/fhir_everything.py                  # PostgreSQL (default)
    .venv/bin/python bench/fhir_everything.py --sqlite         # a temporary SQLite file

PostgreSQL is at 127.0.0.1:5432 (user postgres, trust), as for the tests; the script
creates and drops its own database. Results go to bench/results/fhir_everything-*.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
PG_BASE = "postgresql://postgres@127.0.0.1:5432"
DB_NAME = "portal_bench_fhir"
TARGET_MEDIAN_MS = 500.0


# ---- the database --------------------------------------------------------------------


def fresh_database(use_sqlite: bool) -> tuple[str, callable]:
    if use_sqlite:
        folder = tempfile.mkdtemp(prefix="portal-bench-fhir-")
        return f"sqlite:///{folder}/bench.db", lambda: None
    from sqlalchemy import create_engine, text

    admin = create_engine(
        f"{PG_BASE}/postgres".replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        admin.dispose()

    return f"{PG_BASE}/{DB_NAME}", drop


# ---- the data ------------------------------------------------------------------------


def seed(session, background_patients: int) -> dict:
    """A Part 2 program, its team, a year patient, a week patient and other patients."""
    from portal.blueprints.auth.models import User
    from portal.blueprints.programs.models import (
        CareTeamAssignment,
        LevelOfCare,
        Program,
        StaffMembership,
        TeamRole,
        Track,
    )
    from portal.blueprints.schedule.models import GroupSession, SessionKind
    from portal.security import Role

    program = Program(name="Bench Program", on_call_phone="+1-555-010-0100")
    session.add(program)
    session.flush()
    track = Track(program_id=program.id, name="PHP", level_of_care=LevelOfCare.PHP)
    session.add(track)
    staff = {}
    for role in (
        Role.THERAPIST,
        Role.PRESCRIBER,
        Role.NURSE,
        Role.CASE_MANAGER,
        Role.PEER,
    ):
        user = User(
            email=f"{role.value}@bench.test", display_name=f"{role.label} B", role=role
        )
        session.add(user)
        session.flush()
        session.add(StaffMembership(user_id=user.id, program_id=program.id))
        staff[role] = user
    session.flush()
    groups = [
        GroupSession(
            track_id=track.id,
            title=f"Group {d}",
            kind=SessionKind.GROUP,
            weekday=d,
            starts_at=clock(9),
            ends_at=clock(10),
            facilitator_id=staff[Role.THERAPIST].id,
        )
        for d in range(5)
    ]
    session.add_all(groups)
    session.flush()

    def patient(key: str, days: int) -> User:
        from portal.blueprints.programs.models import Enrollment

        user = User(
            email=f"{key}@bench.test", display_name=f"Patient {key}", role=Role.PATIENT
        )
        session.add(user)
        session.flush()
        session.add(
            Enrollment(
                patient_id=user.id,
                program_id=program.id,
                track_id=track.id,
                level_of_care=LevelOfCare.PHP,
                admitted_on=date.today() - timedelta(days=days),
            )
        )
        for role, team_role in (
            (Role.THERAPIST, TeamRole.THERAPIST),
            (Role.NURSE, TeamRole.NURSE),
            (Role.CASE_MANAGER, TeamRole.CASE_MANAGER),
            (Role.PEER, TeamRole.PEER),
        ):
            session.add(
                CareTeamAssignment(
                    patient_id=user.id, staff_id=staff[role].id, team_role=team_role
                )
            )
        fill(session, user, program, staff, groups, days)
        return user

    year = patient("year", 365)
    week = patient("week", 7)
    for n in range(background_patients):
        patient(f"other-{n}", 7)
    session.flush()
    return {"program": program, "year": year, "week": week}


def fill(session, user, program, staff, groups, days: int) -> None:
    """Daily check-ins, weekly PHQ-9 and GAD-7, a monthly C-SSRS, risk flags with their
    handling, appointments, group attendance, help requests and peer messages."""
    from portal.blueprints.checkins.instruments import Instrument
    from portal.blueprints.checkins.models import CheckIn, Medication, ScreenerResponse
    from portal.blueprints.messages.models import Message, MessageThread
    from portal.blueprints.needs.models import (
        Need,
        NeedKind,
        SdohCategory,
        TaskStatus,
        Urgency,
    )
    from portal.blueprints.safety.models import (
        FlagStatus,
        RiskFlag,
        RiskFlagEvent,
        RiskLevel,
    )
    from portal.blueprints.schedule.models import (
        Appointment,
        AppointmentKind,
        Attendance,
        AttendanceStatus,
    )
    from portal.db import new_id
    from portal.security import Role

    today = date.today()

    def moment(day: date, hour: int = 10) -> datetime:
        return datetime.combine(day, clock(hour), UTC)

    rows = []
    for d in range(days):
        day = today - timedelta(days=d)
        rows.append(
            CheckIn(
                patient_id=user.id,
                local_date=day,
                mood=(d * 7) % 11,
                craving=d % 5,
                sleep_hours=Decimal("6.5"),
                medication=Medication.YES,
                feels_safe=d % 60 != 5,
                note="Okay day" if d % 3 == 0 else None,
                idempotency_key=new_id(),
                created_at=moment(day, 20),
                updated_at=moment(day, 20),
            )
        )
        if d % 7 == 0:
            for instrument, answers, total, band in (
                (Instrument.PHQ9, [1, 1, 1, 1, 1, 1, 1, 1, 0], 8, "Mild"),
                (Instrument.GAD7, [1, 1, 1, 1, 1, 1, 0], 6, "Mild"),
            ):
                rows.append(
                    ScreenerResponse(
                        patient_id=user.id,
                        instrument=instrument,
                        answers=answers,
                        total=total,
                        severity=band,
                        risk_positive=False,
                        idempotency_key=new_id(),
                        completed_at=moment(day, 11),
                    )
                )
            rows.append(
                Appointment(
                    patient_id=user.id,
                    staff_id=staff[Role.THERAPIST].id,
                    kind=AppointmentKind.THERAPY,
                    starts_at=moment(day, 14),
                    ends_at=moment(day, 15),
                    created_at=moment(day, 8),
                )
            )
        if d % 30 == 0:
            rows.append(
                ScreenerResponse(
                    patient_id=user.id,
                    instrument=Instrument.CSSRS,
                    answers=[0, 0, 0, 0, 0, 0, 0],
                    total=None,
                    severity="none",
                    risk_positive=False,
                    idempotency_key=new_id(),
                    completed_at=moment(day, 12),
                )
            )
        if day.weekday() < 5:
            rows.append(
                Attendance(
                    patient_id=user.id,
                    group_session_id=groups[day.weekday()].id,
                    occurs_on=day,
                    status=AttendanceStatus.PRESENT,
                    recorded_by_id=staff[Role.THERAPIST].id,
                    recorded_at=moment(day, 10),
                )
            )
    session.add_all(rows)
    nurse = staff[Role.NURSE]
    for d in range(5, days, 60):
        day = today - timedelta(days=d)
        flag = RiskFlag(
            patient_id=user.id,
            program_id=program.id,
            source="checkin",
            source_id=new_id(),
            status=FlagStatus.RESOLVED,
            opened_at=moment(day, 20),
            acknowledged_by_id=nurse.id,
            acknowledged_at=moment(day, 21),
            risk_level=RiskLevel.LOW,
            plan="Call tomorrow",
            assessment_note="Seen",
            assessed_by_id=nurse.id,
            assessed_at=moment(day, 22),
            resolved_by_id=nurse.id,
            resolved_at=moment(day, 23),
        )
        session.add(flag)
        session.flush()
        for kind, hour in (
            ("opened", 20),
            ("acknowledged", 21),
            ("assessed", 22),
            ("resolved", 23),
        ):
            session.add(
                RiskFlagEvent(
                    flag_id=flag.id,
                    kind=kind,
                    at=moment(day, hour),
                    actor_id=None if kind == "opened" else nurse.id,
                )
            )
    for d in range(3, days, 45):
        day = today - timedelta(days=d)
        session.add(
            Need(
                patient_id=user.id,
                program_id=program.id,
                kind=NeedKind.TRANSPORT,
                category=SdohCategory.TRANSPORTATION,
                urgency=Urgency.SOON,
                status=TaskStatus.COMPLETED,
                owner_id=staff[Role.CASE_MANAGER].id,
                details="Ride to program",
                created_at=moment(day, 9),
                updated_at=moment(day, 16),
                closed_at=moment(day, 16),
            )
        )
    thread = MessageThread(patient_id=user.id)
    session.add(thread)
    session.flush()
    seq = 0
    for d in range(0, days, 2):
        day = today - timedelta(days=d)
        for author in (user, staff[Role.PEER]):
            seq += 1
            session.add(
                Message(
                    thread_id=thread.id,
                    seq=seq,
                    author_id=author.id,
                    body="How are things going today?",
                    created_at=moment(day, 13),
                )
            )
    thread.last_seq = seq
    session.flush()


# ---- the measurements ----------------------------------------------------------------


def measure(database_url: str, requests: int, background: int) -> dict:
    os.environ["PORTAL_DATABASE_URL"] = database_url
    from sqlalchemy import event

    from portal import create_app, db
    from portal.blueprints.record.clients import register_client
    from portal.blueprints.record.sharing import give_consent
    from portal.migrate import upgrade

    upgrade(database_url)
    app = create_app()
    engine = app.extensions["engine"]
    started = time.monotonic()
    with app.app_context():
        made = seed(db.session, background)
        fhir_client, secret = register_client(
            "Bench EHR", made["program"], ["system/*.read"]
        )
        kinds = [
            "checkin",
            "screener",
            "risk",
            "appointment",
            "attendance",
            "need",
            "message",
        ]
        for key in ("year", "week"):
            give_consent(made[key], fhir_client, kinds, "12")
        ids = {key: made[key].id for key in ("year", "week")}
        client_key = fhir_client.client_id
        db.session.commit()
    seeded_s = time.monotonic() - started

    client = app.test_client()
    basic = base64.b64encode(f"{client_key}:{secret}".encode()).decode()
    token = client.post(
        "/fhir/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    ).get_json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}

    def everything(patient_id: str):
        return client.get(f"/fhir/Patient/{patient_id}/$everything", headers=headers)

    def statements(patient_id: str) -> tuple[list[str], dict, int]:
        seen: list[str] = []

        def record(_c, _cur, statement, _p, _ctx, _many):
            seen.append(" ".join(statement.split())[:140])

        event.listen(engine, "before_cursor_execute", record)
        try:
            response = everything(patient_id)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return seen, response.get_json(), len(response.get_data())

    for _ in range(3):
        everything(ids["year"])
    week_sql, week_body, week_bytes = statements(ids["week"])
    year_sql, year_body, year_bytes = statements(ids["year"])
    wall, cpu = [], []
    for _ in range(requests):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = everything(ids["year"])
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200
    engine.dispose()
    wall.sort()
    return {
        "database": database_url.split("://")[0],
        "seeded_seconds": round(seeded_s, 1),
        "background_patients": background,
        "week": {
            "queries": len(week_sql),
            "resources": len(week_body["entry"]),
            "bytes": week_bytes,
        },
        "year": {
            "queries": len(year_sql),
            "resources": len(year_body["entry"]),
            "bytes": year_bytes,
        },
        "queries_equal": len(week_sql) == len(year_sql),
        "statements": year_sql,
        "latency_ms": {
            "median": round(statistics.median(wall), 1),
            "p95": round(wall[int(len(wall) * 0.95) - 1], 1),
            "max": round(wall[-1], 1),
            "cpu_median": round(statistics.median(cpu), 1),
            "requests": requests,
        },
        "target_median_ms": TARGET_MEDIAN_MS,
        "target_met": statistics.median(wall) < TARGET_MEDIAN_MS
        and len(week_sql) == len(year_sql),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sqlite", action="store_true", help="use a SQLite file")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument(
        "--background",
        type=int,
        default=200,
        help="other patients with a week of data each",
    )
    args = parser.parse_args()
    url, drop = fresh_database(args.sqlite)
    try:
        result = measure(url, args.requests, args.background)
    finally:
        drop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"fhir_everything-{result['database']}-{stamp}.json"
    out.write_text(json.dumps(result, indent=2))
    lat = result["latency_ms"]
    print(
        f"database            {result['database']} "
        f"(+{result['background_patients']} other patients)"
    )
    for key in ("week", "year"):
        r = result[key]
        print(
            f"{key:<6} patient      {r['resources']:>5} resources  "
            f"{r['bytes'] / 1024:>7.1f} KB  {r['queries']} SQL statements"
        )
    print(
        f"year latency        median {lat['median']} ms  p95 {lat['p95']} ms  "
        f"max {lat['max']} ms  (CPU median {lat['cpu_median']} ms, "
        f"{lat['requests']} requests)"
    )
    print(
        f"target              median < {TARGET_MEDIAN_MS:.0f} ms and equal "
        f"query counts: {'met' if result['target_met'] else 'NOT met'}"
    )
    print(f"results             {out.relative_to(ROOT)}")
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
