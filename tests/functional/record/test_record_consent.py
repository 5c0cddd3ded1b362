"""42 CFR Part 2: in a substance-use program data leaves only under the patient's
consent, with the security labels and the redisclosure notice; a refusal says why;
every disclosure, allowed or refused, is recorded and shown to the patient; and a
revocation takes effect at once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.record.fhir.common import NOTICE_HEADER, REDISCLOSURE_NOTICE
from portal.blueprints.record.models import Disclosure, RecordConsent
from portal.db import utcnow
from portal.security import Role
from tests.conftest import csrf_from, post_form
from tests.factories.record import (
    bearer,
    consent,
    fill_record,
    make_client,
    token_for,
)
from tests.functional.record.test_fhir_api import PART2_CODES, get_json, ids_of

EVERYTHING = "/fhir/Patient/{}/$everything"


@pytest.fixture
def part2(world):
    assert world.program.substance_use  # the default for a program
    return world.program


@pytest.fixture
def ehr(client, world, part2):
    fhir_client, secret = make_client(world.program, name="County Clinic EHR")
    return {
        "client": fhir_client,
        "headers": bearer(token_for(client, fhir_client, secret)),
    }


@pytest.fixture
def record(world):
    return fill_record(world)


def labels(resource: dict) -> set[str]:
    return {c["code"] for c in resource.get("meta", {}).get("security", [])}


def disclosures(patient_id):
    return db.session.scalars(
        select(Disclosure)
        .where(Disclosure.patient_id == patient_id)
        .order_by(Disclosure.at)
    ).all()


# ---- refused without consent ---------------------------------------------------------


def test_without_consent_nothing_leaves_and_the_refusal_says_why(
    client, world, ehr, record
):
    url = EVERYTHING.format(world.patient.id)
    body = get_json(client, url, ehr["headers"], 403)
    assert body["resourceType"] == "OperationOutcome"
    assert "42 CFR Part 2" in body["issue"][0]["diagnostics"]
    assert "not consented" in body["issue"][0]["diagnostics"]
    for path in (
        f"/fhir/Patient/{world.patient.id}",
        f"/fhir/Observation/{record['phq9'].id}",
        f"/fhir/Observation?patient={world.patient.id}",
    ):
        response = client.get(path, headers=ehr["headers"])
        assert response.status_code == 403
        assert "ALPHA" not in response.get_data(as_text=True)


def test_a_refusal_is_recorded_and_audited(client, world, ehr, record):
    client.get(EVERYTHING.format(world.patient.id), headers=ehr["headers"])
    [row] = disclosures(world.patient.id)
    assert not row.allowed and row.reason == "no-consent"
    audit_row = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.actor_id == ehr["client"].id, AuditEvent.action == "disclose"
        )
    )
    assert audit_row.outcome == "denied" and audit_row.actor_role == "system"
    assert audit_row.patient_id == world.patient.id


def test_search_across_patients_leaves_out_those_without_consent(
    client, world, ehr, record
):
    body = get_json(client, "/fhir/Observation", ehr["headers"])
    assert "entry" not in body
    consent(world.patient, ehr["client"], ["checkin"])
    body = get_json(client, "/fhir/Observation", ehr["headers"])
    matched = [e for e in body["entry"] if e["search"]["mode"] == "match"]
    assert {e["resource"]["id"] for e in matched} == {c.id for c in record["checkins"]}
    included = [
        e["resource"]["resourceType"]
        for e in body["entry"]
        if e["search"]["mode"] == "include"
    ]
    assert included == ["Consent"]  # 42 CFR 2.32(b): the consent goes with the data


# ---- allowed with consent: labels and notice -----------------------------------------


def test_with_consent_data_leaves_labelled_with_the_notice(client, world, ehr, record):
    given = consent(world.patient, ehr["client"])
    response = client.get(EVERYTHING.format(world.patient.id), headers=ehr["headers"])
    assert response.status_code == 200
    assert response.headers[NOTICE_HEADER] == REDISCLOSURE_NOTICE
    body = get_json(client, EVERYTHING.format(world.patient.id), ehr["headers"])
    assert labels(body) == PART2_CODES
    assert body["meta"]["extension"][0]["valueString"] == REDISCLOSURE_NOTICE
    for entry in body["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] not in ("Organization", "Practitioner"):
            assert labels(resource) == PART2_CODES, resource["resourceType"]
    assert given.id in ids_of(body, "Consent")
    assert disclosures(world.patient.id)[-1].allowed


def test_a_single_read_carries_the_notice_too(client, world, ehr, record):
    consent(world.patient, ehr["client"])
    response = client.get(f"/fhir/Flag/{record['flag'].id}", headers=ehr["headers"])
    body = response.get_json()
    assert response.headers[NOTICE_HEADER] == REDISCLOSURE_NOTICE
    assert body["meta"]["extension"][0]["valueString"] == REDISCLOSURE_NOTICE
    assert labels(body) == PART2_CODES


def test_outside_part2_no_consent_is_needed_and_no_labels_are_added(
    client, world, record
):
    world.program.substance_use = False
    db.session.flush()
    fhir_client, secret = make_client(world.program)
    headers = bearer(token_for(client, fhir_client, secret))
    response = client.get(EVERYTHING.format(world.patient.id), headers=headers)
    assert response.status_code == 200
    assert NOTICE_HEADER not in response.headers
    body = response.get_json()
    assert "meta" not in body
    assert all(not labels(e["resource"]) for e in body["entry"])
    assert disclosures(world.patient.id)[-1].allowed  # still recorded


def test_consent_to_some_kinds_lets_only_those_out(client, world, ehr, record):
    consent(world.patient, ehr["client"], ["checkin"])
    body = get_json(client, EVERYTHING.format(world.patient.id), ehr["headers"])
    types = {e["resource"]["resourceType"] for e in body["entry"]}
    assert types == {"Patient", "Observation", "Consent", "Organization"}
    observation_ids = set(ids_of(body, "Observation"))
    assert observation_ids == {c.id for c in record["checkins"]}
    refused = get_json(
        client, f"/fhir/Flag?patient={world.patient.id}", ehr["headers"], 403
    )
    assert "does not cover" in refused["issue"][0]["diagnostics"]
    get_json(client, f"/fhir/Observation/{record['phq9'].id}", ehr["headers"], 403)
    assert disclosures(world.patient.id)[-1].reason == "not-covered"


def test_consent_covers_one_recipient_only(client, world, ehr, record):
    consent(world.patient, ehr["client"])
    other, secret = make_client(world.program, name="Another EHR")
    headers = bearer(token_for(client, other, secret))
    get_json(client, EVERYTHING.format(world.patient.id), headers, 403)


def test_a_recipient_never_sees_consents_given_to_others(client, world, ehr, record):
    other, _secret = make_client(world.program, name="Another EHR")
    consent(world.patient, other, ["checkin"])
    mine = consent(world.patient, ehr["client"], ["checkin"])
    body = get_json(client, f"/fhir/Consent?patient={world.patient.id}", ehr["headers"])
    assert ids_of(body, "Consent") == [mine.id]
    everything = get_json(client, EVERYTHING.format(world.patient.id), ehr["headers"])
    observations = get_json(client, "/fhir/Observation", ehr["headers"])
    for answer in (body, everything, observations):
        assert "Another EHR" not in str(answer)


# ---- revocation and expiry -----------------------------------------------------------


def test_revocation_takes_effect_at_once_with_the_same_token(
    client, world, ehr, record
):
    from portal.blueprints.record.sharing import revoke_consent

    given = consent(world.patient, ehr["client"])
    get_json(client, EVERYTHING.format(world.patient.id), ehr["headers"])
    revoke_consent(world.patient, db.session.get(RecordConsent, given.id))
    body = get_json(client, EVERYTHING.format(world.patient.id), ehr["headers"], 403)
    assert "revoked" in body["issue"][0]["diagnostics"]
    assert disclosures(world.patient.id)[-1].reason == "revoked"


def test_an_expired_consent_lets_nothing_out(client, world, ehr, record):
    given = consent(world.patient, ehr["client"])
    given.expires_at = utcnow() - timedelta(minutes=1)
    db.session.flush()
    body = get_json(client, EVERYTHING.format(world.patient.id), ehr["headers"], 403)
    assert "expired" in body["issue"][0]["diagnostics"]


# ---- the patient's consent centre ----------------------------------------------------


def _share_form_fields(html: str) -> dict:
    prefix = re.search(
        r'name="(r-[0-9a-f]{8})-recipient" type="hidden" value="([^"]+)"', html
    )
    assert prefix, "no share form on the page"
    return {"prefix": prefix.group(1), "recipient": prefix.group(2)}


def test_patient_gives_views_and_revokes_consent_through_the_page(
    client, login_as, world, ehr, record
):
    login_as(Role.PATIENT)
    page = client.get("/sharing").get_data(as_text=True)
    assert "County Clinic EHR" in page and "Not sharing" in page
    fields = _share_form_fields(page)
    p = fields["prefix"]
    response = client.post(
        "/sharing",
        data={
            "csrf_token": csrf_from(page),
            f"{p}-recipient": fields["recipient"],
            f"{p}-kinds": ["checkin", "screener"],
            f"{p}-months": "6",
            f"{p}-agree": "y",
        },
    )
    assert response.status_code == 303
    page = client.get("/sharing").get_data(as_text=True)
    assert "Sharing is on" in page
    get_json(client, EVERYTHING.format(world.patient.id), ehr["headers"])
    given = db.session.scalar(select(RecordConsent))
    assert given.kind_list == ["checkin", "screener"]
    assert timedelta(days=180) < given.expires_at - given.given_at < timedelta(days=184)
    response = post_form(client, f"/sharing/{given.id}/stop", {}, page="/sharing")
    assert response.status_code == 303
    get_json(client, EVERYTHING.format(world.patient.id), ehr["headers"], 403)


def test_consent_needs_a_choice_and_the_agreement(client, login_as, world, ehr):
    login_as(Role.PATIENT)
    page = client.get("/sharing").get_data(as_text=True)
    fields = _share_form_fields(page)
    p = fields["prefix"]
    response = client.post(
        "/sharing",
        data={
            "csrf_token": csrf_from(page),
            f"{p}-recipient": fields["recipient"],
            f"{p}-months": "12",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose at least one kind" in html and "Tick the box" in html
    assert db.session.scalar(select(RecordConsent)) is None


def test_patient_cannot_revoke_another_patients_consent(client, login_as, world, ehr):
    other = consent(world.patient_b, ehr["client"])
    login_as(Role.PATIENT)
    response = post_form(client, f"/sharing/{other.id}/stop", {}, page="/sharing")
    assert response.status_code == 404
    assert db.session.get(RecordConsent, other.id).revoked_at is None


def test_patient_sees_who_received_what_and_what_was_refused(
    client, login_as, world, ehr, record
):
    client.get(EVERYTHING.format(world.patient.id), headers=ehr["headers"])
    consent(world.patient, ehr["client"], ["checkin"])
    client.get(f"/fhir/Observation?patient={world.patient.id}", headers=ehr["headers"])
    login_as(Role.PATIENT)
    html = client.get("/sharing/history").get_data(as_text=True)
    assert html.count("County Clinic EHR") == 2
    assert "Sent: check-ins and scores" in html
    assert "Not sent: you had not agreed to share with them" in html
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.data_kind == "disclosures")
    )
