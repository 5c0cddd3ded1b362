"""Helpers for the record's tests: EHR clients, tokens, consents and a filled record."""

from __future__ import annotations

import base64
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.checkins.instruments import Instrument
from portal.blueprints.checkins.models import CheckIn, Medication, ScreenerResponse
from portal.blueprints.record.clients import register_client
from portal.blueprints.record.models import FhirClient, RecordConsent
from portal.blueprints.record.sharing import give_consent
from portal.blueprints.safety.models import (
    FlagStatus,
    RiskFlag,
    RiskFlagEvent,
    RiskLevel,
)
from portal.blueprints.schedule.models import Attendance, AttendanceStatus
from portal.db import new_id, utcnow
from portal.security import Role
from tests.conftest import program_today

ALL_KINDS = [
    "checkin",
    "screener",
    "risk",
    "appointment",
    "attendance",
    "need",
    "message",
    "access",
]


def make_client(program, scopes="system/*.read", name="County Clinic EHR"):
    """A registered client and its secret."""
    return register_client(name, program, scopes.split())


def token_for(client, fhir_client: FhirClient, secret: str, scope=None) -> str:
    """Get a bearer token through the real token endpoint (client_secret_basic)."""
    basic = base64.b64encode(f"{fhir_client.client_id}:{secret}".encode()).decode()
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    response = client.post(
        "/fhir/token", data=data, headers={"Authorization": f"Basic {basic}"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["access_token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def consent(patient: User, fhir_client: FhirClient, kinds=None, months="12"):
    return give_consent(patient, fhir_client, kinds or ALL_KINDS, months)


def consent_id_for(patient: User, program) -> str:
    """A consent of this patient to some EHR of their program (the authz matrix)."""
    existing = db.session.scalar(
        select(RecordConsent.id).where(RecordConsent.patient_id == patient.id)
    )
    if existing:
        return existing
    fhir_client = db.session.scalar(
        select(FhirClient).where(FhirClient.program_id == program.id)
    )
    if fhir_client is None:
        fhir_client, _secret = make_client(program)
    return consent(patient, fhir_client).id


def fill_record(world, days: int = 3, weeks_back: int = 0) -> dict:
    """Check-ins, a PHQ-9, a GAD-7, a C-SSRS, a handled risk flag, attendance and an
    authorization for world.patient (`weeks_back` moves it all back); returns the
    objects by name."""
    from tests.factories.reviews import authorization_id_for

    authorization_id_for(world.patient)  # Coverage and ClaimResponse
    patient = world.patient
    today = program_today() - timedelta(weeks=weeks_back)
    checkins = [
        CheckIn(
            patient_id=patient.id,
            local_date=today - timedelta(days=n),
            mood=5 + n % 3,
            craving=2,
            sleep_hours=Decimal("7.5"),
            medication=Medication.YES,
            feels_safe=n != 1,
            note="ALPHA-NOTE" if n == 0 else None,
            idempotency_key=new_id(),
        )
        for n in range(days)
    ]
    db.session.add_all(checkins)
    phq9 = ScreenerResponse(
        patient_id=patient.id,
        instrument=Instrument.PHQ9,
        answers=[1, 2, 1, 1, 0, 2, 1, 0, 1],
        total=9,
        severity="Mild",
        risk_positive=True,
        idempotency_key=new_id(),
    )
    gad7 = ScreenerResponse(
        patient_id=patient.id,
        instrument=Instrument.GAD7,
        answers=[1, 1, 1, 1, 1, 1, 1],
        total=7,
        severity="Mild",
        risk_positive=False,
        idempotency_key=new_id(),
    )
    cssrs = ScreenerResponse(
        patient_id=patient.id,
        instrument=Instrument.CSSRS,
        answers=[1, 1, 0, 0, 0, 0, 0],
        total=None,
        severity="low",
        risk_positive=True,
        idempotency_key=new_id(),
    )
    db.session.add_all([phq9, gad7, cssrs])
    db.session.flush()
    nurse = world.staff[Role.NURSE]
    now = utcnow()
    flag = RiskFlag(
        patient_id=patient.id,
        program_id=world.program.id,
        open_key=None,
        source="phq9",
        source_id=phq9.id,
        status=FlagStatus.RESOLVED,
        opened_at=now - timedelta(hours=5),
        acknowledged_by_id=nurse.id,
        acknowledged_at=now - timedelta(hours=4),
        risk_level=RiskLevel.LOW,
        plan="Safety plan reviewed; call tomorrow",
        assessment_note="Passive thoughts, no plan",
        assessed_by_id=nurse.id,
        assessed_at=now - timedelta(hours=3),
        resolved_by_id=nurse.id,
        resolved_at=now - timedelta(hours=2),
        resolution_note="Seen in person",
    )
    db.session.add(flag)
    db.session.flush()
    db.session.add_all(
        [
            RiskFlagEvent(
                flag_id=flag.id,
                at=now - timedelta(hours=5),
                kind="opened",
                detail="phq9",
            ),
            RiskFlagEvent(
                flag_id=flag.id,
                at=now - timedelta(hours=5),
                kind="told",
                recipient_id=nurse.id,
                channel="sms",
            ),
            RiskFlagEvent(
                flag_id=flag.id,
                at=now - timedelta(hours=4),
                kind="acknowledged",
                actor_id=nurse.id,
            ),
            RiskFlagEvent(
                flag_id=flag.id,
                at=now - timedelta(hours=3),
                kind="assessed",
                actor_id=nurse.id,
                detail="risk low",
            ),
            RiskFlagEvent(
                flag_id=flag.id,
                at=now - timedelta(hours=2),
                kind="resolved",
                actor_id=nurse.id,
            ),
        ]
    )
    attendance = Attendance(
        patient_id=patient.id,
        group_session_id=world.group.id,
        occurs_on=today - timedelta(days=(today.weekday() - world.group.weekday) % 7),
        status=AttendanceStatus.PRESENT,
        recorded_by_id=world.staff[Role.THERAPIST].id,
    )
    db.session.add(attendance)
    db.session.flush()
    need, messages = _need_and_messages(world, today)
    return {
        "need": need,
        "messages": messages,
        "checkins": checkins,
        "phq9": phq9,
        "gad7": gad7,
        "cssrs": cssrs,
        "flag": flag,
        "attendance": attendance,
    }


def _need_and_messages(world, today: date):
    """A food request handled by the case manager, and two peer messages."""
    from portal.blueprints.messages import services as messaging
    from portal.blueprints.needs.models import EventKind, NeedEvent, TaskStatus
    from tests.factories.messages import add_message
    from tests.factories.needs import make_need

    manager = world.staff[Role.CASE_MANAGER]
    need = make_need(
        world.patient,
        world.program,
        owner_id=manager.id,
        status=TaskStatus.IN_PROGRESS,
        details="ALPHA-NEED food for the week",
    )
    at = utcnow()
    db.session.add_all(
        [
            NeedEvent(
                need_id=need.id,
                actor_id=world.patient.id,
                kind=EventKind.CREATED,
                body="ALPHA-NEED food for the week",
                at=at - timedelta(minutes=30),
            ),
            NeedEvent(
                need_id=need.id,
                actor_id=manager.id,
                kind=EventKind.STATUS,
                from_status=TaskStatus.REQUESTED,
                to_status=TaskStatus.IN_PROGRESS,
                at=at - timedelta(minutes=5),
            ),
        ]
    )
    thread = messaging.open_thread(world.patient.id)
    messages = [
        add_message(thread, world.patient, "ALPHA-MSG rough day"),
        add_message(thread, world.staff[Role.PEER], "Here for you"),
    ]
    return need, messages
