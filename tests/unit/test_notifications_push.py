"""Push plumbing without a database: checking subscriptions, the lock-screen payload,
the VAPID token cache, quiet hours, backoff, and the `portal vapid-keys` command."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, time, timedelta

import pytest
from py_vapid import Vapid
from py_vapid import jwt as vapid_jwt

from portal.blueprints.notifications.delivery import Outbox
from portal.blueprints.notifications.kinds import KINDS, kinds_for
from portal.blueprints.notifications.models import (
    NotificationKind,
    NotificationPreference,
)
from portal.blueprints.notifications.push import (
    KNOWN_PUSH_HOSTS,
    MAX_PAYLOAD_BYTES,
    PushSettings,
    SubscriptionError,
    VapidSigner,
    b64url,
    build_payload,
    device_label,
    parse_subscription,
    public_key_of,
    topic_of,
    vapid_from_text,
)
from portal.blueprints.notifications.services import quiet_until, safe_target
from tests.fake_push_service import subscription_info

NOTE_ID = "0e7d2c1e-6b0a-4d8e-9f1e-3b0c2f6a9d41"
# Words that would tell an onlooker what the app is for.
TREATMENT_WORDS = (
    "therapy",
    "therapist",
    "treatment",
    "recovery",
    "relapse",
    "craving",
    "mood",
    "risk",
    "suicide",
    "crisis",
    "clinic",
    "mental",
    "substance",
    "alcohol",
    "drug",
    "medication",
    "psychiatr",
    "counsel",
    "program",
    "group",
    "patient",
    "score",
    "phq",
    "gad",
)


def _settings(**changes) -> PushSettings:
    base = {
        "vapid": None,
        "public_key": None,
        "subject": "mailto:a@example.org",
        "allow_http": False,
        "hosts": KNOWN_PUSH_HOSTS,
    }
    return PushSettings(**{**base, **changes})


def _browser(endpoint="https://fcm.googleapis.com/fcm/send/abc123") -> dict:
    info = subscription_info("https://x", "unit", "d1")
    return {"endpoint": endpoint, "keys": info["keys"], "expirationTime": None}


# ---- subscriptions -------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/abc123",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
        "https://web.push.apple.com/QGx8",
        "https://wns2-bl2p.notify.windows.com/w/?token=BQYAAA",
    ],
)
def test_subscriptions_of_the_browsers_push_services_are_accepted(endpoint):
    parsed = parse_subscription(_browser(endpoint), _settings())
    assert parsed.endpoint == endpoint and len(parsed.endpoint_hash) == 64


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda s: "a string", "not_an_object"),
        (lambda s: {**s, "endpoint": None}, "bad_endpoint"),
        (
            lambda s: {**s, "endpoint": "https://fcm.googleapis.com/" + "x" * 1100},
            "bad_endpoint",
        ),
        (
            lambda s: {**s, "endpoint": "http://fcm.googleapis.com/fcm/send/a"},
            "not_https",
        ),
        (
            lambda s: {**s, "endpoint": "ftp://fcm.googleapis.com/fcm/send/a"},
            "not_https",
        ),
        (
            lambda s: {**s, "endpoint": "https://127.0.0.1/internal"},
            "unknown_push_service",
        ),
        (
            lambda s: {**s, "endpoint": "https://fcm.googleapis.com.evil.example/x"},
            "unknown_push_service",
        ),
        (
            lambda s: {**s, "endpoint": "https://user:pw@fcm.googleapis.com/x"},
            "bad_endpoint",
        ),
        (lambda s: {"endpoint": s["endpoint"]}, "missing_keys"),
        (lambda s: {**s, "keys": {"p256dh": s["keys"]["p256dh"]}}, "missing_keys"),
        (lambda s: {**s, "keys": {**s["keys"], "auth": b64url(b"short")}}, "bad_keys"),
        (
            lambda s: {
                **s,
                "keys": {**s["keys"], "p256dh": b64url(b"\x04" + b"\x00" * 64)},
            },
            "bad_keys",
        ),
        (
            lambda s: {**s, "keys": {**s["keys"], "p256dh": "!!not base64!!"}},
            "bad_keys",
        ),
        (lambda s: {**s, "keys": {**s["keys"], "p256dh": "A" * 500}}, "bad_keys"),
    ],
)
def test_malformed_or_foreign_subscriptions_are_refused(change, reason):
    with pytest.raises(SubscriptionError) as refused:
        parse_subscription(change(_browser()), _settings())
    assert refused.value.reason == reason


def test_http_endpoints_only_when_allowed_for_the_local_fake_service():
    local = _browser("http://127.0.0.1:8123/push/s1")
    hosts = ("127.0.0.1",)
    with pytest.raises(SubscriptionError):
        parse_subscription(local, _settings(hosts=hosts))
    assert parse_subscription(local, _settings(hosts=hosts, allow_http=True))


def test_device_labels_are_coarse():
    assert (
        device_label(
            "Mozilla/5.0 (Linux; Android 14; SM-A145F) AppleWebKit/537.36 "
            "(KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0 Mobile Safari/537.36"
        )
        == "Samsung Internet on Android phone"
    )
    assert (
        device_label(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
            "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/604.1"
        )
        == "Safari on iPhone"
    )
    assert device_label(None) == "A browser on device"


# ---- the payload ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(NotificationKind))
def test_every_payload_is_generic_small_and_links_opaquely(kind):
    payload = json.loads(build_payload(kind, NOTE_ID, "Day Program"))
    assert payload == {
        "title": "Day Program",
        "body": KINDS[kind].text,
        "url": f"/n/{NOTE_ID}",
        "tag": NOTE_ID,
    }
    words = KINDS[kind].text.lower()
    assert not [w for w in TREATMENT_WORDS if w in words], words
    assert len(build_payload(kind, NOTE_ID, "X" * 40)) < MAX_PAYLOAD_BYTES


def test_every_kind_has_a_ttl_and_an_rfc8030_urgency():
    for info in KINDS.values():
        assert info.urgency in {"very-low", "low", "normal", "high"}
        assert timedelta(minutes=5) <= info.ttl <= timedelta(days=28)
    assert KINDS[NotificationKind.RISK_ESCALATION].always_on
    assert NotificationKind.RISK_ESCALATION in kinds_for(is_staff=True)
    assert NotificationKind.RISK_ESCALATION not in kinds_for(is_staff=False)


def test_the_topic_header_is_at_most_32_url_safe_characters():
    assert (
        topic_of(NOTE_ID) == NOTE_ID.replace("-", "") and len(topic_of(NOTE_ID)) == 32
    )


def test_safe_target_keeps_people_on_this_site():
    assert safe_target("/week") == "/week"
    for bad in (None, "", "week", "//evil.example", "/\\evil.example", "https://x.y"):
        assert safe_target(bad) == "/"


# ---- VAPID ---------------------------------------------------------------------------


def _vapid() -> Vapid:
    vapid = Vapid()
    vapid.generate_keys()
    return vapid


def test_one_vapid_token_per_push_service_renewed_only_near_expiry():
    clock = {"now": 1_800_000_000}
    vapid = _vapid()
    signer = VapidSigner(vapid, "mailto:a@example.org", clock=lambda: clock["now"])
    first = signer.authorization("https://fcm.googleapis.com/fcm/send/a")
    assert signer.authorization("https://fcm.googleapis.com/fcm/send/b") == first
    apple = signer.authorization("https://web.push.apple.com/c")
    assert apple != first and signer.signatures == 2

    token = first.split("t=")[1].split(",")[0]
    claims = vapid_jwt.decode(token, public_key_of(vapid))
    assert claims == {
        "aud": "https://fcm.googleapis.com",
        "exp": 1_800_000_000 + 12 * 3600,
        "sub": "mailto:a@example.org",
    }
    clock["now"] += 10 * 3600  # two hours left: still used
    assert signer.authorization("https://fcm.googleapis.com/x") == first
    clock["now"] += 90 * 60  # half an hour left: renewed
    assert signer.authorization("https://fcm.googleapis.com/x") != first
    assert signer.signatures == 3


def test_vapid_keys_load_from_pem_or_raw_text():
    vapid = _vapid()
    from_pem = vapid_from_text(vapid.private_pem().decode())
    from portal.blueprints.notifications.push import private_key_text

    from_raw = vapid_from_text(private_key_text(vapid))
    assert public_key_of(from_pem) == public_key_of(from_raw) == public_key_of(vapid)


def test_the_cli_writes_the_key_into_instance_with_owner_only_access(
    app, tmp_path, monkeypatch
):
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["vapid-keys"])
    assert result.exit_code == 0, result.output
    key_file = tmp_path / "vapid_private.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    public = public_key_of(vapid_from_text(key_file.read_text()))
    assert public in result.output and "PRIVATE" not in result.output
    again = runner.invoke(args=["vapid-keys"])
    assert again.exit_code == 1 and "--force" in again.output
    assert runner.invoke(args=["vapid-keys", "--force", "--env"]).exit_code == 0


# ---- quiet hours and backoff ---------------------------------------------------------


def _pref(start, end, tz="America/New_York") -> NotificationPreference:
    return NotificationPreference(quiet_start=start, quiet_end=end, timezone=tz)


@pytest.mark.parametrize(
    ("local_now", "until"),
    [
        ("2026-11-20 22:30", "2026-11-21 07:00"),
        ("2026-11-21 03:00", "2026-11-21 07:00"),
        ("2026-11-21 07:00", None),
        ("2026-11-21 12:00", None),
        ("2026-11-21 21:00", "2026-11-22 07:00"),
    ],
)
def test_overnight_quiet_hours_end_in_the_morning(local_now, until):
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("America/New_York")
    now = datetime.fromisoformat(local_now).replace(tzinfo=tz).astimezone(UTC)
    result = quiet_until(_pref(time(21), time(7)), now)
    expected = (
        datetime.fromisoformat(until).replace(tzinfo=tz).astimezone(UTC)
        if until
        else None
    )
    assert result == expected


def test_daytime_quiet_hours_and_none():
    now = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    assert quiet_until(_pref(time(13), time(15), "UTC"), now) == now.replace(hour=15)
    assert quiet_until(_pref(None, None), now) is None
    assert quiet_until(None, now) is None


def test_backoff_doubles_caps_and_honours_retry_after():
    outbox = Outbox.__new__(Outbox)
    outbox.settings = _settings(backoff_seconds=30, max_backoff_seconds=3600)
    delays = [outbox.backoff(n) for n in range(1, 9)]
    for n, delay in enumerate(delays[:5], start=1):
        assert 0.8 * 30 * 2 ** (n - 1) <= delay <= 1.2 * 30 * 2 ** (n - 1)
    assert max(delays) <= 3600 * 1.2
    assert outbox.backoff(1, retry_after=600) == 600
