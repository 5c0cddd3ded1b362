"""The staff timeline (who sees which kinds, filters, audit, constant queries), the
patient's own record (page and FHIR download) and the `portal fhir-client` command."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.record.models import FhirClient
from portal.security import Role
from tests.conftest import MARKERS, csrf_from, program_today
from tests.factories.record import consent, fill_record, make_client
from tests.functional.record.test_fhir_api import validate


def timeline_url(world, **query) -> str:
    args = "&".join(
        f"{k}={v}"
        for k, values in query.items()
        for v in (values if isinstance(values, list) else [values])
    )
    return f"/staff/patients/{world.patient.id}/timeline" + (f"?{args}" if args else "")


# ---- the timeline --------------------------------------------------------------------


def test_clinician_sees_every_kind_newest_first(client, login_as, world):
    fill_record(world)
    login_as(Role.THERAPIST)
    html = client.get(timeline_url(world)).get_data(as_text=True)
    for text in (
        "Daily check-in",
        "ALPHA-NOTE",
        "PHQ-9: 9 of 27, mild",
        "Question 9 (thoughts of death or self-harm): Several days",
        "GAD-7: 7 of 21",
        "C-SSRS screener: low risk",
        "Risk flag opened from the PHQ-9",
        "alerted by sms",
        "Risk assessed: risk low",
        "Plan: Safety plan reviewed",
        "Risk flag resolved",
        "Group: Coping skills, present",
    ):
        assert text in html, text
    today = program_today()
    first_day = html.index(today.strftime("%A, %B %-d, %Y"))
    older_day = html.index((today - timedelta(days=2)).strftime("%A, %B %-d, %Y"))
    assert first_day < older_day


def test_peer_and_case_manager_see_no_clinical_kinds(client, login_as, world):
    fill_record(world)
    for role in (Role.PEER,):
        login_as(role)
        html = client.get(timeline_url(world)).get_data(as_text=True)
        assert "Group: Coping skills" in html
        assert "Daily check-in" not in html and "PHQ-9" not in html
        assert "ALPHA-NOTE" not in html and "Risk flag" not in html
        # asking for a clinical kind by name does not help
        html = client.get(timeline_url(world, kind="checkin")).get_data(as_text=True)
        assert "ALPHA-NOTE" not in html


def test_help_requests_and_their_handling_are_on_the_timeline(client, login_as, world):
    fill_record(world)
    login_as(Role.CASE_MANAGER)
    html = client.get(timeline_url(world)).get_data(as_text=True)
    assert "Asked for help: Help with food" in html
    assert "ALPHA-NEED food for the week" in html
    assert "Help with food: requested to in progress" in html
    assert "ALPHA-NOTE" not in html  # check-ins are for clinicians


def test_messages_show_only_where_shared_with_the_viewer(client, login_as, world):
    from portal.blueprints.messages.models import MessageConsent

    fill_record(world)
    login_as(Role.PEER)
    html = client.get(timeline_url(world)).get_data(as_text=True)
    assert "ALPHA-MSG rough day" in html and "Message from the patient" in html
    client.post("/sign-out", data={"csrf_token": csrf_from(html)})
    login_as(Role.THERAPIST)
    html = client.get(timeline_url(world)).get_data(as_text=True)
    assert "ALPHA-MSG" not in html  # the patient has not let the therapist in
    therapist = world.staff[Role.THERAPIST]
    db.session.add(
        MessageConsent(
            patient_id=world.patient.id,
            staff_id=therapist.id,
            active_key=f"{world.patient.id}:{therapist.id}",
        )
    )
    db.session.flush()
    html = client.get(timeline_url(world)).get_data(as_text=True)
    assert "ALPHA-MSG rough day" in html


def test_timeline_filters_by_kind_and_dates(client, login_as, world):
    fill_record(world)
    login_as(Role.NURSE)
    html = client.get(timeline_url(world, kind="screener")).get_data(as_text=True)
    assert "PHQ-9" in html and "Daily check-in" not in html
    yesterday = (program_today() - timedelta(days=1)).isoformat()
    html = client.get(
        timeline_url(world, kind="checkin", **{"from": yesterday, "to": yesterday})
    ).get_data(as_text=True)
    assert html.count("Daily check-in") == 1
    assert "Feels safe: NO" in html  # yesterday's check-in was the unsafe one
    html = client.get(timeline_url(world, to="not-a-date")).get_data(as_text=True)
    assert "not understood" in html


@pytest.mark.parametrize(
    "dates",
    [{"to": "9999-12-31"}, {"to": "0001-01-01"}, {"from": "0001-01-01"}],
)
def test_timeline_dates_too_far_out_fall_back_with_a_message(
    client, login_as, world, dates
):
    login_as(Role.NURSE)
    response = client.get(timeline_url(world, **dates))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Choose a date from 1900 to 2999. Showing the last 30 days." in html


def test_timeline_answers_the_fragment_to_htmx(client, login_as, world):
    login_as(Role.THERAPIST)
    response = client.get(timeline_url(world), headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="timeline"')
    assert "HX-Request" in response.headers["Vary"]


def test_every_timeline_view_is_audited(client, login_as, world):
    login_as(Role.THERAPIST)
    client.get(timeline_url(world))
    row = db.session.scalar(
        select(AuditEvent).where(AuditEvent.data_kind == "timeline")
    )
    assert row.patient_id == world.patient.id and row.outcome == "allowed"


def test_timeline_of_a_patient_outside_the_circle_is_404_without_data(
    client, login_as, world
):
    login_as(Role.THERAPIST)
    for patient in (world.patient_b, world.patient_c):
        response = client.get(f"/staff/patients/{patient.id}/timeline")
        assert response.status_code == 404
        assert MARKERS["patient_b"] not in response.get_data(as_text=True)
    denied = db.session.scalar(
        select(AuditEvent).where(
            AuditEvent.data_kind == "timeline", AuditEvent.outcome == "denied"
        )
    )
    assert denied is not None


def test_timeline_uses_one_query_per_kind_whatever_the_data(
    client, login_as, world, query_counter
):
    login_as(Role.THERAPIST)
    url = timeline_url(world)
    client.get(url)
    query_counter["n"] = 0
    client.get(url)
    empty = query_counter["n"]
    fill_record(world, days=20)
    fill_record(world, days=5, weeks_back=4)
    query_counter["n"] = 0
    assert client.get(url).status_code == 200
    assert query_counter["n"] == empty, query_counter["statements"]


def test_staff_patient_page_links_to_the_timeline(client, login_as, world):
    login_as(Role.PEER)
    html = client.get(f"/staff/patients/{world.patient.id}").get_data(as_text=True)
    assert f"/staff/patients/{world.patient.id}/timeline" in html


# ---- the patient's own copy ----------------------------------------------------------


def test_patient_reads_their_whole_record_on_one_page(client, login_as, world):
    fill_record(world)
    login_as(Role.PATIENT)
    html = client.get("/my-record").get_data(as_text=True)
    for text in (
        "ALPHA-NOTE",
        "PHQ-9",
        "9 of 27",
        "Coping skills",
        "Plan: Safety plan",
    ):
        assert text in html, text
    assert MARKERS["patient_b"] not in html
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.data_kind == "record"))


def test_patient_downloads_their_record_as_an_r4_bundle(client, login_as, world):
    fill_record(world)
    fhir_client, _ = make_client(world.program)
    consent(world.patient, fhir_client, ["checkin"])
    login_as(Role.PATIENT)
    response = client.get("/my-record/download")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="my-record.json"'
    )
    assert "no-store" in response.headers["Cache-Control"]
    assert response.mimetype == "application/fhir+json"
    body = json.loads(response.get_data(as_text=True))
    validate(body)
    assert body["type"] == "collection"
    types = {e["resource"]["resourceType"] for e in body["entry"]}
    assert types >= {
        "Patient",
        "Observation",
        "QuestionnaireResponse",
        "Flag",
        "RiskAssessment",
        "Appointment",
        "Encounter",
        "Consent",
        "Organization",
        "Practitioner",
    }
    assert MARKERS["patient_b"] not in response.get_data(as_text=True)
    export = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export"))
    assert export.patient_id == world.patient.id


def test_patient_today_page_links_to_record_and_sharing(client, login_as, world):
    login_as(Role.PATIENT)
    html = client.get("/").get_data(as_text=True)
    assert 'href="/my-record"' in html and 'href="/sharing"' in html


def test_staff_cannot_open_patient_record_pages(client, login_as, world):
    login_as(Role.THERAPIST)
    for url in ("/my-record", "/my-record/download", "/sharing", "/sharing/history"):
        assert client.get(url).status_code == 404


# ---- the command line ----------------------------------------------------------------


def test_cli_registers_a_client_and_prints_the_secret_once(app, world):
    from portal import cli

    result = CliRunner().invoke(
        cli.main,
        obj=app,
        args=[
            "fhir-client",
            "add",
            "--name",
            "County Clinic EHR",
            "--program",
            world.program.name,
            "--scopes",
            "system/Observation.read system/Patient.read",
        ],
    )
    assert result.exit_code == 0, result.output
    secret = result.output.split("client_secret:")[1].split()[0]
    stored = db.session.scalar(select(FhirClient))
    assert stored.name == "County Clinic EHR"
    assert stored.scopes == "system/Observation.read system/Patient.read"
    assert secret not in stored.secret_hash
    listing = CliRunner().invoke(cli.main, ["fhir-client", "list"], obj=app)
    assert stored.client_id in listing.output and secret not in listing.output


def test_cli_refuses_unknown_scopes(app, world):
    from portal import cli

    result = CliRunner().invoke(
        cli.main,
        obj=app,
        args=[
            "fhir-client",
            "add",
            "--name",
            "X",
            "--program",
            world.program.id,
            "--scopes",
            "user/*.write",
        ],
    )
    assert result.exit_code == 2
    assert db.session.scalar(select(FhirClient)) is None
