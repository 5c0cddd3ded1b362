"""Enrollment records how to address and reach the patient: date of birth, preferred
name and pronouns, the language they read best, an emergency contact; email is
optional when there is a mobile number. The whole team sees how to address the
patient; the date of birth and emergency contact are for the clinicians."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import Enrollment
from portal.blueprints.staff.forms import NO_EMAIL_OR_PHONE
from portal.security import Role
from tests.conftest import post_form, program_today

GOOD = {
    "display_name": "Rosa Delgado",
    "preferred_name": "Rosie",
    "pronouns": "she/her",
    "date_of_birth": "1988-11-30",
    "preferred_language": "es",
    "email": "",
    "mobile_phone": "(617) 555-0177",
    "emergency_name": "Marta Delgado",
    "emergency_relationship": "sister",
    "emergency_phone": "+1 212 555 0143",
}


def _enroll(client, world, **changes):
    data = {
        **GOOD,
        "track_id": world.track.id,
        "admitted_on": program_today().isoformat(),
        **changes,
    }
    return post_form(client, "/admin/patients/new", data)


def _made() -> tuple[User, Enrollment] | None:
    user = db.session.scalar(select(User).where(User.display_name == "Rosa Delgado"))
    if user is None:
        return None
    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.patient_id == user.id)
    )
    return user, enrollment


def test_a_patient_without_email_is_enrolled_with_every_detail(client, login_as, world):
    login_as(Role.ADMIN)
    response = _enroll(client, world)
    assert response.status_code == 200, response.get_data(as_text=True)[-800:]
    user, enrollment = _made()
    assert user.email is None and user.phone == "+16175550177"
    assert user.preferred_language == "es"
    assert enrollment.date_of_birth == date(1988, 11, 30)
    assert (enrollment.preferred_name, enrollment.pronouns) == ("Rosie", "she/her")
    assert enrollment.emergency_name == "Marta Delgado"
    assert enrollment.emergency_relationship == "sister"
    assert enrollment.emergency_phone == "+12125550143"


def test_a_language_not_asked_yet_follows_the_phone(client, login_as, world):
    login_as(Role.ADMIN)
    form = client.get("/admin/patients/new").get_data(as_text=True)
    assert '<option selected value="">Not asked yet' in form
    response = _enroll(client, world, preferred_language="")
    assert response.status_code == 200, response.get_data(as_text=True)[-800:]
    user, _ = _made()
    assert user.preferred_language is None
    login_as(Role.DIRECTOR)
    html = _patient_page(client, world, user)
    assert "<h1>" in html and "Rosa Delgado" in html
    assert "Not chosen yet: pages follow the language of their phone" in html


def test_a_landline_is_fine_for_the_emergency_contact(client, login_as, world):
    login_as(Role.ADMIN)
    assert _enroll(client, world, emergency_phone="+44 20 7946 0958").status_code == 200
    assert _made()[1].emergency_phone == "+442079460958"


BAD = [
    ({"mobile_phone": "", "email": ""}, NO_EMAIL_OR_PHONE),
    ({"date_of_birth": ""}, "Enter the date of birth."),
    (
        {"date_of_birth": (date.today() + timedelta(days=2)).isoformat()},
        "The date of birth cannot be in the future.",
    ),
    ({"date_of_birth": "1850-01-01"}, "Choose a date from 1900 to 2999."),
    ({"emergency_phone": ""}, "Enter the emergency contact&#39;s phone number."),
    ({"emergency_name": ""}, "Enter the emergency contact&#39;s name."),
    ({"emergency_phone": "not a number"}, "That is not a phone number"),
    ({"preferred_language": "fr"}, "Not a valid choice"),
    ({"pronouns": "x" * 41}, "Use up to 40 characters."),
]


@pytest.mark.parametrize("changes, message", BAD)
def test_bad_details_are_refused_and_nothing_is_made(
    client, login_as, world, changes, message
):
    login_as(Role.ADMIN)
    response = _enroll(client, world, **changes)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert 'value="Rosa Delgado"' in html  # what was typed is kept
    assert _made() is None


def _patient_page(client, world, user):
    return client.get(f"/staff/patients/{user.id}").get_data(as_text=True)


def _give_details(world):
    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.patient_id == world.patient.id)
    )
    enrollment.preferred_name, enrollment.pronouns = "Ally", "they/them"
    enrollment.date_of_birth = date(1991, 6, 15)
    enrollment.emergency_name, enrollment.emergency_phone = "Sam Reed", "+12125550143"
    db.session.flush()


@pytest.mark.parametrize("role", [Role.THERAPIST, Role.NURSE, Role.DIRECTOR])
def test_clinicians_see_the_birth_date_and_emergency_contact(
    client, login_as, world, role
):
    _give_details(world)
    login_as(role)
    html = _patient_page(client, world, world.patient)
    assert "Goes by Ally" in html and "they/them" in html
    assert "Jun 15, 1991" in html
    assert "Sam Reed" in html and 'href="tel:+12125550143"' in html


@pytest.mark.parametrize("role", [Role.PEER, Role.CASE_MANAGER])
def test_peers_and_case_managers_see_how_to_address_the_patient_only(
    client, login_as, world, role
):
    _give_details(world)
    login_as(role)
    html = _patient_page(client, world, world.patient)
    assert "Goes by Ally" in html and "they/them" in html
    assert "1991" not in html and "Sam Reed" not in html and "0143" not in html
