"""Staff see their patients; wider access needs a recorded reason; rosters, attendance,
and admin enrollment with one-time codes."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import AccessGrant, CareTeamAssignment
from portal.blueprints.schedule.models import Appointment, Attendance, AttendanceStatus
from portal.security import Role
from tests.conftest import MARKERS, csrf_from, post_form, program_today, sign_in


def _weekday_date(weekday: int) -> date:
    today = date.today()
    return today - timedelta(days=(today.weekday() - weekday) % 7)


def test_therapist_sees_their_patients_and_not_others(client, login_as, world):
    login_as(Role.THERAPIST)
    html = client.get("/staff").get_data(as_text=True)
    assert MARKERS["patient"] in html
    assert MARKERS["patient_b"] not in html and MARKERS["patient_c"] not in html


def test_another_teams_patient_answers_404_with_none_of_their_data(
    client, login_as, world
):
    login_as(Role.THERAPIST)
    response = client.get(f"/staff/patients/{world.patient_b.id}")
    assert response.status_code == 404
    assert MARKERS["patient_b"] not in response.get_data(as_text=True)
    denied = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.patient_id == world.patient_b.id, AuditEvent.outcome == "denied"
        )
    ).all()
    assert denied


def test_a_recorded_reason_opens_a_program_patient_for_twelve_hours(
    client, login_as, world
):
    therapist = login_as(Role.THERAPIST)
    # the appointment at noon of the program's today, so it is in "this week" at
    # any hour the test runs (an hour from now can be next week late on a Sunday)
    zone = ZoneInfo(world.program.timezone)
    noon = datetime.combine(
        program_today(world.program.timezone), time(12), tzinfo=zone
    )
    db.session.execute(
        update(Appointment)
        .where(Appointment.id == world.appointment_b.id)
        .values(starts_at=noon, ends_at=noon + timedelta(minutes=50))
    )
    directory = client.get("/staff/directory").get_data(as_text=True)
    assert MARKERS["patient_b"] in directory  # names only, to pick from
    assert "BRAVO-ROOM-5150" not in directory
    url = f"/staff/patients/{world.patient_b.id}/reason"
    short = post_form(client, url, {"reason": "need"})
    assert "10 to 500" in short.get_data(as_text=True)
    response = post_form(client, url, {"reason": "Covering for Second Therapist today"})
    assert response.status_code == 302
    page = client.get(f"/staff/patients/{world.patient_b.id}").get_data(as_text=True)
    assert MARKERS["patient_b"] in page and "BRAVO-ROOM-5150" in page
    grant = db.session.scalar(
        select(AccessGrant).where(AccessGrant.staff_id == therapist.id)
    )
    assert "Covering" in grant.reason
    assert 11 < (grant.expires_at - grant.created_at).total_seconds() / 3600 <= 12


def test_no_reason_reaches_another_programs_patient(client, login_as, world):
    login_as(Role.THERAPIST)
    response = client.get(f"/staff/patients/{world.patient_c.id}/reason")
    assert response.status_code == 404


def test_director_sees_every_patient_of_their_program_only(client, login_as, world):
    login_as(Role.DIRECTOR)
    assert client.get(f"/staff/patients/{world.patient_b.id}").status_code == 200
    assert client.get(f"/staff/patients/{world.patient_c.id}").status_code == 404


def test_staff_mark_attendance_on_a_roster(client, login_as, world):
    login_as(Role.NURSE)
    day = _weekday_date(world.group.weekday)
    url = f"/staff/sessions/{world.group.id}/{day.isoformat()}"
    page = client.get(url).get_data(as_text=True)
    assert MARKERS["patient"] in page and MARKERS["patient_c"] not in page
    response = client.post(
        url,
        data={
            "csrf_token": csrf_from(page),
            f"mark-{world.patient.id}": "late",
            f"mark-{world.patient_c.id}": "present",  # not on this roster: ignored
            f"mark-{world.patient_b.id}": "sleeping",  # not a status: ignored
        },
    )
    assert "Saved. 1 change" in response.get_data(as_text=True)
    marks = db.session.scalars(select(Attendance)).all()
    assert [(m.patient_id, m.status) for m in marks] == [
        (world.patient.id, AttendanceStatus.LATE)
    ]


def test_roster_of_another_program_or_wrong_weekday_is_404(client, login_as, world):
    login_as(Role.NURSE)
    wrong_day = _weekday_date((world.group.weekday + 1) % 7)
    assert (
        client.get(f"/staff/sessions/{world.group.id}/{wrong_day}").status_code == 404
    )
    assert client.get(f"/staff/sessions/{world.group.id}/2026-13-45").status_code == 404
    assert client.get("/staff/sessions/nonsense/2026-01-05").status_code == 404


def test_admin_enrolls_a_patient_who_then_sets_a_password_with_the_code(
    client, app, login_as, world
):
    login_as(Role.ADMIN)
    response = post_form(
        client,
        "/admin/patients/new",
        {
            "display_name": "New Person",
            "email": "New.Person@Example.test",
            "track_id": world.track.id,
            "admitted_on": program_today().isoformat(),
            "date_of_birth": "1990-04-02",
            "therapist": world.staff[Role.THERAPIST].id,
            "prescriber": "",
            "nurse": "",
            "case_manager": world.staff[Role.CASE_MANAGER].id,
            "peer": "",
        },
    )
    html = response.get_data(as_text=True)
    code = re.search(r"<strong>([A-Z2-9]{5}-[A-Z2-9]{5})</strong>", html).group(1)
    person = db.session.scalar(
        select(User).where(User.email == "new.person@example.test")
    )
    team = db.session.scalars(
        select(CareTeamAssignment.team_role).where(
            CareTeamAssignment.patient_id == person.id
        )
    ).all()
    assert sorted(t.value for t in team) == ["case_manager", "therapist"]
    phone = app.test_client()
    done = post_form(
        phone,
        "/set-password",
        {
            "email": "new.person@example.test",
            "code": code.lower(),
            "password": "my long password",
            "confirm": "my long password",
        },
    )
    assert done.status_code == 302
    sign_in(phone, person, "my long password")
    assert "Coping skills" in phone.get("/").get_data(as_text=True)


def test_enrolling_an_email_already_in_use_keeps_the_form(client, login_as, world):
    login_as(Role.ADMIN)
    response = post_form(
        client,
        "/admin/patients/new",
        {
            "display_name": "Typed Name",
            "email": world.patient.email,
            "track_id": world.track.id,
            "admitted_on": program_today().isoformat(),
            "date_of_birth": "1990-04-02",
        },
    )
    html = response.get_data(as_text=True)
    assert "already used" in html and 'value="Typed Name"' in html


def test_admin_sees_no_clinical_pages(client, login_as, world):
    login_as(Role.ADMIN)
    assert client.get(f"/staff/patients/{world.patient.id}").status_code == 404
    assert client.get("/staff/directory").status_code == 404
    listing = client.get("/admin/patients").get_data(as_text=True)
    assert MARKERS["patient"] in listing and "Office 3" not in listing


def test_admin_cannot_touch_accounts_of_another_program(client, login_as, world):
    login_as(Role.ADMIN)
    page = client.get("/admin/patients").get_data(as_text=True)
    response = client.post(
        f"/admin/accounts/{world.patient_c.id}/code",
        data={"csrf_token": csrf_from(page)},
    )
    assert response.status_code == 404
    assert MARKERS["patient_c"] not in response.get_data(as_text=True)


def test_patient_cannot_open_staff_pages(client, login_as, world):
    login_as(Role.PATIENT)
    for url in ("/staff", f"/staff/patients/{world.patient.id}", "/admin/patients"):
        assert client.get(url).status_code == 404


@pytest.mark.parametrize("admitted_on", ["9999-12-31", "0001-01-01"])
def test_an_admission_date_too_far_out_is_refused_and_nothing_is_made(
    client, login_as, world, admitted_on
):
    login_as(Role.ADMIN)
    response = post_form(
        client,
        "/admin/patients/new",
        {
            "display_name": "Far Out",
            "email": "far.out@example.test",
            "track_id": world.track.id,
            "admitted_on": admitted_on,
            "date_of_birth": "1990-04-02",
        },
    )
    assert "Choose a date from 1900 to 2999." in response.get_data(as_text=True)
    assert (
        db.session.scalar(select(User).where(User.email == "far.out@example.test"))
        is None
    )
