"""The case managers' queue (order, filters with counts, pages, overdue), claiming,
status moves with reasons and outcomes, conflicting edits, reassignment, time away,
the director's report and targets, and hostile text shown back to staff."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import db
from portal.blueprints.needs.models import (
    CaseManagerAway,
    EventKind,
    HousingSituation,
    Need,
    NeedEvent,
    NeedKind,
    NeedOutcome,
    NeedSlaRule,
    SdohCategory,
    TaskStatus,
    Urgency,
)
from portal.db import utcnow
from portal.security import Role
from tests import factories as f
from tests.conftest import csrf_from, post_form, sign_in
from tests.factories.needs import make_need

ROW_RE = re.compile(r'href="/staff/needs/([0-9a-f-]{36})"')


def _fresh(need: Need) -> Need:
    return db.session.get(Need, need.id, populate_existing=True)


def _queue_ids(client, query: str = "") -> list[str]:
    page = client.get(f"/staff/needs{query}").get_data(as_text=True)
    return ROW_RE.findall(page)


def _case_manager(world, name="Second Case Manager", program=None):
    user = f.UserFactory(staff=True, role=Role.CASE_MANAGER, display_name=name)
    f.StaffMembershipFactory(user_id=user.id, program_id=(program or world.program).id)
    return user


def _update(client, need, **data):
    page = f"/staff/needs/{need.id}"
    values = {
        "version": str(_fresh(need).version),
        "status": _fresh(need).status.value,
        "urgency": str(int(_fresh(need).urgency)),
    }
    values.update(data)
    return post_form(client, page, values, page=page)


@pytest.fixture
def cm(client, world):
    user = world.staff[Role.CASE_MANAGER]
    sign_in(client, user)
    return user


# ---- the queue --------------------------------------------------------------------


def test_queue_puts_the_most_urgent_and_soonest_due_first(client, world, cm):
    now = utcnow()
    later_urgent = make_need(
        world.patient,
        world.program,
        urgency=Urgency.URGENT,
        due_at=now + timedelta(hours=5),
    )
    soon_urgent = make_need(
        world.patient_b,
        world.program,
        urgency=Urgency.URGENT,
        due_at=now + timedelta(hours=1),
    )
    routine = make_need(
        world.patient,
        world.program,
        urgency=Urgency.ROUTINE,
        due_at=now + timedelta(minutes=5),
    )
    paused = make_need(
        world.patient,
        world.program,
        urgency=Urgency.URGENT,
        status=TaskStatus.ON_HOLD,
        due_at=None,
    )
    make_need(world.patient, world.program, status=TaskStatus.COMPLETED)
    make_need(world.patient_c, world.other_program)
    assert _queue_ids(client) == [
        soon_urgent.id,
        later_urgent.id,
        paused.id,
        routine.id,
    ]


def test_filters_show_their_counts_and_narrow_the_list(client, world, cm):
    now = utcnow()
    mine = make_need(world.patient, world.program, owner_id=cm.id)
    nobody = make_need(
        world.patient,
        world.program,
        kind=NeedKind.HOUSING,
        category=SdohCategory.HOMELESSNESS,
        other_need=None,
        housing_situation=HousingSituation.HOMELESS,
    )
    late = make_need(
        world.patient_b,
        world.program,
        owner_id=world.director.id,
        due_at=now - timedelta(hours=1),
    )
    page = client.get("/staff/needs").get_data(as_text=True)
    for label, count in (
        ("All open", 3),
        ("Mine", 1),
        ("Nobody has it", 1),
        ("Overdue", 1),
        ("Housing", 1),
        ("Other", 2),
        ("Rides", 0),
    ):
        assert f"{label} ({count})" in page, label
    assert _queue_ids(client, "?view=mine") == [mine.id]
    assert _queue_ids(client, "?view=unassigned") == [nobody.id]
    assert _queue_ids(client, "?view=overdue") == [late.id]
    assert _queue_ids(client, "?kind=housing") == [nobody.id]
    assert _queue_ids(client, "?view=mine&kind=housing") == []
    narrowed = client.get("/staff/needs?kind=housing").get_data(as_text=True)
    assert "All open (1)" in narrowed and "Mine (0)" in narrowed
    assert "Housing (1)" in narrowed


def test_overdue_requests_are_marked_in_words_not_colour_alone(client, world, cm):
    make_need(world.patient, world.program, due_at=utcnow() - timedelta(minutes=1))
    page = client.get("/staff/needs").get_data(as_text=True)
    assert 'class="is-overdue"' in page
    assert '<span class="overdue">Overdue</span>' in page


def test_queue_pages_through_many_requests(client, world, cm):
    for n in range(30):
        make_need(
            world.patient, world.program, due_at=utcnow() + timedelta(minutes=n + 1)
        )
    first, second = _queue_ids(client), _queue_ids(client, "?page=2")
    assert len(first) == 25 and len(second) == 5
    assert not set(first) & set(second)
    assert "Page 2 of 2" in client.get("/staff/needs?page=2").get_data(as_text=True)
    assert _queue_ids(client, "?page=99") == second  # clamped to the last page
    assert _queue_ids(client, "?page=abc") == first


def test_filter_links_answer_a_fragment_to_htmx(client, world, cm):
    make_need(world.patient, world.program)
    response = client.get("/staff/needs?view=mine", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="queue"')
    assert "<html" not in body
    assert "HX-Request" in response.headers["Vary"]


def test_queue_reads_are_audited_per_patient(client, world, cm):
    from portal.audit import AuditEvent

    a = make_need(world.patient, world.program)
    b = make_need(world.patient_b, world.program)
    client.get("/staff/needs")
    rows = db.session.execute(
        select(AuditEvent.patient_id, AuditEvent.object_id).where(
            AuditEvent.data_kind == "need", AuditEvent.actor_id == cm.id
        )
    ).all()
    assert {(world.patient.id, a.id), (world.patient_b.id, b.id)} <= set(rows)


def test_queue_uses_the_same_few_queries_with_more_requests(
    client, world, cm, query_counter
):
    make_need(world.patient, world.program)

    def count():
        client.get("/staff/needs")
        query_counter["n"] = 0
        assert client.get("/staff/needs").status_code == 200
        return query_counter["n"], list(query_counter["statements"])

    small, _ = count()
    for n in range(60):
        make_need(
            world.patient_b if n % 2 else world.patient,
            world.program,
            owner_id=cm.id if n % 3 else None,
        )
    large, statements = count()
    assert small == large, statements
    assert large <= 6, statements


def test_other_staff_and_other_programs_cannot_triage(client, world):
    need = make_need(world.patient, world.program, details="ALPHA-FOOD-1")
    sign_in(client, world.staff[Role.THERAPIST])
    assert client.get("/staff/needs").status_code == 404
    assert client.get(f"/staff/needs/{need.id}").status_code == 404
    elsewhere = _case_manager(world, "Elsewhere CM", program=world.other_program)
    client2 = client.application.test_client()
    sign_in(client2, elsewhere)
    response = client2.get(f"/staff/needs/{need.id}")
    assert response.status_code == 404
    assert "ALPHA-FOOD-1" not in response.get_data(as_text=True)
    assert need.id not in client2.get("/staff/needs").get_data(as_text=True)
    token = csrf_from(client2.get("/staff/needs").get_data(as_text=True))
    for action in ("claim", "reassign"):
        response = client2.post(
            f"/staff/needs/{need.id}/{action}", data={"csrf_token": token}
        )
        assert response.status_code == 404
    assert _fresh(need).owner_id is None


# ---- claiming and status ----------------------------------------------------------


def test_claim_takes_an_unassigned_request_once(client, world, cm):
    need = make_need(world.patient, world.program)
    page = f"/staff/needs/{need.id}"
    response = post_form(client, f"{page}/claim", {}, page=page)
    assert response.status_code == 303
    assert "This request is yours now." in client.get(page).get_data(as_text=True)
    assert _fresh(need).owner_id == cm.id and _fresh(need).version == 2
    second = client.application.test_client()
    sign_in(second, world.director)
    response = post_form(second, f"{page}/claim", {}, page=page)
    assert "Someone else took this request first" in second.get(page).get_data(
        as_text=True
    )
    assert _fresh(need).owner_id == cm.id
    claims = db.session.scalars(
        select(NeedEvent).where(NeedEvent.kind == EventKind.CLAIMED)
    ).all()
    assert len(claims) == 1


def test_accepting_records_first_contact_and_moves_the_deadline(client, world, cm):
    now = utcnow()
    need = make_need(
        world.patient,
        world.program,
        owner_id=cm.id,
        contact_due_at=now + timedelta(hours=2),
        resolve_due_at=now + timedelta(days=3),
        due_at=now + timedelta(hours=2),
    )
    assert _update(client, need, status="accepted").status_code == 303
    need = _fresh(need)
    assert need.status is TaskStatus.ACCEPTED
    assert need.first_contact_at is not None
    assert need.due_at == need.resolve_due_at


def test_a_visible_note_counts_as_first_contact_an_internal_one_does_not(
    client, world, cm
):
    need = make_need(world.patient, world.program, owner_id=cm.id)
    _update(client, need, note="Thinking about options")
    assert _fresh(need).first_contact_at is None
    _update(client, need, note="I called you", note_visible="y")
    assert _fresh(need).first_contact_at is not None


@pytest.mark.parametrize("status", ["on-hold", "rejected", "cancelled", "failed"])
def test_statuses_that_need_a_reason_refuse_without_one(client, world, cm, status):
    need = make_need(
        world.patient, world.program, owner_id=cm.id, status=TaskStatus.IN_PROGRESS
    )
    if status == "rejected":
        need = make_need(world.patient, world.program, owner_id=cm.id)
    response = _update(client, need, status=status, outcome="not_possible")
    assert response.status_code == 422
    assert f"Write a reason for {status}." in response.get_data(as_text=True)
    response = _update(
        client,
        need,
        status=status,
        reason="Waiting for the landlord",
        outcome="not_possible",
    )
    assert response.status_code == 303
    assert _fresh(need).status_reason == "Waiting for the landlord"


def test_completing_needs_an_outcome_and_closes_the_request(client, world, cm):
    need = make_need(
        world.patient, world.program, owner_id=cm.id, status=TaskStatus.IN_PROGRESS
    )
    response = _update(client, need, status="completed")
    assert "Choose the outcome." in response.get_data(as_text=True)
    response = _update(
        client,
        need,
        status="completed",
        outcome="arranged",
        outcome_note="Bus pass for the month",
    )
    assert response.status_code == 303
    need = _fresh(need)
    assert need.outcome is NeedOutcome.ARRANGED
    assert need.outcome_note == "Bus pass for the month"
    assert need.closed_at is not None and need.due_at is None
    assert need.id not in _queue_ids(client)


def test_a_move_outside_the_task_state_machine_is_refused(client, world, cm):
    need = make_need(world.patient, world.program, owner_id=cm.id)
    response = _update(client, need, status="completed", outcome="arranged")
    assert response.status_code == 422
    assert _fresh(need).status is TaskStatus.REQUESTED


def test_on_hold_stops_the_clock_and_resuming_restarts_it(client, world, cm):
    need = make_need(
        world.patient,
        world.program,
        owner_id=cm.id,
        status=TaskStatus.IN_PROGRESS,
        first_contact_at=utcnow() - timedelta(days=1),
        resolve_due_at=utcnow() - timedelta(hours=1),
        due_at=utcnow() - timedelta(hours=1),
    )
    _update(client, need, status="on-hold", reason="Waiting for a call back")
    assert _fresh(need).due_at is None
    assert need.id not in _queue_ids(client, "?view=overdue")
    _update(client, need, status="in-progress")
    need = _fresh(need)
    assert need.due_at is not None and need.due_at > utcnow()


def test_changing_urgency_recounts_the_deadlines(client, world, cm):
    db.session.add(
        NeedSlaRule(
            program_id=world.program.id,
            kind=NeedKind.OTHER,
            urgency=Urgency.URGENT,
            contact_hours=1,
            resolve_hours=2,
        )
    )
    need = make_need(
        world.patient,
        world.program,
        owner_id=cm.id,
        created_at=utcnow() - timedelta(days=30),
        due_at=utcnow() + timedelta(days=1),
    )
    _update(client, need, urgency="1")
    need = _fresh(need)
    assert need.urgency is Urgency.URGENT
    assert need.due_at < utcnow()  # counted from when it was asked, a month ago


def test_nothing_to_save_is_said_plainly(client, world, cm):
    need = make_need(world.patient, world.program, owner_id=cm.id)
    response = _update(client, need)
    assert "Nothing to save" in response.get_data(as_text=True)


# ---- two people at once -------------------------------------------------------------


def test_second_editor_sees_a_conflict_and_keeps_their_text(client, world, cm):
    need = make_need(world.patient, world.program, owner_id=cm.id)
    page = f"/staff/needs/{need.id}"
    cm_form = client.get(page).get_data(as_text=True)
    director = client.application.test_client()
    sign_in(director, world.director)
    response = post_form(
        director,
        page,
        {
            "version": "1",
            "status": "accepted",
            "urgency": "2",
            "note": "Director got there first",
        },
    )
    assert response.status_code == 303
    response = client.post(
        page,
        data={
            "csrf_token": csrf_from(cm_form),
            "version": "1",
            "status": "in-progress",
            "urgency": "2",
            "note": "MY-CAREFUL-NOTE about the landlord",
        },
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Someone else changed this request" in body
    assert "MY-CAREFUL-NOTE about the landlord</textarea>" in body
    assert "Director got there first" in body
    assert 'name="version" value="2"' in body
    bodies = db.session.scalars(
        select(NeedEvent.body).where(NeedEvent.need_id == need.id)
    )
    assert "MY-CAREFUL-NOTE about the landlord" not in list(bodies)
    # Saving again from the conflict page goes through.
    response = client.post(
        page,
        data={
            "csrf_token": csrf_from(body),
            "version": "2",
            "status": "in-progress",
            "urgency": "2",
            "note": "MY-CAREFUL-NOTE about the landlord",
        },
    )
    assert response.status_code == 303
    assert _fresh(need).status is TaskStatus.IN_PROGRESS


def test_patient_addition_while_staff_write_is_a_conflict_not_a_loss(client, world, cm):
    need = make_need(world.patient, world.program, owner_id=cm.id)
    page = f"/staff/needs/{need.id}"
    form = client.get(page).get_data(as_text=True)
    patient = client.application.test_client()
    sign_in(patient, world.patient)
    post_form(
        patient,
        f"/help/{need.id}/add",
        {"text": "I moved yesterday"},
        page=f"/help/{need.id}",
    )
    response = client.post(
        page,
        data={
            "csrf_token": csrf_from(form),
            "version": "1",
            "status": "accepted",
            "urgency": "2",
            "note": "Booked at the old address",
        },
    )
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "I moved yesterday" in body and "Booked at the old address" in body


# ---- reassigning ------------------------------------------------------------------


def test_reassigning_needs_a_reason_and_tells_the_new_owner(client, world, cm):
    from portal.blueprints.notifications.models import Notification

    other = _case_manager(world)
    need = make_need(world.patient, world.program, owner_id=cm.id)
    page = f"/staff/needs/{need.id}"
    response = post_form(
        client,
        f"{page}/reassign",
        {"version": "1", "to": other.id, "why": ""},
        page=page,
    )
    assert response.status_code == 422
    assert "Write why." in response.get_data(as_text=True)
    response = post_form(
        client,
        f"{page}/reassign",
        {"version": "1", "to": other.id, "why": "SECRET-WHY covering"},
        page=page,
    )
    assert response.status_code == 303
    assert _fresh(need).owner_id == other.id
    event = db.session.scalar(
        select(NeedEvent).where(NeedEvent.kind == EventKind.REASSIGNED)
    )
    assert (event.owner_id, event.reason, event.patient_visible) == (
        other.id,
        "SECRET-WHY covering",
        False,
    )
    assert (
        db.session.scalar(
            select(Notification.id).where(Notification.recipient_id == other.id)
        )
        is not None
    )
    patient = client.application.test_client()
    sign_in(patient, world.patient)
    body = patient.get(f"/help/{need.id}").get_data(as_text=True)
    assert "SECRET-WHY" not in body and "Second Case Manager is helping you" in body


def test_reassigning_only_to_case_managers_of_the_program(client, world, cm):
    elsewhere = _case_manager(world, "Elsewhere", program=world.other_program)
    need = make_need(world.patient, world.program, owner_id=cm.id)
    page = f"/staff/needs/{need.id}"
    response = post_form(
        client,
        f"{page}/reassign",
        {"version": "1", "to": elsewhere.id, "why": "try"},
        page=page,
    )
    assert response.status_code == 422
    assert _fresh(need).owner_id == cm.id


def test_reassigning_back_to_the_queue(client, world, cm):
    need = make_need(world.patient, world.program, owner_id=cm.id)
    page = f"/staff/needs/{need.id}"
    post_form(
        client,
        f"{page}/reassign",
        {"version": "1", "to": "", "why": "Leave"},
        page=page,
    )
    assert _fresh(need).owner_id is None
    assert need.id in _queue_ids(client, "?view=unassigned")


# ---- time away, report, targets -----------------------------------------------------


def test_case_manager_marks_time_away_and_comes_back(client, world, cm):
    back_on = (utcnow() + timedelta(days=5)).date().isoformat()
    response = post_form(client, "/staff/needs/away", {"back_on": back_on})
    assert response.status_code == 303
    assert db.session.get(CaseManagerAway, cm.id) is not None
    assert "You are away until" in client.get("/staff/needs/away").get_data(
        as_text=True
    )
    post_form(client, "/staff/needs/away", {"back": "1"})
    assert db.session.get(CaseManagerAway, cm.id) is None
    response = post_form(
        client,
        "/staff/needs/away",
        {"back_on": (utcnow() - timedelta(days=1)).date().isoformat()},
    )
    assert response.status_code == 422
    for far_out in ("9999-12-31", "0001-01-01"):
        response = post_form(client, "/staff/needs/away", {"back_on": far_out})
        assert response.status_code == 422
        assert "Choose a date from 1900 to 2999." in response.get_data(as_text=True)
        assert db.session.get(CaseManagerAway, cm.id) is None


def test_case_managers_cannot_read_the_report_or_set_targets(client, world, cm):
    assert client.get("/staff/needs/report").status_code == 404
    assert client.get("/staff/needs/settings").status_code == 404


def test_director_sets_targets_used_by_new_requests(client, world):
    sign_in(client, world.director)
    page = client.get("/staff/needs/settings").get_data(as_text=True)
    assert 'name="housing_urgent_contact"' in page and 'value="4"' in page
    data = {}
    for name, value in re.findall(
        r'name="(\w+_(?:contact|resolve))"[^>]*value="(\d*)"', page
    ):
        data[name] = value
    assert len(data) == 18
    data["housing_urgent_contact"] = "2"
    response = post_form(client, "/staff/needs/settings", data)
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    rule = db.session.get(
        NeedSlaRule, (world.program.id, NeedKind.HOUSING, Urgency.URGENT)
    )
    assert rule.contact_hours == 2
    response = post_form(
        client, "/staff/needs/settings", {**data, "other_soon_contact": "0"}
    )
    assert response.status_code == 422


# ---- hostile input ----------------------------------------------------------------

PAYLOADS = [
    '<script>alert("x1")</script>',
    '"><img src=x onerror=alert("x2")>',
    "<svg onload=alert('x3')>",
    "javascript:alert('x4')",
    "{{ 7*7 }}{% raw %}",
]


def _no_live_markup(body: str) -> None:
    assert "<script>alert" not in body
    assert "<img src=x" not in body
    assert "<svg onload" not in body
    assert 'href="javascript:' not in body


def test_hostile_text_in_every_field_is_shown_as_text_to_staff(client, world):
    from zoneinfo import ZoneInfo

    world.patient.display_name = PAYLOADS[1]
    db.session.flush()
    patient = client.application.test_client()
    sign_in(patient, world.patient)
    day = (
        (utcnow().astimezone(ZoneInfo(world.program.timezone)) + timedelta(days=3))
        .date()
        .isoformat()
    )
    ride = {
        "ride_date": day,
        "ride_time": "09:00",
        "pickup": PAYLOADS[0],
        "destination": PAYLOADS[1],
        "access_needs": PAYLOADS[2],
        "companions": PAYLOADS[3],
        "details": PAYLOADS[4],
    }
    housing = {"situation": "homeless", "urgency": "1", "details": PAYLOADS[0]}
    other = {"need": "food", "urgency": "2", "details": PAYLOADS[2]}
    for slug, data in (("a", ride), ("b", housing), ("c", other)):
        assert post_form(patient, f"/help/new/{slug}", data).status_code == 303
    need = db.session.scalar(select(Need).where(Need.kind == NeedKind.TRANSPORT))
    post_form(
        patient, f"/help/{need.id}/add", {"text": PAYLOADS[1]}, page=f"/help/{need.id}"
    )

    cm = world.staff[Role.CASE_MANAGER]
    sign_in(client, cm)
    page = f"/staff/needs/{need.id}"
    _update(
        client,
        need,
        status="on-hold",
        reason=PAYLOADS[0],
        note=PAYLOADS[2],
        note_visible="y",
    )
    _update(client, need, note=PAYLOADS[3])
    other_cm = _case_manager(world, PAYLOADS[2])
    post_form(
        client,
        f"{page}/reassign",
        {"version": str(_fresh(need).version), "to": other_cm.id, "why": PAYLOADS[1]},
        page=page,
    )
    for url in ("/staff/needs", page, "/staff/needs?view=mine"):
        body = client.get(url).get_data(as_text=True)
        _no_live_markup(body)
    body = client.get(page).get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;x1&#34;)&lt;/script&gt;" in body
    assert "&lt;svg onload=alert(&#39;x3&#39;)&gt;" in body
    assert "{{ 7*7 }}{% raw %}" in body  # template syntax stays text
    for url in (f"/help/{need.id}", "/help"):
        _no_live_markup(patient.get(url).get_data(as_text=True))
    director = client.application.test_client()
    sign_in(director, world.director)
    board = director.get("/staff/needs/report", follow_redirects=True)
    assert board.status_code == 200
    _no_live_markup(board.get_data(as_text=True))
