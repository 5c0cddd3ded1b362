"""The sign-in and account pages in the patient's language (docs/languages.md): the
browser's Accept-Language before any choice, then the `lang` cookie set by POST
/language, and a signed-in patient's choice kept on their account wins over both.
Labels, validation messages, errors and flashes follow; staff stay English."""

from __future__ import annotations

from datetime import UTC, datetime

from portal import db
from portal.blueprints.auth.models import PasskeyCredential, User
from portal.security import Role
from tests import factories as f
from tests.conftest import csrf_from, post_form, sign_in

SPANISH = {"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def _page(client, url, headers=None):
    return client.get(url, headers=headers or {}).get_data(as_text=True)


def _choose(client, language, next_url="/sign-in"):
    html = _page(client, next_url)  # the page the switch sits on
    return client.post(
        "/language",
        data={"csrf_token": csrf_from(html), "language": language, "next": next_url},
    )


def test_the_sign_in_page_in_spanish_from_the_browser(client):
    html = _page(client, "/sign-in", SPANISH)
    assert '<html lang="es">' in html
    assert "<h1>Iniciar sesión</h1>" in html
    assert "Correo electrónico o número de celular" in html
    assert "Si no tiene correo electrónico" in html
    assert "Olvidé mi contraseña" in html
    assert 'data-say-waiting="Esperando el bloqueo de pantalla de su teléfono…"' in html
    assert "Email or mobile phone number" not in html
    assert "I forgot my password" not in html


def test_the_sign_in_page_in_english_is_unchanged(client):
    html = _page(client, "/sign-in", ENGLISH)
    assert '<html lang="en">' in html and "<h1>Sign in</h1>" in html
    assert "Email or mobile phone number" in html
    assert 'data-say-failed="That did not work. Try again."' in html


def test_spanish_validation_errors_and_a_wrong_password(client, world):
    empty = post_form(
        client, "/sign-in", {"email": "", "password": ""}, headers=SPANISH
    )
    html = empty.get_data(as_text=True)
    assert "Escriba su correo electrónico o su número de celular." in html
    assert "Escriba su contraseña." in html
    wrong = post_form(
        client,
        "/sign-in",
        {"email": world.patient.email, "password": "not-the-password"},
        headers=SPANISH,
    )
    html = wrong.get_data(as_text=True)
    assert "esa contraseña no funcionaron" in html
    assert "did not work" not in html


def test_the_wait_after_too_many_tries_in_spanish(app, client, world):
    for _ in range(app.config["MAX_FAILED_SIGN_INS"] + 1):
        answer = post_form(
            client,
            "/sign-in",
            {"email": world.patient.email, "password": "not-the-password"},
            headers=SPANISH,
        )
    assert answer.status_code == 429
    html = answer.get_data(as_text=True)
    assert "Demasiados intentos. Por favor, espere" in html
    assert "Too many tries" not in html


def test_the_language_cookie_from_post_language(client):
    response = _choose(client, "es")
    assert response.status_code == 302 and response.location.endswith("/sign-in")
    assert "lang=es" in response.headers["Set-Cookie"]
    html = _page(client, "/sign-in", ENGLISH)  # the choice on this phone wins
    assert '<html lang="es">' in html and "Iniciar sesión" in html
    back = _choose(client, "en")
    assert "lang=en" in back.headers["Set-Cookie"]
    assert "<h1>Sign in</h1>" in _page(client, "/sign-in", SPANISH)


def test_an_unknown_language_falls_back_to_english(client):
    html = _page(client, "/sign-in", {"Accept-Language": "de-DE,de;q=0.9"})
    assert '<html lang="en">' in html and "<h1>Sign in</h1>" in html
    response = _choose(client, "klingon")
    assert "lang=en" in response.headers["Set-Cookie"]
    client.set_cookie("lang", "zz")
    assert "<h1>Sign in</h1>" in _page(client, "/sign-in")


def test_a_patients_account_choice_wins_over_the_browser(client, world):
    world.patient.preferred_language = "es"
    db.session.flush()
    sign_in(client, world.patient)
    html = _page(client, "/account", ENGLISH)
    assert '<html lang="es">' in html
    assert "<h1>Su cuenta</h1>" in html
    assert f"Sesión iniciada como {world.patient.display_name} (Paciente)." in html
    assert "Contraseña actual" in html and "Change your password" not in html


def test_a_patient_choosing_spanish_keeps_it_on_their_account(client, world):
    sign_in(client, world.patient)
    assert "<h1>Your account</h1>" in _page(client, "/account", ENGLISH)
    _choose(client, "es", "/account")
    assert db.session.get(User, world.patient.id).preferred_language == "es"
    other_phone = client.application.test_client()
    sign_in(other_phone, world.patient)
    assert "<h1>Su cuenta</h1>" in _page(other_phone, "/account", ENGLISH)


def test_before_choosing_the_phone_decides_and_once_chosen_the_account_does(
    client, world
):
    assert db.session.get(User, world.patient.id).preferred_language is None
    sign_in(client, world.patient)
    assert "<h1>Su cuenta</h1>" in _page(client, "/account", SPANISH)
    assert "<h1>Your account</h1>" in _page(client, "/account", ENGLISH)
    _choose(client, "en", "/account")
    assert db.session.get(User, world.patient.id).preferred_language == "en"
    other_phone = client.application.test_client()
    sign_in(other_phone, world.patient)
    assert "<h1>Your account</h1>" in _page(other_phone, "/account", SPANISH)


def test_the_spanish_account_page_dates_passkeys_and_errors(client, world):
    world.patient.preferred_language = "es"
    db.session.add(
        PasskeyCredential(
            user_id=world.patient.id,
            credential_id="spanish-key",
            public_key=b"key",
            created_at=datetime(2026, 3, 4, 15, tzinfo=UTC),
            last_used_at=datetime(2026, 5, 6, 15, tzinfo=UTC),
        )
    )
    db.session.flush()
    sign_in(client, world.patient)
    html = _page(client, "/account")
    assert "Llave de acceso 1: agregada el 4 de mar de 2026" in html
    assert "usada por última vez el 6 de may de 2026." in html
    assert "Added Mar 4, 2026" not in html
    wrong = post_form(
        client,
        "/account",
        {
            "current": "not-mine-at-all",
            "password": "a new one 2026",
            "confirm": "other",
        },
    )
    html = wrong.get_data(as_text=True)
    assert "Las dos contraseñas no son iguales." in html
    changed = post_form(
        client,
        "/account",
        {
            "current": f.PASSWORD,
            "password": "a new one 2026",
            "confirm": "a new one 2026",
        },
    )
    assert changed.status_code == 302
    assert "Se cambió su contraseña." in _page(client, "/account")


def test_the_english_account_page_is_unchanged(client, world):
    world.patient.preferred_language = "en"
    db.session.flush()
    sign_in(client, world.patient)
    html = _page(client, "/account", SPANISH)  # the account says English
    assert "<h1>Your account</h1>" in html
    assert f"Signed in as {world.patient.display_name} (Patient)." in html


def test_staff_stay_english(client, world):
    therapist = world.staff[Role.THERAPIST]
    client.set_cookie("lang", "es")
    sign_in(client, therapist)
    html = _page(client, "/account", SPANISH)
    assert '<html lang="en">' in html and "<h1>Your account</h1>" in html
    assert "(Therapist)" in html
    _choose(client, "es", "/account")
    assert db.session.get(User, therapist.id).preferred_language is None
    assert "<h1>Your account</h1>" in _page(client, "/account", SPANISH)
