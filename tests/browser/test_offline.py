"""The installable shell: manifest, service worker, crisis help and the offline page
with no signal, and nothing authenticated kept in CacheStorage."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import fill_sign_in

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect

# The public shell: crisis help, the offline page, the "saved on your phone" pages of
# the offline check-in queue, and static files. Nothing a signed-in person sees.
PUBLIC_SHELL = re.compile(
    r"^/(crisis|offline|saved-offline\?(help=1&)?lang=(en|es)|static/.+)$"
)
PATIENT_NAME = "Jordan Rivera"  # patient@demo.test


def _cache_contents(page) -> dict[str, str]:
    """Every URL in CacheStorage, with the body of each that is not a static file."""
    return page.evaluate(
        """async () => {
            const found = {};
            for (const name of await caches.keys()) {
                const cache = await caches.open(name);
                for (const request of await cache.keys()) {
                    const path = new URL(request.url).pathname;
                    found[request.url] = path.startsWith('/static/')
                        ? '' : await (await cache.match(request)).text();
                }
            }
            return found;
        }"""
    )


@pytest.mark.browser
def test_pages_link_a_manifest_with_name_icons_and_standalone_display(phone):
    page = phone
    page.goto("/sign-in")
    href = page.locator('link[rel="manifest"]').get_attribute("href")
    assert href == "/manifest.webmanifest"
    manifest = page.evaluate(
        "href => fetch(href).then(response => response.json())", href
    )
    assert manifest["name"]
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == "/"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        response = page.request.get(icon["src"])
        assert response.ok and response.headers["content-type"] == "image/png"


@pytest.mark.browser
def test_service_worker_serves_crisis_help_and_offline_page_without_signal(
    phone, check, base_url
):
    page = phone
    context = page.context
    page.goto("/sign-in")
    scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope == f"{base_url}/"
    # Browse signed in, so the worker sees authenticated pages (and must not keep them).
    fill_sign_in(page, "patient@demo.test")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Today")
    page.goto("/week")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Week of")
    assert page.evaluate("navigator.serviceWorker.controller !== null")

    context.set_offline(True)
    try:
        page.goto("/crisis")
        expect(page.get_by_role("heading", level=1)).to_have_text("Help right now")
        expect(page.locator('a[href="tel:988"]').first).to_be_visible()
        expect(page.locator('a[href="tel:911"]').first).to_be_visible()
        # The stylesheet came from the cache too: crisis buttons keep their size.
        assert (
            page.locator(".crisis-actions .button").first.bounding_box()["height"] >= 44
        )
        check(page, "crisis (offline)")

        for path in ("/", "/week"):
            page.goto(path)
            expect(page.get_by_role("heading", level=1)).to_have_text(
                "We cannot reach the program right now"
            )
        check(page, "offline")

        cached = _cache_contents(page)
    finally:
        context.set_offline(False)
    paths = [re.sub(r"^https?://[^/]+", "", url) for url in cached]
    assert "/crisis" in paths and "/offline" in paths
    not_public = [path for path in paths if not PUBLIC_SHELL.match(path)]
    assert not_public == [], f"CacheStorage holds more than the public shell: {paths}"
    for url, body in cached.items():
        assert PATIENT_NAME not in body, f"{url} in CacheStorage names the patient"
        assert "Sign out" not in body, f"{url} in CacheStorage is a signed-in page"
