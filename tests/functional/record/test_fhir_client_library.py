"""A real FHIR client library (fhirpy, over HTTP with requests) against the app served
by a live server: searches by code and date, paging to the end, counting, and reading
every type, in a Part 2 program where the patient shares everything with the EHR.

The server runs the test's app in a thread, on the test's own (rolled-back) database
connection: the library's requests come one at a time, so they share it in turn."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
from fhirpy import SyncFHIRClient
from sqlalchemy import select
from werkzeug.serving import make_server

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.record.fhir.registry import all_types
from portal.blueprints.record.kinds import RecordKind
from tests.conftest import program_today
from tests.factories.record import consent, fill_record, make_client

PART2 = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
    "code": "42CFRPart2",
}


@pytest.fixture
def live(app):
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def fhir(live, world):
    """fhirpy signed in as an EHR the patient shares everything with."""
    assert world.program.substance_use  # Part 2: consent and labels apply
    record = fill_record(world)
    ehr, secret = make_client(world.program)
    consent(world.patient, ehr, [kind.value for kind in RecordKind])
    db.session.flush()
    answer = requests.post(
        f"{live}/fhir/token",
        data={"grant_type": "client_credentials"},
        auth=(ehr.client_id, secret),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    client = SyncFHIRClient(f"{live}/fhir", authorization=f"Bearer {token}")
    return client, record


def test_fhirpy_searches_by_code_and_date(fhir, world):
    client, record = fhir
    observations = client.resources("Observation").search(patient=world.patient.id)
    phq9 = observations.search(code="http://loinc.org|44261-6").fetch_all()
    assert [o["id"] for o in phq9] == [record["phq9"].id]
    assert phq9[0]["code"]["coding"][0]["display"].startswith("Patient Health")
    yesterday = (program_today() - timedelta(days=1)).isoformat()
    recent = observations.search(code="daily-checkin", date__ge=yesterday).fetch_all()
    assert {o["id"] for o in recent} == {c.id for c in record["checkins"][:2]}
    answers = client.resources("QuestionnaireResponse").search(
        subject=f"Patient/{world.patient.id}",
        questionnaire="http://loinc.org/q/69737-5",
    )
    assert [r["id"] for r in answers.fetch_all()] == [record["gad7"].id]


def test_fhirpy_pages_to_the_end_and_counts(fhir, world):
    client, _record = fhir
    observations = client.resources("Observation").search(patient=world.patient.id)
    every = observations.limit(2).fetch_all()  # three pages by the next links
    assert len(every) == len({o["id"] for o in every}) == observations.count() == 6
    oldest_first = observations.sort("date").limit(4).fetch_all()
    assert [o["id"] for o in oldest_first] == [o["id"] for o in every][::-1]


def test_fhirpy_pages_audit_events_without_repeating_any(fhir, world):
    client, _record = fhir
    for _ in range(8):  # each read is audited about the patient
        client.reference("Patient", world.patient.id).to_resource()
    before = db.session.scalars(
        select(AuditEvent.id)
        .where(AuditEvent.patient_id == world.patient.id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    ).all()
    pages = client.resources("AuditEvent").search(patient=world.patient.id).limit(3)
    seen = [a["id"] for a in pages.fetch_all()]  # each page read adds an audit row
    assert seen == [str(i) for i in before] and len(seen) > 6


def test_fhirpy_reads_every_type_with_part2_labels(fhir, world):
    client, _record = fhir
    for resource_type in all_types():
        found = client.resources(resource_type).first()
        assert found is not None, resource_type
        read = client.reference(resource_type, found["id"]).to_resource()
        assert read["resourceType"] == resource_type and read["id"] == found["id"]
        if resource_type not in ("Practitioner", "Organization"):
            labels = [
                {"system": s["system"], "code": s["code"]}
                for s in read["meta"]["security"]
            ]
            assert PART2 in labels, resource_type
