"""Peer specialists and case managers learn that a patient has an open safety alert,
and whether a clinician has it, on every page where they see the patient; never what
the alert is about (no source, answers, level, plan or note)."""

from __future__ import annotations

import pytest

from portal import db
from portal.blueprints.checkins.instruments import Instrument
from portal.blueprints.checkins.models import ScreenerResponse
from portal.blueprints.messages.models import MessageThread
from portal.blueprints.safety.models import FlagStatus, RiskFlag, RiskLevel
from portal.db import new_id, utcnow
from portal.security import Role
from tests.conftest import sign_in
from tests.factories.messages import add_message, thread_id_for
from tests.factories.needs import need_id_for

OPEN = "Safety alert open — the on-call clinician has been alerted"
TAKEN = "Safety alert open — a clinician is on it"
NOTE = "NOTE-ONLY-FOR-CLINICIANS-5521"
PLAN = "PLAN-ONLY-FOR-CLINICIANS-7730"
# What the alert is about, which only those who handle it may read.
CONTENT = (NOTE, PLAN, "PHQ", "phq9", "question 9", "better off dead", "Moderate risk")


@pytest.fixture
def flag(world) -> RiskFlag:
    """Patient A's open alert, raised by PHQ-9 question 9, with a thread and a
    request of theirs for the peer and the case manager to open."""
    answer = ScreenerResponse(
        patient_id=world.patient.id,
        instrument=Instrument.PHQ9,
        answers=[0, 0, 0, 0, 0, 0, 0, 0, 3],
        total=3,
        severity="Minimal",
        risk_positive=True,
        idempotency_key=new_id(),
    )
    db.session.add(answer)
    db.session.flush()
    flag = RiskFlag(
        patient_id=world.patient.id,
        program_id=world.program.id,
        open_key=world.patient.id,
        source="phq9",
        source_id=answer.id,
    )
    db.session.add(flag)
    db.session.flush()
    return flag


def _take(flag: RiskFlag, world) -> None:
    """A clinician has taken and assessed it, with a plan and a note."""
    flag = db.session.get(RiskFlag, flag.id)  # requests end their session
    flag.status = FlagStatus.ASSESSED
    flag.acknowledged_by_id = world.staff[Role.NURSE].id
    flag.acknowledged_at = utcnow()
    flag.risk_level, flag.plan, flag.assessment_note = RiskLevel.MODERATE, PLAN, NOTE
    db.session.flush()


def _pages(world, role: Role) -> list[str]:
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    pages = ["/staff", f"/staff/patients/{world.patient.id}"]
    if role is Role.PEER:
        return [*pages, "/messages", f"/messages/{thread_id}"]
    need_id = need_id_for(world.patient, world.program)
    return [*pages, "/staff/needs", f"/staff/needs/{need_id}"]


def _assert_marker_only(client, world, role: Role, marker: str) -> None:
    for url in _pages(world, role):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert marker in html, (role, url)
        for content in CONTENT:
            assert content not in html, (role, url, content)


@pytest.mark.parametrize("role", [Role.PEER, Role.CASE_MANAGER])
def test_the_care_team_sees_that_an_alert_is_open_and_nothing_of_it(
    client, login_as, world, flag, role
):
    login_as(role)
    _assert_marker_only(client, world, role, OPEN)
    _take(flag, world)
    _assert_marker_only(client, world, role, TAKEN)
    assert OPEN not in client.get("/staff").get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.PEER, Role.CASE_MANAGER])
def test_no_marker_once_the_alert_is_closed(client, login_as, world, flag, role):
    flag.status, flag.open_key = FlagStatus.RESOLVED, None
    db.session.flush()
    login_as(role)
    for url in _pages(world, role):
        assert "Safety alert open" not in client.get(url).get_data(as_text=True), url


def test_the_patient_never_sees_the_marker_on_their_own_pages(
    client, login_as, world, flag
):
    thread_id = thread_id_for(world.patient, world.patient, "hello")
    need_id = need_id_for(world.patient, world.program)
    login_as(Role.PATIENT)
    for url in (f"/messages/{thread_id}", f"/help/{need_id}", "/"):
        html = client.get(url).get_data(as_text=True)
        assert "Safety alert open" not in html and "clinician is on it" not in html


def test_a_marker_only_for_the_patient_with_the_alert(client, login_as, world, flag):
    """Patient B (no alert) has a request in the same queue: no marker on it."""
    need_for_b = need_id_for(world.patient_b, world.program)
    login_as(Role.CASE_MANAGER)
    html = client.get(f"/staff/needs/{need_for_b}").get_data(as_text=True)
    assert "Safety alert open" not in html


def test_an_open_inbox_learns_of_the_alert_at_its_next_check(world, app, flag, client):
    peer = world.staff[Role.PEER]
    flag.status, flag.open_key = FlagStatus.RESOLVED, None
    db.session.flush()
    thread = db.session.get(
        MessageThread, thread_id_for(world.patient, world.patient, "hello")
    )
    add_message(thread, world.patient, "still here")
    sign_in(client, peer)
    first = client.get("/messages/inbox/updates")
    tag = first.headers["ETag"]
    assert (
        client.get(
            "/messages/inbox/updates", headers={"If-None-Match": tag}
        ).status_code
        == 304
    )

    flag = db.session.get(RiskFlag, flag.id)  # requests end their session
    flag.status, flag.open_key = FlagStatus.OPEN, world.patient.id
    db.session.flush()
    opened = client.get("/messages/inbox/updates", headers={"If-None-Match": tag})
    assert opened.status_code == 200 and OPEN in opened.get_data(as_text=True)

    flag = db.session.get(RiskFlag, flag.id)
    flag.status = FlagStatus.ACKNOWLEDGED
    db.session.flush()
    taken = client.get(
        "/messages/inbox/updates", headers={"If-None-Match": opened.headers["ETag"]}
    )
    assert taken.status_code == 200 and TAKEN in taken.get_data(as_text=True)


def test_the_staff_home_asks_for_the_markers_in_one_statement(
    client, login_as, world, flag, query_counter
):
    login_as(Role.PEER)
    client.get("/account")
    query_counter["n"], query_counter["statements"] = 0, []
    client.get("/staff")
    flag_reads = [s for s in query_counter["statements"] if "risk_flags" in s]
    # The list's markers in one statement, and the home's part of the huddle (its
    # patients with an alert) in its own aggregate: two, however many patients.
    assert len(flag_reads) == 2, flag_reads


def test_clinicians_do_not_see_the_content_through_these_pages_either(
    client, login_as, world, flag
):
    """The marker is the same for everyone; clinicians read the alert on its page."""
    _take(flag, world)
    login_as(Role.THERAPIST)
    html = client.get(f"/staff/patients/{world.patient.id}").get_data(as_text=True)
    assert TAKEN in html and NOTE not in html
