"""The crisis and offline pages the service worker keeps are in the language the
patient reads the portal in: it fetches them without cookies, so app.js tells it the
language of each page, and it fetches them again in that language when it changes
(also after the language switch of a signed-in patient, an htmx-boosted form that now
carries the new page's <html lang> along)."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import fill_sign_in

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect

SPANISH_PATIENT = "patient8@demo.test"  # no other browser test uses this one


def _kept_language(page) -> str:
    """The <html lang> of the kept offline page."""
    return page.evaluate(
        """async () => {
            const hit = await caches.match('/offline');
            const html = hit ? await hit.text() : '';
            const found = /<html lang="([a-z]+)"/.exec(html);
            return found ? found[1] : '';
        }"""
    )


def _wait_for_kept_language(page, language: str) -> None:
    for _ in range(50):
        if _kept_language(page) == language:
            return
        page.wait_for_timeout(200)
    assert _kept_language(page) == language


def _ready(page) -> None:
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")


@pytest.mark.browser
def test_a_phone_that_switches_to_spanish_keeps_spanish_crisis_help(phone, check):
    page = phone
    page.goto("/sign-in")
    _ready(page)
    _wait_for_kept_language(page, "en")  # the phone's browser asks for English
    page.get_by_role("button", name="Leer en español").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", level=1)).to_have_text("Iniciar sesión")
    _wait_for_kept_language(page, "es")

    page.context.set_offline(True)
    try:
        page.goto("/crisis")
        expect(page.get_by_role("heading", level=1)).to_have_text("Ayuda ahora mismo")
        expect(page.locator('a[href="sms:988?body=AYUDA"]').first).to_be_visible()
        expect(page.locator('a[href="tel:911"]').first).to_be_visible()
        check(page, "crisis in Spanish (offline)")
        page.goto("/week")
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "No podemos comunicarnos con el programa ahora"
        )
        check(page, "offline in Spanish")
    finally:
        page.context.set_offline(False)


@pytest.mark.browser
def test_a_signed_in_patients_switch_takes_the_kept_pages_and_page_lang_along(phone):
    page = phone
    page.goto("/sign-in")
    fill_sign_in(page, SPANISH_PATIENT)
    page.wait_for_url(re.compile(r"/$"))
    _ready(page)
    _wait_for_kept_language(page, "en")
    try:
        page.get_by_role("button", name="Leer en español").click()  # boosted
        expect(page.get_by_role("link", name="Ayuda en crisis")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "es")
        _wait_for_kept_language(page, "es")
        # What the worker keeps was fetched without cookies: nothing of the patient's.
        kept = page.evaluate(
            "async () => (await (await caches.match('/crisis')).text())"
        )
        assert "Avery Cole" not in kept and "Cerrar sesión" not in kept
    finally:
        page.get_by_role("button", name="Read in English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    _wait_for_kept_language(page, "en")
