"""A patient who reads Spanish sees crisis help in Spanish the moment a risk answer is
chosen, and with no signal the phone's own "saved" page is in Spanish too (the service
worker keeps one per language and picks the page's)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import sign_in_patient
from tests.browser.test_checkins import (
    CLEAR_QUEUE_JS,
    PATIENT2,
    QUEUE_ITEMS_JS,
    _choose,
    _wait_until_controlled,
)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing")
expect = sync_api.expect

SPANISH_988 = (
    "llame al 988 y marque 2 para español, o envíe AYUDA por mensaje de texto al 988"
)


def _choose_language(page, button: str) -> None:
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


@pytest.mark.browser
def test_a_spanish_patient_sees_crisis_help_in_spanish_online_and_offline(
    new_phone, check
):
    context = new_phone()
    page = context.new_page()
    sign_in_patient(page, PATIENT2)
    page.goto("/check-in")
    _choose_language(page, "Leer en español")
    try:
        expect(page.get_by_role("heading", level=1)).to_have_text("Registro diario")
        _wait_until_controlled(page)
        panel = page.locator("#crisis-panel")
        # (an earlier test may have left today's check-in "not safe": answer "Sí" first)
        _choose(page, "¿Se siente seguro(a) en este momento?", "Sí")
        expect(panel).to_be_hidden()
        _choose(page, "¿Se siente seguro(a) en este momento?", "No")
        expect(panel).to_be_visible()
        expect(panel).to_contain_text(SPANISH_988)
        check(page, "the check-in in Spanish, crisis help shown")

        context.set_offline(True)
        try:
            _choose(page, "¿Cómo está su estado de ánimo en este momento?", "4")
            _choose(page, "¿Qué tan fuertes son sus antojos?", "6")
            page.get_by_label("¿Cuántas horas durmió anoche?").fill("5.5")
            _choose(page, "¿Tomó su medicina como se la recetaron?", "Sí")
            page.get_by_role("button", name="Enviar mi registro").click()
            expect(page.locator("html")).to_have_attribute("lang", "es")
            expect(page.locator(".help-box")).to_be_visible()
            assert len(page.evaluate(QUEUE_ITEMS_JS)) == 1
            page.evaluate(CLEAR_QUEUE_JS)  # practice answers: never sent
        finally:
            context.set_offline(False)
    finally:
        page.goto("/check-in")
        _choose_language(page, "Read in English")
        expect(page.get_by_role("heading", level=1)).to_have_text("Daily check-in")
