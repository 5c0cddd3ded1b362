"""A patient who reads the portal in Spanish gets their conversation, who reads it,
the after-hours notice and the sharing page in Spanish, with dates in Spanish; the
messages themselves are never translated, staff still read English, and an English
patient's pages are unchanged."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import parse_pattern
from sqlalchemy import select, update

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.messages import services
from portal.blueprints.messages.models import FlagReason, MessageThread, ThreadFlag
from portal.blueprints.notifications.models import NotificationKind
from portal.blueprints.notifications.services import notify
from portal.blueprints.programs.models import Program
from portal.i18n import STYLES
from portal.security import Role
from tests.conftest import csrf_from
from tests.factories.messages import add_message, thread_id_for

ALWAYS_OPEN = {str(day): ["00:00", "23:59"] for day in range(7)}


def _spanish(user) -> None:
    """The patient's choice, kept on their account (an UPDATE: `user` may be detached
    by an earlier request)."""
    db.session.execute(
        update(User).where(User.id == user.id).values(preferred_language="es")
    )


def _hours(program, hours) -> None:
    db.session.execute(
        update(Program).where(Program.id == program.id).values(opening_hours=hours)
    )


def _in_spanish(moment, style: str) -> str:
    return parse_pattern(STYLES[style][1]).apply(moment, Locale("es"))


def test_spanish_patient_reads_the_conversation_in_spanish(
    client, app, login_as, world
):
    _spanish(world.patient)
    _hours(world.program, ALWAYS_OPEN)
    thread_id = thread_id_for(world.patient, world.patient, "Hola, ¿hay alguien?")
    reply = add_message(
        services.open_thread(world.patient.id),
        world.staff[Role.PEER],
        "I hear you. Want to talk?",
    )
    login_as(Role.PATIENT)
    page = client.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert '<html lang="es">' in page
    for text in (
        "<h1>Mensajes</h1>",
        "<strong>peer one</strong>, su especialista de apoyo entre pares, lee y "
        "responde sus mensajes.",
        "Elija quién de su equipo puede leerlos",
        "peer one (Especialista de apoyo entre pares)",
        ">Usted<",
        ">Nuevo<",
        "suele responder en el horario del programa",
        "Su mensaje",
        "Hasta 4,000 caracteres.",
        ">Enviar</button>",
    ):
        assert text in page, text
    local = reply.created_at.astimezone(ZoneInfo(world.program.timezone))
    assert _in_spanish(local, "short_date_time") in page
    # The messages are what people wrote: never translated.
    assert "I hear you. Want to talk?" in page and "Hola, ¿hay alguien?" in page
    for english in ("reads and answers your messages", ">Send<", ">You<", ">New<"):
        assert english not in page, english


def test_spanish_patient_sees_after_hours_help_and_errors_in_spanish(
    client, login_as, world
):
    _spanish(world.patient)
    _hours(world.program, {})  # never open
    login_as(Role.PATIENT)
    page = client.get("/messages").get_data(as_text=True)
    assert "El programa está cerrado ahora" in page
    assert "Nadie revisa los mensajes hasta entonces." in page
    assert "Llame al 988 y marque 2, o envíe AYUDA al 988, a cualquier hora" in page
    assert "Todavía no hay mensajes. Escriba el primero aquí abajo." in page
    assert "The program is closed now" not in page
    blank = client.post("/messages", data={"csrf_token": csrf_from(page), "body": " "})
    assert blank.status_code == 422
    assert "Primero escriba un mensaje." in blank.get_data(as_text=True)
    # Closed, and opening at 3:00 a. m. (today or tomorrow): the time ends the
    # sentence with its own point.
    _hours(world.program, {str(day): ["03:00", "03:00"] for day in range(7)})
    page = client.get("/messages").get_data(as_text=True)
    assert re.search(
        r"responda (hoy|mañana) a las 3:00 a.\u202fm. Nadie revisa los mensajes", page
    )
    assert "m.." not in page


def test_spanish_patient_chooses_who_reads_in_spanish(client, login_as, world):
    _spanish(world.patient)
    login_as(Role.PATIENT)
    page = client.get("/messages/sharing").get_data(as_text=True)
    for text in (
        "<h1>Quién puede leer sus mensajes</h1>",
        "peer one, su especialista de apoyo entre pares, siempre lee sus mensajes.",
        "Compartir también mis mensajes con",
        "therapist one (terapia)",
        "case_manager one (administración de casos)",
        "Sus mensajes son parte de su expediente médico.",
    ):
        assert text in page, text
    assert "Who can read your messages" not in page
    saved = client.post(
        "/messages/sharing", data={"csrf_token": csrf_from(page)}
    ).headers["Location"]
    assert ">Guardado.<" in client.get(saved).get_data(as_text=True)


def test_staff_read_a_spanish_patients_conversation_in_english(
    client, app, login_as, world
):
    _spanish(world.patient)
    thread_id = thread_id_for(world.patient, world.patient, "Necesito hablar")
    login_as(Role.PEER)
    page = client.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert ">Send</button>" in page and "Necesito hablar" in page
    assert "Enviar" not in page


def test_an_english_patient_reads_the_same_pages_in_english(client, login_as, world):
    _hours(world.program, ALWAYS_OPEN)
    thread_id = thread_id_for(world.patient, world.staff[Role.PEER], "Hello there")
    login_as(Role.PATIENT)
    page = client.get(f"/messages/{thread_id}").get_data(as_text=True)
    assert '<html lang="en">' in page
    for text in (
        "<strong>peer one</strong>, your peer specialist, reads and answers your "
        "messages.",
        "peer one (Peer specialist)",
        "usually answers during program hours. Messages are not watched around the "
        "clock.",
        ">Send</button>",
    ):
        assert text in page, text
    assert "Enviar" not in page and "especialista" not in page
    sharing = client.get("/messages/sharing").get_data(as_text=True)
    assert "peer one, your peer specialist, always reads your messages." in sharing
    assert "therapist one (therapist)" in sharing


def test_spanish_patients_notification_list_names_the_conversation_in_spanish(
    client, login_as, world
):
    _spanish(world.patient)
    thread = db.session.get(
        MessageThread, thread_id_for(world.patient, world.staff[Role.PEER])
    )
    notify(world.patient, NotificationKind.NEW_MESSAGE, thread, target="/messages")
    login_as(Role.PATIENT)
    page = client.get("/notifications").get_data(as_text=True)
    assert "Sobre su conversación con su equipo de atención" in page
    assert "About your conversation" not in page


def test_a_spanish_message_with_crisis_words_shows_help_and_flags_the_thread(
    client, login_as, world
):
    _spanish(world.patient)
    thread_id = thread_id_for(world.patient, world.patient, "hola")
    login_as(Role.PATIENT)
    page = client.get(f"/messages/{thread_id}").get_data(as_text=True)
    sent = client.post(
        f"/messages/{thread_id}",
        data={"csrf_token": csrf_from(page), "body": "Ya no aguanto, me quiero matar"},
    )
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert 'class="crisis-panel is-shown"' in page
    assert "también avisamos al clínico de guardia" in page
    flag = db.session.scalar(
        select(ThreadFlag).where(ThreadFlag.thread_id == thread_id)
    )
    assert flag is not None and flag.reason is FlagReason.CRISIS_LANGUAGE
