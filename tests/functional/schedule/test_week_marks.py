"""The week folds breaks into one line per day and says, for each session the patient
was marked for, whether they attended or missed it."""

from __future__ import annotations

import re
from datetime import time, timedelta

from sqlalchemy import update

from portal import db
from portal.blueprints.schedule.models import (
    Attendance,
    AttendanceStatus,
    GroupSession,
    SessionKind,
)
from portal.security import Role
from tests import factories as f
from tests.conftest import program_today, sign_in


def _week_of(day):
    return day - timedelta(days=day.weekday())


def test_breaks_fold_and_sessions_say_attended_or_missed(client, world):
    db.session.execute(
        update(GroupSession)
        .where(GroupSession.track_id == world.track.id)
        .values(active=False)
    )
    monday = _week_of(program_today()) - timedelta(days=7)  # last week: all past

    def session(title, kind, starts, ends, weekday=0):
        return f.GroupSessionFactory(
            track_id=world.track.id,
            weekday=weekday,
            title=title,
            kind=kind,
            starts_at=starts,
            ends_at=ends,
        )

    groups = [
        session("Coping skills", SessionKind.GROUP, time(9), time(10)),
        session("Relapse prevention", SessionKind.GROUP, time(11), time(12)),
        session("Process group", SessionKind.GROUP, time(13), time(14)),
    ]
    session("Break", SessionKind.BREAK, time(10), time(10, 15))
    session("Lunch", SessionKind.BREAK, time(12), time(12, 45))
    for group, status in zip(
        groups, (AttendanceStatus.PRESENT, AttendanceStatus.ABSENT), strict=False
    ):
        db.session.add(
            Attendance(
                patient_id=world.patient.id,
                group_session_id=group.id,
                occurs_on=monday,
                status=status,
                recorded_by_id=world.staff[Role.THERAPIST].id,
            )
        )
    db.session.flush()
    sign_in(client, world.patient)
    html = client.get(f"/week?start={monday.isoformat()}").get_data(as_text=True)
    day = html[html.index(f'id="day-{monday.isoformat()}"') :]
    day = day[: day.index("</section>")]
    assert "2 breaks: 10:00 to 10:15 AM, 12:00 to 12:45 PM" in day
    assert ">Break<" not in day and ">Lunch<" not in day
    titles = re.findall(r'class="what">([^<]+)<', day)
    assert titles == ["Coping skills", "Relapse prevention", "Process group"]
    marks = re.findall(r'class="mark mark-\w+"><strong>([^<]+)<', day)
    assert marks == ["Attended", "Missed"]  # the third has no mark yet


def test_another_patients_marks_never_show(client, world):
    monday = _week_of(program_today()) - timedelta(days=7)
    db.session.add(
        Attendance(
            patient_id=world.patient_b.id,
            group_session_id=world.group.id,
            occurs_on=monday,
            status=AttendanceStatus.ABSENT,
            recorded_by_id=world.staff[Role.THERAPIST].id,
        )
    )
    db.session.flush()
    sign_in(client, world.patient)
    html = client.get(f"/week?start={monday.isoformat()}").get_data(as_text=True)
    assert "Missed" not in html
