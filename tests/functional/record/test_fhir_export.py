"""Bulk Data export of a program: kick-off (202 and Content-Location), status polling,
NDJSON files kept in the database for the requesting client only, with the Part 2
labels on every resource, only for patients whose consent covers the client; files
expire and are deleted."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal import db
from portal.blueprints.record.fhir.export import (
    prune_fhir_exports,
    run_fhir_exports,
)
from portal.blueprints.record.kinds import RecordKind
from portal.blueprints.record.models import (
    Disclosure,
    FhirExport,
    FhirExportFile,
    RecordConsent,
)
from portal.blueprints.record.sharing import revoke_consent
from portal.db import utcnow
from tests.factories.record import bearer, consent, fill_record, make_client, token_for

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
ALL_KINDS = [kind.value for kind in RecordKind]


@pytest.fixture
def part2(client, world):
    """A Part 2 program: patient A shares everything with the EHR, B nothing."""
    assert world.program.substance_use
    fill_record(world)
    ehr, secret = make_client(world.program)
    consent(world.patient, ehr, ALL_KINDS)
    return {"client": ehr, "headers": bearer(token_for(client, ehr, secret))}


def kick_off(client, world, headers, query="", status=202):
    response = client.get(
        f"/fhir/Group/{world.program.id}/$export{query}", headers={**headers, **ASYNC}
    )
    assert response.status_code == status, response.get_data(as_text=True)
    return response


def path_of(url: str) -> str:
    return url.split("localhost", 1)[1]


def finished(app, client, response, headers) -> dict:
    status_url = path_of(response.headers["Content-Location"])
    waiting = client.get(status_url, headers=headers)
    assert waiting.status_code == 202 and waiting.headers["X-Progress"] == "accepted"
    with app.app_context():
        assert run_fhir_exports(app) == 1
    done = client.get(status_url, headers=headers)
    assert done.status_code == 200, done.get_data(as_text=True)
    return done.get_json()


def ndjson(client, url, headers) -> list[dict]:
    response = client.get(path_of(url), headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/fhir+ndjson"
    assert "Redisclosure-Notice" in response.headers
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


def patient_of(resource: dict) -> str:
    if resource["resourceType"] == "Patient":
        return resource["id"]
    for field in ("subject", "patient", "beneficiary", "for"):
        if field in resource:
            return resource[field]["reference"].removeprefix("Patient/")
    if resource["resourceType"] == "AuditEvent":
        return resource["entity"][0]["what"]["reference"].removeprefix("Patient/")
    participants = resource.get("participant", [])
    return next(
        p["actor"]["reference"].removeprefix("Patient/")
        for p in participants
        if p["actor"]["reference"].startswith("Patient/")
    )


def test_export_kicks_off_polls_and_serves_consented_ndjson_with_labels(
    app, client, world, part2
):
    manifest = finished(
        app, client, kick_off(client, world, part2["headers"]), part2["headers"]
    )
    assert manifest["requiresAccessToken"] is True
    types = {o["type"] for o in manifest["output"]}
    assert {"Patient", "Observation", "QuestionnaireResponse", "Consent"} <= types
    for output in manifest["output"]:
        resources = ndjson(client, output["url"], part2["headers"])
        assert len(resources) == output["count"] > 0
        for resource in resources:
            assert resource["resourceType"] == output["type"]
            codes = {label["code"] for label in resource["meta"]["security"]}
            assert {"R", "42CFRPart2", "ETH", "NORDSCLCD"} <= codes
            assert resource["meta"]["extension"][0]["url"].endswith(
                "redisclosure-notice"
            )
            assert patient_of(resource) == world.patient.id  # B gave no consent
    sent = db.session.scalars(
        select(Disclosure.patient_id).where(Disclosure.interaction == "export")
    ).all()
    assert set(sent) == {world.patient.id}


def test_export_types_and_since_narrow_it(app, client, world, part2):
    later = (utcnow() + timedelta(days=1)).date().isoformat()
    response = kick_off(client, world, part2["headers"], "?_type=Observation,Patient")
    manifest = finished(app, client, response, part2["headers"])
    assert {o["type"] for o in manifest["output"]} == {"Observation", "Patient"}
    response = kick_off(client, world, part2["headers"], f"?_since={later}")
    assert finished(app, client, response, part2["headers"])["output"] == []


def test_files_are_served_to_the_requesting_client_only(app, client, world, part2):
    manifest = finished(
        app, client, kick_off(client, world, part2["headers"]), part2["headers"]
    )
    other, secret = make_client(world.program, name="Other EHR")
    consent(world.patient, other, ALL_KINDS)
    others = bearer(token_for(client, other, secret))
    url = path_of(manifest["output"][0]["url"])
    assert client.get(url, headers=others).status_code == 404
    status = db.session.scalar(select(FhirExport.id))
    assert client.get(f"/fhir/bulk-status/{status}", headers=others).status_code == 404


def test_a_consent_withdrawn_after_the_export_takes_the_lines_out(
    app, client, world, part2
):
    manifest = finished(
        app, client, kick_off(client, world, part2["headers"]), part2["headers"]
    )
    given = db.session.scalar(
        select(RecordConsent).where(RecordConsent.patient_id == world.patient.id)
    )
    revoke_consent(world.patient, given)
    db.session.flush()
    for output in manifest["output"]:
        assert ndjson(client, output["url"], part2["headers"]) == []


def test_exports_expire_and_are_deleted(app, client, world, part2):
    response = kick_off(client, world, part2["headers"])
    manifest = finished(app, client, response, part2["headers"])
    export = db.session.scalar(select(FhirExport))
    export.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    status_url = path_of(response.headers["Content-Location"])
    assert client.get(status_url, headers=part2["headers"]).status_code == 404
    url = path_of(manifest["output"][0]["url"])
    assert client.get(url, headers=part2["headers"]).status_code == 404
    with app.app_context():
        assert prune_fhir_exports(app) == 1
    assert db.session.scalar(select(func.count()).select_from(FhirExportFile)) == 0


def test_a_client_may_delete_its_export(app, client, world, part2):
    response = kick_off(client, world, part2["headers"])
    status_url = path_of(response.headers["Content-Location"])
    assert client.delete(status_url, headers=part2["headers"]).status_code == 202
    assert client.get(status_url, headers=part2["headers"]).status_code == 404


def test_export_needs_the_scope_and_the_clients_own_program(client, world, part2):
    narrow, secret = make_client(world.program, "system/Observation.read")
    headers = bearer(token_for(client, narrow, secret))
    assert kick_off(client, world, headers, status=403).get_json()["resourceType"] == (
        "OperationOutcome"
    )
    other = client.get(
        f"/fhir/Group/{world.other_program.id}/$export",
        headers={**part2["headers"], **ASYNC},
    )
    assert other.status_code == 403
    kick_off(client, world, headers, "?_type=Patient", status=403)
    assert db.session.scalar(select(func.count()).select_from(FhirExport)) == 0


@pytest.mark.parametrize(
    "query, headers",
    [
        ("", {"Prefer": "respond-sync"}),
        ("?_outputFormat=text/csv", {}),
        ("?_type=Medication", {}),
        ("?_since=9999-12-31", {}),
        ("?color=red", {}),
    ],
)
def test_bad_kick_offs_answer_400(client, world, part2, query, headers):
    response = client.get(
        f"/fhir/Group/{world.program.id}/$export{query}",
        headers={**part2["headers"], **ASYNC, **headers},
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_no_token_no_export(client, world, part2):
    response = client.get(f"/fhir/Group/{world.program.id}/$export", headers=ASYNC)
    assert response.status_code == 401
