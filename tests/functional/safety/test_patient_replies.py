"""After a risk answer the saved page says when and how the program will reach the
patient, in and out of opening hours, and offers "Please call me" and "I am safe for
now", each recorded on the open alert ("Please call me" tells its people again)."""

from __future__ import annotations

from sqlalchemy import func, select

from portal import db
from portal.blueprints.notifications.models import Notification
from portal.blueprints.safety.models import RiskFlag, RiskFlagEvent
from portal.security import Role
from tests.conftest import post_form, sign_in
from tests.functional.checkins.test_checkins import checkin_data, risk_world  # noqa: F401


def _risk_checkin(client) -> str:
    response = post_form(client, "/check-in", checkin_data(feels_safe="no"))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _events(patient, kind: str) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(RiskFlagEvent)
        .join(RiskFlag, RiskFlag.id == RiskFlagEvent.flag_id)
        .where(RiskFlag.patient_id == patient.id, RiskFlagEvent.kind == kind)
    )


def test_while_open_the_saved_page_says_a_call_comes_soon(
    client,
    login_as,
    risk_world,  # noqa: F811
):
    login_as(Role.PATIENT)
    html = _risk_checkin(client)
    assert "What happens next" in html
    assert "will call you soon, usually within 15 minutes" in html
    assert "Please call me" in html and "I am safe for now" in html


def test_after_hours_the_saved_page_says_when_the_program_opens(
    client,
    login_as,
    risk_world,  # noqa: F811
):
    # Open one minute a week: closed now (but in that minute), Monday 9 AM next.
    risk_world.program.opening_hours = {"0": ["09:00", "09:01"]}
    db.session.flush()
    login_as(Role.PATIENT)
    html = _risk_checkin(client)
    assert "The program is closed right now." in html
    assert "The clinician on call tonight has been told" in html
    assert "Monday at 9:00 AM" in html


def test_please_call_me_is_recorded_and_tells_the_on_call_nurse_again(
    client,
    login_as,
    risk_world,  # noqa: F811
):
    patient = login_as(Role.PATIENT)
    _risk_checkin(client)
    nurse = risk_world.staff[Role.NURSE]
    told = select(func.count()).where(Notification.recipient_id == nurse.id)
    before = db.session.scalar(told)
    page = post_form(client, "/reply/call-me", {}, page="/check-in")
    assert "We asked your team to call you" in page.get_data(as_text=True)
    assert _events(patient, "patient_call_me") == 1
    assert db.session.scalar(told) == before + 1


def test_safe_for_now_is_recorded_on_the_alert(client, login_as, risk_world):  # noqa: F811
    patient = login_as(Role.PATIENT)
    _risk_checkin(client)
    page = post_form(client, "/reply/safe-for-now", {}, page="/check-in")
    assert "you are safe for now" in page.get_data(as_text=True)
    assert _events(patient, "patient_safe_now") == 1


def test_with_no_open_alert_nothing_is_recorded(client, login_as, risk_world):  # noqa: F811
    patient = login_as(Role.PATIENT)
    page = post_form(client, "/reply/call-me", {}, page="/check-in")
    assert "already followed up" in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(RiskFlagEvent)) == 0
    assert patient is not None


def test_a_reply_needs_its_csrf_token_and_a_patient(client, login_as, risk_world):  # noqa: F811
    login_as(Role.PATIENT)
    assert client.post("/reply/call-me", data={}).status_code == 400
    staff = client.application.test_client()
    sign_in(staff, risk_world.staff[Role.NURSE])
    assert post_form(staff, "/reply/call-me", {}, page="/staff").status_code == 404
