"""A patient who reads the portal in Spanish gets their record, their sharing choices
and the list of who got their record in Spanish, dates included; what people wrote is
never translated; FHIR answers keep the English words; an English patient's pages are
unchanged."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from babel.dates import parse_pattern
from sqlalchemy import select, update

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import Enrollment
from portal.blueprints.record.kinds import PATIENT_LABELS, RecordKind, patient_labels
from portal.i18n import STYLES
from portal.security import Role
from tests.conftest import csrf_from
from tests.factories.record import bearer, consent, fill_record, make_client, token_for


@pytest.fixture
def ehr(client, world):
    assert world.program.substance_use  # Part 2: sharing needs the patient's consent
    fhir_client, secret = make_client(world.program, name="County Clinic EHR")
    return {
        "client": fhir_client,
        "headers": bearer(token_for(client, fhir_client, secret)),
    }


def _spanish(user) -> None:
    """The patient's choice, kept on their account (an UPDATE: `user` may be detached
    by an earlier request)."""
    db.session.execute(
        update(User).where(User.id == user.id).values(preferred_language="es")
    )


def _in_spanish(moment, style: str) -> str:
    return parse_pattern(STYLES[style][1]).apply(moment, Locale("es"))


def _admitted_on(world):
    return db.session.scalar(
        select(Enrollment.admitted_on).where(Enrollment.patient_id == world.patient.id)
    )


def test_spanish_patient_reads_their_record_in_spanish(client, login_as, world, ehr):
    _spanish(world.patient)
    fill_record(world)
    consent(world.patient, ehr["client"], ["checkin"])
    login_as(Role.PATIENT)
    html = client.get("/my-record").get_data(as_text=True)
    assert '<html lang="es">' in html
    for text in (
        "<h1>Mi expediente</h1>",
        "Descargar mi expediente (archivo FHIR)",
        "<h2>Sobre mí</h2>",
        "Chequeos diarios",
        "9 de 27, leve",  # PHQ-9: its band in Spanish
        "riesgo bajo",  # C-SSRS
        "Nivel de riesgo: bajo.",
        "Presente",
        "Terapia individual",  # the appointment's title
        "Ayuda con comida",  # what the request for help asked
        "Lo que elegí compartir",
        "County Clinic EHR: mis chequeos diarios. Dado el ",
        "ALPHA-NOTE",  # the patient's own note, as written
        "Plan: Safety plan reviewed; call tomorrow",  # staff's words, as written
    ):
        assert text in html, text
    started = _in_spanish(_admitted_on(world), "long_date")
    assert f"<dd>{started}</dd>" in html
    for english in ("My record", "Daily check-ins", "9 of 27", "low risk", ">Present<"):
        assert english not in html, english


def test_spanish_patient_shares_their_record_in_spanish(client, login_as, world, ehr):
    _spanish(world.patient)
    login_as(Role.PATIENT)
    page = client.get("/sharing").get_data(as_text=True)
    for text in (
        "<h1>Compartir mi expediente</h1>",
        "Una ley federal (42 CFR Parte 2) protege su expediente aquí.",
        "<strong>No está compartiendo.</strong> County Clinic EHR no recibe nada",
        "Mis chequeos diarios",
        "Por cuánto tiempo",
        "1 año",
        "Compartir con County Clinic EHR",
    ):
        assert text in page, text
    assert "Federal law" not in page and "Share with" not in page
    p = f"r-{ehr['client'].id[:8]}"  # the consent form's prefix
    refused = client.post(
        "/sharing",
        data={
            "csrf_token": csrf_from(page),
            f"{p}-recipient": ehr["client"].id,
            f"{p}-months": "12",
        },
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Elija al menos un tipo de información para compartir." in html
    assert "Marque la casilla para mostrar que está de acuerdo." in html
    given = consent(world.patient, ehr["client"], ["checkin"])
    page = client.get("/sharing").get_data(as_text=True)
    until = given.expires_at.astimezone(ZoneInfo(world.program.timezone))
    assert (
        f"<strong>Está compartiendo</strong> hasta el {_in_spanish(until, 'long_date')}"
        in page
    )
    stopped = client.post(
        f"/sharing/{given.id}/stop", data={"csrf_token": csrf_from(page)}
    )
    after = client.get(stopped.headers["Location"]).get_data(as_text=True)
    assert "Dejó de compartir. No se enviará nada más." in after


def test_spanish_patient_sees_who_got_their_record_in_spanish(
    client, login_as, world, ehr
):
    _spanish(world.patient)
    fill_record(world)
    refused = client.get(
        f"/fhir/Patient/{world.patient.id}/$everything", headers=ehr["headers"]
    )
    assert refused.status_code == 403
    consent(world.patient, ehr["client"], ["checkin"])
    client.get(f"/fhir/Observation?patient={world.patient.id}", headers=ehr["headers"])
    login_as(Role.PATIENT)
    html = client.get("/sharing/history").get_data(as_text=True)
    assert "<h1>Quién recibió mi expediente</h1>" in html
    assert "Enviado: chequeos y puntajes" in html
    assert "No enviado: usted no había aceptado compartir con ellos." in html
    assert "Sent: " not in html and "Not sent: " not in html


def test_the_words_of_fhir_answers_stay_english(app):
    with app.test_request_context("/", headers={"Accept-Language": "es"}):
        assert PATIENT_LABELS[RecordKind.CHECKIN] == "My daily check-ins"
        assert patient_labels()[RecordKind.CHECKIN] == "Mis chequeos diarios"


def test_an_english_patient_reads_their_record_in_english(client, login_as, world):
    fill_record(world)
    login_as(Role.PATIENT)
    html = client.get("/my-record").get_data(as_text=True)
    assert '<html lang="en">' in html
    for text in (
        "<h1>My record</h1>",
        "Daily check-ins",
        "9 of 27, mild",
        "low risk",
        "Individual therapy",
        "Help with food",
    ):
        assert text in html, text
    started = _admitted_on(world).strftime("%B %-d, %Y")
    assert f"<dt>Started</dt><dd>{started}</dd>" in html
    assert "Mi expediente" not in html
