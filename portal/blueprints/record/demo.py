"""The record in the demo program: a registered EHR with a published secret (the demo
only; `portal demo` refuses to run in production) and one patient's consent to it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.blueprints.record.clients import digest
from portal.blueprints.record.models import FhirClient, RecordConsent
from portal.blueprints.record.sharing import CONSENT_TEXT_VERSION
from portal.db import new_id, utcnow

DEMO_EHR_CLIENT_ID = "ehr-demo-county-clinic"
DEMO_EHR_SECRET = "demo-ehr-secret-2026"  # noqa: S105 - published, like the demo password


def create_demo_record(session: Session, program, patients) -> None:
    """County Clinic EHR may read everything; the first patient shares check-ins and
    scores with it for a year."""
    from datetime import timedelta

    client = FhirClient(
        id=new_id(),
        name="County Clinic EHR",
        program_id=program.id,
        client_id=DEMO_EHR_CLIENT_ID,
        secret_hash=digest(DEMO_EHR_SECRET),
        scopes="system/*.read",
    )
    session.add(client)
    session.flush()
    now = utcnow()
    session.add(
        RecordConsent(
            patient_id=patients[0].id,
            client_id=client.id,
            program_id=program.id,
            kinds="checkin screener",
            text_version=CONSENT_TEXT_VERSION,
            given_at=now,
            expires_at=now + timedelta(days=365),
        )
    )
