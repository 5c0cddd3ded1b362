"""The patient's day and week, the calendar feed, and htmx fragments."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.schedule.services import DayItem, now_and_next, render_ics
from portal.security import Role
from tests import factories as f
from tests.conftest import csrf_from, post_form

TZ = ZoneInfo("America/New_York")


def test_today_shows_groups_of_their_track_and_their_own_appointments(
    client, login_as, world
):
    login_as(Role.PATIENT)
    html = client.get("/").get_data(as_text=True)
    assert "Coping skills" in html and "Room 1" in html
    assert "Individual therapy" in html or "Nothing" not in html
    assert "BRAVO-ROOM-5150" not in html  # another patient's appointment
    assert "Elsewhere group" not in html  # another program's group


def test_today_marks_now_and_next():
    day = datetime(2026, 11, 23, tzinfo=TZ).date()

    def item(h1, h2, title):
        return DayItem(
            datetime.combine(day, time(h1), TZ),
            datetime.combine(day, time(h2), TZ),
            title,
            "group",
            None,
            None,
            None,
            "group",
            title,
        )

    items = [item(9, 10, "a"), item(10, 11, "b"), item(13, 14, "c")]
    current, upcoming = now_and_next(items, datetime.combine(day, time(10, 30), TZ))
    assert current.title == "b" and upcoming.title == "c"
    current, upcoming = now_and_next(items, datetime.combine(day, time(11, 30), TZ))
    assert current is None and upcoming.title == "c"


def test_week_shows_seven_days_and_pages_between_weeks(client, login_as, world):
    login_as(Role.PATIENT)
    html = client.get("/week").get_data(as_text=True)
    assert len(re.findall(r'<section class="day', html)) == 7
    assert html.count("Coping skills") == 7
    older = client.get("/week?start=2020-01-06").get_data(as_text=True)
    assert "Coping skills" not in older  # before admission
    assert client.get("/week?start=not-a-date").status_code == 200


@pytest.mark.parametrize(
    "start", ["9999-12-31", "0001-01-01", "1899-12-31", "3000-01-01"]
)
def test_a_week_too_far_out_answers_a_plain_400(client, login_as, world, start):
    login_as(Role.PATIENT)
    response = client.get(f"/week?start={start}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "We cannot show that week" in html
    assert "Choose a date from 1900 to 2999." in html


@pytest.mark.parametrize("start", ["1900-01-01", "2999-12-31"])
def test_the_first_and_last_weeks_in_range_are_shown(client, login_as, world, start):
    login_as(Role.PATIENT)
    response = client.get(f"/week?start={start}")
    assert response.status_code == 200
    assert len(re.findall(r'<section class="day', response.get_data(as_text=True))) == 7


def test_htmx_request_gets_the_fragment_and_vary_header(client, login_as, world):
    login_as(Role.PATIENT)
    response = client.get("/", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert "<html" not in body and 'id="today"' in body
    assert "HX-Request" in response.headers["Vary"]


def test_discharged_patient_sees_a_plain_message(client, world):
    from portal.blueprints.programs.models import Enrollment, EnrollmentStatus
    from tests.conftest import sign_in

    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.patient_id == world.patient.id)
    )
    enrollment.status = EnrollmentStatus.DISCHARGED
    db.session.flush()
    sign_in(client, world.patient)
    assert "not in a program right now" in client.get("/").get_data(as_text=True)


def test_calendar_feed_has_neutral_titles_and_can_be_revoked(
    client, app, login_as, world
):
    login_as(Role.PATIENT)
    page = post_form(client, "/calendar", {"action": "create"}).get_data(as_text=True)
    url = re.search(r'value="(http://[^"]+\.ics)"', page).group(1)
    path = url.removeprefix("http://localhost")
    feed = app.test_client().get(path)
    body = feed.get_data(as_text=True)
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    assert "BEGIN:VEVENT" in body and "SUMMARY:Session" in body
    assert "SUMMARY:Appointment" in body
    for revealing in (
        "Coping",
        "therapy",
        "Harbor",
        "IOP",
        "PHP",
        world.patient.display_name,
    ):
        assert revealing not in body
    client.post("/calendar", data={"csrf_token": csrf_from(page), "action": "revoke"})
    assert app.test_client().get(path).status_code == 404


def test_calendar_feed_reads_are_audited(client, app, login_as, world):
    login_as(Role.PATIENT)
    page = post_form(client, "/calendar", {"action": "create"}).get_data(as_text=True)
    path = re.search(r'value="http://localhost([^"]+\.ics)"', page).group(1)
    app.test_client().get(path)
    detail = db.session.scalars(
        select(AuditEvent.detail).where(AuditEvent.patient_id == world.patient.id)
    ).all()
    assert "calendar feed" in detail


def test_unknown_calendar_token_is_404(client, world):
    assert client.get("/calendar/not-a-real-token.ics").status_code == 404


def test_appointment_late_in_the_evening_lands_on_the_local_day(client, world):
    from portal.blueprints.programs.context import load_patient_context
    from portal.blueprints.schedule.services import schedule_between

    ctx = load_patient_context(world.patient.id)
    local_day = datetime.now(TZ).date() + timedelta(days=2)
    late = datetime.combine(local_day, time(22, 30), TZ)  # 03:30 UTC the next day
    f.AppointmentFactory(
        patient_id=world.patient.id,
        staff_id=world.other_therapist.id,
        starts_at=late,
        ends_at=late + timedelta(minutes=30),
    )
    days = schedule_between(ctx, local_day, local_day + timedelta(days=1))
    assert any(i.starts == late for i in days[local_day])
    assert not any(i.starts == late for i in days[local_day + timedelta(days=1)])


def test_todays_one_query_finds_the_same_day_as_the_week(app_ctx, world):
    """Today carries its rows as JSON in one query; the week reads them as rows. Both
    must put the same things on the same local day: late evening, just past midnight,
    yesterday, a cancelled appointment, an inactive group, times with seconds."""
    from portal.blueprints.schedule import services
    from portal.blueprints.schedule.models import AppointmentStatus, SessionKind

    patient, therapist = world.patient, world.staff[Role.THERAPIST]
    tz = ZoneInfo(world.program.timezone)
    today = services.utcnow().astimezone(tz).date()

    def at(day_offset: int, hour: int, minute: int = 0) -> datetime:
        local = datetime.combine(today + timedelta(days=day_offset), time(hour, minute))
        return local.replace(tzinfo=tz)

    for start, status in (
        (at(0, 23, 30), AppointmentStatus.BOOKED),  # tonight: today
        (at(1, 0, 15), AppointmentStatus.BOOKED),  # after midnight: tomorrow
        (at(-1, 23, 45), AppointmentStatus.BOOKED),  # last night: yesterday
        (at(0, 8, 5), AppointmentStatus.CANCELLED),  # cancelled: nowhere
    ):
        f.AppointmentFactory(
            patient_id=patient.id,
            staff_id=therapist.id,
            starts_at=start,
            ends_at=start + timedelta(minutes=45),
            status=status,
            telehealth_url="https://video.example.test/room",
        )
    f.GroupSessionFactory(
        track_id=world.track.id,
        weekday=today.weekday(),
        title="Evening skills",
        kind=SessionKind.EDUCATION,
        starts_at=time(18, 30, 15),
        ends_at=time(19, 45),
        facilitator_id=therapist.id,
        room=None,
    )
    f.GroupSessionFactory(
        track_id=world.track.id, weekday=today.weekday(), title="Gone", active=False
    )
    db.session.flush()

    loaded = services.load_today(patient.id)
    assert loaded.day == today
    rows = services.schedule_between(loaded.ctx, today, today)[today]
    assert loaded.items == rows
    titles = [item.title for item in loaded.items]
    assert "Evening skills" in titles and "Gone" not in titles
    evening = next(i for i in loaded.items if i.title == "Evening skills")
    assert evening.starts == datetime.combine(today, time(18, 30, 15), tz)
    assert evening.with_whom == therapist.display_name
    appointments = [i for i in loaded.items if i.source == "appointment"]
    assert [a.starts for a in appointments if a.starts.date() == today] == [
        a.starts for a in appointments
    ]
    assert at(0, 23, 30) in [a.starts for a in appointments]
    assert at(0, 8, 5) not in [a.starts for a in appointments]
    assert at(1, 0, 15) not in [a.starts for a in appointments]


def _feed_lines(body: str) -> list[bytes]:
    assert body.endswith("\r\n")
    raw = body.encode("utf-8")
    assert b"\n" not in raw.replace(b"\r\n", b"")  # every line ends in CRLF
    return raw.split(b"\r\n")[:-1]


def test_calendar_feed_folds_a_long_room_name_and_round_trips_it():
    room = ("Wing B; room 12, the quiet one \\ " * 10)[:199] + "\\"
    assert len(room) == 200
    day = datetime(2026, 11, 23, tzinfo=TZ).date()
    item = DayItem(
        datetime.combine(day, time(9), TZ),
        datetime.combine(day, time(10), TZ),
        "Coping skills",
        "group",
        room,
        None,
        None,
        "group",
        "abc123",
    )
    body = render_ics([item], "Care Portal")
    lines = _feed_lines(body)
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)  # it was folded
    calendar = icalendar.Calendar.from_ical(body)
    (event,) = calendar.walk("VEVENT")
    assert str(event["LOCATION"]) == room
    assert event.decoded("DTSTART") == item.starts.astimezone(ZoneInfo("UTC"))
    assert str(event["SUMMARY"]) == "Session"


def test_calendar_feed_escapes_returns_and_omits_empty_properties():
    day = datetime(2026, 11, 23, tzinfo=TZ).date()

    def item(room):
        return DayItem(
            datetime.combine(day, time(9), TZ),
            datetime.combine(day, time(10), TZ),
            "x",
            "appointment",
            room,
            None,
            None,
            "appointment",
            "id1",
        )

    body = render_ics([item("Line one\rline two"), item(None)], "Care Portal")
    assert "\r" not in body.replace("\r\n", "")
    assert not any(line.endswith(b":") for line in _feed_lines(body))
    first, second = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert "LOCATION" in first and "LOCATION" not in second


def test_calendar_feed_with_a_long_room_parses_with_icalendar(
    client, app, login_as, world
):
    world.appointment.room = "Édifice Nord, salle d'écoute; étage 3 \\ " * 2
    db.session.flush()
    login_as(Role.PATIENT)
    page = post_form(client, "/calendar", {"action": "create"}).get_data(as_text=True)
    path = re.search(r'value="http://localhost([^"]+\.ics)"', page).group(1)
    body = app.test_client().get(path).get_data(as_text=True)
    assert max(len(line) for line in _feed_lines(body)) <= 75
    calendar = icalendar.Calendar.from_ical(body)
    assert str(calendar["X-WR-CALNAME"]) == app.config["APP_NAME"]
    rooms = {str(event.get("LOCATION")) for event in calendar.walk("VEVENT")}
    assert world.appointment.room in rooms and "Room 1" in rooms
