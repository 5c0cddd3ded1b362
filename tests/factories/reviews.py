"""Coverage, authorizations, attendance and packets made directly in the database,
for tests of utilization review."""

from __future__ import annotations

import hashlib
from datetime import date, time, timedelta

from sqlalchemy import select

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import Enrollment, LevelOfCare, Program
from portal.blueprints.reviews.models import (
    Authorization,
    AuthorizationStatus,
    CareFocus,
    Coverage,
    ReviewFile,
    ReviewPacket,
)
from portal.blueprints.reviews.packet import Review, make_packet
from portal.blueprints.schedule.models import Attendance, AttendanceStatus, GroupSession
from tests.conftest import program_today

PAYER = "Harbor Health Plan"


def enrollment_of(patient) -> Enrollment:
    return db.session.scalar(
        select(Enrollment).where(Enrollment.patient_id == patient.id).limit(1)
    )


def make_coverage(patient, **values) -> Coverage:
    enrollment = enrollment_of(patient)
    fields = {
        "enrollment_id": enrollment.id,
        "patient_id": patient.id,
        "program_id": enrollment.program_id,
        "payer": PAYER,
        "plan": "Gold PPO",
        "member_id": "HHP-55501",
        "is_primary": True,
    }
    fields.update(values)
    coverage = Coverage(**fields)
    db.session.add(coverage)
    db.session.flush()
    return coverage


def make_authorization(patient, coverage=None, **values) -> Authorization:
    """An approved PHP authorization of 20 days from 10 days ago, review in 5."""
    coverage = coverage or make_coverage(patient)
    today = program_today()
    fields = {
        "coverage_id": coverage.id,
        "enrollment_id": coverage.enrollment_id,
        "patient_id": patient.id,
        "program_id": coverage.program_id,
        "reference": "PA-1001",
        "level_of_care": LevelOfCare.PHP,
        "focus": CareFocus.MENTAL_HEALTH,
        "service_code": "H0035",
        "units": 20,
        "starts_on": today - timedelta(days=10),
        "ends_on": today + timedelta(days=20),
        "next_review_on": today + timedelta(days=5),
        "status": AuthorizationStatus.APPROVED,
    }
    fields.update(values)
    authorization = Authorization(**fields)
    db.session.add(authorization)
    db.session.flush()
    return authorization


def group(track, weekday: int, starts: time, ends: time, **values) -> GroupSession:
    session = GroupSession(
        track_id=track.id,
        title=values.pop("title", f"Group {starts:%H}"),
        kind=values.pop("kind", "group"),
        weekday=weekday,
        starts_at=starts,
        ends_at=ends,
        **values,
    )
    db.session.add(session)
    db.session.flush()
    return session


def attend(patient, session, day: date, recorder, status=AttendanceStatus.PRESENT):
    db.session.add(
        Attendance(
            patient_id=patient.id,
            group_session_id=session.id,
            occurs_on=day,
            status=status,
            recorded_by_id=recorder.id,
        )
    )
    db.session.flush()


def review_of(authorization: Authorization) -> Review:
    coverage = db.session.get(Coverage, authorization.coverage_id)
    enrollment = db.session.get(Enrollment, authorization.enrollment_id)
    program = db.session.get(Program, authorization.program_id)
    patient = db.session.get(User, authorization.patient_id)
    return Review(authorization, coverage, enrollment, program, patient)


def authorization_id_for(patient) -> str:
    found = db.session.scalar(
        select(Authorization.id).where(Authorization.patient_id == patient.id).limit(1)
    )
    return found or make_authorization(patient).id


def coverage_id_for(patient) -> str:
    authorization_id_for(patient)
    return db.session.scalar(
        select(Coverage.id).where(Coverage.patient_id == patient.id).limit(1)
    )


def packet_id_for(patient, maker) -> str:
    found = db.session.scalar(
        select(ReviewPacket.id).where(ReviewPacket.patient_id == patient.id).limit(1)
    )
    if found:
        return found
    authorization = db.session.get(Authorization, authorization_id_for(patient))
    first = authorization.starts_on
    return make_packet(maker, review_of(authorization), first, first).id


def billing_file_id_for(program, maker) -> str:
    found = db.session.scalar(
        select(ReviewFile.id).where(
            ReviewFile.program_id == program.id, ReviewFile.kind == "billing_csv"
        )
    )
    if found:
        return found
    data = b"patient_id,patient,date,service_code,units,authorization,note\r\n"
    made = ReviewFile(
        kind="billing_csv",
        program_id=program.id,
        filename="billing-days-2026-01.csv",
        media_type="text/csv",
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        made_by_id=maker.id,
    )
    db.session.add(made)
    db.session.flush()
    return made.id
