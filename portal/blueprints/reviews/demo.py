"""Demo utilization review: Jordan (PHP) has 2 authorized days left, a review due
tomorrow and a signed packet ready; Casey (IOP) attends with no authorization; the
others have days to spare."""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import Enrollment, LevelOfCare, Program, Track
from portal.blueprints.reviews.models import (
    Authorization,
    AuthorizationStatus,
    CareFocus,
    Coverage,
)
from portal.blueprints.reviews.packet import (
    Review,
    make_packet,
    save_statement,
    sign_statement,
)
from portal.blueprints.reviews.usage import used_days_statement
from portal.blueprints.schedule.models import (
    Attendance,
    AttendanceStatus,
    GroupSession,
    SessionKind,
)
from portal.db import utcnow

PAYERS = ("Blue Harbor Health", "Riverside Medicaid Plan")
STATEMENT = (
    "Jordan still needs partial hospitalization. PHQ-9 is down from admission but "
    "still moderate, sleep is poor, and there was a safety alert this month that "
    "needed a same-day plan. Jordan attends every day and is practicing the skills; "
    "stepping down to IOP is planned once two more weeks are stable."
)


def create_demo_reviews(
    session: Session, program: Program, users: dict, patients
) -> tuple[User, str]:
    """Coverage, authorizations, attendance that counts, a signed packet; returns the
    patient with the packet and their payer (the record gives the consent)."""
    today = utcnow().astimezone(ZoneInfo(program.timezone)).date()
    enrollments = {
        e.patient_id: e
        for e in session.scalars(
            select(Enrollment).where(Enrollment.program_id == program.id)
        )
    }
    # The demo's IOP mornings hold 2 h 35 min of groups: its days count from 2.5 h.
    for track in session.scalars(select(Track).where(Track.program_id == program.id)):
        if track.level_of_care is LevelOfCare.IOP:
            track.minimum_daily_hours = Decimal("2.5")
    jordan, casey = patients[0], patients[1]
    for patient in (jordan, casey):
        _attend_recent_days(session, enrollments[patient.id], today, users)
    session.flush()
    _jordan(session, program, enrollments[jordan.id], today, users)
    _coverage(session, enrollments[casey.id], PAYERS[1], "RMP-20417")
    for n, patient in enumerate(patients[2:]):
        _with_days_to_spare(session, enrollments[patient.id], today, n)
    session.flush()
    return jordan, PAYERS[0]


def _attend_recent_days(session, enrollment, today: date, users) -> None:
    """Present at every session that gives service on the last 8 program days."""
    sessions = session.scalars(
        select(GroupSession).where(
            GroupSession.track_id == enrollment.track_id,
            GroupSession.kind != SessionKind.BREAK,
        )
    ).all()
    taken = set(
        session.execute(
            select(Attendance.group_session_id, Attendance.occurs_on).where(
                Attendance.patient_id == enrollment.patient_id
            )
        ).all()
    )
    recorder = users["therapist@demo.test"]
    for back in range(1, 12):
        day = today - timedelta(days=back)
        for group in sessions:
            if group.weekday == day.weekday() and (group.id, day) not in taken:
                session.add(
                    Attendance(
                        patient_id=enrollment.patient_id,
                        group_session_id=group.id,
                        occurs_on=day,
                        status=AttendanceStatus.PRESENT,
                        recorded_by_id=recorder.id,
                    )
                )


def _coverage(session, enrollment, payer: str, member_id: str) -> Coverage:
    coverage = Coverage(
        enrollment_id=enrollment.id,
        patient_id=enrollment.patient_id,
        program_id=enrollment.program_id,
        payer=payer,
        plan="Standard",
        member_id=member_id,
        is_primary=True,
    )
    session.add(coverage)
    session.flush()
    return coverage


def _authorization(session, coverage, level, **values) -> Authorization:
    codes = {LevelOfCare.PHP: "H0035", LevelOfCare.IOP: "S9480"}
    authorization = Authorization(
        coverage_id=coverage.id,
        enrollment_id=coverage.enrollment_id,
        patient_id=coverage.patient_id,
        program_id=coverage.program_id,
        level_of_care=level,
        focus=CareFocus.MENTAL_HEALTH,
        service_code=codes[level],
        status=AuthorizationStatus.APPROVED,
        **values,
    )
    session.add(authorization)
    session.flush()
    return authorization


