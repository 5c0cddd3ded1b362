"""The notification settings page turns Web Push on: it asks the browser for a
subscription and posts it, with the CSRF header, to the server, which lists the
device; removing the device also ends the subscription in the browser. Headless
Chromium cannot make a real subscription, so pushManager is stubbed before any page
script runs. An iPhone outside the home screen is told to add the app there first."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from tests.browser.conftest import PHONE, sign_in_patient
from tests.fake_push_service import subscription_info

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect

FAKE = subscription_info("https://fcm.googleapis.com/fcm/send", "browser", "device-1")
STUB_PUSH = """
(() => {
  const fake = %s;
  const calls = { subscribe: [], unsubscribe: 0 };
  window.__push = calls;
  const subscription = {
    endpoint: fake.endpoint,
    expirationTime: null,
    options: {},
    toJSON: () => Object.assign({ expirationTime: null }, fake),
    unsubscribe: () => {
      calls.unsubscribe += 1;
      return (window.pushUnsubscribed ? window.pushUnsubscribed() : Promise.resolve())
        .then(() => true);
    },
  };
  if (window.PushManager) {
    PushManager.prototype.subscribe = function (options) {
      const seen = {
        userVisibleOnly: options.userVisibleOnly,
        keyBytes: new Uint8Array(options.applicationServerKey).length,
      };
      calls.subscribe.push(seen);
      return (window.pushSubscribed ? window.pushSubscribed(seen) : Promise.resolve())
        .then(() => subscription);
    };
    PushManager.prototype.getSubscription = () => Promise.resolve(subscription);
  }
  if (window.Notification) {
    Notification.requestPermission = () => Promise.resolve("granted");
  }
})();
""" % json.dumps(FAKE)  # noqa: UP031 - braces in the JavaScript
IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def _devices(database) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as conn:
        return conn.execute(
            "SELECT push_subscriptions.endpoint, users.email FROM push_subscriptions "
            "JOIN users ON users.id = push_subscriptions.user_id"
        ).fetchall()


@pytest.mark.browser
def test_the_page_posts_the_subscription_and_lists_the_device(new_phone, server, check):
    context = new_phone()
    subscribed, unsubscribed = [], []
    context.expose_function("pushSubscribed", lambda seen: subscribed.append(seen))
    context.expose_function("pushUnsubscribed", lambda: unsubscribed.append(1))
    context.add_init_script(STUB_PUSH)
    page = context.new_page()
    posted = []
    page.on(
        "request",
        lambda r: (
            posted.append(r)
            if r.url.endswith("/notifications/devices") and r.method == "POST"
            else None
        ),
    )
    sign_in_patient(page)
    page.get_by_role("link", name="Notifications").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    check(page, "notification list")
    page.get_by_role("link", name="Notification settings and devices").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Notification settings")
    check(page, "notification settings")

    button = page.get_by_role("button", name="Turn on notifications on this device")
    expect(button).to_be_visible()
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    button.click()
    expect(page.locator(".device-list li")).to_have_count(1)
    expect(page.locator(".device-list")).to_contain_text("(this device)")
    check(page, "notification settings with a device")

    [request] = posted
    assert request.headers.get("x-csrftoken")
    assert request.headers["content-type"].startswith("application/json")
    body = json.loads(request.post_data)
    assert body["endpoint"] == FAKE["endpoint"] and body["keys"] == FAKE["keys"]
    assert _devices(server["database"]) == [(FAKE["endpoint"], "patient@demo.test")]
    assert subscribed == [{"userVisibleOnly": True, "keyBytes": 65}]

    page.get_by_role("button", name=re.compile(r"^Remove")).click()
    expect(page.get_by_text("No devices yet.")).to_be_visible()
    assert _devices(server["database"]) == []
    assert unsubscribed == [1]  # the browser's subscription ended before removal
    stored = page.evaluate(
        "Object.keys(localStorage).concat(Object.keys(sessionStorage))"
    )
    assert stored == []


@pytest.mark.browser
def test_an_iphone_is_told_to_add_the_app_to_the_home_screen_first(
    browser, base_url, check
):
    context = browser.new_context(base_url=base_url, user_agent=IPHONE_UA, **PHONE)
    context.on("page", check.watch)
    try:
        page = context.new_page()
        sign_in_patient(page)
        page.goto("/notifications/settings")
        guide = page.locator("[data-push-ios]")
        expect(guide).to_be_visible()
        expect(guide).to_contain_text("Add to Home Screen")
        expect(
            page.get_by_role("button", name="Turn on notifications on this device")
        ).to_be_hidden()
        check(page, "notification settings on an iPhone")
    finally:
        context.close()
