"""The FHIR R4 API: tokens and scopes, read and search of every resource type (each
validated against R4 with fhir.resources 6.5), search parameters, $everything, errors
as OperationOutcomes, and no way in for a signed-in session."""

from __future__ import annotations

import base64
from datetime import date, timedelta

import pytest
from fhir.resources import get_fhir_model_class
from sqlalchemy import select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.record.fhir.registry import all_types
from portal.blueprints.record.models import FhirToken
from portal.db import utcnow
from portal.security import Role
from tests.conftest import MARKERS, program_today
from tests.factories.record import (
    bearer,
    consent,
    fill_record,
    make_client,
    token_for,
)

PART2_CODES = {"R", "42CFRPart2", "ETH", "NORDSCLCD"}


# Codes of required bindings, which fhir.resources does not check.
STATUS = (
    "registered preliminary final amended corrected cancelled entered-in-error unknown"
)
REQUIRED_CODES = {
    ("Observation", "status"): STATUS,
    ("RiskAssessment", "status"): STATUS,
    ("QuestionnaireResponse", "status"): "in-progress completed amended "
    "entered-in-error stopped",
    ("Flag", "status"): "active inactive entered-in-error",
    ("Appointment", "status"): "proposed pending booked arrived fulfilled cancelled "
    "noshow entered-in-error checked-in waitlist",
    ("Appointment", "participant.status"): "accepted declined tentative needs-action",
    ("Encounter", "status"): "planned arrived triaged in-progress onleave finished "
    "cancelled entered-in-error unknown",
    ("Consent", "status"): "draft proposed active rejected inactive entered-in-error",
    ("Consent", "provision.type"): "deny permit",
    ("AuditEvent", "action"): "C R U D E",
    ("AuditEvent", "outcome"): "0 4 8 12",
    ("Task", "status"): "draft requested received accepted rejected ready cancelled "
    "in-progress on-hold failed completed entered-in-error",
    ("Task", "intent"): "unknown proposal plan order original-order reflex-order "
    "filler-order instance-order option",
    ("ServiceRequest", "status"): "draft active on-hold revoked completed "
    "entered-in-error unknown",
    ("ServiceRequest", "intent"): "proposal plan directive order original-order "
    "reflex-order filler-order instance-order option",
    ("Communication", "status"): "preparation in-progress not-done on-hold stopped "
    "completed entered-in-error unknown",
    ("Bundle", "type"): "document message transaction transaction-response batch "
    "batch-response history searchset collection",
    ("Bundle", "entry.search.mode"): "match include outcome",
    ("OperationOutcome", "issue.severity"): "fatal error warning information",
    ("OperationOutcome", "issue.code"): "invalid structure required value invariant "
    "security login unknown expired forbidden suppressed processing not-supported "
    "duplicate multiple-matches not-found deleted too-long code-invalid extension "
    "too-costly business-rule conflict transient lock-error no-store exception "
    "timeout incomplete throttled informational",
    ("Coverage", "status"): "active cancelled draft entered-in-error",
    ("ClaimResponse", "status"): "active cancelled draft entered-in-error",
    ("ClaimResponse", "use"): "claim preauthorization predetermination",
    ("ClaimResponse", "outcome"): "queued complete error partial",
    ("Patient", "telecom.system"): "phone fax email pager url sms other",
    ("Practitioner", "telecom.system"): "phone fax email pager url sms other",
    ("Organization", "telecom.system"): "phone fax email pager url sms other",
}


def validate(resource: dict) -> None:
    """Parse with the R4 model of its type (and every resource inside a Bundle), and
    check the codes of required bindings."""
    get_fhir_model_class(resource["resourceType"]).parse_obj(resource)
    for (resource_type, path), allowed in REQUIRED_CODES.items():
        if resource["resourceType"] == resource_type:
            for value in _values(resource, path.split(".")):
                assert value in allowed.split(), (resource_type, path, value)
    for entry in resource.get("entry", []):
        validate(entry["resource"])


def _values(node, path: list[str]):
    if isinstance(node, list):
        for item in node:
            yield from _values(item, path)
    elif not path:
        yield node
    elif isinstance(node, dict) and path[0] in node:
        yield from _values(node[path[0]], path[1:])


@pytest.fixture
def open_program(world):
    """Most tests use a program outside Part 2, where no consent is needed."""
    world.program.substance_use = False
    db.session.flush()
    return world.program


