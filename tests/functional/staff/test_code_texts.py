"""A one-time code texted to the patient's mobile number through the pager, at
enrollment or later (first sign-in or a forgotten password): the worker sends it,
the stored text loses the code once sent, and the code sets the password."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import Enrollment
from portal.blueprints.safety.models import OutboundPage, PageStatus
from portal.blueprints.safety.paging import CODE_TEXT_DONE, deliver_pages
from portal.blueprints.staff.services import NO_MOBILE
from portal.security import Role
from tests.conftest import MARKERS, post_form, program_today, sign_in
from tests.functional.auth.test_auth import _set_password

CODE_RE = re.compile(r"\b([A-Z2-9]{5}-[A-Z2-9]{5})\b")
SENT: list[tuple[str, str, str]] = []


class CapturingPager:
    """Keeps what a real pager would hand to the SMS provider."""

    def send(self, page, user) -> None:
        SENT.append((page.channel, user.phone, page.body))


@pytest.fixture
def pager(app, monkeypatch):
    SENT.clear()
    monkeypatch.setitem(app.config, "PAGER", f"{__name__}:CapturingPager")
    return SENT


def _code_pages(patient) -> list[OutboundPage]:
    return list(
        db.session.scalars(
            select(OutboundPage).where(OutboundPage.recipient_id == patient.id)
        )
    )


def _with_phone(patient, number="+16175550177"):
    patient.phone = number
    db.session.scalar(
        select(Enrollment).where(Enrollment.patient_id == patient.id)
    ).mobile_phone = number
    db.session.flush()


def test_admin_texts_a_new_code_that_sets_the_password(
    client, app, login_as, world, pager
):
    _with_phone(world.patient)
    login_as(Role.ADMIN)
    response = post_form(
        client,
        f"/admin/patients/{world.patient.id}/text-code",
        {},
        page="/admin/patients",
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert "A new code is on its way" in html
    assert not CODE_RE.search(html)  # the code is texted, not shown

    (page,) = _code_pages(world.patient)
    assert page.channel == "sms" and page.flag_id is None
    with app.app_context():
        assert deliver_pages() == 1
    ((channel, number, body),) = pager
    assert (channel, number) == ("sms", "+16175550177")
    code = CODE_RE.search(body).group(1)
    db.session.expire_all()
    (page,) = _code_pages(world.patient)
    assert page.status is PageStatus.SENT and page.body == CODE_TEXT_DONE
    assert code not in page.body

    answer = _set_password(app.test_client(), "617-555-0177", code, "a phone password")
    assert answer.status_code == 302
    actions = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.patient_id == world.patient.id)
    ).all()
    assert "text_code" in actions and "issue_code" in actions


def test_a_code_text_that_keeps_failing_also_loses_its_code(app, world, monkeypatch):
    _with_phone(world.patient)

    class Broken:
        def send(self, page, user):
            raise RuntimeError("provider down")

    monkeypatch.setattr("portal.blueprints.safety.paging.pager", lambda: Broken())
    from portal.blueprints.safety.paging import queue_code_text

    queue_code_text(world.patient.id, "Day Program", "ABCDE-23456")
    db.session.flush()
    with app.app_context():
        for _ in range(5):
            deliver_pages()
    db.session.expire_all()
    (page,) = _code_pages(world.patient)
    assert page.status is PageStatus.FAILED and "ABCDE" not in page.body


def test_no_text_for_a_patient_without_a_mobile_number(client, login_as, world):
    login_as(Role.ADMIN)
    response = post_form(
        client,
        f"/admin/patients/{world.patient.id}/text-code",
        {},
        page="/admin/patients",
        follow_redirects=True,
    )
    assert NO_MOBILE in response.get_data(as_text=True)
    assert _code_pages(world.patient) == []


def test_the_code_can_be_texted_at_enrollment(client, app, login_as, world, pager):
    login_as(Role.ADMIN)
    response = post_form(
        client,
        "/admin/patients/new",
        {
            "display_name": "Text Me",
            "date_of_birth": "1979-02-03",
            "preferred_language": "en",
            "mobile_phone": "617 555 0166",
            "text_code": "y",
            "track_id": world.track.id,
            "admitted_on": program_today().isoformat(),
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "on its way by text message" in html
    shown = CODE_RE.search(html).group(1)
    person = db.session.scalar(select(User).where(User.phone == "+16175550166"))
    assert person is not None and person.email is None
    with app.app_context():
        deliver_pages()
    assert CODE_RE.search(pager[0][2]).group(1) == shown


def test_admin_of_another_program_cannot_text_a_code(app, world, pager):
    _with_phone(world.patient)
    client = app.test_client()
    sign_in(client, world.other_admin)
    response = post_form(
        client,
        f"/admin/patients/{world.patient.id}/text-code",
        {},
        page="/admin/patients",
    )
    assert response.status_code == 404
    assert MARKERS["patient"] not in response.get_data(as_text=True)
    assert _code_pages(world.patient) == []
