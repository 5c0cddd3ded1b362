"""The patient's mobile number: entered by admin staff at enrollment and changed later,
checked with libphonenumber and kept in E.164 (the way a tel: link wants it), refused
with a plain message when it is not a number or is known not to be a mobile phone,
kept also as the number the patient may sign in with, and shown to the care team."""

from __future__ import annotations

import pytest
from markupsafe import escape
from sqlalchemy import select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import Enrollment
from portal.blueprints.staff.services import PHONE_TAKEN
from portal.phones import INVALID, NOT_MOBILE
from portal.security import Role
from tests.conftest import MARKERS, post_form, program_today

BAD_NUMBERS = [
    ("call me", INVALID),  # no digits
    ("555-019", INVALID),  # too short
    ("555-010-0199", INVALID),  # no such US area code
    ("+1 617 555 014x", INVALID),  # a letter
    ("+1 " + "6" * 20, INVALID),  # too long
    ("+44 20 7946 0958", NOT_MOBILE),  # a London landline
    ("+34 912 345 678", NOT_MOBILE),  # a Madrid landline
    ("+1 800 555 0199", NOT_MOBILE),  # toll-free
]


def _enrollment(patient) -> Enrollment:
    return db.session.scalar(
        select(Enrollment).where(Enrollment.patient_id == patient.id)
    )


def _enroll(client, world, phone: str, email: str = "new.person@example.test"):
    return post_form(
        client,
        "/admin/patients/new",
        {
            "display_name": "New Person",
            "email": email,
            "date_of_birth": "1990-04-02",
            "preferred_language": "en",
            "track_id": world.track.id,
            "admitted_on": program_today().isoformat(),
            "mobile_phone": phone,
        },
    )


def test_admin_enters_the_number_at_enrollment_kept_in_e164(client, login_as, world):
    login_as(Role.ADMIN)
    response = _enroll(client, world, " (617) 555-0123 ")
    assert response.status_code == 200 and "One-time code" in response.get_data(
        as_text=True
    )
    person = db.session.scalar(
        select(User).where(User.email == "new.person@example.test")
    )
    assert _enrollment(person).mobile_phone == "+16175550123"
    assert person.phone == "+16175550123"


@pytest.mark.parametrize(
    "typed, kept",
    [
        ("+34 612 345 678", "+34612345678"),  # a Spanish mobile
        ("+44 7911 123456", "+447911123456"),  # a UK mobile
        ("+52 55 1234 5678", "+525512345678"),  # fixed or mobile: accepted
    ],
)
def test_mobile_and_maybe_mobile_numbers_abroad_are_accepted(
    client, login_as, world, typed, kept
):
    login_as(Role.ADMIN)
    assert _enroll(client, world, typed).status_code == 200
    person = db.session.scalar(
        select(User).where(User.email == "new.person@example.test")
    )
    assert person.phone == kept


def test_enrolling_with_an_email_and_no_number_is_fine(client, login_as, world):
    login_as(Role.ADMIN)
    _enroll(client, world, "")
    person = db.session.scalar(
        select(User).where(User.email == "new.person@example.test")
    )
    assert _enrollment(person).mobile_phone is None and person.phone is None


@pytest.mark.parametrize("bad, message", BAD_NUMBERS)
def test_a_bad_number_at_enrollment_is_refused_and_nothing_is_made(
    client, login_as, world, bad, message
):
    login_as(Role.ADMIN)
    response = _enroll(client, world, bad)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'value="New Person"' in html
    assert not db.session.scalar(
        select(User).where(User.email == "new.person@example.test")
    )


def test_a_number_that_signs_in_to_another_account_is_refused(client, login_as, world):
    world.patient_b.phone = "+16175550123"
    db.session.flush()
    login_as(Role.ADMIN)
    response = _enroll(client, world, "617 555 0123")
    assert response.status_code == 422
    assert escape(PHONE_TAKEN) in response.get_data(as_text=True)
    assert not db.session.scalar(
        select(User).where(User.email == "new.person@example.test")
    )


def test_admin_adds_changes_and_clears_the_number(client, login_as, world):
    login_as(Role.ADMIN)
    assert _enrollment(world.patient).mobile_phone is None
    url = f"/admin/patients/{world.patient.id}/phone"
    listing = client.get("/admin/patients").get_data(as_text=True)
    assert url in listing

    added = post_form(client, url, {"mobile_phone": "617 555 0456"})
    assert added.status_code == 303
    assert _enrollment(world.patient).mobile_phone == "+16175550456"
    assert db.session.get(User, world.patient.id).phone == "+16175550456"
    assert "(617) 555-0456" in client.get("/admin/patients").get_data(as_text=True)
    assert 'value="+16175550456"' in client.get(url).get_data(as_text=True)

    post_form(client, url, {"mobile_phone": "+44 7911 123456"})
    assert _enrollment(world.patient).mobile_phone == "+447911123456"
    post_form(client, url, {"mobile_phone": "  "})
    assert _enrollment(world.patient).mobile_phone is None
    assert db.session.get(User, world.patient.id).phone is None

    details = db.session.scalars(
        select(AuditEvent.detail).where(
            AuditEvent.patient_id == world.patient.id, AuditEvent.action == "update"
        )
    ).all()
    assert details == ["mobile phone set", "mobile phone set", "mobile phone cleared"]
    assert not any("0456" in (d or "") for d in details)  # no number in the log


def test_the_number_of_a_patient_without_email_cannot_be_cleared(
    client, login_as, world
):
    world.patient.email, world.patient.phone = None, "+16175550456"
    _enrollment(world.patient).mobile_phone = "+16175550456"
    db.session.flush()
    login_as(Role.ADMIN)
    response = post_form(
        client, f"/admin/patients/{world.patient.id}/phone", {"mobile_phone": ""}
    )
    assert response.status_code == 422
    assert "signs in with this number" in response.get_data(as_text=True)
    db.session.expire_all()
    assert _enrollment(world.patient).mobile_phone == "+16175550456"


@pytest.mark.parametrize("bad, message", BAD_NUMBERS)
def test_a_bad_number_is_refused_and_the_old_one_kept(
    client, login_as, world, bad, message
):
    _enrollment(world.patient).mobile_phone = "+16175550999"
    db.session.flush()
    login_as(Role.ADMIN)
    response = post_form(
        client, f"/admin/patients/{world.patient.id}/phone", {"mobile_phone": bad}
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert _enrollment(world.patient).mobile_phone == "+16175550999"


def test_admin_of_another_program_cannot_see_or_change_the_number(
    client, login_as, world
):
    from tests.conftest import sign_in

    sign_in(client, world.other_admin)
    url = f"/admin/patients/{world.patient.id}/phone"
    assert client.get(url).status_code == 404
    other_page = client.get(f"/admin/patients/{world.patient_c.id}/phone")
    response = post_form(
        client,
        f"/admin/patients/{world.patient.id}/phone",
        {"mobile_phone": "6175550111"},
        page=f"/admin/patients/{world.patient_c.id}/phone",
    )
    assert other_page.status_code == 200
    assert response.status_code == 404
    assert MARKERS["patient"] not in response.get_data(as_text=True)
    assert _enrollment(world.patient).mobile_phone is None


def test_the_care_team_sees_the_number_as_a_link_to_call(client, login_as, world):
    _enrollment(world.patient).mobile_phone = "+16175550123"
    db.session.flush()
    for role in (Role.PEER, Role.CASE_MANAGER, Role.THERAPIST):
        login_as(role)
        page = client.get(f"/staff/patients/{world.patient.id}")
        assert 'href="tel:+16175550123"' in page.get_data(as_text=True), role
