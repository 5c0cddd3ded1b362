"""Patients ask for a ride, housing or other help; requests are routed to a case
manager; the patient follows the status, reads the notes meant for them, adds to and
cancels their request, and is told of each change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import db
from portal.blueprints.needs.models import (
    CaseManagerAway,
    EventKind,
    Need,
    NeedEvent,
    NeedKind,
    SdohCategory,
    TaskStatus,
    Urgency,
)
from portal.blueprints.notifications.models import Notification, NotificationKind
from portal.db import utcnow
from portal.security import Role
from tests import factories as f
from tests.conftest import post_form, sign_in
from tests.factories.needs import make_need


def _program_day(ctx_tz, days_ahead: int):
    return (utcnow().astimezone(ctx_tz) + timedelta(days=days_ahead)).date()


def _ask(client, slug: str, data: dict):
    return post_form(client, f"/help/new/{slug}", data)


def _last_need(patient) -> Need:
    return db.session.scalar(
        select(Need)
        .where(Need.patient_id == patient.id)
        .order_by(Need.created_at.desc())
    )


def _fresh(need: Need) -> Need:
    """The row as stored now (the request ended the session that loaded `need`)."""
    return db.session.get(Need, need.id, populate_existing=True)


def _case_manager(world, name: str):
    user = f.UserFactory(staff=True, role=Role.CASE_MANAGER, display_name=name)
    f.StaffMembershipFactory(user_id=user.id, program_id=world.program.id)
    return user


def _notifications(user_id: str) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(Notification.recipient_id == user_id)
        )
    )


def test_patient_asks_for_a_ride_in_plain_words(client, login_as, world):
    from zoneinfo import ZoneInfo

    patient = login_as(Role.PATIENT)
    page = client.get("/help/new/a").get_data(as_text=True)
    assert "What day do you need the ride?" in page
    day = _program_day(ZoneInfo(world.program.timezone), 10)
    response = _ask(
        client,
        "a",
        {
            "ride_date": day.isoformat(),
            "ride_time": "08:15",
            "pickup": "12 Elm Street, Springfield",
            "destination": "The program",
            "wheelchair": "y",
            "access_needs": "I need help with steps",
            "companions": "My son, age 5",
        },
    )
    assert response.status_code == 303
    need = _last_need(patient)
    assert need.kind is NeedKind.TRANSPORT
    assert need.category is SdohCategory.TRANSPORTATION
    assert need.wheelchair is True and need.companions == "My son, age 5"
    assert need.ride_at.astimezone(ZoneInfo(world.program.timezone)).hour == 8
    assert need.urgency is Urgency.ROUTINE  # ten days ahead
    assert need.status is TaskStatus.REQUESTED
    assert need.due_at is not None and need.due_at <= need.ride_at
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your request was sent" in page
    assert "12 Elm Street, Springfield" in page


@pytest.mark.parametrize(
    ("situation", "category"),
    [
        ("homeless", SdohCategory.HOMELESSNESS),
        ("shelter", SdohCategory.HOMELESSNESS),
        ("at_risk", SdohCategory.HOUSING_INSTABILITY),
        ("stable", SdohCategory.HOUSING_INSTABILITY),
    ],
)
def test_housing_request_carries_its_gravity_category(
    client, login_as, world, situation, category
):
    patient = login_as(Role.PATIENT)
    response = _ask(
        client,
        "b",
        {"situation": situation, "urgency": "1", "details": "A bed for tonight"},
    )
    assert response.status_code == 303
    need = _last_need(patient)
    assert (need.kind, need.category, need.urgency) == (
        NeedKind.HOUSING,
        category,
        Urgency.URGENT,
    )


@pytest.mark.parametrize(
    ("choice", "category"),
    [
        ("food", SdohCategory.FOOD),
        ("utilities", SdohCategory.UTILITY),
        ("phone", SdohCategory.DIGITAL_ACCESS),
        ("work", SdohCategory.EMPLOYMENT),
        ("money", SdohCategory.FINANCIAL),
        ("childcare", SdohCategory.UNSPECIFIED),
    ],
)
def test_other_needs_carry_their_gravity_category(
    client, login_as, world, choice, category
):
    patient = login_as(Role.PATIENT)
    response = _ask(client, "c", {"need": choice, "urgency": "3", "details": "Help"})
    assert response.status_code == 303
    assert _last_need(patient).category is category


def test_missing_answers_are_explained_and_other_answers_kept(client, login_as, world):
    login_as(Role.PATIENT)
    response = _ask(client, "b", {"situation": "at_risk", "details": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Choose how soon." in page
    assert "Tell us a little about what would help." in page
    assert 'value="at_risk" checked' in page


def test_a_ride_in_the_past_is_refused(client, login_as, world):
    login_as(Role.PATIENT)
    response = _ask(
        client,
        "a",
        {
            "ride_date": (utcnow() - timedelta(days=2)).date().isoformat(),
            "ride_time": "09:00",
            "pickup": "1 Main St",
            "destination": "The program",
        },
    )
    assert response.status_code == 422
    assert "next two months" in response.get_data(as_text=True)
    assert db.session.scalar(select(Need.id)) is None


# ---- routing ----------------------------------------------------------------------


def test_request_goes_to_the_patients_own_case_manager(client, login_as, world):
    patient = login_as(Role.PATIENT)
    _case_manager(world, "Idle Case Manager")  # less loaded, but not theirs
    _ask(client, "c", {"need": "food", "urgency": "2", "details": "Groceries"})
    need = _last_need(patient)
    own = world.staff[Role.CASE_MANAGER]
    assert need.owner_id == own.id
    kinds = [e.kind for e in db.session.scalars(select(NeedEvent))]
    assert kinds == [EventKind.CREATED, EventKind.ROUTED]
    told = _notifications(own.id)
    assert [n.kind for n in told] == [NotificationKind.NEED_UPDATE]
    assert told[0].target == f"/staff/needs/{need.id}"


def test_away_case_manager_is_passed_over_for_the_least_loaded(client, login_as, world):
    patient = login_as(Role.PATIENT)
    own = world.staff[Role.CASE_MANAGER]
    db.session.add(CaseManagerAway(staff_id=own.id, until=utcnow() + timedelta(days=2)))
    busy = _case_manager(world, "Busy Case Manager")
    idle = _case_manager(world, "Zed Idle Case Manager")
    for _ in range(3):
        make_need(world.patient_b, world.program, owner_id=busy.id)
    make_need(
        world.patient_b, world.program, owner_id=idle.id, status=TaskStatus.COMPLETED
    )  # closed: not load
    _ask(client, "c", {"need": "phone", "urgency": "2", "details": "My phone broke"})
    assert _last_need(patient).owner_id == idle.id


def test_patient_without_a_case_manager_goes_to_the_least_loaded(client, world):
    second = _case_manager(world, "Second Case Manager")
    make_need(world.patient, world.program, owner_id=world.staff[Role.CASE_MANAGER].id)
    sign_in(client, world.patient_b)
    _ask(client, "c", {"need": "food", "urgency": "2", "details": "Groceries"})
    assert _last_need(world.patient_b).owner_id == second.id


def test_with_nobody_available_the_request_waits_and_the_director_is_told(
    client, login_as, world
):
    patient = login_as(Role.PATIENT)
    own = world.staff[Role.CASE_MANAGER]
    db.session.add(CaseManagerAway(staff_id=own.id, until=utcnow() + timedelta(days=1)))
    _ask(client, "c", {"need": "food", "urgency": "1", "details": "No food today"})
    need = _last_need(patient)
    assert need.owner_id is None
    assert [n.target for n in _notifications(world.director.id)] == [
        f"/staff/needs/{need.id}"
    ]


def test_an_expired_time_away_no_longer_counts(client, login_as, world):
    patient = login_as(Role.PATIENT)
    own = world.staff[Role.CASE_MANAGER]
    db.session.add(
        CaseManagerAway(staff_id=own.id, until=utcnow() - timedelta(hours=1))
    )
    _ask(client, "c", {"need": "food", "urgency": "1", "details": "No food today"})
    assert _last_need(patient).owner_id == own.id


# ---- the patient's view -----------------------------------------------------------


def test_patient_sees_status_timeline_and_only_notes_meant_for_them(
    client, login_as, world
):
    patient = login_as(Role.PATIENT)
    need = make_need(patient, world.program, owner_id=world.staff[Role.CASE_MANAGER].id)
    cm = world.staff[Role.CASE_MANAGER]
    for body, visible in (("PUBLIC-NOTE-1", True), ("INTERNAL-NOTE-1", False)):
        db.session.add(
            NeedEvent(
                need_id=need.id,
                actor_id=cm.id,
                kind=EventKind.NOTE,
                body=body,
                patient_visible=visible,
            )
        )
    db.session.add(
        NeedEvent(
            need_id=need.id,
            actor_id=cm.id,
            kind=EventKind.REASSIGNED,
            reason="INTERNAL-REASON-1",
            owner_id=cm.id,
        )
    )
    db.session.add(
        NeedEvent(
            need_id=need.id,
            actor_id=cm.id,
            kind=EventKind.STATUS,
            from_status=TaskStatus.REQUESTED,
            to_status=TaskStatus.ACCEPTED,
            patient_visible=True,
        )
    )
    db.session.flush()
    page = client.get(f"/help/{need.id}").get_data(as_text=True)
    assert "PUBLIC-NOTE-1" in page
    assert "Your case manager is on it." in page
    assert "case_manager one is helping you." in page
    assert "INTERNAL-NOTE-1" not in page
    assert "INTERNAL-REASON-1" not in page
    listing = client.get("/help").get_data(as_text=True)
    assert f"/help/{need.id}" in listing


def test_patient_cannot_open_another_patients_request(client, login_as, world):
    login_as(Role.PATIENT)
    other = make_need(world.patient_b, world.program, details="BRAVO-DETAILS-77")
    response = client.get(f"/help/{other.id}")
    assert response.status_code == 404
    assert "BRAVO-DETAILS-77" not in response.get_data(as_text=True)
    for action in ("add", "cancel"):
        response = post_form(
            client,
            f"/help/{other.id}/{action}",
            {"text": "x", "reason": "y"},
            page="/help",
        )
        assert response.status_code == 404


def test_patient_adds_information_and_the_owner_is_told(client, login_as, world):
    patient = login_as(Role.PATIENT)
    cm = world.staff[Role.CASE_MANAGER]
    need = make_need(patient, world.program, owner_id=cm.id)
    response = post_form(
        client,
        f"/help/{need.id}/add",
        {"text": "My new number is 555-0100"},
        page=f"/help/{need.id}",
    )
    assert response.status_code == 303
    page = client.get(f"/help/{need.id}").get_data(as_text=True)
    assert "You added:" in page and "My new number is 555-0100" in page
    assert _fresh(need).version == 2
    assert [n.kind for n in _notifications(cm.id)] == [NotificationKind.NEED_UPDATE]


def test_patient_cancels_with_a_reason(client, login_as, world):
    patient = login_as(Role.PATIENT)
    cm = world.staff[Role.CASE_MANAGER]
    need = make_need(patient, world.program, owner_id=cm.id)
    page = f"/help/{need.id}"
    response = post_form(client, f"{page}/cancel", {}, page=page)
    assert response.status_code == 422
    assert "Choose a reason." in response.get_data(as_text=True)
    response = post_form(
        client, f"{page}/cancel", {"reason": "I found another way."}, page=page
    )
    assert response.status_code == 303
    need = _fresh(need)
    assert need.status is TaskStatus.CANCELLED
    assert need.status_reason == "I found another way."
    assert need.closed_at is not None and need.due_at is None
    text = client.get(page).get_data(as_text=True)
    assert "You cancelled it." in text and "Cancel my request" not in text
    assert len(_notifications(cm.id)) == 1


def test_patient_cannot_add_to_a_closed_request(client, login_as, world):
    patient = login_as(Role.PATIENT)
    need = make_need(patient, world.program, status=TaskStatus.COMPLETED)
    response = post_form(client, f"/help/{need.id}/add", {"text": "more"}, page="/help")
    assert response.status_code == 409
    assert "This request is closed" in response.get_data(as_text=True)


def test_each_change_the_patient_can_see_notifies_them(client, world):
    from tests.conftest import sign_in as staff_sign_in

    need = make_need(world.patient, world.program)
    staff_sign_in(client, world.staff[Role.CASE_MANAGER])
    page = f"/staff/needs/{need.id}"
    post_form(client, f"{page}/claim", {}, page=page)
    post_form(
        client,
        page,
        {
            "version": "2",
            "status": "accepted",
            "urgency": "2",
            "note": "Staff only thought",
        },
        page=page,
    )
    post_form(
        client,
        page,
        {
            "version": "3",
            "status": "accepted",
            "urgency": "2",
            "note": "Call me back",
            "note_visible": "y",
        },
        page=page,
    )
    told = [
        n
        for n in _notifications(world.patient.id)
        if n.kind is NotificationKind.NEED_UPDATE
    ]
    # claimed (who helps), accepted (status), the visible note: three; the internal
    # note alone would not tell the patient anything new.
    assert len(told) == 3
    assert {n.target for n in told} == {f"/help/{need.id}"}


def test_push_payloads_and_notifications_hold_no_request_details(
    client, login_as, world
):
    login_as(Role.PATIENT)
    _ask(
        client,
        "b",
        {"situation": "homeless", "urgency": "1", "details": "SECRET-HOUSING-DETAIL"},
    )
    for note in db.session.scalars(select(Notification)):
        assert "SECRET" not in (note.target or "")
        assert "homeless" not in (note.target or "")


def test_patient_request_pages_use_few_constant_queries(
    client, login_as, world, query_counter
):
    patient = login_as(Role.PATIENT)
    need = make_need(patient, world.program, owner_id=world.staff[Role.CASE_MANAGER].id)

    def count(url):
        client.get(url)
        query_counter["n"] = 0
        assert client.get(url).status_code == 200
        return query_counter["n"]

    small = {url: count(url) for url in ("/help", f"/help/{need.id}")}
    for n in range(30):
        make_need(patient, world.program, details=f"more {n}")
        db.session.add(
            NeedEvent(
                need_id=need.id, kind=EventKind.NOTE, body=f"n{n}", patient_visible=True
            )
        )
    db.session.flush()
    large = {url: count(url) for url in ("/help", f"/help/{need.id}")}
    assert small == large, query_counter["statements"]
    assert max(large.values()) <= 8, query_counter["statements"]


def test_staff_cannot_use_patient_pages_and_patients_cannot_triage(
    client, login_as, world
):
    login_as(Role.PATIENT)
    assert client.get("/staff/needs").status_code == 404
    assert client.get("/staff/needs/report").status_code == 404
