"""The push outbox against a local fake push service, through the real pywebpush: it
checks the VAPID signature and decrypts every aes128gcm payload with the
subscription's private key."""

from __future__ import annotations

import json
import logging
import re
from datetime import time, timedelta

from py_vapid import Vapid
from sqlalchemy import func, select, update

from portal import db
from portal.blueprints.notifications import services
from portal.blueprints.notifications.kinds import KINDS
from portal.blueprints.notifications.models import (
    DeliveryStatus,
    Notification,
    NotificationKind,
    NotificationPreference,
    PushDelivery,
    PushSubscription,
)
from portal.blueprints.notifications.push import public_key_of
from portal.db import utcnow
from portal.security import Role
from tests.conftest import MARKERS


def make_all_due() -> None:
    """Move every pending delivery's next try to now (not waiting out backoff)."""
    db.session.execute(
        update(PushDelivery)
        .where(PushDelivery.status == DeliveryStatus.PENDING)
        .values(next_attempt_at=utcnow())
    )
    db.session.flush()


def statuses() -> dict[str, int]:
    rows = db.session.execute(
        select(PushDelivery.status, func.count()).group_by(PushDelivery.status)
    ).all()
    return {status.value: count for status, count in rows}


OPAQUE_LINK = re.compile(r"^/n/[0-9a-f-]{36}$")


def test_notify_only_writes_the_outbox_and_the_worker_delivers_it(
    add_device, world, outbox, push_service
):
    device = add_device(world.patient)
    note_id = services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    assert push_service.messages == []  # nothing is sent from inside the transaction
    assert statuses() == {"pending": 1}

    assert outbox.deliver_due() == 1

    [message] = push_service.accepted()
    assert message.payload == {
        "title": "Day Program",
        "body": "You have a new message",
        "url": f"/n/{note_id}",
        "tag": note_id,
    }
    assert message.urgency == "normal" and message.ttl == 24 * 3600
    assert message.topic == note_id.replace("-", "")
    assert message.claims["sub"] == "mailto:push-admin@example.org"
    assert statuses() == {"sent": 1}
    db.session.refresh(device)
    assert device.last_success_at is not None


def test_every_kind_sends_generic_words_and_an_opaque_link_only(
    add_device, world, outbox, push_service
):
    add_device(world.patient)
    add_device(world.staff[Role.NURSE])
    need = type("Need", (), {"__tablename__": "needs", "id": world.patient.id})()
    for kind, info in KINDS.items():
        staff_kind = "staff" in info.audiences and "patients" not in info.audiences
        recipient = world.staff[Role.NURSE] if staff_kind else world.patient
        services.notify(
            recipient,
            kind,
            need,
            patient_id=world.patient.id,
            target=f"/staff/patients/{world.patient.id}",
        )
    outbox.deliver_due()

    accepted = push_service.accepted()
    assert len(accepted) == len(KINDS)
    for message in accepted:
        text = json.dumps(message.payload)
        for marker in [*MARKERS.values(), world.patient.id, "Harbor", "patients"]:
            assert marker not in text
        assert OPAQUE_LINK.match(message.payload["url"])
        assert message.payload["body"] in {info.text for info in KINDS.values()}
    urgencies = {m.payload["body"]: m.urgency for m in accepted}
    assert urgencies[KINDS[NotificationKind.RISK_ESCALATION].text] == "high"


def test_a_5xx_is_retried_with_growing_backoff_then_sent(
    add_device, world, outbox, push_service
):
    add_device(world.patient, script=[503, 500])
    services.notify(world.patient, NotificationKind.NEED_UPDATE)

    outbox.deliver_due()
    first = db.session.scalar(select(PushDelivery))
    assert (first.status, first.attempts, first.last_status) == ("pending", 1, 503)
    wait_1 = (first.next_attempt_at - utcnow()).total_seconds()
    assert outbox.deliver_due() == 0  # not due yet: nothing hammers the service

    make_all_due()
    outbox.deliver_due()
    db.session.expire_all()
    second = db.session.scalar(select(PushDelivery))
    assert (second.attempts, second.last_status) == (2, 500)
    wait_2 = (second.next_attempt_at - utcnow()).total_seconds()
    assert 20 < wait_1 < 40 and 45 < wait_2 < 75

    make_all_due()
    outbox.deliver_due()
    assert statuses() == {"sent": 1}
    assert push_service.answers() == {503: 1, 500: 1, 201: 1}