def _jordan(session, program, enrollment, today: date, users) -> None:
    coverage = _coverage(session, enrollment, PAYERS[0], "BHH-4471-02")
    starts = today - timedelta(days=13)
    authorization = _authorization(
        session,
        coverage,
        LevelOfCare.PHP,
        reference="BHH-PA-88213",
        units=30,
        starts_on=starts,
        ends_on=today + timedelta(days=6),
        next_review_on=today + timedelta(days=1),
    )
    used = session.execute(
        used_days_statement(Authorization.id == authorization.id)
    ).first()
    authorization.units = (int(used[1]) if used else 0) + 2
    prescriber = users["prescriber@demo.test"]
    patient = session.get(User, enrollment.patient_id)
    review = Review(authorization, coverage, enrollment, program, patient)
    save_statement(prescriber, review, STATEMENT)
    sign_statement(prescriber, review)
    make_packet(prescriber, review, starts, today)


def _with_days_to_spare(session, enrollment, today: date, n: int) -> None:
    coverage = _coverage(session, enrollment, PAYERS[n % 2], f"DEMO-{7100 + n}")
    _authorization(
        session,
        coverage,
        enrollment.level_of_care,
        reference=f"PA-{50310 + n}",
        units=30,
        starts_on=max(enrollment.admitted_on, today - timedelta(days=20)),
        ends_on=today + timedelta(days=25),
        next_review_on=today + timedelta(days=9 + n % 10),
    )


# ---- benchmark data ----------------------------------------------------------------

BENCH_PROGRAM = "Review Bench Program"
BENCH_DIRECTOR = "review-director@scale.test"
BENCH_PRESCRIBER = "review-prescriber@scale.test"


