"""Trends as server-drawn SVG with a table, the safety plan edited together without
losing anyone's words, and the clinician's caseload with flags first."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from portal import db
from portal.blueprints.checkins.instruments import Instrument
from portal.blueprints.checkins.models import CheckIn, Medication, ScreenerResponse
from portal.blueprints.safety.models import RiskFlag, SafetyPlan
from portal.db import utcnow
from portal.security import Role
from tests.conftest import MARKERS, post_form, program_today


def _history(patient, days=10):
    for back in range(days, 0, -1):
        db.session.add(
            CheckIn(
                patient_id=patient.id,
                local_date=program_today() - timedelta(days=back),
                mood=back % 10,
                craving=2,
                sleep_hours=Decimal("7.0"),
                medication=Medication.YES,
                feels_safe=True,
                idempotency_key=str(uuid.uuid4()),
            )
        )
    for back, total in ((20, 18), (3, 9)):
        db.session.add(
            ScreenerResponse(
                patient_id=patient.id,
                instrument=Instrument.PHQ9,
                answers=[1] * 9,
                total=total,
                severity="x",
                idempotency_key=str(uuid.uuid4()),
                completed_at=utcnow() - timedelta(days=back),
            )
        )
    db.session.flush()


def test_patient_sees_trends_as_svg_with_a_table(client, login_as, world):
    login_as(Role.PATIENT)
    _history(world.patient)
    html = client.get("/trends").get_data(as_text=True)
    assert html.count('<svg class="chart"') >= 4 and "<polyline" in html
    assert '<title id="c-mood-t">Mood, 0 to 10</title>' in html
    assert "Check-ins as a table" in html and "<script" not in html.split("<main")[1]


def test_clinicians_see_their_patients_trends_but_not_peers_or_other_teams(
    client, app, login_as, world
):
    _history(world.patient)
    login_as(Role.THERAPIST)
    assert client.get(f"/staff/patients/{world.patient.id}/trends").status_code == 200
    assert client.get(f"/staff/patients/{world.patient_b.id}/trends").status_code == 404
    peer = app.test_client()
    from tests.conftest import sign_in

    sign_in(peer, world.staff[Role.PEER])
    assert peer.get(f"/staff/patients/{world.patient.id}/trends").status_code == 404


def test_safety_plan_is_written_together_and_conflicts_keep_both_texts(
    client, app, login_as, world
):
    login_as(Role.PATIENT)
    post_form(
        client,
        "/safety-plan",
        {"version": "", "reasons": "My daughter", "warning_signs": "Not sleeping"},
    )
    plan = db.session.scalars(select(SafetyPlan)).one()
    assert plan.sections["reasons"] == "My daughter"
    page = client.get("/safety-plan").get_data(as_text=True)  # opened at version 1
    from tests.conftest import csrf_from, sign_in

    therapist = app.test_client()
    sign_in(therapist, world.staff[Role.THERAPIST])
    url = f"/staff/patients/{world.patient.id}/safety-plan"
    post_form(
        therapist,
        url,
        {
            "version": "1",
            "reasons": "My daughter; my dog",
            "professionals": "Dana, 555-0100",
        },
    )
    late = client.post(
        "/safety-plan",
        data={
            "csrf_token": csrf_from(page),
            "version": "1",
            "reasons": "My daughter and art",
        },
    )
    html = late.get_data(as_text=True)
    assert "Someone else saved this plan" in html
    assert "My daughter and art" in html and "My daughter; my dog" in html
    db.session.expire_all()
    assert db.session.scalars(select(SafetyPlan)).one().sections["reasons"] == (
        "My daughter; my dog"
    )


def test_safety_plan_appears_inside_crisis_help_on_the_checkin(client, login_as, world):
    login_as(Role.PATIENT)
    post_form(client, "/safety-plan", {"version": "", "coping": "Walk by the river"})
    html = client.get("/check-in").get_data(as_text=True)
    panel = html[html.index('id="crisis-panel"') :]
    assert "Walk by the river" in panel


def test_caseload_puts_open_flags_first_with_scores_and_change(client, login_as, world):
    _history(world.patient)
    other = world.patient_b
    from tests import factories as f

    f.CareTeamFactory(
        patient_id=other.id, staff_id=world.staff[Role.NURSE].id, team_role="nurse"
    )
    db.session.add(
        RiskFlag(
            patient_id=other.id,
            program_id=world.program.id,
            open_key=other.id,
            source="checkin",
            source_id="x",
        )
    )
    db.session.flush()
    login_as(Role.NURSE)
    html = client.get("/staff").get_data(as_text=True)
    assert html.index(MARKERS["patient_b"]) < html.index(MARKERS["patient"])
    assert "Safety alert: open" in html
    assert "9 (x), -9 since admission" in html


def test_caseload_page_uses_the_same_queries_with_more_patients(
    client, login_as, world, query_counter
):
    from tests import factories as f

    login_as(Role.NURSE)

    def count() -> int:
        client.get("/staff")
        query_counter["n"] = 0
        assert client.get("/staff").status_code == 200
        return query_counter["n"]

    small = count()
    for _ in range(30):
        other = f.UserFactory()
        f.EnrollmentFactory(
            patient_id=other.id, program_id=world.program.id, track_id=world.track.id
        )
        f.CareTeamFactory(
            patient_id=other.id, staff_id=world.staff[Role.NURSE].id, team_role="nurse"
        )
    assert count() == small


def test_a_flagged_patient_is_never_cut_from_a_long_caseload(
    client, login_as, world, monkeypatch
):
    from portal.blueprints.staff import services as staff_services
    from tests import factories as f

    monkeypatch.setattr(staff_services, "CASELOAD_LIMIT", 2)
    for _ in range(3):  # newer admissions than patient A: they would fill the list
        other = f.UserFactory()
        f.EnrollmentFactory(
            patient_id=other.id,
            program_id=world.program.id,
            track_id=world.track.id,
            admitted_on=program_today(),
        )
        f.CareTeamFactory(
            patient_id=other.id, staff_id=world.staff[Role.NURSE].id, team_role="nurse"
        )
    db.session.add(
        RiskFlag(
            patient_id=world.patient.id,
            program_id=world.program.id,
            open_key=world.patient.id,
            source="checkin",
            source_id="x",
        )
    )
    db.session.flush()
    login_as(Role.NURSE)
    html = client.get("/staff").get_data(as_text=True)
    assert MARKERS["patient"] in html and "first 500" in html


def test_trends_say_which_way_is_better_and_name_the_severity_bands(
    client, login_as, world
):
    import re

    login_as(Role.PATIENT)
    _history(world.patient)
    html = client.get("/trends").get_data(as_text=True)
    better = dict(
        re.findall(r'<h2 id="h-(\w+)">[^<]*</h2>\s*<p class="better">([^<]*)</p>', html)
    )
    assert better["mood"] == "Higher is better."
    assert better["craving"] == "Lower is better."
    assert better["sleep"] == "Most adults feel best with 7 to 9 hours."
    assert better["phq9"] == "Lower is better."
    # the PHQ-9 picture names its bands, on the picture and for screen readers
    phq9 = html[html.index('<svg class="chart"', html.index('id="h-phq9"')) :]
    phq9 = phq9[: phq9.index("</svg>")]
    for name in ("Minimal", "Mild", "Moderate", "Moderately severe", "Severe"):
        assert f'text-anchor="end">{name}</text>' in phq9
    assert "Lower is better. Bands: 0 to 4 minimal; 5 to 9 mild;" in phq9
    assert "20 to 27 severe." in phq9
    assert "<li>15 to 19: Moderately severe</li>" in html


def test_long_tables_fold_away_and_short_ones_stay_open(client, login_as, world):
    login_as(Role.PATIENT)
    _history(world.patient, days=10)
    html = client.get("/trends").get_data(as_text=True)
    assert '<details class="fold">\n<summary>Show all 10 check-ins</summary>' in html
    # two PHQ-9 scores: short, so open
    assert '<details class="fold" open>\n<summary>Show all 2 scores</summary>' in html