def test_after_the_last_try_a_delivery_is_dead_and_logged_with_ids_only(
    add_device, world, outbox, push_service, caplog
):
    device = add_device(world.patient, script=[503, 503, 503, 503])
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    with caplog.at_level(logging.WARNING, logger="portal.push"):
        for _ in range(4):
            make_all_due()
            outbox.deliver_due()
    dead = db.session.scalar(select(PushDelivery))
    assert (dead.status, dead.attempts) == ("dead", 3)
    assert len(push_service.messages) == 3
    assert (
        f"subscription {device.id} is dead after 3 attempt(s): http_503" in caplog.text
    )
    assert "127.0.0.1" not in caplog.text and MARKERS["patient"] not in caplog.text


def test_a_410_removes_the_subscription_and_its_queue_and_others_still_get_theirs(
    add_device, world, outbox, push_service, caplog
):
    gone = add_device(world.patient, script=["gone"])
    kept = add_device(world.patient)
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    services.notify(world.patient, NotificationKind.SCHEDULE_CHANGE)
    gone_id = gone.id
    with caplog.at_level(logging.INFO, logger="portal.push"):
        outbox.deliver_due()

    assert db.session.get(PushSubscription, gone_id) is None
    assert db.session.get(PushSubscription, kept.id) is not None
    assert statuses() == {"sent": 2}
    assert {m.sub_id for m in push_service.accepted()} == {
        kept.endpoint.rsplit("/")[-1]
    }
    assert (
        f"push subscription {gone_id} removed: push service answered 410" in caplog.text
    )
    assert services.unread_count(world.patient.id) == 2  # the list keeps everything


def test_a_404_also_removes_the_subscription(add_device, world, outbox):
    device = add_device(world.patient, script=[404])
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    device_id = device.id
    outbox.deliver_due()
    assert db.session.get(PushSubscription, device_id) is None


def test_a_hanging_push_service_times_out_and_the_rest_of_the_queue_moves(
    add_device, world, outbox, push_service, caplog
):
    slow = add_device(world.patient, script=["hang"])
    others = [add_device(world.patient_b) for _ in range(6)]
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    services.notify(world.patient_b, NotificationKind.NEW_MESSAGE)
    with caplog.at_level(logging.WARNING, logger="portal.push"):
        outbox.deliver_due()

    assert len(push_service.accepted()) == len(others)
    waiting = db.session.scalar(
        select(PushDelivery).where(PushDelivery.subscription_id == slow.id)
    )
    assert (waiting.status, waiting.last_error) == ("pending", "timeout")
    assert f"subscription {slow.id} failed (timeout)" in caplog.text
    make_all_due()
    outbox.deliver_due()
    assert statuses() == {"sent": 7}


def test_a_subscription_made_for_another_vapid_key_is_refused_and_dead(
    add_device, world, outbox, push_service
):
    other = Vapid()
    other.generate_keys()
    push_service.vapid_public_key = public_key_of(other)  # the browser used this key
    add_device(world.patient)
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    outbox.deliver_due()
    assert push_service.answers() == {403: 1}
    assert db.session.scalar(select(PushDelivery.status)) == DeliveryStatus.DEAD


def test_an_oversized_payload_is_refused_before_sending_and_the_queue_moves(
    add_device, world, push_app, push_service, caplog
):
    from portal.blueprints.notifications.delivery import Outbox
    from portal.blueprints.notifications.push import push_settings

    big = Outbox(push_settings(push_app), "X" * 5000)
    try:
        add_device(world.patient)
        add_device(world.patient_c)
        world.other_program.app_name = "Elsewhere"
        services.notify(world.patient, NotificationKind.NEW_MESSAGE)
        services.notify(world.patient_c, NotificationKind.NEW_MESSAGE)
        with caplog.at_level(logging.ERROR, logger="portal.push"):
            big.deliver_due()
    finally:
        big.close()
    assert statuses() == {"dead": 1, "sent": 1}
    assert [m.payload["title"] for m in push_service.accepted()] == ["Elsewhere"]
    assert "payload_too_large" in caplog.text


def test_broken_keys_in_the_database_are_dead_not_a_crash(add_device, world, outbox):
    device = add_device(world.patient)
    device.p256dh = "not-a-key"
    add_device(world.patient_b)
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    services.notify(world.patient_b, NotificationKind.NEW_MESSAGE)
    outbox.deliver_due()
    assert statuses() == {"dead": 1, "sent": 1}


def test_the_vapid_token_is_signed_once_per_push_service_not_per_message(
    add_device, world, outbox, push_service
):
    for _ in range(5):
        add_device(world.patient)
    for _ in range(4):
        services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    outbox.deliver_due()
    assert len(push_service.accepted()) == 20
    assert outbox.signer.signatures == 1
    assert push_service.stats()["distinct_tokens"] == 1


