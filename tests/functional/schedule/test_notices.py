"""A patient tells the program "I'll be late" or "I can't come today" for a session
of today, with a reason; the roster shows it and attendance reads excused or late; a
session over, or telling twice, gets a plain answer and nothing is duplicated."""

from __future__ import annotations

from datetime import time

import pytest
from sqlalchemy import select, update

from portal import db
from portal.blueprints.schedule.models import (
    Attendance,
    AttendanceStatus,
    GroupSession,
    NoticeKind,
    SessionNotice,
)
from portal.blueprints.schedule.notices import notices_for_program
from portal.security import Role
from tests import factories as f
from tests.conftest import post_form, program_today, sign_in


@pytest.fixture
def day(world):
    """Today's sessions of the patient's track: one over a second after midnight,
    one all day, and one after it (the world's weekly groups are set aside)."""
    db.session.execute(
        update(GroupSession)
        .where(GroupSession.track_id == world.track.id)
        .values(active=False)
    )
    today = program_today()

    def session(title, starts, ends):
        return f.GroupSessionFactory(
            track_id=world.track.id,
            weekday=today.weekday(),
            title=title,
            starts_at=starts,
            ends_at=ends,
            facilitator_id=world.staff[Role.THERAPIST].id,
        )

    return {
        "today": today,
        "over": session("Early check-in", time(0, 0), time(0, 0, 1)),
        "all_day": session("Open studio", time(0, 0, 2), time(23, 59, 58)),
        "later": session("Evening group", time(0, 0, 3), time(23, 59, 59)),
    }


def _tell(client, session, **data):
    url = f"/today/tell/{session.id}"
    values = {"kind": "late", "reason": "ride", "note": ""} | data
    return post_form(client, url, values, page=url)


def _notices(patient) -> list[SessionNotice]:
    return list(
        db.session.scalars(
            select(SessionNotice).where(SessionNotice.patient_id == patient.id)
        )
    )


def _marks(patient) -> dict[str, AttendanceStatus]:
    rows = db.session.scalars(
        select(Attendance).where(Attendance.patient_id == patient.id)
    )
    return {row.group_session_id: row.status for row in rows}


def test_today_offers_to_tell_for_sessions_not_over(client, world, day):
    sign_in(client, world.patient)
    page = client.get("/").get_data(as_text=True)
    assert f"/today/tell/{day['all_day'].id}" in page
    assert f"/today/tell/{day['over'].id}" not in page


def test_ill_be_late_is_recorded_shown_and_offered_as_late_on_the_roster(
    client, world, day
):
    sign_in(client, world.patient)
    response = _tell(client, day["all_day"], note="Bus 14 is running late")
    assert response.status_code == 303
    [notice] = _notices(world.patient)
    assert (notice.kind, notice.occurs_on) == (NoticeKind.LATE, day["today"])
    assert notice.note == "Bus 14 is running late"
    today = client.get("/").get_data(as_text=True)
    assert "You told us: I&#39;ll be late: No ride, or the ride is late." in today
    assert _marks(world.patient) == {}  # late is for staff to mark when they come

    staff = client.application.test_client()
    sign_in(staff, world.staff[Role.THERAPIST])
    roster = staff.get(
        f"/staff/sessions/{day['all_day'].id}/{day['today'].isoformat()}"
    ).get_data(as_text=True)
    assert "Told us: I&#39;ll be late" in roster
    assert "Bus 14 is running late" in roster
    assert f'name="mark-{world.patient.id}" value="late" checked' in roster


def test_i_cant_come_covers_the_rest_of_the_day_and_marks_it_excused(
    client, world, day
):
    # staff already marked the patient for the later session: that mark stays
    db.session.add(
        Attendance(
            patient_id=world.patient.id,
            group_session_id=day["later"].id,
            occurs_on=day["today"],
            status=AttendanceStatus.PRESENT,
            recorded_by_id=world.staff[Role.THERAPIST].id,
        )
    )
    db.session.flush()
    sign_in(client, world.patient)
    response = _tell(client, day["all_day"], kind="absent", reason="sick")
    assert response.status_code == 303
    notices = {n.group_session_id: n for n in _notices(world.patient)}
    assert set(notices) == {day["all_day"].id, day["later"].id}
    assert {n.kind for n in notices.values()} == {NoticeKind.ABSENT}
    marks = _marks(world.patient)
    assert marks[day["all_day"].id] is AttendanceStatus.EXCUSED
    assert marks[day["later"].id] is AttendanceStatus.PRESENT
    assert day["over"].id not in marks


