"""Discharge with an aftercare plan, by the patient's clinicians or the director;
after it the same account goes on in step-down (alumni) mode: peer messaging and
optional check-ins stay, Today and Week say the program has ended and show the plan,
and a risk answer still opens a flag that reaches the program's on-call clinician
(escalating to the backup and the director as always)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.programs.models import Enrollment, EnrollmentStatus
from portal.blueprints.safety import escalation
from portal.blueprints.safety.models import OutboundPage, RiskFlag, RiskFlagEvent
from portal.security import Role
from tests.conftest import MARKERS, post_form, program_today, sign_in
from tests.functional.checkins.test_checkins import checkin_data, risk_world  # noqa: F401 - a fixture

PLAN = {
    "aftercare_appointments": "Dr. Ames, Riverside Clinic, Tue Dec 15 at 10 AM.",
    "aftercare_help": "Call or text 988. Walk-in clinic: 617-555-0160.",
}


def _enrollment(patient) -> Enrollment:
    return db.session.scalar(
        select(Enrollment).where(Enrollment.patient_id == patient.id)
    )


def _discharge(client, patient, **changes):
    data = {"discharged_on": program_today().isoformat(), **PLAN, **changes}
    return post_form(client, f"/staff/patients/{patient.id}/discharge", data)


@pytest.mark.parametrize("role", [Role.THERAPIST, Role.DIRECTOR])
def test_a_clinician_discharges_with_an_aftercare_plan(client, login_as, world, role):
    login_as(role)
    page = client.get(f"/staff/patients/{world.patient.id}").get_data(as_text=True)
    assert f'href="/staff/patients/{world.patient.id}/discharge"' in page
    response = _discharge(client, world.patient)
    assert response.status_code == 303
    db.session.expire_all()
    enrollment = _enrollment(world.patient)
    assert enrollment.status is EnrollmentStatus.ALUMNI
    assert enrollment.discharged_on == program_today()
    assert enrollment.aftercare_appointments == PLAN["aftercare_appointments"]
    assert enrollment.discharged_by_id == world.staff.get(role, world.director).id
    assert db.session.scalar(
        select(AuditEvent.id).where(
            AuditEvent.action == "discharge",
            AuditEvent.patient_id == world.patient.id,
        )
    )
    page = client.get(f"/staff/patients/{world.patient.id}").get_data(as_text=True)
    assert "step-down" in page and "Dr. Ames" in page
    assert "/discharge" not in page  # once is enough


@pytest.mark.parametrize("role", [Role.PEER, Role.CASE_MANAGER, Role.ADMIN])
def test_peers_case_managers_and_admin_cannot_discharge(client, login_as, world, role):
    login_as(role)
    response = _discharge(client, world.patient)
    assert response.status_code in (403, 404)
    assert _enrollment(world.patient).status is EnrollmentStatus.ACTIVE


def test_a_clinician_outside_the_circle_gets_404_and_no_data(app, world):
    client = app.test_client()
    sign_in(client, world.other_therapist)
    response = _discharge(client, world.patient)
    assert response.status_code == 404
    assert MARKERS["patient"] not in response.get_data(as_text=True)
    assert _enrollment(world.patient).status is EnrollmentStatus.ACTIVE


BAD = [
    ({"discharged_on": ""}, "Enter the discharge date."),
    ({"discharged_on": "not a date"}, "Enter the discharge date."),
    ({"discharged_on": "2999-01-01"}, "cannot be in the future"),
    ({"discharged_on": "1950-01-01"}, "cannot be before admission"),
    ({"aftercare_appointments": "  "}, "Write the next appointments"),
    ({"aftercare_help": ""}, "Write where the patient can get help."),
    ({"aftercare_help": "x" * 2001}, "Use up to 2,000 characters."),
]


@pytest.mark.parametrize("changes, message", BAD)
def test_a_bad_discharge_is_refused_and_nothing_changes(
    client, login_as, world, changes, message
):
    login_as(Role.THERAPIST)
    response = _discharge(client, world.patient, **changes)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    if "aftercare_appointments" not in changes:
        assert "Dr. Ames" in html  # what was typed is kept
    assert _enrollment(world.patient).status is EnrollmentStatus.ACTIVE


def test_a_patient_already_discharged_cannot_be_discharged_again(
    client, login_as, world
):
    login_as(Role.THERAPIST)
    _discharge(client, world.patient)
    assert _discharge(client, world.patient).status_code == 404


def _make_alumni(world):
    enrollment = _enrollment(world.patient)
    enrollment.status = EnrollmentStatus.ALUMNI
    enrollment.discharged_on = program_today() - timedelta(days=1)
    enrollment.aftercare_appointments = PLAN["aftercare_appointments"]
    enrollment.aftercare_help = PLAN["aftercare_help"]
    db.session.flush()


def test_alumni_today_and_week_say_the_program_ended_with_the_plan(client, world):
    _make_alumni(world)
    sign_in(client, world.patient)
    for page in ("/", "/week"):
        html = client.get(page).get_data(as_text=True)
        assert "Your program ended on" in html, page
        assert "Dr. Ames, Riverside Clinic" in html
        assert 'href="tel:617-555-0160"' in html or "617-555-0160" in html
        assert 'href="/messages"' in html and 'href="/check-in"' in html
        assert 'href="/safety-plan"' in html


def test_alumni_keep_messaging_their_peer(client, world):
    _make_alumni(world)
    sign_in(client, world.patient)
    assert client.get("/messages").status_code == 200
    assert client.get("/check-in").status_code == 200


def test_an_alumnus_is_off_the_group_rosters_after_discharge(client, login_as, world):
    from portal.blueprints.schedule.services import roster_for

    _make_alumni(world)
    after = program_today() + timedelta(days=7)
    names = {row.patient.id for row in roster_for(world.group, after)}
    assert world.patient.id not in names


def test_an_alumnus_not_feeling_safe_reaches_the_on_call_clinician(
    client,
    app,
    risk_world,  # noqa: F811 - the fixture imported above
):
    world = risk_world
    _make_alumni(world)
    sign_in(client, world.patient)
    response = post_form(client, "/check-in", checkin_data(feels_safe="no", mood="2"))
    assert response.status_code in (200, 302, 303)
    flag = db.session.scalar(
        select(RiskFlag).where(RiskFlag.patient_id == world.patient.id)
    )
    assert flag is not None and flag.program_id == world.program.id
    nurse = world.staff[Role.NURSE].id
    told = db.session.scalars(
        select(RiskFlagEvent.recipient_id).where(
            RiskFlagEvent.flag_id == flag.id, RiskFlagEvent.kind == "told"
        )
    ).all()
    assert nurse in told  # the on-call clinician
    assert db.session.scalar(
        select(OutboundPage.id).where(
            OutboundPage.flag_id == flag.id, OutboundPage.recipient_id == nurse
        )
    )
    # Not acknowledged: it goes on to the backup, as for any patient.
    with app.app_context():
        later = flag.next_escalation_at + timedelta(minutes=1)
        assert escalation.escalate_due_flags(later) == 1
    db.session.expire_all()
    told = db.session.scalars(
        select(RiskFlagEvent.recipient_id).where(
            RiskFlagEvent.flag_id == flag.id, RiskFlagEvent.kind == "told"
        )
    ).all()
    assert world.staff[Role.THERAPIST].id in told
    # The nurse sees it among the open alerts and can open the patient.
    nurse_client = app.test_client()
    sign_in(nurse_client, world.staff[Role.NURSE])
    assert world.patient.display_name in nurse_client.get("/staff/flags").get_data(
        as_text=True
    )
    assert nurse_client.get(f"/staff/patients/{world.patient.id}").status_code == 200


def test_alumni_move_to_their_own_list_and_stay_on_the_admin_list(
    client, login_as, world
):
    _make_alumni(world)
    for role in (Role.THERAPIST, Role.PEER):
        login_as(role)
        home = client.get("/staff").get_data(as_text=True)
        caseload, _, after = home.partition("After discharge (step-down)")
        assert MARKERS["patient"] not in caseload and MARKERS["patient"] in after
    assert client.get(f"/staff/patients/{world.patient.id}").status_code == 200
    login_as(Role.ADMIN)
    listing = client.get("/admin/patients").get_data(as_text=True)
    assert MARKERS["patient"] in listing and "Alumni" in listing