def test_quiet_hours_hold_a_push_until_they_end_but_not_a_risk_escalation(
    add_device, world, outbox, push_service
):
    nurse = world.staff[Role.NURSE]
    now = utcnow()
    start = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    for person in (world.patient, nurse):
        add_device(person)
        db.session.add(
            NotificationPreference(
                user_id=person.id, push_off=[], quiet_start=start, quiet_end=end
            )
        )
    db.session.flush()
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    services.notify(
        nurse, NotificationKind.RISK_ESCALATION, patient_id=world.patient.id
    )
    outbox.deliver_due()

    [urgent] = push_service.accepted()
    assert urgent.payload["body"] == KINDS[NotificationKind.RISK_ESCALATION].text
    held = db.session.scalar(
        select(PushDelivery).where(PushDelivery.status == DeliveryStatus.PENDING)
    )
    assert abs((held.next_attempt_at - (now + timedelta(hours=2))).total_seconds()) < 90
    assert services.unread_count(world.patient.id) == 1  # the list shows it at once


def test_a_kind_turned_off_is_not_pushed_but_is_listed(add_device, world, outbox):
    add_device(world.patient)
    services.save_preferences(
        world.patient, {NotificationKind.NEW_MESSAGE}, quiet=(time(22), time(6))
    )
    db.session.flush()
    services.notify(world.patient, NotificationKind.ANNOUNCEMENT)
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 2
    [pushed] = db.session.scalars(
        select(Notification.kind).join(
            PushDelivery, PushDelivery.notification_id == Notification.id
        )
    ).all()
    assert pushed == NotificationKind.NEW_MESSAGE  # held or sent, by the clock


def test_a_stale_reminder_is_expired_instead_of_sent(
    add_device, world, outbox, push_service
):
    add_device(world.patient)
    services.notify(
        world.patient,
        NotificationKind.SESSION_REMINDER,
        expires_at=utcnow() + timedelta(minutes=5),
    )
    db.session.execute(
        PushDelivery.__table__.update().values(
            next_attempt_at=utcnow() - timedelta(hours=1)
        )
    )
    db.session.execute(
        Notification.__table__.update().values(
            expires_at=utcnow() - timedelta(minutes=1)
        )
    )
    outbox.deliver_due()
    assert push_service.messages == []
    assert statuses() == {"expired": 1}


def test_a_reminder_ttl_ends_when_the_session_starts(
    add_device, world, outbox, push_service
):
    add_device(world.patient)
    services.notify(
        world.patient,
        NotificationKind.SESSION_REMINDER,
        expires_at=utcnow() + timedelta(minutes=20),
    )
    outbox.deliver_due()
    [message] = push_service.accepted()
    assert 1100 < message.ttl <= 1200 and message.urgency == "high"


def test_a_program_app_name_is_the_title(add_device, world, outbox, push_service):
    world.program.app_name = "Harbor"
    add_device(world.patient)
    add_device(world.staff[Role.PEER])
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    services.notify(world.staff[Role.PEER], NotificationKind.NEW_MESSAGE)
    outbox.deliver_due()
    titles = sorted(m.payload["title"] for m in push_service.accepted())
    assert titles == ["Day Program", "Harbor"]


def test_a_lease_held_by_a_live_worker_is_not_taken_but_an_expired_one_is(
    add_device, world, outbox, push_service
):
    add_device(world.patient)
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    jobs, _ = outbox.claim(10)  # a worker took it and then died before sending
    assert len(jobs) == 1
    assert outbox.claim(10) == ([], [])
    db.session.execute(
        PushDelivery.__table__.update().values(
            lease_until=utcnow() - timedelta(seconds=1)
        )
    )
    outbox.deliver_due()
    assert len(push_service.accepted()) == 1
    assert db.session.scalar(select(PushDelivery.attempts)) == 2
    # The dead worker's late answer is fenced out by its lease token.
    from portal.blueprints.notifications.push import PushResult

    outbox.record([PushResult(jobs[0], 503)])
    assert statuses() == {"sent": 1}


def test_a_closed_account_gets_no_pushes(add_device, world, outbox, push_service):
    add_device(world.patient)
    world.patient.is_active = False
    db.session.flush()
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    outbox.deliver_due()
    assert push_service.messages == [] and statuses() == {}


def test_a_round_does_not_wait_forever_for_a_lost_answer(
    add_device, world, outbox, push_service, monkeypatch, caplog
):
    add_device(world.patient)
    add_device(world.patient)
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    monkeypatch.setattr(outbox.connections, "send_all", lambda jobs, answer: None)
    outbox.patience = 0.3
    with caplog.at_level(logging.ERROR, logger="portal.push"):
        assert outbox.deliver_due() == 0
    assert "stopped waiting for 2 answers" in caplog.text and outbox.broken
    assert statuses() == {"pending": 2}  # leased: another round takes them later
