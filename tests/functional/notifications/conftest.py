"""Fixtures for the notification tests: the app with a VAPID key and the local fake
push service allowed, the service itself, an outbox, and helpers."""

from __future__ import annotations

import pytest
from py_vapid import Vapid

from portal.blueprints.notifications import services
from portal.blueprints.notifications.delivery import Outbox
from portal.blueprints.notifications.models import (
    PushSubscription,
)
from portal.blueprints.notifications.push import (
    KNOWN_PUSH_HOSTS,
    private_key_text,
    public_key_of,
    push_settings,
)
from tests.fake_push_service import FakePushService

VAPID = Vapid()
VAPID.generate_keys()
PUSH_CONFIG = {
    "VAPID_PRIVATE_KEY": private_key_text(VAPID),
    "VAPID_SUBJECT": "mailto:push-admin@example.org",
    "PUSH_ALLOW_HTTP": True,
    "PUSH_HOSTS": ",".join(("127.0.0.1", *KNOWN_PUSH_HOSTS)),
    "PUSH_CONCURRENCY": 4,
    "PUSH_BATCH": 4,
    "PUSH_CONNECT_TIMEOUT": 1.0,
    "PUSH_READ_TIMEOUT": 1.0,
    "PUSH_MAX_ATTEMPTS": 3,
}
ANDROID_CHROME = "Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile Safari/537.36"
CACHES = ("push_settings", "push_outbox")


@pytest.fixture
def push_app(app):
    """The suite's app with push set up for the fake service; restored afterwards."""
    missing = object()
    saved = {key: app.config.get(key, missing) for key in PUSH_CONFIG}
    app.config.update(PUSH_CONFIG)
    for cache in CACHES:
        app.extensions.pop(cache, None)
    yield app
    outbox = app.extensions.pop("push_outbox", None)
    if outbox is not None:
        outbox.close()
    app.extensions.pop("push_settings", None)
    for key, value in saved.items():
        if value is missing:
            app.config.pop(key, None)
        else:
            app.config[key] = value


@pytest.fixture
def push_service(push_app):
    with FakePushService(vapid_public_key=public_key_of(VAPID)) as service:
        service.settings = push_settings(push_app)
        yield service


@pytest.fixture
def outbox(push_app):
    box = Outbox(push_settings(push_app), push_app.config["APP_NAME"])
    yield box
    box.close()


@pytest.fixture
def add_device(push_service):
    """add_device(user, script=()): a subscription at the fake service, saved as the
    browser would save it."""

    def add(user, script=()) -> PushSubscription:
        info = push_service.subscribe(script=script)
        return services.save_device(user, info, ANDROID_CHROME, push_service.settings)

    return add
