"""Loops that close on a request: what was arranged in words for the patient, by when
they will hear back, and "Did you get the help?" once the request is done."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.needs.models import HelpAnswer, Need, NeedOutcome, TaskStatus
from portal.blueprints.needs.reading import plain_moment
from portal.blueprints.notifications.models import Notification
from portal.db import utcnow
from portal.security import Role
from tests.conftest import post_form, sign_in
from tests.factories.needs import make_need

NY = ZoneInfo("America/New_York")


def _fresh(need: Need) -> Need:
    return db.session.get(Need, need.id, populate_existing=True)


def _done(world, **values) -> Need:
    fields = {
        "status": TaskStatus.COMPLETED,
        "owner_id": world.staff[Role.CASE_MANAGER].id,
        "outcome": NeedOutcome.ARRANGED,
        "outcome_note": "RECORD-NOTE-77",
        "patient_outcome_note": "Pickup Thu 7:45 AM, white van",
        "closed_at": utcnow(),
        "first_contact_at": utcnow(),
        "due_at": None,
    }
    fields.update(values)
    return make_need(world.patient, world.program, **fields)


# ---- plain words for a moment ----------------------------------------------------


@pytest.mark.parametrize(
    ("local", "said"),
    [
        (datetime(2026, 12, 7, 16, 0), "today 4 PM"),
        (datetime(2026, 12, 8, 9, 30), "tomorrow 9:30 AM"),
        (datetime(2026, 12, 10, 11, 0), "Thursday 11 AM"),
        (datetime(2026, 12, 15, 11, 0), "Tuesday, Dec 15, 11 AM"),
    ],
)
def test_a_deadline_reads_in_plain_words_in_the_programs_zone(local, said):
    now = datetime(2026, 12, 7, 10, 0, tzinfo=NY)
    moment = local.replace(tzinfo=NY).astimezone(ZoneInfo("UTC"))
    assert plain_moment(moment, "America/New_York", now) == said


def test_a_moment_after_midnight_utc_is_still_the_programs_day():
    # 02:00 UTC on the 8th is 21:00 on the 7th in New York
    now = datetime(2026, 12, 7, 20, 0, tzinfo=NY)
    moment = datetime(2026, 12, 8, 2, 0, tzinfo=ZoneInfo("UTC"))
    assert plain_moment(moment, NY, now) == "today 9 PM"


# ---- a new request says by when --------------------------------------------------


def test_a_new_request_says_by_when_the_patient_will_hear_back(client, login_as, world):
    login_as(Role.PATIENT)
    response = post_form(
        client,
        "/help/new/c",
        {"need": "food", "urgency": "2", "details": "Food for the week"},
    )
    assert response.status_code == 303
    need = db.session.scalar(select(Need).where(Need.patient_id == world.patient.id))
    said = plain_moment(need.contact_due_at, world.program.timezone, utcnow())
    page = client.get(response.location).get_data(as_text=True)
    assert f"You will hear back by {said}." in page  # the flash
    assert f"You will hear back by <strong>{said}</strong>." in page
    listing = client.get("/help").get_data(as_text=True)
    assert f"You will hear back by {said}." in listing


def test_once_someone_answered_the_deadline_is_not_shown(client, login_as, world):
    login_as(Role.PATIENT)
    need = make_need(world.patient, world.program, first_contact_at=utcnow())
    page = client.get(f"/help/{need.id}").get_data(as_text=True)
    assert "You will hear back by" not in page


# ---- what was arranged -------------------------------------------------------------


def test_closing_with_a_note_for_the_patient_shows_it_instead_of_only_done(
    client, world
):
    need = make_need(
        world.patient,
        world.program,
        owner_id=world.staff[Role.CASE_MANAGER].id,
        status=TaskStatus.IN_PROGRESS,
        first_contact_at=utcnow(),
    )
    sign_in(client, world.staff[Role.CASE_MANAGER])
    page = f"/staff/needs/{need.id}"
    response = post_form(
        client,
        page,
        {
            "version": str(need.version),
            "status": "completed",
            "urgency": "2",
            "outcome": "arranged",
            "outcome_note": "RECORD-NOTE-77",
            "patient_outcome_note": "Pickup Thu 7:45 AM, white van",
        },
        page=page,
    )
    assert response.status_code == 303
    stored = _fresh(need)
    assert stored.patient_outcome_note == "Pickup Thu 7:45 AM, white van"
    assert stored.outcome_note == "RECORD-NOTE-77"
    other = client.application.test_client()
    sign_in(other, world.patient)
    mine = other.get(f"/help/{need.id}").get_data(as_text=True)
    assert "What was arranged" in mine
    assert "Pickup Thu 7:45 AM, white van" in mine
    assert "RECORD-NOTE-77" not in mine  # the record note is for the record page
    assert "Pickup Thu 7:45 AM, white van" in other.get("/help").get_data(as_text=True)


# ---- did you get the help? -----------------------------------------------------------


def test_the_patient_answers_once_and_the_answer_is_kept_and_audited(
    client, login_as, world
):
    patient = login_as(Role.PATIENT)
    need = _done(world)
    page = client.get(f"/help/{need.id}").get_data(as_text=True)
    assert "Did you get the help?" in page
    response = post_form(
        client, f"/help/{need.id}/got-help", {"answer": "yes"}, page=f"/help/{need.id}"
    )
    assert response.status_code == 303
    stored = _fresh(need)
    assert stored.help_received is HelpAnswer.YES
    assert stored.help_received_at is not None
    assert db.session.scalar(
        select(AuditEvent.id).where(
            AuditEvent.object_id == need.id, AuditEvent.detail == "got the help: yes"
        )
    )
    after = client.get(f"/help/{need.id}").get_data(as_text=True)
    assert "You told us: Yes, I got the help." in after
    assert 'name="answer"' not in after
    # a second answer, posted anyway, changes nothing
    again = post_form(
        client, f"/help/{need.id}/got-help", {"answer": "no"}, page="/help"
    )
    assert again.status_code == 409
    assert "You already told us." in again.get_data(as_text=True)
    assert _fresh(need).help_received is HelpAnswer.YES
    assert patient.id == need.patient_id


def test_no_tells_the_case_manager_so_someone_follows_up(client, login_as, world):
    login_as(Role.PATIENT)
    need = _done(world)
    post_form(
        client, f"/help/{need.id}/got-help", {"answer": "no"}, page=f"/help/{need.id}"
    )
    told = db.session.scalars(
        select(Notification).where(
            Notification.recipient_id == world.staff[Role.CASE_MANAGER].id,
            Notification.subject_id == need.id,
        )
    ).all()
    assert len(told) == 1


def test_an_open_request_cannot_be_answered_yet(client, login_as, world):
    login_as(Role.PATIENT)
    need = make_need(world.patient, world.program)
    assert "Did you get the help?" not in client.get(f"/help/{need.id}").get_data(
        as_text=True
    )
    response = post_form(
        client, f"/help/{need.id}/got-help", {"answer": "yes"}, page=f"/help/{need.id}"
    )
    assert response.status_code == 409
    assert "once the request is done" in response.get_data(as_text=True)
    assert _fresh(need).help_received is None


@pytest.mark.parametrize("answer", ["", "maybe", "yes<script>"])
def test_a_bad_answer_is_refused_with_the_form_shown_again(
    client, login_as, world, answer
):
    login_as(Role.PATIENT)
    need = _done(world)
    response = post_form(
        client,
        f"/help/{need.id}/got-help",
        {"answer": answer},
        page=f"/help/{need.id}",
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Did you get the help?" in body
    assert _fresh(need).help_received is None


def test_another_patients_request_cannot_be_answered(client, world):
    need = _done(world)
    sign_in(client, world.patient_b)
    response = post_form(
        client, f"/help/{need.id}/got-help", {"answer": "no"}, page="/help"
    )
    assert response.status_code == 404
    assert "Pickup Thu" not in response.get_data(as_text=True)
    assert _fresh(need).help_received is None


def test_staff_see_the_patients_answer(client, world):
    need = _done(world, help_received=HelpAnswer.PARTLY, help_received_at=utcnow())
    sign_in(client, world.staff[Role.CASE_MANAGER])
    page = client.get(f"/staff/needs/{need.id}").get_data(as_text=True)
    assert "I got part of the help." in page
    assert "Pickup Thu 7:45 AM, white van" in page


def test_the_deadline_is_not_shown_after_the_request_closed(client, login_as, world):
    login_as(Role.PATIENT)
    need = _done(world, first_contact_at=None, contact_due_at=utcnow() + timedelta(1))
    assert "hear back" not in client.get(f"/help/{need.id}").get_data(as_text=True)