def seed_scale_reviews(
    session: Session, password_hash: str, patients: int = 300, days: int = 90
) -> int:
    """A program of `patients` PHP and IOP patients with `days` of attendance,
    check-ins, weekly screeners, coverage and an authorization each, for
    bench/reviews.py; returns how many patients (0 when already there). Commits."""
    from portal.blueprints.checkins.instruments import Instrument
    from portal.blueprints.checkins.models import CheckIn, ScreenerResponse
    from portal.blueprints.programs.models import (
        CareTeamAssignment,
        EnrollmentStatus,
        StaffMembership,
        TeamRole,
    )
    from portal.db import new_id
    from portal.security import Role

    if session.scalar(select(Program.id).where(Program.name == BENCH_PROGRAM)):
        return 0
    program = Program(
        id=new_id(),
        name=BENCH_PROGRAM,
        timezone="America/Chicago",
        on_call_phone="+1-555-010-0100",
    )
    session.add(program)
    staff = {}
    for role, email in (
        (Role.DIRECTOR, BENCH_DIRECTOR),
        (Role.PRESCRIBER, BENCH_PRESCRIBER),
        (Role.THERAPIST, "review-therapist@scale.test"),
    ):
        staff[role] = User(
            id=new_id(),
            email=email,
            display_name=f"Review {role.value}",
            role=role,
            password_hash=password_hash,
            totp_secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",  # noqa: S106 - published demo secret
            totp_enabled=True,
        )
        session.add(staff[role])
        session.add(StaffMembership(user_id=staff[role].id, program_id=program.id))
    session.flush()
    tracks, sessions = {}, {}
    for level, blocks, weekdays in (
        (LevelOfCare.PHP, ((9, 11), (11, 12), (13, 15)), range(5)),
        (LevelOfCare.IOP, ((9, 10), (10, 12)), (0, 1, 3)),
    ):
        tracks[level] = Track(
            id=new_id(),
            program_id=program.id,
            name=f"{level.value} bench",
            level_of_care=level,
        )
        session.add(tracks[level])
        session.flush()
        for weekday in weekdays:
            for start, end in blocks:
                group = GroupSession(
                    id=new_id(),
                    track_id=tracks[level].id,
                    title=f"Group {start}",
                    kind=SessionKind.GROUP,
                    weekday=weekday,
                    starts_at=time(start),
                    ends_at=time(end),
                )
                session.add(group)
                sessions.setdefault((level, weekday), []).append(group.id)
    session.flush()
    today = utcnow().astimezone(ZoneInfo(program.timezone)).date()
    first = today - timedelta(days=days)
    rows: dict = {
        name: []
        for name in (
            "users",
            "enrollments",
            "team",
            "coverage",
            "auth",
            "attendance",
            "checkins",
            "screeners",
        )
    }
    for n in range(patients):
        level = LevelOfCare.PHP if n % 2 else LevelOfCare.IOP
        uid, eid, cid = new_id(), new_id(), new_id()
        rows["users"].append(
            {
                "id": uid,
                "email": f"review-{n}@scale.test",
                "display_name": f"Review Patient {n:03d}",
                "role": Role.PATIENT,
                "password_hash": password_hash,
                "is_active": True,
                "totp_enabled": False,
                "created_at": utcnow(),
            }
        )
        rows["enrollments"].append(
            {
                "id": eid,
                "patient_id": uid,
                "program_id": program.id,
                "track_id": tracks[level].id,
                "level_of_care": level,
                "admitted_on": first,
                "status": EnrollmentStatus.ACTIVE,
                "created_at": utcnow(),
            }
        )
        for role in (Role.PRESCRIBER, Role.THERAPIST):
            rows["team"].append(
                {
                    "id": new_id(),
                    "patient_id": uid,
                    "staff_id": staff[role].id,
                    "team_role": TeamRole(role.value),
                }
            )
        rows["coverage"].append(
            {
                "id": cid,
                "enrollment_id": eid,
                "patient_id": uid,
                "program_id": program.id,
                "payer": PAYERS[n % 2],
                "plan": "Standard",
                "member_id": f"BENCH-{n}",
                "is_primary": True,
                "created_at": utcnow(),
                "updated_at": utcnow(),
            }
        )
        rows["auth"].append(
            {
                "id": new_id(),
                "coverage_id": cid,
                "enrollment_id": eid,
                "patient_id": uid,
                "program_id": program.id,
                "reference": f"BENCH-PA-{n}",
                "level_of_care": level,
                "focus": CareFocus.MENTAL_HEALTH,
                "service_code": "H0035" if level is LevelOfCare.PHP else "S9480",
                "units": 60 + n % 10,
                "starts_on": first,
                "ends_on": today + timedelta(days=5 + n % 20),
                "next_review_on": today + timedelta(days=n % 10),
                "status": AuthorizationStatus.APPROVED,
                "created_at": utcnow(),
                "updated_at": utcnow(),
            }
        )
        for back in range(days, 0, -1):
            day = today - timedelta(days=back)
            for group_id in sessions.get((level, day.weekday()), []):
                if (n + back) % 13:  # now and then a session missed
                    rows["attendance"].append(
                        {
                            "id": new_id(),
                            "patient_id": uid,
                            "group_session_id": group_id,
                            "occurs_on": day,
                            "status": AttendanceStatus.PRESENT,
                            "recorded_by_id": staff[Role.THERAPIST].id,
                            "recorded_at": utcnow(),
                        }
                    )
            rows["checkins"].append(
                {
                    "id": new_id(),
                    "patient_id": uid,
                    "local_date": day,
                    "mood": 3 + (n + back) % 6,
                    "craving": (n + back) % 4,
                    "sleep_hours": Decimal("6.5"),
                    "medication": "yes",
                    "feels_safe": True,
                    "idempotency_key": new_id(),
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
            )
            if back % 7 == 0:
                for instrument, total in (
                    (Instrument.PHQ9, 4 + back // 7),
                    (Instrument.GAD7, 3 + back // 9),
                ):
                    rows["screeners"].append(
                        {
                            "id": new_id(),
                            "patient_id": uid,
                            "instrument": instrument,
                            "answers": [],
                            "total": total,
                            "severity": "Moderate",
                            "risk_positive": False,
                            "idempotency_key": new_id(),
                            "completed_at": utcnow() - timedelta(days=back),
                        }
                    )
    for model, name in (
        (User, "users"),
        (Enrollment, "enrollments"),
        (CareTeamAssignment, "team"),
        (Coverage, "coverage"),
        (Authorization, "auth"),
        (Attendance, "attendance"),
        (CheckIn, "checkins"),
        (ScreenerResponse, "screeners"),
    ):
        for chunk in range(0, len(rows[name]), 5000):
            session.execute(insert(model), rows[name][chunk : chunk + 5000])
    session.commit()
    return patients
