"""Notifications and texted codes in the recipient's language: a Spanish patient's
list, push and code text are Spanish, a staff member's stay English, whoever's
request or worker made them."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal import db
from portal.blueprints.notifications import services
from portal.blueprints.notifications.models import NotificationKind
from portal.blueprints.safety.models import OutboundPage
from portal.blueprints.safety.paging import deliver_pages
from portal.security import Role
from tests.conftest import post_form, sign_in
from tests.functional.staff.test_code_texts import CODE_RE, _with_phone, pager  # noqa: F401


def _spanish(user) -> None:
    user.preferred_language = "es"
    db.session.flush()


def test_a_push_is_in_the_recipients_language(
    push_app, add_device, world, outbox, push_service
):
    _spanish(world.patient)
    therapist = world.staff[Role.THERAPIST]
    therapist.preferred_language = "es"  # staff read English whatever the column says
    db.session.flush()
    add_device(world.patient)
    add_device(therapist)
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    services.notify(therapist, NotificationKind.NEW_MESSAGE)
    with push_app.app_context():  # as the worker runs it: no request
        outbox.deliver_due()
    bodies = sorted(m.payload["body"] for m in push_service.accepted())
    assert bodies == ["Tiene un mensaje nuevo", "You have a new message"]


def test_the_spanish_patients_list_is_spanish_and_the_staff_list_english(
    app, client, world
):
    _spanish(world.patient)
    therapist = world.staff[Role.THERAPIST]
    services.notify(world.patient, NotificationKind.SCHEDULE_CHANGE)
    services.notify(therapist, NotificationKind.APPOINTMENT_CHANGE)
    db.session.flush()
    sign_in(client, world.patient)
    html = client.get("/notifications").get_data(as_text=True)
    assert "Su horario cambió" in html and "ahora mismo" in html
    assert "Marcar todo como leído" in html
    assert "Your schedule has changed" not in html and "just now" not in html
    staff_client = app.test_client()
    sign_in(staff_client, therapist)
    staff_html = staff_client.get("/notifications").get_data(as_text=True)
    assert "A request to change an appointment needs an answer" in staff_html
    assert "just now" in staff_html and "ahora mismo" not in staff_html


def test_a_texted_code_is_in_the_patients_language(
    app,
    client,
    login_as,
    world,
    pager,  # noqa: F811
):
    _with_phone(world.patient)
    _spanish(world.patient)
    login_as(Role.ADMIN)
    response = post_form(
        client,
        f"/admin/patients/{world.patient.id}/text-code",
        {},
        page="/admin/patients",
        follow_redirects=True,
    )
    assert "A new code is on its way" in response.get_data(as_text=True)  # admin: EN
    page = db.session.scalar(
        select(OutboundPage).where(OutboundPage.recipient_id == world.patient.id)
    )
    assert "su código de un solo uso es" in page.body
    assert "Tengo un código del programa" in page.body
    with app.app_context():
        assert deliver_pages() == 1
    ((_channel, _number, body),) = pager
    assert CODE_RE.search(body) and re.search(r"Abra el portal", body)
    assert "your one-time code" not in body
