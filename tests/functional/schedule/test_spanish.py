"""A patient who reads Spanish gets Today, the week and telling the program in
Spanish, with Spanish dates; an English patient's pages stay as they were."""

from __future__ import annotations

from datetime import timedelta

from babel.dates import format_date
from sqlalchemy import select

from portal import db
from portal.blueprints.schedule.models import GroupSession
from portal.security import Role
from tests.conftest import program_today


def _spanish(user) -> None:
    user.preferred_language = "es"
    db.session.flush()


def test_today_in_spanish_with_a_spanish_date(client, login_as, world):
    _spanish(world.patient)
    login_as(Role.PATIENT)
    html = client.get("/").get_data(as_text=True)
    day = format_date(program_today(), "EEEE, d 'de' MMMM", locale="es")
    assert f"Hoy, {day}" in html
    assert "Ver esta semana" in html and "¿Necesita ayuda ahora?" in html
    assert "Coping skills" in html  # the group's own name is the program's words
    assert "See this week" not in html and "Need help now?" not in html
    assert '<html lang="es">' in html


def test_the_week_in_spanish_with_spanish_days(client, login_as, world):
    _spanish(world.patient)
    login_as(Role.PATIENT)
    html = client.get("/week").get_data(as_text=True)
    today = program_today()
    monday = today - timedelta(days=today.weekday())
    week_of = format_date(monday, "d 'de' MMMM", locale="es")
    assert f"Semana del {week_of}" in html
    assert format_date(monday, "EEEE, d 'de' MMMM", locale="es") in html
    assert "Semana anterior" in html and "Semana siguiente" in html
    assert "Week of" not in html and "Last week" not in html


def test_telling_the_program_in_spanish(client, login_as, world):
    _spanish(world.patient)
    login_as(Role.PATIENT)
    session = db.session.scalar(
        select(GroupSession).where(
            GroupSession.track_id == world.track.id,
            GroupSession.weekday == program_today().weekday(),
        )
    )
    html = client.get(f"/today/tell/{session.id}").get_data(as_text=True)
    assert "¿Llegará tarde o no puede ir?" in html and "Volver a hoy" in html
    # before the session ends the form asks; after, the page says it is over
    assert "Voy a llegar tarde" in html or "Esta sesión ya terminó" in html
    assert "Back to today" not in html


def test_an_english_patient_still_reads_english(client, login_as, world):
    login_as(Role.PATIENT)
    html = client.get("/").get_data(as_text=True)
    assert f"Today, {program_today():%A, %B %-d}" in html
    assert "See this week" in html and "Ver esta semana" not in html
    week = client.get("/week").get_data(as_text=True)
    monday = program_today() - timedelta(days=program_today().weekday())
    assert f"Week of {monday:%B %-d}" in week
