"""A patient who reads Spanish gets the check-in, the questionnaires, crisis help and
their progress in Spanish: the PHQ-9 and GAD-7 in their published US-Spanish wording,
the C-SSRS in English (we hold no published Spanish of it) with a note in Spanish, and
each response stored with the language it was shown in. English stays as it was."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from portal import db
from portal.blueprints.checkins.models import ScreenerResponse
from portal.blueprints.safety.models import RiskFlag
from portal.security import Role
from tests.conftest import post_form
from tests.functional.checkins.test_checkins import risk_world  # noqa: F401 - fixture
from tests.functional.record.test_fhir_api import (  # noqa: F401 - fixtures
    ehr,
    get_json,
    open_program,
    validate,
)

SPANISH_988 = (
    "llame al 988 y marque 2 para español, o envíe AYUDA por mensaje de texto al 988"
)
PHQ9_SAFE = ["1", "2", "1", "0", "3", "1", "0", "2", "0"]


@pytest.fixture
def spanish(risk_world, login_as):  # noqa: F811 - the fixture imported above
    risk_world.patient.preferred_language = "es"
    db.session.flush()
    return login_as(Role.PATIENT)


def _checkin(**changes) -> dict:
    data = {
        "mood": "6",
        "craving": "2",
        "sleep_hours": "7.5",
        "medication": "yes",
        "feels_safe": "yes",
        "note": "",
        "idempotency_key": str(uuid.uuid4()),
        "language": "es",
    }
    return data | changes


def _screener(client, slug, answers, **extra):
    data = {f"q{n}": a for n, a in enumerate(answers, start=1) if a is not None}
    data |= {"idempotency_key": str(uuid.uuid4()), **extra}
    return post_form(client, f"/questions/{slug}", data)


def _html(response) -> str:
    return response.get_data(as_text=True)


def test_spanish_patient_gets_the_check_in_in_spanish(client, spanish):
    html = _html(client.get("/check-in"))
    assert "<h1>Registro diario</h1>" in html
    assert "¿Se siente seguro(a) en este momento?" in html
    assert "¿Cuántas horas durmió anoche?" in html
    assert "Enviar mi registro" in html
    # crisis help is in the page from the start, in Spanish, 988's Spanish line too
    assert "No tiene que pasar por esto solo(a)" in html
    assert SPANISH_988 in html and 'href="sms:988?body=AYUDA"' in html
    assert 'name="language" value="es"' in html  # for a sending kept on the phone
    assert "Daily check-in" not in html
    assert "You do not have to face this alone" not in html


def test_english_patient_still_gets_the_check_in_in_english(client, login_as, world):
    login_as(Role.PATIENT)
    html = _html(client.get("/check-in"))
    assert "<h1>Daily check-in</h1>" in html
    assert "Do you feel safe right now?" in html
    assert "You do not have to face this alone" in html
    assert '<a class="button" href="sms:988">Text 988</a>' in html
    assert "Registro diario" not in html and "marque 2" not in html


def test_a_spanish_not_safe_answer_shows_crisis_help_in_spanish_at_once(
    client, spanish
):
    response = post_form(client, "/check-in", _checkin(feels_safe="no"))
    html = _html(response)
    assert response.status_code == 200
    assert "crisis-panel is-shown" in html
    assert "Usted dijo que no se siente seguro(a) en este momento." in html
    assert SPANISH_988 in html and "En peligro ahora: llame al 911" in html
    assert "Qué pasa ahora" in html and "Por favor, llámenme" in html
    assert "You said you do not feel safe" not in html
    assert db.session.scalars(select(RiskFlag)).one()


def test_a_spanish_check_in_with_a_mistake_says_so_in_spanish(client, spanish):
    response = post_form(client, "/check-in", _checkin(mood="", feels_safe="no"))
    html = _html(response)
    assert response.status_code == 422
    assert "Elija un número para su estado de ánimo." in html
    assert "Choose a number for your mood." not in html
    assert SPANISH_988 in html  # the panel is in the page, shown by CSS
    assert db.session.scalars(select(RiskFlag)).one()  # the risk answer reached us


def test_phq9_in_spanish_is_the_published_us_spanish_wording(client, spanish):
    html = _html(client.get("/questions/a"))
    assert (
        "Durante las últimas 2 semanas, ¿qué tan seguido ha tenido molestias debido "
        "a los siguientes problemas?" in html
    )
    assert "Poco interés o placer en hacer cosas" in html
    assert (
        "Pensamientos de que estaría mejor muerto(a) o de lastimarse de alguna manera"
        in html
    )
    for answer in ("Ningún día", "Varios días", "Más de la mitad de los días"):
        assert answer in html
    assert "Little interest or pleasure" not in html and "Not at all" not in html
    assert 'fieldset class="scale" lang="en"' not in html  # all in the page's language


def test_gad7_in_spanish_is_the_published_us_spanish_wording(client, spanish):
    html = _html(client.get("/questions/b"))
    assert "¿con qué frecuencia le han molestado los siguientes problemas?" in html
    assert "Ha tenido miedo de que algo terrible fuera a pasar" in html
    assert ">Nunca<" in html and "Feeling nervous" not in html


def test_cssrs_stays_in_english_with_a_note_in_spanish(client, spanish):
    html = _html(client.get("/questions/c"))
    assert "Estas preguntas y sus respuestas están en inglés" in html
    assert "Have you wished you were dead" in html
    assert "If YES, was it within the past 3 months?" in html
    # every item (and the follow-up) is marked English for screen readers
    assert len(re.findall(r'<fieldset class="scale" lang="en"', html)) == 7
    assert '<h1 lang="en">C-SSRS screener</h1>' in html
    assert ">Yes</span>" in html  # its answers stay with the instrument
    assert SPANISH_988 in html and "Enviar mis respuestas" in html


def test_cssrs_for_an_english_patient_has_no_note(client, login_as, world):
    login_as(Role.PATIENT)
    html = _html(client.get("/questions/c"))
    assert "Have you wished you were dead" in html
    assert 'fieldset class="scale" lang="en"' not in html and "<h1>C-SSRS" in html
    assert "están en inglés" not in html


def test_phq9_answered_in_spanish_is_stored_as_spanish(client, spanish):
    html = _html(_screener(client, "a", PHQ9_SAFE, language="es"))
    assert "Su puntaje: <strong>10</strong> de 27 (moderado)." in html
    response = db.session.scalars(select(ScreenerResponse)).one()
    assert response.language == "es" and response.severity == "Moderate"


def test_phq9_risk_answer_in_spanish_shows_crisis_help_in_spanish(client, spanish):
    html = _html(_screener(client, "a", [*PHQ9_SAFE[:8], "2"], language="es"))
    assert "crisis-panel is-shown" in html
    assert "Algunas de sus respuestas nos dicen" in html and SPANISH_988 in html


def test_cssrs_answered_by_a_spanish_patient_is_stored_as_english(client, spanish):
    _screener(client, "c", ["0", "0", None, None, None, "0"], language="es")
    assert db.session.scalars(select(ScreenerResponse)).one().language == "en"


def test_a_missing_answer_is_said_in_spanish(client, spanish):
    answers = [*PHQ9_SAFE[:4], None, *PHQ9_SAFE[5:]]
    response = _screener(client, "a", answers, language="es")
    assert response.status_code == 422
    assert "La pregunta 5 necesita una respuesta." in _html(response)


def test_english_phq9_is_stored_as_english(client, login_as, world):
    login_as(Role.PATIENT)
    html = _html(_screener(client, "a", PHQ9_SAFE, language="en"))
    assert "<strong>10</strong> of 27 (moderate)" in html
    assert db.session.scalars(select(ScreenerResponse)).one().language == "en"


def test_fhir_questionnaire_response_says_the_language_answered_in(
    client,
    world,
    ehr,  # noqa: F811 - the fixture imported above
    spanish,
):
    _screener(client, "a", PHQ9_SAFE, language="es")
    _screener(client, "c", ["0", "0", None, None, None, "0"], language="es")
    by_instrument = {
        r.instrument.value: r for r in db.session.scalars(select(ScreenerResponse))
    }
    client.post("/sign-out", data={})  # the EHR reads with its own token
    phq9 = get_json(
        client,
        f"/fhir/QuestionnaireResponse/{by_instrument['phq9'].id}",
        ehr["headers"],
    )
    validate(phq9)
    assert phq9["language"] == "es"
    panel = phq9["item"][0]
    assert panel["text"] == "Cuestionario sobre la salud del paciente (PHQ-9)"
    assert panel["item"][0]["text"] == "Poco interés o placer en hacer cosas"
    assert panel["item"][0]["answer"][0]["valueCoding"] == {
        "system": "http://loinc.org",
        "code": "LA6569-3",
        "display": "Varios días",
    }
    cssrs = get_json(
        client,
        f"/fhir/QuestionnaireResponse/{by_instrument['cssrs'].id}",
        ehr["headers"],
    )
    assert cssrs["language"] == "en"
    assert cssrs["item"][0]["item"][0]["text"].startswith("Have you wished")


def test_progress_page_in_spanish(client, spanish):
    post_form(client, "/check-in", _checkin())
    _screener(client, "a", PHQ9_SAFE, language="es")
    html = _html(client.get("/trends"))
    assert "<h1>Mi progreso</h1>" in html
    assert "Más alto es mejor." in html and "Estado de ánimo, de 0 a 10" in html
    assert "10 de 27" in html and "<td>Moderado</td>" in html
    assert "Mostrar 1 registro" in html and " de " in html
    assert "My progress" not in html and "Higher is better." not in html


def test_safety_plan_page_in_spanish(client, spanish):
    html = _html(client.get("/safety-plan"))
    assert "<h1>Mi plan de seguridad</h1>" in html
    assert "Señales de que puede venir una crisis" in html
    assert "Guardar mi plan" in html and "Save my plan" not in html


@pytest.mark.parametrize(("asked", "lang"), [("es", "es"), ("en", "en")])
def test_saved_offline_page_is_precached_in_the_language_asked_for(client, asked, lang):
    """The service worker asks for the saved page in each language with no cookie
    (sw-queue.js), and answers a kept sending with the page's language."""
    for url in ("/saved-offline", "/saved-offline?help=1"):
        html = _html(client.get(url, headers={"Accept-Language": asked}))
        assert f'<html lang="{lang}">' in html


def test_a_questionnaire_kept_on_the_phone_is_stored_in_the_language_it_was_shown(
    app, client, spanish
):
    """The sending comes back later with no cookie: its own field says the language,
    even if the patient has changed theirs meanwhile."""
    html = _html(client.get("/questions/a"))
    kept = {
        "idempotency_key": re.search(
            r'name="idempotency_key"[^>]*value="([^"]+)"', html
        )[1],
        "sender": re.search(r'name="sender" value="([^"]+)"', html)[1],
        "language": re.search(r'name="language" value="([^"]+)"', html)[1],
    }
    spanish.preferred_language = "en"
    db.session.flush()
    answers = {f"q{n}": a for n, a in enumerate(PHQ9_SAFE, start=1)}
    sent = app.test_client().post("/queued/questions/a", data=answers | kept)
    assert sent.status_code == 200
    assert db.session.scalars(select(ScreenerResponse)).one().language == "es"
