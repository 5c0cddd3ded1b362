"""The bell, the notification list, opening one after sign-in, marking read, devices
and preferences: each object checked against the signed-in person."""

from __future__ import annotations

import json
import logging
import re
from datetime import time, timedelta

from sqlalchemy import func, select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.notifications import services
from portal.blueprints.notifications.models import (
    Notification,
    NotificationKind,
    NotificationPreference,
    PushDelivery,
    PushSubscription,
)
from portal.blueprints.notifications.push import b64url
from portal.db import utcnow
from portal.security import Role
from tests.conftest import MARKERS, csrf_from, post_form, sign_in
from tests.fake_push_service import subscription_info

FCM = "https://fcm.googleapis.com"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Safari/604.1"
)


def _bell(html: str) -> str:
    match = re.search(r'<a class="bell"[^>]*>.*?</a>', html, re.S)
    assert match, "no bell in the header"
    return match.group(0)


def _checked(html: str, field_id: str) -> bool:
    tag = re.search(rf'<input[^>]*id="{field_id}"[^>]*>', html).group(0)
    return " checked" in tag


def _subscription(n: int = 1, host: str = FCM) -> dict:
    return subscription_info(f"{host}/fcm/send", "views", f"device-{n}")


def _post_device(client, data, page="/notifications/settings", **headers):
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(
        "/notifications/devices",
        data=json.dumps(data) if not isinstance(data, str) else data,
        content_type="application/json",
        headers={"X-CSRFToken": token, **headers},
    )


def test_the_bell_shows_the_unread_count_on_every_signed_in_page(
    client, login_as, world
):
    login_as(Role.PATIENT)
    assert "bell-count" not in _bell(client.get("/").get_data(as_text=True))
    for _ in range(3):
        services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    services.notify(world.patient_b, NotificationKind.NEW_MESSAGE)
    for url in ("/", "/week", "/account", "/notifications"):
        bell = _bell(client.get(url).get_data(as_text=True))
        assert '<span class="bell-count">3<span class="visually-hidden"> unread' in bell
    assert "bell" not in client.get("/crisis").get_data(as_text=True).split("<main")[0]


def test_the_bell_caps_at_99_plus(client, login_as, world):
    login_as(Role.PATIENT)
    services.notify_many([world.patient.id] * 1, NotificationKind.ANNOUNCEMENT)
    for _ in range(120):
        services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    assert ">99+<" in _bell(client.get("/").get_data(as_text=True))


def test_the_bell_adds_one_query_to_a_page(client, login_as, world, query_counter):
    login_as(Role.PATIENT)
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    client.get("/week")
    query_counter["n"], query_counter["statements"] = 0, []
    client.get("/week")
    mine = [s for s in query_counter["statements"] if "notifications" in s]
    assert len(mine) == 1 and "count(" in mine[0].lower()


def test_signed_out_pages_have_no_bell_and_run_no_count(client, world, query_counter):
    html = client.get("/sign-in").get_data(as_text=True)
    assert 'class="bell"' not in html
    assert not [s for s in query_counter["statements"] if "notifications" in s]


def test_the_list_shows_generic_words_newest_first_and_is_audited(
    client, login_as, world
):
    login_as(Role.PATIENT)
    services.notify(world.patient, NotificationKind.CHECKIN_REMINDER)
    services.notify(world.patient, NotificationKind.NEED_UPDATE)
    services.notify(world.patient_b, NotificationKind.SCHEDULE_CHANGE)
    html = client.get("/notifications").get_data(as_text=True)
    assert html.index("There is an update on your request") < html.index(
        "Time for your daily check-in"
    )
    assert "Your schedule has changed" not in html  # patient B's
    assert MARKERS["patient_b"] not in html
    rows = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.data_kind == "notification", AuditEvent.action == "read"
        )
    ).all()
    assert [(r.actor_id, r.patient_id) for r in rows] == [
        (world.patient.id, world.patient.id)
    ]