def test_telling_twice_gets_a_plain_answer_and_nothing_twice(client, world, day):
    sign_in(client, world.patient)
    _tell(client, day["all_day"])
    again = _tell(client, day["all_day"], kind="absent", reason="work")
    assert again.status_code == 409
    assert "You already told us about this session" in again.get_data(as_text=True)
    [notice] = _notices(world.patient)
    assert notice.kind is NoticeKind.LATE
    assert _marks(world.patient) == {}


def test_a_session_already_over_gets_a_plain_answer(client, world, day):
    sign_in(client, world.patient)
    response = _tell(client, day["over"], kind="absent", reason="sick")
    assert response.status_code == 409
    assert "This session is already over" in response.get_data(as_text=True)
    assert _notices(world.patient) == []
    assert _marks(world.patient) == {}


@pytest.mark.parametrize(
    "data",
    [
        {"kind": ""},
        {"kind": "gone"},
        {"reason": ""},
        {"reason": "bored<script>"},
        {"note": "x" * 301},
    ],
)
def test_bad_answers_are_refused_with_the_form_again(client, world, day, data):
    sign_in(client, world.patient)
    response = _tell(client, day["all_day"], **data)
    assert response.status_code == 422
    assert "Some answers need a fix" in response.get_data(as_text=True)
    assert _notices(world.patient) == []


def test_another_tracks_or_another_days_session_answers_404(client, world, day):
    elsewhere = f.GroupSessionFactory(
        track_id=world.iop_track.id, weekday=day["today"].weekday()
    )
    other_day = f.GroupSessionFactory(
        track_id=world.track.id, weekday=(day["today"].weekday() + 1) % 7
    )
    sign_in(client, world.patient_c)  # another program's patient
    assert _tell(client, day["all_day"]).status_code == 404
    sign_in(client, world.patient)
    for session in (elsewhere, other_day):
        assert client.get(f"/today/tell/{session.id}").status_code == 404
        response = post_form(
            client,
            f"/today/tell/{session.id}",
            {"kind": "late", "reason": "ride"},
            page="/",
        )
        assert response.status_code == 404
    assert client.get("/today/tell/not-an-id").status_code == 404
    assert _notices(world.patient) == [] and _notices(world.patient_c) == []


def test_staff_cannot_tell_for_a_patient(client, world, day):
    sign_in(client, world.staff[Role.THERAPIST])
    assert client.get(f"/today/tell/{day['all_day'].id}").status_code in (403, 404)


def test_the_huddle_reads_a_programs_notices_of_a_day(client, world, day):
    sign_in(client, world.patient)
    _tell(client, day["all_day"], kind="absent", reason="sick", note="Flu")
    found = notices_for_program(world.program.id, day["today"])
    # the day's two groups from the one chosen make one line, without "Flu": their
    # words are the roster's only
    assert found == {
        world.patient.id: ["I can't come today: I am sick (2 groups from 12:00 AM)"]
    }
    sign_in(client, world.patient_b)
    _tell(client, day["later"], kind="late", reason="ride")
    found = notices_for_program(world.program.id, day["today"])
    assert found[world.patient_b.id] == [
        "I'll be late: No ride, or the ride is late (Evening group 12:00 AM)"
    ]
    assert notices_for_program(world.other_program.id, day["today"]) == {}


def test_the_page_says_so_at_once_for_a_session_over_or_told(client, world, day):
    sign_in(client, world.patient)
    over = client.get(f"/today/tell/{day['over'].id}").get_data(as_text=True)
    assert "This session is already over" in over
    assert 'name="kind"' not in over
    _tell(client, day["all_day"])
    told = client.get(f"/today/tell/{day['all_day'].id}").get_data(as_text=True)
    assert "You already told us about this session: I&#39;ll be late" in told
    assert 'name="kind"' not in told
    fresh = client.get(f"/today/tell/{day['later'].id}").get_data(as_text=True)
    assert 'name="kind"' in fresh