@pytest.fixture
def ehr(client, world, open_program):
    fhir_client, secret = make_client(world.program)
    return {
        "client": fhir_client,
        "secret": secret,
        "headers": bearer(token_for(client, fhir_client, secret)),
    }


@pytest.fixture
def record(world):
    return fill_record(world)


def get_json(client, url, headers, status=200):
    response = client.get(url, headers=headers)
    assert response.status_code == status, (url, response.get_data(as_text=True))
    assert response.mimetype == "application/fhir+json"
    body = response.get_json()
    validate(body)
    return body


def ids_of(bundle: dict, resource_type: str | None = None) -> list[str]:
    return [
        e["resource"]["id"]
        for e in bundle.get("entry", [])
        if resource_type is None or e["resource"]["resourceType"] == resource_type
    ]


# ---- discovery and tokens ------------------------------------------------------------


def test_capability_statement_is_r4_and_lists_every_type(client):
    body = get_json(client, "/fhir/metadata", {})
    assert body["fhirVersion"] == "4.0.1"
    listed = {r["type"] for r in body["rest"][0]["resource"]}
    assert listed == {*all_types(), "Group"}  # Group: $export only
    patient = next(r for r in body["rest"][0]["resource"] if r["type"] == "Patient")
    assert patient["operation"][0]["name"] == "everything"


def test_smart_configuration_names_the_token_endpoint(client):
    body = client.get("/fhir/.well-known/smart-configuration").get_json()
    assert body["token_endpoint"].endswith("/fhir/token")
    assert body["grant_types_supported"] == ["client_credentials"]


def test_token_with_client_secret_post_and_narrowed_scope(client, world, open_program):
    fhir_client, secret = make_client(world.program, "system/*.read")
    response = client.post(
        "/fhir/token",
        data={
            "grant_type": "client_credentials",
            "client_id": fhir_client.client_id,
            "client_secret": secret,
            "scope": "system/Observation.read",
        },
    )
    body = response.get_json()
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "system/Observation.read"
    assert 0 < body["expires_in"] <= 300


def test_tokens_are_stored_hashed_only(client, world, open_program):
    fhir_client, secret = make_client(world.program)
    token = token_for(client, fhir_client, secret)
    stored = db.session.scalars(select(FhirToken.token_hash)).all()
    assert token not in stored and secret not in stored
    assert fhir_client.secret_hash != secret


def test_wrong_secret_is_refused_and_audited(client, world):
    fhir_client, _secret = make_client(world.program)
    basic = base64.b64encode(f"{fhir_client.client_id}:nope".encode()).decode()
    response = client.post(
        "/fhir/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    denied = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.data_kind == "fhir_token", AuditEvent.outcome == "denied"
        )
    )
    assert denied is not None