def test_stale_reminders_leave_the_list_and_the_count(client, login_as, world):
    login_as(Role.PATIENT)
    services.notify(
        world.patient,
        NotificationKind.SESSION_REMINDER,
        expires_at=utcnow() - timedelta(minutes=1),
    )
    assert services.unread_count(world.patient.id) == 0
    assert "starts soon" not in client.get("/notifications").get_data(as_text=True)


def test_opening_a_notification_marks_it_read_and_goes_to_its_page(
    client, login_as, world
):
    login_as(Role.PATIENT)
    note_id = services.notify(
        world.patient, NotificationKind.SCHEDULE_CHANGE, target="/week"
    )
    response = client.get(f"/n/{note_id}")
    assert response.status_code == 302 and response.headers["Location"] == "/week"
    assert db.session.get(Notification, note_id).read_at is not None
    assert services.unread_count(world.patient.id) == 0


def test_a_push_link_opens_the_right_page_after_sign_in(client, world):
    note_id = services.notify(
        world.patient, NotificationKind.SCHEDULE_CHANGE, target="/week"
    )
    response = client.get(f"/n/{note_id}")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
    response = sign_in(client, world.patient)
    assert response.headers["Location"] == f"/n/{note_id}"
    assert client.get(f"/n/{note_id}").headers["Location"] == "/week"


def test_a_notification_of_someone_else_is_404_and_stays_unread(
    client, login_as, world
):
    theirs = services.notify(world.patient_b, NotificationKind.NEW_MESSAGE)
    login_as(Role.PATIENT)
    assert client.get(f"/n/{theirs}").status_code == 404
    token = csrf_from(client.get("/notifications").get_data(as_text=True))
    response = client.post(f"/notifications/{theirs}/read", data={"csrf_token": token})
    assert response.status_code == 404
    assert client.get("/n/not-an-id").status_code == 404
    assert db.session.get(Notification, theirs).read_at is None


def test_staff_see_only_their_own_notifications(client, login_as, world):
    nurse, peer = world.staff[Role.NURSE], world.staff[Role.PEER]
    alert = services.notify(
        nurse, NotificationKind.RISK_ESCALATION, patient_id=world.patient.id
    )
    login_as(Role.PEER)
    assert client.get(f"/n/{alert}").status_code == 404
    assert "urgent" not in client.get("/notifications").get_data(as_text=True)
    assert peer.id != nurse.id


def test_a_target_on_another_host_is_never_followed(client, login_as, world):
    login_as(Role.PATIENT)
    for target in ("https://evil.example/x", "//evil.example/x", "/\\evil.example"):
        note_id = services.notify(
            world.patient, NotificationKind.NEW_MESSAGE, target=target
        )
        assert client.get(f"/n/{note_id}").headers["Location"] == "/"


def test_mark_one_read_and_mark_all_read(client, login_as, world):
    login_as(Role.PATIENT)
    first = services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    services.notify(world.patient, NotificationKind.NEED_UPDATE)
    services.notify(world.patient, NotificationKind.SCHEDULE_CHANGE)
    post_form(client, f"/notifications/{first}/read", {}, page="/notifications")
    assert services.unread_count(world.patient.id) == 2
    response = post_form(client, "/notifications/read-all", {}, page="/notifications")
    assert response.status_code == 302
    assert services.unread_count(world.patient.id) == 0


def test_marking_read_needs_the_csrf_token(client, login_as, world):
    login_as(Role.PATIENT)
    note_id = services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    assert client.post(f"/notifications/{note_id}/read").status_code == 400
    assert client.post("/notifications/read-all").status_code == 400
    assert services.unread_count(world.patient.id) == 1


def test_notify_belongs_to_the_callers_transaction(world):
    savepoint = db.session.begin_nested()
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    savepoint.rollback()
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_notify_with_a_dedupe_key_notifies_once(world):
    assert services.notify(world.patient, NotificationKind.NEW_MESSAGE, dedupe_key="k1")
    assert (
        services.notify(world.patient, NotificationKind.NEW_MESSAGE, dedupe_key="k1")
        is None
    )
    assert services.unread_count(world.patient.id) == 1


# ---- devices -------------------------------------------------------------------------


