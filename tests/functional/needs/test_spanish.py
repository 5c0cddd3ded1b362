"""A patient who reads Spanish asks for help in Spanish and reads by when they will
hear back in Spanish; an English patient's words stay as they were."""

from __future__ import annotations

import re

from flask_babel import force_locale
from sqlalchemy import select

from portal import db
from portal.blueprints.needs.models import Need
from portal.blueprints.needs.reading import plain_moment
from portal.db import utcnow
from portal.security import Role
from tests.conftest import post_form


def test_a_spanish_request_says_when_they_will_hear_back_in_spanish(
    app, client, login_as, world
):
    world.patient.preferred_language = "es"
    db.session.flush()
    login_as(Role.PATIENT)
    form = client.get("/help/new/c").get_data(as_text=True)
    assert "¿Con qué necesita ayuda?" in form and "Enviar mi solicitud" in form
    assert "What do you need help with?" not in form
    response = post_form(
        client,
        "/help/new/c",
        {"need": "food", "urgency": "2", "details": "Comida para la semana"},
    )
    assert response.status_code == 303
    need = db.session.scalar(select(Need).where(Need.patient_id == world.patient.id))
    with app.test_request_context(), force_locale("es"):
        said = plain_moment(need.contact_due_at, world.program.timezone, utcnow())
    page = client.get(response.location).get_data(as_text=True)
    assert f"Le responderemos a más tardar {said}" in page  # the flash
    assert f"Le responderemos a más tardar <strong>{said}</strong>" in page
    assert "m.." not in page  # "p. m." ends the sentence with its own point
    assert "Ayuda con comida" in page and "Lo que pidió" in page
    assert "You will hear back by" not in page and "What you asked for" not in page
    listing = client.get("/help").get_data(as_text=True)
    assert f"Le responderemos a más tardar {said}" in listing
    assert "Mis solicitudes" in listing


def test_the_moment_reads_in_the_pages_language(app):
    moment = utcnow()
    with app.test_request_context():
        english = plain_moment(moment, "America/New_York", moment)
        with force_locale("es"):
            spanish = plain_moment(moment, "America/New_York", moment)
    assert english.startswith("today ")
    assert spanish.startswith("hoy, ") and re.search(r"[ap]\.\s?m\.$", spanish)


def test_an_english_request_page_stays_english(client, login_as, world):
    login_as(Role.PATIENT)
    page = client.get("/help").get_data(as_text=True)
    assert "Get help" in page and "Pedir ayuda" not in page
