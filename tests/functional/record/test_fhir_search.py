"""FHIR search as EHR clients send it: tokens (code, category, status, questionnaire),
subject, _sort, _summary=count and exact totals, unknown parameters reported (or
refused when strict), keyset paging that new rows never shift, JSON only (406 for
XML), and the richer Patient."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
from sqlalchemy import select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.auth.models import User
from portal.blueprints.checkins.models import CheckIn, Medication
from portal.blueprints.programs.models import Enrollment
from portal.blueprints.record.fhir.capability import searchable
from portal.blueprints.record.fhir.registry import all_types
from portal.db import new_id
from tests.conftest import program_today
from tests.functional.record.test_fhir_api import get_json, ids_of

LOINC = "http://loinc.org"


def follow(client, body, headers) -> list[dict]:
    """Every page from this one to the end, by the next links."""
    pages = [body]
    while nxt := next_url(body):
        body = get_json(client, nxt.split("localhost", 1)[1], headers)
        pages.append(body)
    return pages


def next_url(body: dict) -> str | None:
    return next((x["url"] for x in body["link"] if x["relation"] == "next"), None)


def matches(bundle: dict) -> list[str]:
    return [
        e["resource"]["id"]
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == "match"
    ]


def test_observation_by_code_in_each_token_form(client, world, ehr, record):
    url = f"/fhir/Observation?patient={world.patient.id}&code="
    phq9 = [record["phq9"].id]
    for code in ("http://loinc.org|44261-6", "44261-6"):
        body = get_json(client, url + quote(code), ehr["headers"])
        assert ids_of(body) == phq9 and body["total"] == 1
    loinc_only = get_json(client, url + quote("http://loinc.org|"), ehr["headers"])
    screeners = {record[k].id for k in ("phq9", "gad7", "cssrs")}
    assert set(ids_of(loinc_only)) == screeners
    either = get_json(client, url + quote("44261-6,70274-6"), ehr["headers"])
    assert set(ids_of(either)) == {record["phq9"].id, record["gad7"].id}
    checkins = get_json(client, url + "daily-checkin", ehr["headers"])
    assert set(ids_of(checkins)) == {c.id for c in record["checkins"]}
    for none in ("http://snomed.info/sct|44261-6", "|44261-6", "nothing"):
        body = get_json(client, url + quote(none), ehr["headers"])
        assert ids_of(body) == [] and body["total"] == 0


def test_category_and_status_tokens(client, world, ehr, record):
    url = f"/fhir/Observation?patient={world.patient.id}"
    every = get_json(client, url, ehr["headers"])["total"]
    survey = get_json(client, f"{url}&category=survey&status=final", ehr["headers"])
    assert survey["total"] == every == 6
    assert get_json(client, f"{url}&status=preliminary", ehr["headers"])["total"] == 0
    flags = f"/fhir/Flag?patient={world.patient.id}"
    assert get_json(client, f"{flags}&status=inactive", ehr["headers"])["total"] == 1
    assert get_json(client, f"{flags}&status=active", ehr["headers"])["total"] == 0


def test_questionnaire_response_by_the_instruments_canonical(
    client, world, ehr, record
):
    canonical = quote("http://loinc.org/q/44249-1")
    url = f"/fhir/QuestionnaireResponse?subject=Patient/{world.patient.id}"
    body = get_json(client, f"{url}&questionnaire={canonical}", ehr["headers"])
    assert ids_of(body) == [record["phq9"].id]
    assert body["entry"][0]["resource"]["questionnaire"] == "http://loinc.org/q/44249-1"
    completed = get_json(client, f"{url}&status=completed", ehr["headers"])
    assert completed["total"] == 3


def test_subject_finds_what_patient_finds(client, world, ehr, record):
    by_patient = get_json(
        client, f"/fhir/Observation?patient={world.patient.id}", ehr["headers"]
    )
    by_subject = get_json(
        client, f"/fhir/Observation?subject=Patient/{world.patient.id}", ehr["headers"]
    )
    assert ids_of(by_patient) == ids_of(by_subject)


def test_sort_by_date_both_ways(client, world, ehr, record):
    url = f"/fhir/Observation?patient={world.patient.id}&code=daily-checkin"
    newest = ids_of(get_json(client, f"{url}&_sort=-date", ehr["headers"]))
    oldest = ids_of(get_json(client, f"{url}&_sort=date", ehr["headers"]))
    assert newest == [c.id for c in record["checkins"]]  # made newest first
    assert oldest == newest[::-1]
    paged = [
        i
        for page in follow(
            client,
            get_json(client, f"{url}&_sort=date&_count=1", ehr["headers"]),
            ehr["headers"],
        )
        for i in ids_of(page)
    ]
    assert paged == oldest


def test_summary_count_and_exact_totals_on_every_page(client, world, ehr, record):
    url = f"/fhir/Observation?patient={world.patient.id}"
    counted = get_json(client, f"{url}&_summary=count", ehr["headers"])
    assert counted["total"] == 6 and "entry" not in counted
    pages = follow(
        client, get_json(client, f"{url}&_count=4", ehr["headers"]), {**ehr["headers"]}
    )
    assert [p["total"] for p in pages] == [6, 6]
    assert len(pages[0]["entry"]) == 4 and len(pages[1]["entry"]) == 2
    assert get_json(client, f"{url}&_count=0", ehr["headers"])["total"] == 6


@pytest.mark.parametrize("resource_type", all_types())
def test_every_searchset_has_a_total(client, world, ehr, record, resource_type):
    body = get_json(client, f"/fhir/{resource_type}?_count=2", ehr["headers"])
    everything = [
        i for page in follow(client, body, ehr["headers"]) for i in matches(page)
    ]
    assert body["total"] == len(everything) == len(set(everything))


def test_unknown_parameters_are_ignored_and_reported(client, world, ehr, record):
    url = f"/fhir/Observation?patient={world.patient.id}&code=44261-6&color=red"
    body = get_json(client, url + "&_sort=-value", ehr["headers"])
    assert matches(body) == [record["phq9"].id]
    (outcome,) = [e for e in body["entry"] if e["search"]["mode"] == "outcome"]
    issue = outcome["resource"]["issue"][0]
    assert issue["severity"] == "warning" and issue["code"] == "not-supported"
    assert "color" in issue["diagnostics"] and "_sort" in issue["diagnostics"]
    self_link = body["link"][0]["url"]
    assert "color" not in self_link and "code=44261-6" in self_link
    strict = {**ehr["headers"], "Prefer": "handling=strict"}
    refused = get_json(client, url, strict, 400)
    assert "color" in refused["issue"][0]["diagnostics"]
    lenient = {**ehr["headers"], "Prefer": "handling=lenient"}
    assert matches(get_json(client, url, lenient)) == [record["phq9"].id]


def test_patient_is_not_a_parameter_of_patient_search(client, world, ehr, record):
    body = get_json(client, f"/fhir/Patient?patient={world.patient.id}", ehr["headers"])
    assert {world.patient.id, world.patient_b.id} <= set(matches(body))


def test_audit_event_pages_never_repeat_or_skip_though_each_read_is_audited(
    client, world, ehr, record
):
    for _ in range(12):  # each read writes an audit row about the patient
        get_json(client, f"/fhir/Patient/{world.patient.id}", ehr["headers"])
    before = db.session.scalars(
        select(AuditEvent.id)
        .where(AuditEvent.patient_id == world.patient.id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    ).all()
    url = f"/fhir/AuditEvent?patient={world.patient.id}&_count=3"
    pages = follow(client, get_json(client, url, ehr["headers"]), ehr["headers"])
    seen = [i for page in pages for i in matches(page)]
    assert len(pages) >= 4
    assert seen == [str(i) for i in before]  # each page read added a row at the head


def test_a_row_added_between_pages_shifts_nothing(client, world, ehr, record):
    url = f"/fhir/Observation?patient={world.patient.id}"
    unpaged = ids_of(get_json(client, url, ehr["headers"]))
    first = get_json(client, f"{url}&_count=2", ehr["headers"])
    db.session.add(
        CheckIn(
            patient_id=world.patient.id,
            local_date=program_today() + timedelta(days=2),  # at the head
            mood=5,
            craving=1,
            sleep_hours=Decimal("8"),
            medication=Medication.YES,
            feels_safe=True,
            idempotency_key=new_id(),
        )
    )
    db.session.flush()
    rest = follow(client, first, ehr["headers"])[1:]
    seen = matches(first) + [i for page in rest for i in matches(page)]
    assert seen == unpaged and len(seen) == 6


def test_a_forged_cursor_is_refused(client, world, ehr, record):
    url = f"/fhir/Observation?patient={world.patient.id}&_count=2"
    nxt = next_url(get_json(client, url, ehr["headers"]))
    forged = nxt.split("localhost", 1)[1][:-3] + "abc"
    assert get_json(client, forged, ehr["headers"], 400)["resourceType"] == (
        "OperationOutcome"
    )


@pytest.mark.parametrize(
    "url, headers",
    [
        ("/fhir/metadata", {"Accept": "application/fhir+xml"}),
        ("/fhir/Observation", {"Accept": "application/xml"}),
        ("/fhir/Observation?_format=xml", {}),
        ("/fhir/Patient?_format=application/fhir%2Bxml", {}),
    ],
)
def test_xml_is_not_acceptable_and_says_so_in_json(client, ehr, url, headers):
    response = client.get(url, headers={**ehr["headers"], **headers})
    assert response.status_code == 406
    assert response.mimetype == "application/fhir+json"
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_json_or_any_is_served(client, ehr):
    for accept in ("application/fhir+json", "application/json", "*/*", "text/html"):
        response = client.get("/fhir/metadata", headers={"Accept": accept})
        assert response.status_code == 200, accept


def test_patient_has_family_given_and_the_enrollments_phone(client, world, ehr):
    db.session.get(User, world.patient.id).display_name = "Ana María Ortiz"
    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.patient_id == world.patient.id)
    )
    enrollment.mobile_phone = "+1-555-010-2200"
    enrollment.date_of_birth = date(1988, 4, 30)
    db.session.flush()
    body = get_json(client, f"/fhir/Patient/{world.patient.id}", ehr["headers"])
    assert body["name"][0] == {
        "use": "usual",
        "text": "Ana María Ortiz",
        "family": "Ortiz",
        "given": ["Ana", "María"],
    }
    assert {"system": "phone", "value": "+1-555-010-2200", "use": "mobile"} in body[
        "telecom"
    ]
    assert body["birthDate"] == "1988-04-30"
    other = get_json(client, f"/fhir/Patient/{world.patient_b.id}", ehr["headers"])
    assert all(t["system"] != "phone" for t in other["telecom"])


def test_patient_language_only_once_chosen(client, world, ehr):
    """A language nobody asked about is not claimed: no communication until chosen."""
    body = get_json(client, f"/fhir/Patient/{world.patient.id}", ehr["headers"])
    assert "communication" not in body
    db.session.get(User, world.patient.id).preferred_language = "es"
    db.session.flush()
    body = get_json(client, f"/fhir/Patient/{world.patient.id}", ehr["headers"])
    assert body["communication"] == [
        {
            "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]},
            "preferred": True,
        }
    ]


def test_capability_lists_exactly_the_parameters_that_work(client, world, ehr, record):
    body = get_json(client, "/fhir/metadata", {})
    listed = {
        r["type"]: {p["name"] for p in r["searchParam"]}
        for r in body["rest"][0]["resource"]
        if r["type"] != "Group"  # $export only
    }
    assert {"code", "category", "status", "subject"} <= listed["Observation"]
    assert "questionnaire" in listed["QuestionnaireResponse"]
    assert "code" not in listed["Appointment"]
    strict = {**ehr["headers"], "Prefer": "handling=strict"}
    for resource_type, names in listed.items():
        for name in names:  # each listed parameter is taken, even strictly
            value = {"patient": world.patient.id, "subject": world.patient.id}.get(
                name, "2026" if name in ("date", "_lastUpdated") else "x"
            )
            url = f"/fhir/{resource_type}?{name}={value}"
            get_json(client, url, strict)
        unlisted = {"code", "questionnaire", "category", "status", "subject"} - names
        for name in unlisted:
            get_json(client, f"/fhir/{resource_type}?{name}=x", strict, 400)
    assert listed == {t: set(searchable(t)) for t in all_types()}


def test_a_search_page_sends_the_same_statements_for_more_data(
    client, world, ehr, record, query_counter
):
    from tests.factories.record import fill_record

    url = (
        f"/fhir/Observation?patient={world.patient.id}&code=http://loinc.org|&_count=2"
    )
    client.get(url, headers=ehr["headers"])
    query_counter["n"] = 0
    get_json(client, url, ehr["headers"])
    small = query_counter["n"]
    fill_record(world, days=9, weeks_back=2)
    query_counter["n"] = 0
    body = get_json(client, url, ehr["headers"])
    assert query_counter["n"] == small and body["total"] == 6