def test_saving_a_subscription_needs_csrf_and_lists_the_device(client, login_as, world):
    login_as(Role.PATIENT)
    data = _subscription()
    response = client.post(
        "/notifications/devices", data=json.dumps(data), content_type="application/json"
    )
    assert response.status_code == 400  # no CSRF token
    assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 0

    response = _post_device(client, data, **{"User-Agent": IPHONE})
    assert response.status_code == 201
    device = db.session.scalar(select(PushSubscription))
    assert (device.user_id, device.endpoint) == (world.patient.id, data["endpoint"])
    html = client.get("/notifications/settings").get_data(as_text=True)
    assert "Safari on iPhone" in html
    assert data["endpoint"] not in html  # the capability URL stays on the server
    assert f'data-endpoint-hash="{device.endpoint_hash}"' in html
    audit_row = db.session.scalar(
        select(AuditEvent).where(AuditEvent.data_kind == "push_subscription")
    )
    assert (audit_row.action, audit_row.object_id) == ("create", device.id)


def test_saving_the_same_subscription_twice_keeps_one_row(client, login_as, world):
    login_as(Role.PATIENT)
    assert _post_device(client, _subscription()).status_code == 201
    assert _post_device(client, _subscription()).status_code == 201
    assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 1


def test_bad_subscriptions_are_refused_with_a_log_line_of_ids_only(
    client, login_as, world, caplog
):
    login_as(Role.PATIENT)
    good = _subscription()
    bad_point = dict(
        good,
        keys={"p256dh": b64url(b"\x04" + b"\x01" * 64), "auth": good["keys"]["auth"]},
    )
    cases = {
        "not_an_object": ["x"],
        "bad_endpoint": {"endpoint": 42, "keys": good["keys"]},
        "not_https": dict(good, endpoint="http://fcm.googleapis.com/fcm/send/x"),
        "unknown_push_service": dict(good, endpoint="https://push.evil.example/x"),
        "missing_keys": {"endpoint": good["endpoint"]},
        "bad_keys": bad_point,
    }
    with caplog.at_level(logging.WARNING, logger="portal.notifications"):
        for reason, data in cases.items():
            response = _post_device(client, data)
            assert response.status_code == 400, reason
            assert response.get_json()["error"]
            assert f"user {world.patient.id}: {reason}" in caplog.text
        assert _post_device(client, "{not json").status_code == 400
        huge = dict(good, padding="x" * 5000)
        assert _post_device(client, huge).status_code == 413
    assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 0
    assert good["endpoint"] not in caplog.text and MARKERS["patient"] not in caplog.text


def test_a_phone_passed_to_another_person_stops_getting_the_first_ones_pushes(
    client, login_as, world
):
    data = _subscription()
    login_as(Role.PATIENT)
    assert _post_device(client, data).status_code == 201
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    post_form(client, "/sign-out", {}, page="/")
    sign_in(client, world.patient_b)
    assert _post_device(client, data).status_code == 201
    [device] = db.session.scalars(select(PushSubscription)).all()
    assert device.user_id == world.patient_b.id
    assert db.session.scalar(select(func.count()).select_from(PushDelivery)) == 0


def test_removing_a_device_deletes_it_and_its_queue(client, login_as, world):
    login_as(Role.PATIENT)
    _post_device(client, _subscription(1))
    _post_device(client, _subscription(2))
    services.notify(world.patient, NotificationKind.NEW_MESSAGE)
    first = db.session.scalars(
        select(PushSubscription).order_by(PushSubscription.created_at)
    ).first()
    response = post_form(
        client,
        f"/notifications/devices/{first.id}/remove",
        {},
        page="/notifications/settings",
    )
    assert response.status_code == 302
    assert db.session.get(PushSubscription, first.id) is None
    assert db.session.scalar(select(func.count()).select_from(PushDelivery)) == 1


def test_someone_elses_device_cannot_be_removed(client, login_as, world):
    login_as("patient_b")
    _post_device(client, _subscription(9))
    device = db.session.scalar(select(PushSubscription))
    post_form(client, "/sign-out", {}, page="/")
    sign_in(client, world.patient)
    response = post_form(
        client,
        f"/notifications/devices/{device.id}/remove",
        {},
        page="/notifications/settings",
    )
    assert response.status_code == 404
    assert db.session.get(PushSubscription, device.id) is not None