def test_a_scope_the_client_does_not_hold_is_refused(client, world):
    fhir_client, secret = make_client(world.program, "system/Observation.read")
    response = client.post(
        "/fhir/token",
        data={
            "grant_type": "client_credentials",
            "client_id": fhir_client.client_id,
            "client_secret": secret,
            "scope": "system/Patient.read",
        },
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def test_only_client_credentials_grant(client, world):
    fhir_client, secret = make_client(world.program)
    response = client.post(
        "/fhir/token",
        data={
            "grant_type": "password",
            "client_id": fhir_client.client_id,
            "client_secret": secret,
        },
    )
    assert response.get_json()["error"] == "unsupported_grant_type"


def test_expired_token_answers_401_operation_outcome(client, ehr, world, record):
    for row in db.session.scalars(select(FhirToken)):
        row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    body = get_json(client, f"/fhir/Patient/{world.patient.id}", ehr["headers"], 401)
    assert body["resourceType"] == "OperationOutcome"


def test_revoked_client_token_stops_working(client, ehr, world):
    from portal.blueprints.record.clients import revoke_client

    revoke_client(ehr["client"])
    db.session.flush()
    get_json(client, f"/fhir/Patient/{world.patient.id}", ehr["headers"], 401)


# ---- scopes --------------------------------------------------------------------------


def test_observation_scope_reads_observations_only(client, world, open_program, record):
    fhir_client, secret = make_client(world.program, "system/Observation.read")
    headers = bearer(token_for(client, fhir_client, secret))
    body = get_json(client, f"/fhir/Observation?patient={world.patient.id}", headers)
    assert len(ids_of(body)) == 3 + 3  # three check-ins, three screeners
    refused = get_json(client, f"/fhir/Patient/{world.patient.id}", headers, 403)
    assert "scope" in refused["issue"][0]["diagnostics"]
    get_json(client, f"/fhir/Flag?patient={world.patient.id}", headers, 403)


def test_everything_leaves_out_types_outside_the_scopes(
    client, world, open_program, record
):
    fhir_client, secret = make_client(
        world.program, "system/Patient.read system/Flag.read"
    )
    headers = bearer(token_for(client, fhir_client, secret))
    body = get_json(client, f"/fhir/Patient/{world.patient.id}/$everything", headers)
    types = {e["resource"]["resourceType"] for e in body["entry"]}
    assert types == {"Patient", "Flag"}


# ---- every resource type: read and search, validated ---------------------------------


def test_every_resource_type_reads_and_searches_as_valid_r4(client, world, ehr, record):
    headers = ehr["headers"]
    consent(world.patient, ehr["client"])  # so that Consent has something to show
    client.get(f"/fhir/Patient/{world.patient.id}", headers=headers)  # an AuditEvent
    seen = set()
    for resource_type in all_types():
        query = (
            ""
            if resource_type in ("Practitioner", "Organization")
            else (
                f"?_id={world.patient.id}"
                if resource_type == "Patient"
                else f"?patient={world.patient.id}"
            )
        )
        bundle = get_json(client, f"/fhir/{resource_type}{query}", headers)
        assert bundle["type"] == "searchset"
        matches = ids_of(bundle, resource_type)
        assert matches, resource_type
        one = get_json(client, f"/fhir/{resource_type}/{matches[0]}", headers)
        assert one["resourceType"] == resource_type and one["id"] == matches[0]
        seen.add(resource_type)
    assert seen >= {
        "Patient",
        "Practitioner",
        "Organization",
        "Appointment",
        "Encounter",
        "QuestionnaireResponse",
        "Observation",
        "RiskAssessment",
        "Flag",
        "Consent",
        "AuditEvent",
        "Coverage",
        "ClaimResponse",
    }


def test_screener_observations_are_loinc_coded_surveys(client, world, ehr, record):
    body = get_json(client, f"/fhir/Observation/{record['phq9'].id}", ehr["headers"])
    assert body["category"][0]["coding"][0]["code"] == "survey"
    assert body["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "44261-6",
        "display": "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
    }
    assert body["valueInteger"] == 9
    item9 = body["component"][8]
    assert item9["code"]["coding"][0]["code"] == "44260-8"
    assert all(c["code"]["coding"][0]["display"] for c in body["component"])
    assert item9["valueCodeableConcept"]["coding"][0]["code"] == "LA6569-3"
    gad7 = get_json(client, f"/fhir/Observation/{record['gad7'].id}", ehr["headers"])
    assert gad7["code"]["coding"][0]["code"] == "70274-6"
    cssrs = get_json(client, f"/fhir/Observation/{record['cssrs'].id}", ehr["headers"])
    assert cssrs["code"]["coding"][0]["code"] == "93374-7"
    assert cssrs["code"]["coding"][0]["display"] == "Suicide risk level"


def test_questionnaire_response_carries_items_and_total(client, world, ehr, record):
    body = get_json(
        client, f"/fhir/QuestionnaireResponse/{record['phq9'].id}", ehr["headers"]
    )
    assert body["questionnaire"] == "http://loinc.org/q/44249-1"
    panel = body["item"][0]
    assert panel["linkId"] == "44249-1"
    assert panel["item"][0]["answer"][0]["valueCoding"]["code"] == "LA6569-3"
    assert panel["item"][-1] == {
        "linkId": "44261-6",
        "text": "PHQ-9 total score",
        "answer": [{"valueInteger": 9}],
    }


def test_risk_flag_and_its_assessment(client, world, ehr, record):
    flag = get_json(client, f"/fhir/Flag/{record['flag'].id}", ehr["headers"])
    assert flag["status"] == "inactive"
    assert "end" in flag["period"]
    assessment = get_json(
        client, f"/fhir/RiskAssessment/{record['flag'].id}", ehr["headers"]
    )
    assert assessment["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "low"
    assert assessment["basis"][0]["reference"] == (
        f"QuestionnaireResponse/{record['phq9'].id}"
    )
    assert assessment["mitigation"].startswith("Safety plan")


def test_help_requests_are_gravity_coded_service_requests_and_tasks(
    client, world, ehr, record
):
    need = record["need"]
    request_ = get_json(client, f"/fhir/ServiceRequest/{need.id}", ehr["headers"])
    assert request_["category"][0]["coding"][0] == {
        "system": "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/"
        "SDOHCC-CodeSystemTemporaryCodes",
        "code": "food-insecurity",
        "display": "Food insecurity",
    }
    assert request_["status"] == "active"
    task = get_json(client, f"/fhir/Task/{need.id}", ehr["headers"])
    assert task["status"] == "in-progress"
    assert task["focus"]["reference"] == f"ServiceRequest/{need.id}"
    assert task["owner"]["reference"] == (
        f"Practitioner/{world.staff[Role.CASE_MANAGER].id}"
    )


def test_messages_are_communications_with_sender_and_text(client, world, ehr, record):
    first, reply = record["messages"]
    sent = get_json(client, f"/fhir/Communication/{first.id}", ehr["headers"])
    assert sent["sender"]["reference"] == f"Patient/{world.patient.id}"
    assert sent["payload"][0]["contentString"] == "ALPHA-MSG rough day"
    answer = get_json(client, f"/fhir/Communication/{reply.id}", ehr["headers"])
    assert answer["sender"]["reference"] == (
        f"Practitioner/{world.staff[Role.PEER].id}"
    )


# ---- search parameters ---------------------------------------------------------------


def test_search_by_date_with_prefixes(client, world, ehr, record):
    today = program_today()
    yesterday = (today - timedelta(days=1)).isoformat()
    url = f"/fhir/Observation?patient={world.patient.id}"
    checkin_ids = {c.id for c in record["checkins"]}
    on_day = ids_of(get_json(client, f"{url}&date={yesterday}", ehr["headers"]))
    assert set(on_day) == {record["checkins"][1].id}
    since = ids_of(get_json(client, f"{url}&date=ge{yesterday}", ehr["headers"]))
    assert checkin_ids & set(since) == {c.id for c in record["checkins"][:2]}
    before = ids_of(get_json(client, f"{url}&date=lt{yesterday}", ehr["headers"]))
    assert set(before) == {record["checkins"][2].id}
    ranged = ids_of(
        get_json(
            client,
            f"{url}&date=ge{yesterday}&date=lt{today.isoformat()}",
            ehr["headers"],
        )
    )
    assert set(ranged) == {record["checkins"][1].id}


def test_search_by_last_updated(client, world, ehr, record):
    old = record["checkins"][2]
    old.updated_at = utcnow() - timedelta(days=10)
    db.session.flush()
    cutoff = (utcnow() - timedelta(days=1)).isoformat(timespec="seconds")
    url = f"/fhir/Observation?patient={world.patient.id}&_lastUpdated=gt{cutoff}"
    found = ids_of(get_json(client, url.replace("+00:00", "Z"), ehr["headers"]))
    assert old.id not in found and record["checkins"][0].id in found
    url = f"/fhir/Observation?patient={world.patient.id}&_lastUpdated=lt{cutoff[:10]}"
    assert ids_of(get_json(client, url, ehr["headers"])) == [old.id]


def test_search_pages_with_count_and_next_link(client, world, ehr, record):
    url = f"/fhir/Observation?patient={world.patient.id}&_count=2"
    first = get_json(client, url, ehr["headers"])
    assert len(first["entry"]) == 2
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = get_json(client, next_url.split("localhost", 1)[1], ehr["headers"])
    assert not set(ids_of(first)) & set(ids_of(second))


def test_search_without_patient_covers_the_programs_patients_only(
    client, world, ehr, record
):
    body = get_json(client, "/fhir/Appointment", ehr["headers"])
    patients = {
        p["actor"]["reference"]
        for e in body["entry"]
        for p in e["resource"]["participant"]
        if p["actor"]["reference"].startswith("Patient/")
    }
    assert patients == {f"Patient/{world.patient.id}", f"Patient/{world.patient_b.id}"}
    everyone = ids_of(get_json(client, "/fhir/Patient", ehr["headers"]))
    assert world.patient_c.id not in everyone


@pytest.mark.parametrize(
    "query",
    [
        "date=xx2026",
        "date=ne2026-01-01",
        "_cursor=forged",
        "_count=9999",
        "date=2026-13",
    ],
)
def test_bad_search_parameters_answer_400_operation_outcome(client, world, ehr, query):
    body = get_json(
        client,
        f"/fhir/Observation?patient={world.patient.id}&{query}",
        ehr["headers"],
        400,
    )
    assert body["issue"][0]["severity"] == "error"


# Dates at either end of the calendar: a day, a week or a time zone more would not fit.
EDGE_DATES = [
    "date=9999-12-31",
    "date=lt9999-12-31",
    "date=ge9999-12-31",
    "date=sa9999-12-31",
    "date=eb0001-01-01",
    "date=lt0001-01-01",
    "date=0001-01-01",
    "date=9999",
    "date=gt9999-12-31T23:59:59Z",
    "date=0001-01-01T00:00:00%2B05:00",
    "_lastUpdated=9999-12-31",
    "_lastUpdated=lt0001-01-01",
    "_lastUpdated=ge0001",
    "_lastUpdated=eb9999-12-31T23:59:59-05:00",
]


@pytest.mark.parametrize("resource_type", all_types())
@pytest.mark.parametrize("query", EDGE_DATES)
def test_dates_at_the_ends_of_the_calendar_answer_400_on_every_type(
    client, world, ehr, resource_type, query
):
    response = client.get(f"/fhir/{resource_type}?{query}", headers=ehr["headers"])
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/fhir+json"
    body = response.get_json()
    validate(body)
    assert body["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    "query",
    [
        "_since=9999-12-31",
        "_since=0001-01-01",
        "start=0001-01-01",
        "start=9999-12-31T23:59:59Z",
        "end=9999-12-31",
        "end=9999",
        "end=0001-01-01T00:00:00%2B05:00",
        "start=2026-01-01&start=2026-02-01",
    ],
)
def test_everything_windows_at_the_ends_of_the_calendar_answer_400(
    client, world, ehr, query
):
    url = f"/fhir/Patient/{world.patient.id}/$everything?{query}"
    body = get_json(client, url, ehr["headers"], 400)
    assert body["resourceType"] == "OperationOutcome"


def test_the_first_and_last_years_read_are_answered(client, world, ehr, record):
    url = f"/fhir/Observation?patient={world.patient.id}"
    assert ids_of(get_json(client, f"{url}&date=ge1900-01-01", ehr["headers"]))
    assert not ids_of(get_json(client, f"{url}&date=ge2999-12-31", ehr["headers"]))
    assert not ids_of(get_json(client, f"{url}&_lastUpdated=lt1900", ehr["headers"]))


@pytest.mark.parametrize(
    "resource_id", ["9223372036854775808", "9" * 64, "1" + "0" * 40, "-1", "1.5"]
)
def test_audit_event_ids_beyond_a_64_bit_number_are_not_found(client, ehr, resource_id):
    body = get_json(client, f"/fhir/AuditEvent/{resource_id}", ehr["headers"], 404)
    assert body["resourceType"] == "OperationOutcome"


def test_audit_event_search_by_an_id_that_is_no_number_finds_nothing(
    client, world, ehr, record
):
    get_json(client, f"/fhir/Patient/{world.patient.id}", ehr["headers"])  # audited
    url = f"/fhir/AuditEvent?patient={world.patient.id}"
    found = ids_of(get_json(client, url, ehr["headers"]))
    assert found
    one = get_json(client, f"{url}&_id={found[0]}", ehr["headers"])
    assert ids_of(one) == found[:1]
    for ids in ("abc", "9223372036854775808", "abc,x-1"):
        assert not ids_of(get_json(client, f"{url}&_id={ids}", ehr["headers"]))


@pytest.mark.parametrize(
    "query", ["_id=" + ",".join(["a"] * 101), "_id=" + "a" * 65, "_id=a%20b"]
)
def test_too_many_or_malformed_ids_answer_400(client, ehr, query):
    body = get_json(client, f"/fhir/Observation?{query}", ehr["headers"], 400)
    assert body["resourceType"] == "OperationOutcome"


def test_unknown_paths_answer_operation_outcome(client, ehr):
    body = get_json(client, "/fhir/Medication/1", ehr["headers"], 404)
    assert body["resourceType"] == "OperationOutcome"


# ---- program scope -------------------------------------------------------------------


def test_patients_of_other_programs_are_not_found(client, world, ehr):
    for url in (
        f"/fhir/Patient/{world.patient_c.id}",
        f"/fhir/Patient/{world.patient_c.id}/$everything",
    ):
        body = get_json(client, url, ehr["headers"], 404)
        assert MARKERS["patient_c"] not in str(body)
    empty = get_json(
        client, f"/fhir/Observation?patient={world.patient_c.id}", ehr["headers"]
    )
    assert "entry" not in empty


def test_staff_of_other_programs_are_not_practitioners_here(client, world, ehr):
    body = get_json(client, "/fhir/Practitioner", ehr["headers"])
    assert "Therapist Elsewhere" not in str(body)
    assert world.director.id in ids_of(body)


# ---- $everything ---------------------------------------------------------------------


def test_everything_is_one_valid_bundle_of_the_whole_record(client, world, ehr, record):
    body = get_json(
        client, f"/fhir/Patient/{world.patient.id}/$everything", ehr["headers"]
    )
    types = [e["resource"]["resourceType"] for e in body["entry"]]
    assert types[0] == "Patient"
    for expected in (
        "Observation",
        "QuestionnaireResponse",
        "Flag",
        "RiskAssessment",
        "Appointment",
        "Encounter",
        "Organization",
        "Practitioner",
    ):
        assert expected in types, expected
    assert "AuditEvent" not in types
    assert body["total"] == len(body["entry"])
    assert MARKERS["patient_b"] not in str(body)


def test_everything_filters_by_type_and_since(client, world, ehr, record):
    url = f"/fhir/Patient/{world.patient.id}/$everything?_type=Flag,Observation"
    body = get_json(client, url, ehr["headers"])
    assert {e["resource"]["resourceType"] for e in body["entry"]} == {
        "Patient",
        "Flag",
        "Observation",
    }
    future = (date.today() + timedelta(days=2)).isoformat()
    later = get_json(
        client,
        f"/fhir/Patient/{world.patient.id}/$everything?_since={future}",
        ehr["headers"],
    )
    assert [e["resource"]["resourceType"] for e in later["entry"]] == [
        "Patient",
        "Organization",
    ]


def test_everything_uses_the_same_queries_for_more_data(
    client, world, ehr, record, query_counter
):
    url = f"/fhir/Patient/{world.patient.id}/$everything"
    client.get(url, headers=ehr["headers"])
    query_counter["n"] = 0
    small = get_json(client, url, ehr["headers"])
    small_queries = query_counter["n"]
    fill_record(world, days=5, weeks_back=2)  # more of every kind
    from tests import factories as f

    for hours in range(1, 8):
        f.AppointmentFactory(
            patient_id=world.patient.id,
            staff_id=world.staff[Role.PRESCRIBER].id,
            starts_at=utcnow() + timedelta(hours=hours),
        )
    query_counter["n"] = 0
    large = get_json(client, url, ehr["headers"])
    assert len(large["entry"]) > len(small["entry"])
    assert query_counter["n"] == small_queries, query_counter["statements"]


# ---- audit ---------------------------------------------------------------------------


def test_every_request_is_audited_with_the_client_as_actor(client, world, ehr, record):
    client.get(f"/fhir/Patient/{world.patient.id}/$everything", headers=ehr["headers"])
    client.get(f"/fhir/Flag?patient={world.patient.id}", headers=ehr["headers"])
    rows = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.actor_id == ehr["client"].id,
            AuditEvent.action == "disclose",
        )
    ).all()
    assert {r.data_kind for r in rows} >= {"fhir_everything", "fhir_search"}
    assert {r.actor_role for r in rows} == {"system"}
    assert all(r.patient_id == world.patient.id for r in rows)


# ---- sessions count for nothing ------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_no_signed_in_user_can_read_fhir_data(
    client, app, login_as, world, role, record
):
    login_as(role)
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/fhir/") or "GET" not in rule.methods:
            continue
        if rule.endpoint in ("fhir.metadata", "fhir.smart_configuration"):
            continue
        values = {arg: world.patient.id for arg in rule.arguments}
        path = rule.build(values, append_unknown=False)[1]
        response = client.get(path)
        body = response.get_data(as_text=True)
        assert response.status_code in (401, 404), (role, path)
        assert MARKERS["patient"] not in body and "ALPHA-NOTE" not in body, path
        assert response.get_json()["resourceType"] == "OperationOutcome"
