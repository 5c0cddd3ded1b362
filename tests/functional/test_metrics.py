"""/metrics: Prometheus text for the holder of the bearer token, 404 for anyone else;
request latency by route name, and the figures read from the database at scrape time
(outbox, dead deliveries, flags past T1, escalations, sign-in locks, heartbeats),
with nothing of any patient in it."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from portal import db
from portal.blueprints.auth.models import SignInThrottle
from portal.blueprints.notifications.heartbeat import beat
from portal.blueprints.notifications.models import (
    DeliveryStatus,
    Notification,
    NotificationKind,
    PushDelivery,
    PushSubscription,
)
from portal.blueprints.safety.models import (
    FlagStatus,
    OutboundPage,
    PageStatus,
    RiskFlag,
    RiskFlagEvent,
    RiskSettings,
)
from portal.db import utcnow
from tests.conftest import MARKERS

TOKEN = secrets.token_urlsafe(32)


@pytest.fixture
def token(app, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)
    return TOKEN


def scrape(client, token=TOKEN):
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return response.get_data(as_text=True)


def samples(text: str) -> dict:
    """{(name, frozenset(labels.items())): value} of every sample in the text."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels) -> float:
    return samples(text)[(name, frozenset(labels.items()))]


def test_metrics_do_not_exist_when_no_token_is_configured(client, app):
    assert app.config.get("METRICS_TOKEN") is None
    response = client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 404
    assert b"portal_" not in response.data


def test_metrics_answer_404_to_a_missing_or_wrong_token(client, token):
    assert client.get("/metrics").status_code == 404
    for header in (f"Bearer {token}x", token, f"Basic {token}", "Bearer "):
        response = client.get("/metrics", headers={"Authorization": header})
        assert response.status_code == 404, header
        assert b"portal_" not in response.data
    assert "portal_request_duration_seconds" in scrape(client, token)


def test_request_latency_is_counted_by_route_name_not_path(client, token, world):
    before = samples(scrape(client))
    client.get("/healthz")
    client.get("/healthz")
    client.get(f"/staff/patients/{world.patient.id}")  # signs in first: a redirect
    text = scrape(client)
    key = (
        "portal_request_duration_seconds_count",
        frozenset({"endpoint": "shell.healthz"}.items()),
    )
    assert samples(text)[key] - before.get(key, 0) == 2
    assert (
        value(text, "portal_responses_total", endpoint="shell.healthz", status="200")
        >= 2
    )
    assert world.patient.id not in text  # the route's name, never the path


def _delivery(note, device, **values):
    row = PushDelivery(notification_id=note.id, subscription_id=device.id, **values)
    db.session.add(row)
    return row


def test_the_database_figures_count_what_is_there(client, token, world, app):
    now = utcnow()
    patient = world.patient
    device = PushSubscription(
        user_id=patient.id,
        endpoint="https://fcm.googleapis.com/fcm/send/x",
        endpoint_hash=secrets.token_hex(32),
        p256dh="k",
        auth="a",
        device_label="Phone",
    )
    db.session.add(device)
    db.session.flush()
    notes = [
        Notification(recipient_id=patient.id, kind=NotificationKind.NEW_MESSAGE)
        for _ in range(4)
    ]
    db.session.add_all(notes)
    db.session.flush()
    _delivery(notes[0], device, next_attempt_at=now - timedelta(minutes=5))
    _delivery(notes[1], device, next_attempt_at=now + timedelta(hours=1))  # quiet hours
    _delivery(notes[2], device, status=DeliveryStatus.DEAD)
    _delivery(notes[3], device, status=DeliveryStatus.SENT)
    db.session.add(RiskSettings(program_id=world.program.id, t1_minutes=10))
    late = RiskFlag(
        patient_id=patient.id,
        program_id=world.program.id,
        source="checkin",
        source_id="x",
        opened_at=now - timedelta(minutes=12),  # past T1 (10), not the default 15
    )
    recent = RiskFlag(
        patient_id=world.patient_b.id,
        program_id=world.program.id,
        source="checkin",
        source_id="y",
        opened_at=now - timedelta(minutes=3),
    )
    taken = RiskFlag(
        patient_id=world.patient_c.id,
        program_id=world.other_program.id,
        source="checkin",
        source_id="z",
        opened_at=now - timedelta(hours=2),
        status=FlagStatus.ACKNOWLEDGED,
    )
    db.session.add_all([late, recent, taken])
    db.session.flush()
    # `late` opened and was raised, then moved up twice; `recent` only opened.
    for flag, kinds in (
        (late, ["opened", "raised", "raised", "raised"]),
        (recent, ["opened", "raised"]),
    ):
        db.session.add_all(RiskFlagEvent(flag_id=flag.id, kind=k) for k in kinds)
    db.session.add_all(
        [
            OutboundPage(
                recipient_id=world.director.id,
                channel="sms",
                body="x",
                status=PageStatus.SENT,
            ),
            OutboundPage(
                recipient_id=world.director.id,
                channel="voice",
                body="x",
                status=PageStatus.FAILED,
            ),
        ]
    )
    db.session.add_all(
        [
            SignInThrottle(
                key=f"ac:{'1' * 32}:{'2' * 32}",
                failures=5,
                locked_until=now + timedelta(minutes=10),
            ),
            SignInThrottle(
                key=f"a:{'3' * 32}",
                failures=50,
                locked_until=now + timedelta(minutes=10),
            ),
            SignInThrottle(key=f"c:{'4' * 32}", failures=2),  # counting, not locked
            SignInThrottle(
                key=f"ac:{'5' * 32}:{'6' * 32}",
                failures=5,
                locked_until=now - timedelta(minutes=1),
            ),  # lock over
        ]
    )
    db.session.commit()
    with app.app_context():
        beat(app)

    text = scrape(client)
    assert value(text, "portal_outbox_pending", outbox="push") == 2
    assert value(text, "portal_outbox_due", outbox="push") == 1
    assert 290 < value(text, "portal_outbox_oldest_due_seconds", outbox="push") < 400
    assert value(text, "portal_push_deliveries_dead") == 1
    assert value(text, "portal_risk_flags_open") == 2
    assert value(text, "portal_risk_flags_unacknowledged_past_t1") == 1
    assert (
        12 * 60 - 5
        < value(text, "portal_risk_flag_oldest_unacknowledged_seconds")
        < 13 * 60
    )
    assert value(text, "portal_risk_escalations_total") == 2
    assert value(text, "portal_pages", channel="sms", status="sent") == 1
    assert value(text, "portal_pages", channel="voice", status="failed") == 1
    assert value(text, "portal_sign_in_locks", scope="account_client") == 1
    assert value(text, "portal_sign_in_locks", scope="account") == 1
    assert value(text, "portal_sign_in_locks", scope="address") == 0
    worker = app.config["WORKER_NAME"]
    assert value(text, "portal_worker_heartbeat_age_seconds", worker=worker) < 60
    assert value(text, "portal_worker_freshest_heartbeat_age_seconds") < 60
    for secret_thing in (
        *MARKERS.values(),
        patient.id,
        patient.email,
        "fcm.googleapis",
    ):
        assert secret_thing not in text


def test_no_worker_seen_reads_minus_one(client, token):
    assert value(scrape(client), "portal_worker_freshest_heartbeat_age_seconds") == -1


def test_a_scrape_sends_a_fixed_handful_of_statements(client, token, query_counter):
    scrape(client)
    query_counter["n"] = 0
    scrape(client)
    assert query_counter["n"] <= 6, query_counter["statements"]
