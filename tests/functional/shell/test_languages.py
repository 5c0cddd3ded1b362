"""The shell pages in the patient's language (docs/languages.md): the crisis help in
Spanish says to press 2 on 988 or text AYUDA, keeps 911 and the on-call lines; the
welcome and the error pages follow the account's choice, the cookie, then the browser;
an unknown language is English; staff stay English."""

from __future__ import annotations

from portal import db
from portal.blueprints.programs.on_call import on_call_numbers
from portal.security import Role
from tests.conftest import sign_in

SPANISH = {"Accept-Language": "es-US,es;q=0.9"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def _page(client, url, headers=None):
    response = client.get(url, headers=headers or {})
    return response.get_data(as_text=True)


def test_the_crisis_page_in_spanish_says_press_2_or_text_ayuda(app, client, world):
    on_call_numbers(app).refresh(db.session)
    html = _page(client, "/crisis", SPANISH)
    assert '<html lang="es">' in html
    assert "Ayuda ahora mismo" in html
    assert (
        '<a class="button" href="tel:988">Llame al 988 y marque 2 para español</a>'
        in html
    )
    assert 'href="sms:988?body=AYUDA">Envíe AYUDA por mensaje de texto al 988<' in html
    assert "marque 2 para español, o envíe AYUDA por mensaje de texto al 988" in html
    assert 'href="tel:911">En peligro ahora: llame al 911<' in html
    assert "La línea de guardia de su programa" in html
    assert f'href="tel:{world.program.on_call_phone}"' in html
    assert "Call 988 (Suicide and Crisis Lifeline)" not in html
    assert "Help right now" not in html


def test_the_crisis_page_in_english_is_unchanged(app, client, world):
    on_call_numbers(app).refresh(db.session)
    html = _page(client, "/crisis", ENGLISH)
    assert '<html lang="en">' in html
    assert (
        '<a class="button" href="tel:988">Call 988 (Suicide and Crisis Lifeline)</a>'
        in html
    )
    assert '<a class="button" href="sms:988">Text 988</a>' in html
    assert "AYUDA" not in html.split("<footer")[0]


def test_a_spanish_patients_crisis_page_and_own_line_are_in_spanish(app, client, world):
    world.patient.preferred_language = "es"
    db.session.flush()
    on_call_numbers(app).refresh(db.session)
    sign_in(client, world.patient)
    html = _page(client, "/crisis", ENGLISH)  # the account's choice wins
    assert "Llame a la línea de guardia de su programa" in html
    assert f'href="tel:{world.program.on_call_phone}"' in html
    assert "sms:988?body=AYUDA" in html


def test_the_offline_and_saved_pages_in_spanish(client):
    offline = _page(client, "/offline", SPANISH)
    assert "No podemos comunicarnos con el programa ahora" in offline
    assert "marque 2 para español" in offline
    # the words the service worker shows itself, from its kept copy of this page
    assert 'data-sw-notification="Notificación"' in offline
    assert 'data-sw-something-new="Hay algo nuevo para usted"' in offline
    saved = _page(client, "/saved-offline?help=1", SPANISH)
    assert "Guardado en su teléfono" in saved and "sms:988?body=AYUDA" in saved
    assert "There is no signal right now" not in saved
    english = _page(client, "/offline", ENGLISH)
    assert 'data-sw-notification="Notification"' in english
    assert "We cannot reach the program right now" in english


def test_a_spanish_patient_gets_the_spanish_welcome(client, world):
    world.patient.preferred_language = "es"
    db.session.flush()
    sign_in(client, world.patient)
    html = _page(client, "/welcome")
    assert "1. Póngalo en su pantalla de inicio" in html
    assert "<strong>Agregar a inicio</strong>" in html
    assert "y marque 2, o envíe AYUDA" in html and 'href="sms:988?body=AYUDA"' in html
    assert "Here is how to get started" not in html


def test_an_english_patient_gets_the_english_welcome(client, world):
    world.patient.preferred_language = "en"
    db.session.flush()
    sign_in(client, world.patient)
    html = _page(client, "/welcome", SPANISH)  # the account says English
    assert "Here is how to get started" in html and "Add to Home Screen" in html
    assert "Póngalo" not in html


def test_the_error_page_in_spanish(client):
    response = client.get("/no-such-page", headers=SPANISH)
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "No se encontró la página" in html and "¿Necesita ayuda ahora?" in html
    assert "Page not found" not in html


def test_an_unknown_language_is_english(client):
    html = _page(client, "/crisis", {"Accept-Language": "fr-FR,fr;q=0.9"})
    assert '<html lang="en">' in html and "Help right now" in html
    client.set_cookie("lang", "xx")
    assert "Help right now" in _page(client, "/crisis")


def test_staff_stay_english(client, login_as):
    login_as(Role.THERAPIST)
    client.set_cookie("lang", "es")
    html = _page(client, "/crisis", SPANISH)
    assert '<html lang="en">' in html and "Help right now" in html
    assert "Llame al 988" not in html


def test_the_manifest_speaks_the_pages_language(client):
    spanish = client.get("/manifest.webmanifest", headers=SPANISH).get_json(force=True)
    assert spanish["lang"] == "es"
    assert (
        spanish["description"] == "El horario de su programa, sus chequeos y su apoyo."
    )
    english = client.get("/manifest.webmanifest", headers=ENGLISH).get_json(force=True)
    assert english["lang"] == "en"
    assert english["description"] == "Your program schedule, check-ins and support."
