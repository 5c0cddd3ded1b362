"""The crisis loop: escalation timers under a simulated clock, the after-hours path, a
human reached with push failing, and acknowledge / assess / resolve, each recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.notifications.models import Notification
from portal.blueprints.safety import escalation, paging
from portal.blueprints.safety.models import (
    FlagStatus,
    OutboundPage,
    PageStatus,
    RiskFlag,
    RiskFlagEvent,
    RiskSettings,
)
from portal.security import Role
from tests.conftest import post_form

# Monday to Friday 8:00 to 17:00 in New York; 2026-11-23 is a Monday.
MONDAY_10AM = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
MONDAY_9PM = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
TUESDAY_8AM = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


@pytest.fixture
def setup(world, app_ctx):
    world.program.opening_hours = {str(d): ["08:00", "17:00"] for d in range(5)}
    db.session.add(
        RiskSettings(
            program_id=world.program.id,
            on_call_id=world.staff[Role.NURSE].id,
            backup_id=world.staff[Role.THERAPIST].id,
            after_hours_id=world.staff[Role.PRESCRIBER].id,
            t1_minutes=15,
            t2_minutes=30,
        )
    )
    db.session.flush()
    return world


def _open_flag(world, at: datetime) -> RiskFlag:
    flag = RiskFlag(
        patient_id=world.patient.id,
        program_id=world.program.id,
        open_key=world.patient.id,
        source="checkin",
        source_id="x",
    )
    db.session.add(flag)
    db.session.flush()
    escalation.raise_flag(flag, world.program, at)
    db.session.flush()
    return flag


def _told(flag, channel=None) -> list[tuple[str, str]]:
    query = select(RiskFlagEvent.recipient_id, RiskFlagEvent.channel).where(
        RiskFlagEvent.flag_id == flag.id, RiskFlagEvent.kind == "told"
    )
    if channel:
        query = query.where(RiskFlagEvent.channel == channel)
    return db.session.execute(query).all()


def test_in_hours_on_call_then_backup_then_director(setup):
    world = setup
    flag = _open_flag(world, MONDAY_10AM)
    nurse, therapist = world.staff[Role.NURSE].id, world.staff[Role.THERAPIST].id
    assert {r for r, _ in _told(flag)} == {nurse}
    assert escalation.escalate_due_flags(MONDAY_10AM + timedelta(minutes=14)) == 0
    assert escalation.escalate_due_flags(MONDAY_10AM + timedelta(minutes=15)) == 1
    assert (therapist, "voice") in _told(flag)
    assert world.director.id not in {r for r, _ in _told(flag)}
    assert escalation.escalate_due_flags(MONDAY_10AM + timedelta(minutes=30)) == 1
    assert (world.director.id, "sms") in _told(flag)
    assert db.session.get(RiskFlag, flag.id).escalation_level == 2


def test_acknowledging_stops_the_escalation(setup):
    flag = _open_flag(setup, MONDAY_10AM)
    escalation.acknowledge_flag(setup.staff[Role.NURSE], flag)
    assert escalation.escalate_due_flags(MONDAY_10AM + timedelta(hours=2)) == 0
    assert setup.staff[Role.THERAPIST].id not in {r for r, _ in _told(flag)}


def test_after_hours_goes_to_the_after_hours_clinician_and_again_at_opening(setup):
    world = setup
    flag = _open_flag(world, MONDAY_9PM)
    prescriber = world.staff[Role.PRESCRIBER].id
    assert {(r, c) for r, c in _told(flag)} == {
        (prescriber, "app+push"),
        (prescriber, "sms"),
        (prescriber, "voice"),
    }
    # Repeated to the after-hours clinician through the night until someone takes it ...
    escalation.escalate_due_flags(MONDAY_9PM + timedelta(minutes=30))
    assert len(_told(flag, "sms")) == 2
    # ... and raised again to the on-call clinician when the program opens.
    db.session.get(RiskFlag, flag.id).next_escalation_at = TUESDAY_8AM
    escalation.escalate_due_flags(TUESDAY_8AM)
    assert (world.staff[Role.NURSE].id, "sms") in _told(flag)
    assert db.session.get(RiskFlag, flag.id).escalation_level == 0


def test_a_flag_open_at_closing_time_takes_the_after_hours_path(setup):
    closing_soon = datetime(2026, 11, 23, 21, 55, tzinfo=UTC)  # 16:55 in New York
    flag = _open_flag(setup, closing_soon)
    assert flag.next_escalation_at == datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
    escalation.escalate_due_flags(flag.next_escalation_at)
    assert (setup.staff[Role.PRESCRIBER].id, "voice") in _told(flag)


def test_a_human_is_reached_when_push_drops_every_message(setup, monkeypatch):
    """Push fails; the in-app alert and the SMS page still reach the on-call nurse."""
    from portal.blueprints.notifications import push

    def refuse(*_args, **_kwargs):
        raise ConnectionError("push service unreachable")

    for name in dir(push):
        if name.startswith(("send", "deliver")) and callable(getattr(push, name)):
            monkeypatch.setattr(push, name, refuse)
    flag = _open_flag(setup, MONDAY_10AM)
    db.session.commit()
    assert paging.deliver_pages() == 1
    nurse = setup.staff[Role.NURSE].id
    page = db.session.scalars(
        select(OutboundPage).where(OutboundPage.recipient_id == nurse)
    ).one()
    assert page.status is PageStatus.SENT and "patient" not in page.body.lower()
    assert (
        db.session.scalars(
            select(Notification).where(Notification.recipient_id == nurse)
        )
        .one()
        .target
        == f"/staff/flags/{flag.id}"
    )


def test_a_failing_pager_is_retried_then_marked_failed(setup, app, monkeypatch):
    _open_flag(setup, MONDAY_10AM)
    db.session.commit()

    class Broken:
        def send(self, page, user):
            raise RuntimeError("provider down")

    monkeypatch.setattr(paging, "pager", lambda: Broken())
    for _ in range(paging.MAX_ATTEMPTS):
        paging.deliver_pages()
    assert {p.status for p in db.session.scalars(select(OutboundPage))} == {
        PageStatus.FAILED
    }


def test_two_positives_at_once_make_one_flag(setup):
    first = escalation.record_positive(setup.patient, setup.program, "checkin", "a")
    second = escalation.record_positive(setup.patient, setup.program, "phq9", "b")
    assert first.id == second.id and second.positives == 2


def test_staff_acknowledge_assess_and_resolve_each_recorded(client, login_as, setup):
    flag = _open_flag(setup, MONDAY_10AM)
    nurse = login_as(Role.NURSE)
    url = f"/staff/flags/{flag.id}"
    page = client.get(url).get_data(as_text=True)
    assert setup.patient.display_name in page and "I am taking this now" in page
    refused = post_form(client, f"{url}/resolve", {"resolve-note": "done"}, page=url)
    assert "Record an assessment" in refused.get_data(as_text=True)
    post_form(client, f"{url}/acknowledge", {}, page=url)
    post_form(
        client,
        f"{url}/assess",
        page=url,
        data={
            "assess-risk_level": "moderate",
            "assess-plan": "Call today; safety plan reviewed",
            "assess-note": "",
        },
    )
    post_form(
        client, f"{url}/resolve", {"resolve-note": "Seen in person, safe."}, page=url
    )
    flag = db.session.get(RiskFlag, flag.id)
    assert flag.status is FlagStatus.RESOLVED and flag.open_key is None
    assert (
        flag.acknowledged_by_id
        == flag.assessed_by_id
        == flag.resolved_by_id
        == nurse.id
    )
    actions = set(
        db.session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.data_kind == "risk_flag", AuditEvent.object_id == flag.id
            )
        )
    )
    assert {"acknowledge", "assess", "resolve"} <= actions


def test_staff_outside_the_circle_and_not_on_call_cannot_open_a_flag(
    client, login_as, setup
):
    flag = _open_flag(setup, MONDAY_10AM)
    setup.patient_b  # noqa: B018 - the other therapist is not on patient A's team
    from tests.conftest import sign_in

    sign_in(client, setup.other_therapist)
    response = client.get(f"/staff/flags/{flag.id}")
    assert response.status_code == 404
    assert setup.patient.display_name not in response.get_data(as_text=True)


def test_peers_and_case_managers_do_not_handle_flags(client, login_as, setup):
    flag = _open_flag(setup, MONDAY_10AM)
    login_as(Role.PEER)
    assert client.get(f"/staff/flags/{flag.id}").status_code == 404


def test_a_refused_step_on_another_programs_flag_writes_nothing(
    client, login_as, world
):
    flag = RiskFlag(
        patient_id=world.patient_c.id,
        program_id=world.other_program.id,
        open_key=world.patient_c.id,
        source="checkin",
        source_id="x",
    )
    db.session.add(flag)
    db.session.flush()
    login_as(Role.NURSE)
    for step in ("acknowledge", "assess", "resolve"):
        url = f"/staff/flags/{flag.id}/{step}"
        assert post_form(client, url, {}, page="/staff/flags").status_code == 404
    assert db.session.get(RiskSettings, world.other_program.id) is None
