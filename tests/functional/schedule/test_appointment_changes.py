"""A patient asks to change an appointment; its clinician or the program's staff
approve it or offer another time; the patient sees the answer and is told (the push
stays generic)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal import db
from portal.blueprints.notifications.kinds import KINDS
from portal.blueprints.notifications.models import Notification, NotificationKind
from portal.blueprints.schedule.models import (
    Appointment,
    AppointmentChange,
    ChangeStatus,
)
from portal.db import utcnow
from portal.security import Role
from tests import factories as f
from tests.conftest import post_form, program_today, sign_in
from tests.factories.schedule import make_change

NY = ZoneInfo("America/New_York")


@pytest.fixture
def appointment(world):
    start = datetime.combine(program_today() + timedelta(days=3), time(15, 30), NY)
    return f.AppointmentFactory(
        patient_id=world.patient.id,
        staff_id=world.staff[Role.THERAPIST].id,
        starts_at=start,
        ends_at=start + timedelta(minutes=50),
    )


def _ask(client, appointment, **data):
    url = f"/appointments/{appointment.id}/change"
    values = {
        "wanted_date": (program_today() + timedelta(days=4)).isoformat(),
        "wanted_time": "10:00",
        "note": "I have a job interview",
    } | data
    return post_form(client, url, values, page=url)


def _changes(appointment) -> list[AppointmentChange]:
    return list(
        db.session.scalars(
            select(AppointmentChange).where(
                AppointmentChange.appointment_id == appointment.id
            )
        )
    )


def _fresh(model):
    return db.session.get(type(model), model.id, populate_existing=True)


def _told(user_id, kind) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(
                Notification.recipient_id == user_id, Notification.kind == kind
            )
        )
    )


def test_the_week_offers_to_change_a_coming_appointment(client, world, appointment):
    sign_in(client, world.patient)
    start = (program_today() + timedelta(days=3)).isoformat()
    page = client.get(f"/week?start={start}").get_data(as_text=True)
    assert f"/appointments/{appointment.id}/change" in page


def test_the_patient_asks_and_the_clinician_is_told(client, world, appointment):
    sign_in(client, world.patient)
    response = _ask(client, appointment)
    assert response.status_code == 303
    [change] = _changes(appointment)
    wanted = datetime.combine(program_today() + timedelta(days=4), time(10), NY)
    assert change.wanted_at == wanted
    assert change.status is ChangeStatus.PENDING
    assert change.note == "I have a job interview"
    [note] = _told(world.staff[Role.THERAPIST].id, NotificationKind.APPOINTMENT_CHANGE)
    assert note.subject_id == change.id
    page = client.get(response.location).get_data(as_text=True)
    assert "Waiting for your team to answer." in page
    assert "Ask for this time" not in page  # one request at a time


def test_asking_twice_gets_a_plain_answer_and_nothing_twice(client, world, appointment):
    sign_in(client, world.patient)
    _ask(client, appointment)
    again = _ask(client, appointment, wanted_time="11:00")
    assert again.status_code == 409
    assert "You already asked to change this appointment" in again.get_data(
        as_text=True
    )
    assert len(_changes(appointment)) == 1


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        ({"wanted_date": ""}, 422, "Choose a day."),
        ({"wanted_time": "25:99"}, 422, "Some answers need a fix"),
        ({"wanted_date": "3001-01-01"}, 422, "Choose a date from"),
        ({"note": "x" * 301}, 422, "under 300 letters"),
        ({"wanted_date": "2020-01-01"}, 409, "Choose a time that is still to come."),
        ({"wanted_date": "2027-12-01"}, 409, "Choose a time in the next two months."),
    ],
)
def test_bad_times_are_refused_and_nothing_is_saved(
    client, world, appointment, data, status, words
):
    sign_in(client, world.patient)
    response = _ask(client, appointment, **data)
    assert response.status_code == status
    assert words in response.get_data(as_text=True)
    assert _changes(appointment) == []


def test_an_appointment_already_begun_cannot_be_changed(client, world):
    begun = f.AppointmentFactory(
        patient_id=world.patient.id,
        staff_id=world.staff[Role.THERAPIST].id,
        starts_at=utcnow() - timedelta(minutes=5),
        ends_at=utcnow() + timedelta(minutes=45),
    )
    sign_in(client, world.patient)
    response = _ask(client, begun)
    assert response.status_code == 409
    assert "already started or is over" in response.get_data(as_text=True)
    assert _changes(begun) == []


def test_another_patients_appointment_answers_404_and_saves_nothing(
    client, world, appointment
):
    sign_in(client, world.patient_b)
    assert client.get(f"/appointments/{appointment.id}/change").status_code == 404
    response = (
        _ask(client, appointment)
        if False
        else post_form(
            client,
            f"/appointments/{appointment.id}/change",
            {"wanted_date": "2027-01-05", "wanted_time": "10:00"},
            page="/week",
        )
    )
    assert response.status_code == 404
    assert "Office 3" not in response.get_data(as_text=True)
    assert _changes(appointment) == []


def test_the_clinician_approves_and_the_appointment_moves(client, world, appointment):
    change = make_change(appointment)
    sign_in(client, world.staff[Role.THERAPIST])
    listing = client.get("/staff/appointment-changes").get_data(as_text=True)
    assert f"/staff/appointment-changes/{change.id}" in listing
    assert world.patient.display_name in listing
    url = f"/staff/appointment-changes/{change.id}"
    response = post_form(client, f"{url}/approve", {"note": "See you then"}, page=url)
    assert response.status_code == 303
    moved = _fresh(appointment)
    assert moved.starts_at == change.wanted_at
    assert moved.ends_at - moved.starts_at == timedelta(minutes=50)
    answered = _fresh(change)
    assert answered.status is ChangeStatus.APPROVED
    assert answered.answered_by_id == world.staff[Role.THERAPIST].id
    [told] = _told(world.patient.id, NotificationKind.SCHEDULE_CHANGE)
    assert told.subject_id == change.id
    assert KINDS[told.kind].text == "Your schedule has changed"
    # answering again changes nothing
    again = post_form(client, f"{url}/approve", {}, page=url)
    assert again.status_code == 409
    assert "This request was answered already." in again.get_data(as_text=True)
    assert _fresh(appointment).starts_at == change.wanted_at

    patient = client.application.test_client()
    sign_in(patient, world.patient)
    page = patient.get(f"/appointments/{appointment.id}/change").get_data(as_text=True)
    assert "Yes. Your appointment is now" in page
    assert "See you then" in page
    listing = patient.get("/notifications").get_data(as_text=True)
    day = moved.starts_at.astimezone(NY)
    assert f"About your appointment of {day:%a %-d %b}" in listing


def test_program_staff_offer_another_time(client, world, appointment):
    change = make_change(appointment)
    sign_in(client, world.staff[Role.NURSE])  # not the clinician: program staff
    url = f"/staff/appointment-changes/{change.id}"
    offered = program_today() + timedelta(days=5)
    response = post_form(
        client,
        f"{url}/offer",
        {"new_date": offered.isoformat(), "new_time": "09:15", "note": ""},
        page=url,
    )
    assert response.status_code == 303
    answered = _fresh(change)
    assert answered.status is ChangeStatus.OFFERED
    assert _fresh(appointment).starts_at == datetime.combine(offered, time(9, 15), NY)


@pytest.mark.parametrize(
    "data", [{"new_date": ""}, {"new_date": "2020-01-01", "new_time": "09:00"}]
)
def test_a_bad_offer_is_refused_and_nothing_moves(client, world, appointment, data):
    change = make_change(appointment)
    before = appointment.starts_at
    sign_in(client, world.staff[Role.THERAPIST])
    url = f"/staff/appointment-changes/{change.id}"
    response = post_form(client, f"{url}/offer", {"new_time": "09:00"} | data, page=url)
    assert response.status_code in (409, 422)
    assert _fresh(change).status is ChangeStatus.PENDING
    assert _fresh(appointment).starts_at == before


def test_staff_of_another_program_get_404(client, world):
    elsewhere = f.UserFactory(staff=True, role=Role.THERAPIST)
    f.StaffMembershipFactory(user_id=elsewhere.id, program_id=world.other_program.id)
    theirs = f.AppointmentFactory(
        patient_id=world.patient_c.id,
        staff_id=elsewhere.id,
        starts_at=utcnow() + timedelta(days=2),
        ends_at=utcnow() + timedelta(days=2, minutes=50),
    )
    change = make_change(theirs)
    sign_in(client, world.staff[Role.THERAPIST])
    url = f"/staff/appointment-changes/{change.id}"
    assert client.get(url).status_code == 404
    assert post_form(client, f"{url}/approve", {}, page="/staff").status_code == 404
    assert _fresh(change).status is ChangeStatus.PENDING
    listing = client.get("/staff/appointment-changes").get_data(as_text=True)
    assert change.id not in listing
    assert db.session.get(Appointment, theirs.id).starts_at == theirs.starts_at


def _withdraw(client, appointment):
    url = f"/appointments/{appointment.id}/change"
    return post_form(client, f"{url}/withdraw", {}, page=url)


def test_the_patient_withdraws_a_request_and_staff_cannot_answer_it(
    client, world, appointment
):
    booked = appointment.starts_at
    sign_in(client, world.patient)
    _ask(client, appointment)
    page = client.get(f"/appointments/{appointment.id}/change").get_data(as_text=True)
    assert "Withdraw this request" in page
    response = _withdraw(client, appointment)
    assert response.status_code == 303
    [change] = _changes(appointment)
    assert _fresh(change).status is ChangeStatus.WITHDRAWN
    page = client.get(response.location).get_data(as_text=True)
    assert "Your request is withdrawn. Your appointment has not moved." in page
    assert "You withdrew this request." in page
    assert "Ask for this time" in page  # free to ask again
    again = _withdraw(client, appointment)
    assert again.status_code == 409
    assert "There is no request waiting for an answer." in again.get_data(as_text=True)

    staff = client.application.test_client()
    sign_in(staff, world.staff[Role.THERAPIST])
    url = f"/staff/appointment-changes/{change.id}"
    assert url not in staff.get("/staff/appointment-changes").get_data(as_text=True)
    shown = staff.get(url).get_data(as_text=True)
    assert "Withdrawn by the patient" in shown and "Approve" not in shown
    answer = post_form(staff, f"{url}/approve", {}, page=url)
    assert answer.status_code == 409
    assert "The patient withdrew this request." in answer.get_data(as_text=True)
    assert _fresh(appointment).starts_at == booked
    assert _fresh(change).status is ChangeStatus.WITHDRAWN


def test_withdrawing_another_patients_request_answers_404(client, world, appointment):
    change = make_change(appointment)
    sign_in(client, world.patient_b)
    response = post_form(
        client, f"/appointments/{appointment.id}/change/withdraw", {}, page="/week"
    )
    assert response.status_code == 404
    assert "Office 3" not in response.get_data(as_text=True)
    assert _fresh(change).status is ChangeStatus.PENDING


def test_a_request_answered_first_cannot_be_withdrawn(client, world, appointment):
    change = make_change(appointment)
    staff = client.application.test_client()
    sign_in(staff, world.staff[Role.THERAPIST])
    url = f"/staff/appointment-changes/{change.id}"
    assert post_form(staff, f"{url}/approve", {}, page=url).status_code == 303
    sign_in(client, world.patient)
    page = client.get(f"/appointments/{appointment.id}/change").get_data(as_text=True)
    assert "Withdraw this request" not in page
    assert _withdraw(client, appointment).status_code == 409
    assert _fresh(change).status is ChangeStatus.APPROVED


def test_withdrawing_in_spanish(client, world, appointment):
    world.patient.preferred_language = "es"
    make_change(appointment)
    sign_in(client, world.patient)
    page = client.get(f"/appointments/{appointment.id}/change").get_data(as_text=True)
    assert "Retirar esta solicitud" in page and "Withdraw" not in page
    response = _withdraw(client, appointment)
    page = client.get(response.location).get_data(as_text=True)
    assert "Su solicitud fue retirada. Su cita no ha cambiado." in page
    assert "Usted retiró esta solicitud." in page
    again = _withdraw(client, appointment).get_data(as_text=True)
    assert "No hay ninguna solicitud esperando respuesta." in again