def test_the_oldest_device_makes_room_beyond_ten(client, login_as, world):
    login_as(Role.PATIENT)
    for n in range(11):
        assert _post_device(client, _subscription(n)).status_code == 201
    endpoints = db.session.scalars(select(PushSubscription.endpoint)).all()
    assert len(endpoints) == 10 and _subscription(0)["endpoint"] not in endpoints


def test_the_settings_page_guides_an_iphone_to_the_home_screen(
    client, login_as, world, app
):
    login_as(Role.PATIENT)
    app.extensions.pop("push_settings", None)
    app.config["VAPID_PRIVATE_KEY"] = "qLtqcZ2B7F4Ia8i8j0aQCN7ryEOhI1i0d2Gt6r2zqbM"
    try:
        iphone = client.get("/notifications/settings", headers={"User-Agent": IPHONE})
        html = iphone.get_data(as_text=True)
        assert "Add to Home Screen" in html
        assert re.search(r"<div class=\"notice\" data-push-ios>", html)
        assert 'data-vapid-key="B' in html
        android = client.get("/notifications/settings").get_data(as_text=True)
        assert re.search(r"data-push-ios hidden", android)
    finally:
        app.config.pop("VAPID_PRIVATE_KEY")
        app.extensions.pop("push_settings", None)


def test_without_vapid_keys_the_page_says_push_is_not_set_up(
    client, login_as, world, app, tmp_path, monkeypatch
):
    monkeypatch.setattr(app, "instance_path", str(tmp_path))  # no key file there
    app.extensions.pop("push_settings", None)
    login_as(Role.PATIENT)
    try:
        html = client.get("/notifications/settings").get_data(as_text=True)
    finally:
        app.extensions.pop("push_settings", None)
    assert "not set up on this server yet" in html
    assert "data-push-subscribe" not in html


# ---- preferences ---------------------------------------------------------------------


def test_preferences_save_kinds_and_quiet_hours_in_the_program_time_zone(
    client, login_as, world
):
    login_as(Role.PATIENT)
    html = client.get("/notifications/settings").get_data(as_text=True)
    assert "Urgent safety alerts" not in html  # a staff-only kind
    response = post_form(
        client,
        "/notifications/settings",
        {
            "push_new_message": "y",
            "push_need_update": "y",
            "quiet": "y",
            "quiet_start": "21:30",
            "quiet_end": "07:00",
        },
    )
    assert response.status_code == 302
    pref = db.session.get(NotificationPreference, world.patient.id)
    assert set(pref.push_off) == {
        "session_reminder",
        "checkin_reminder",
        "schedule_change",
        "announcement",
    }
    assert (pref.quiet_start, pref.quiet_end) == (time(21, 30), time(7, 0))
    assert pref.timezone == "America/New_York"
    html = client.get("/notifications/settings").get_data(as_text=True)
    assert _checked(html, "push_new_message") and not _checked(
        html, "push_announcement"
    )


def test_quiet_hours_need_two_different_times(client, login_as, world):
    login_as(Role.PATIENT)
    response = post_form(
        client,
        "/notifications/settings",
        {"quiet": "y", "quiet_start": "22:00", "quiet_end": "22:00"},
    )
    assert response.status_code == 200
    assert "must be different" in response.get_data(as_text=True)
    assert db.session.get(NotificationPreference, world.patient.id) is None


def test_staff_are_told_risk_alerts_are_always_on(client, login_as, world):
    login_as(Role.NURSE)
    html = client.get("/notifications/settings").get_data(as_text=True)
    assert "Urgent safety alerts are always sent" in html
    assert 'id="push_risk_escalation"' not in html
    post_form(client, "/notifications/settings", {"quiet": ""})
    pref = db.session.get(NotificationPreference, world.staff[Role.NURSE].id)
    assert "risk_escalation" not in pref.push_off


def test_every_notifications_route_declares_its_permission(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("notifications."):
            view = app.view_functions[rule.endpoint]
            assert view.required_permissions == {"notifications:self"}, rule.rule
