"""The director's board: each figure from a small hand-made data set with a known
answer, read from the page's table; every CSV equals its table; shares on fewer than
10 patients read "n of N"; other programs, other roles and unknown periods answer
404; every read is audited."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.checkins.instruments import Instrument
from portal.blueprints.checkins.models import CheckIn, Medication, ScreenerResponse
from portal.blueprints.messages import services as messages
from portal.blueprints.messages.models import Message, PeerContact
from portal.blueprints.needs.models import (
    HelpAnswer,
    HousingSituation,
    NeedKind,
    SdohCategory,
    TaskStatus,
)
from portal.blueprints.safety.models import FlagStatus, RiskFlag, RiskFlagEvent
from portal.blueprints.schedule.models import Attendance, AttendanceStatus
from portal.db import new_id, utcnow
from portal.security import Role
from tests import factories as f
from tests.conftest import program_today, sign_in
from tests.factories.needs import make_need

NY = ZoneInfo("America/New_York")
FIGURES = (
    "census",
    "stay",
    "attendance",
    "checkins",
    "safety",
    "outcomes",
    "requests",
    "request_weeks",
    "caseload",
    "peer",
)


@dataclass
class Place:
    program: object
    track: object
    director: object
    peer: object
    case_manager: object
    first: date  # Monday of the oldest of the 4 weeks

    def day(self, week: int, weekday: int) -> date:
        return self.first + timedelta(weeks=week, days=weekday)

    def at(self, week: int, weekday: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(self.day(week, weekday), time(hour, minute), NY)


@pytest.fixture
def place(transaction) -> Place:
    """A program of its own (New York, open Monday to Friday 08:00-17:00) with a
    director, a peer, a case manager and a track with one group a weekday."""
    program = f.ProgramFactory(name="Board Program")
    track = f.TrackFactory(program=program, name="Days")
    for weekday in range(5):
        f.GroupSessionFactory(track_id=track.id, weekday=weekday)

    def staff(role):
        user = f.UserFactory(staff=True, role=role)
        f.StaffMembershipFactory(user_id=user.id, program_id=program.id)
        return user

    today = program_today()
    monday = today - timedelta(days=today.weekday())
    return Place(
        program,
        track,
        staff(Role.DIRECTOR),
        staff(Role.PEER),
        staff(Role.CASE_MANAGER),
        monday - timedelta(weeks=3),
    )


def enroll(place: Place, admitted: date, discharged: date | None = None):
    patient = f.UserFactory()
    f.EnrollmentFactory(
        patient_id=patient.id,
        program_id=place.program.id,
        track_id=place.track.id,
        admitted_on=admitted,
        discharged_on=discharged,
        status="discharged" if discharged else "active",
    )
    return patient


class _Tables(HTMLParser):
    """The board's tables by figure: lists of rows of cell texts, header first."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.current = self.row = self.cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "data-figure" in attrs:
            self.current = self.tables.setdefault(attrs["data-figure"], [])
        elif tag == "tr" and self.current is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.current = None
        elif tag == "tr" and self.row is not None:
            self.current.append(self.row)
            self.row = None
        elif tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def tables_of(client, place, weeks: int = 4, key: str | None = None) -> dict:
    response = client.get(f"/staff/board/{key or place.program.id}?weeks={weeks}")
    assert response.status_code == 200
    parser = _Tables()
    parser.feed(response.get_data(as_text=True))
    return parser.tables


def rows_by_first_cell(table: list[list[str]]) -> dict[str, dict[str, str]]:
    header = table[0]
    return {row[0]: dict(zip(header, row, strict=True)) for row in table[1:]}


def week_label(place: Place, week: int) -> str:
    return f"{place.day(week, 0):%b %-d, %Y}"


def signed_in(client, place):
    sign_in(client, place.director)
    return client


# ---- census and length of stay -------------------------------------------------------


def test_census_counts_admissions_discharges_and_who_is_left_at_week_end(client, place):
    enroll(place, place.first - timedelta(days=30))  # in care all along
    enroll(place, place.first - timedelta(days=20), place.day(0, 2))  # leaves week 0
    enroll(place, place.day(0, 1), place.day(1, 3))  # comes week 0, leaves week 1
    enroll(place, place.day(1, 0))  # comes week 1
    enroll(place, place.first - timedelta(days=90), place.first - timedelta(days=1))
    table = rows_by_first_cell(tables_of(signed_in(client, place), place)["census"])
    week0, week1, week3 = (table[week_label(place, w)] for w in (0, 1, 3))
    assert (week0["Admitted"], week0["Discharged"]) == ("1", "1")
    assert week0["Enrolled at the end of the week"] == "2"
    assert (week1["Admitted"], week1["Discharged"]) == ("1", "1")
    assert week1["Enrolled at the end of the week"] == "2"
    assert week3["Enrolled at the end of the week"] == "2"
    assert (table["All weeks"]["Admitted"], table["All weeks"]["Discharged"]) == (
        "2",
        "2",
    )


def test_length_of_stay_has_the_median_and_90th_percentile_of_discharges(client, place):
    enroll(place, place.day(0, 2) - timedelta(days=22), place.day(0, 2))  # 22 days
    enroll(place, place.day(0, 1), place.day(1, 3))  # 9 days
    enroll(place, place.day(1, 0) - timedelta(days=40), place.day(1, 0))  # 40 days
    table = rows_by_first_cell(tables_of(signed_in(client, place), place)["stay"])
    assert table[week_label(place, 0)]["Median days"] == "22.0"
    week1 = table[week_label(place, 1)]
    assert (week1["Discharged"], week1["Median days"]) == ("2", "24.5")
    assert week1["90th percentile days"] == "36.9"  # 9 + 0.9 * 31
    total = table["All weeks"]
    assert (total["Discharged"], total["Median days"]) == ("3", "22.0")
    assert total["90th percentile days"] == "36.4"  # 22 + 0.8 * 18
    assert table[week_label(place, 2)]["Median days"] == "none"


# ---- attendance ----------------------------------------------------------------------


def test_attendance_is_the_share_of_scheduled_group_sessions_attended(client, place):
    a = enroll(place, place.first - timedelta(days=10))
    b = enroll(place, place.day(0, 3))  # from Thursday of week 0: 2 sessions
    groups = {g.weekday: g for g in _groups(place)}
    marks = {
        (a, 0): AttendanceStatus.PRESENT,
        (a, 1): AttendanceStatus.LATE,
        (a, 2): AttendanceStatus.ABSENT,
        (a, 3): AttendanceStatus.EXCUSED,
        (b, 3): AttendanceStatus.PRESENT,
    }
    for (patient, weekday), status in marks.items():
        db.session.add(
            Attendance(
                patient_id=patient.id,
                group_session_id=groups[weekday].id,
                occurs_on=place.day(0, weekday),
                status=status,
                recorded_by_id=place.director.id,
            )
        )
    db.session.flush()
    table = tables_of(signed_in(client, place), place)["attendance"]
    week0 = next(r for r in table if r[1] == week_label(place, 0))
    assert week0 == ["Days", week_label(place, 0), "2", "7", "3", "3 of 7"]


def _groups(place):
    from portal.blueprints.schedule.models import GroupSession

    return db.session.scalars(
        select(GroupSession).where(GroupSession.track_id == place.track.id)
    ).all()


# ---- check-ins and questionnaires ----------------------------------------------------


def test_checkin_completion_and_questionnaires_on_time(client, place):
    a = enroll(place, place.first - timedelta(days=30))
    b = enroll(place, place.day(0, 5))  # Saturday and Sunday of week 0
    for patient, weekday in [(a, 0), (a, 1), (a, 2), (a, 6), (b, 5)]:
        _checkin(patient, place.day(0, weekday))
    _checkin(a, place.first - timedelta(days=1))  # before the period
    # PHQ-9 a week apart (on time), then 10 days later (late: 7 + 2 days of grace)
    _screener(a, Instrument.PHQ9, place.at(0, 0, 10) - timedelta(days=7))
    _screener(a, Instrument.PHQ9, place.at(0, 0, 10))
    _screener(a, Instrument.PHQ9, place.at(1, 3, 10))
    # b's first GAD-7, 2 days after admission: on time
    _screener(b, Instrument.GAD7, place.at(1, 0, 9))
    table = rows_by_first_cell(tables_of(signed_in(client, place), place)["checkins"])
    week0, week1 = table[week_label(place, 0)], table[week_label(place, 1)]
    assert (week0["Patients"], week0["Days enrolled"], week0["Check-ins"]) == (
        "2",
        "9",
        "5",
    )
    assert week0["Share checked in"] == "5 of 9"
    assert (week0["Questionnaires done"], week0["On time"]) == ("1", "1")
    assert (week1["Questionnaires done"], week1["On time"]) == ("2", "1")
    assert week1["Share on time"] == "1 of 2"


def _checkin(patient, day: date) -> None:
    db.session.add(
        CheckIn(
            patient_id=patient.id,
            local_date=day,
            mood=5,
            craving=2,
            sleep_hours=7,
            medication=Medication.YES,
            feels_safe=True,
            idempotency_key=new_id(),
        )
    )
    db.session.flush()


def _screener(patient, instrument, when: datetime, total: int = 10) -> None:
    db.session.add(
        ScreenerResponse(
            patient_id=patient.id,
            instrument=instrument,
            answers=[],
            total=total,
            severity="moderate",
            idempotency_key=new_id(),
            completed_at=when,
        )
    )
    db.session.flush()


# ---- safety --------------------------------------------------------------------------


def test_safety_times_to_take_against_t1_and_t2_and_escalations(client, place):
    patient = enroll(place, place.first - timedelta(days=30))
    opened = place.at(1, 1, 10)
    _flag(place, patient, opened, taken_after=timedelta(minutes=10))
    _flag(place, patient, opened, taken_after=timedelta(minutes=20), levels=[1])
    _flag(place, patient, opened, levels=[1, 2])  # never taken
    table = rows_by_first_cell(tables_of(signed_in(client, place), place)["safety"])
    week1 = table[week_label(place, 1)]
    assert (week1["Alerts opened"], week1["Taken"]) == ("3", "2")
    assert week1["Median minutes to take"] == "15.0"
    assert week1["90th percentile minutes"] == "19.0"
    assert week1["Taken within T1"] == "1 of 3"
    assert week1["Taken within T2"] == "2 of 3"
    assert (week1["Reached the backup"], week1["Reached the director"]) == ("2", "1")
    assert table["All weeks"]["Alerts opened"] == "3"


def _flag(place, patient, opened, taken_after=None, levels=()):
    flag = RiskFlag(
        patient_id=patient.id,
        program_id=place.program.id,
        open_key=None if taken_after else patient.id,
        source="checkin",
        source_id=new_id(),
        status=FlagStatus.RESOLVED if taken_after else FlagStatus.OPEN,
        opened_at=opened,
        acknowledged_at=opened + taken_after if taken_after else None,
    )
    db.session.add(flag)
    db.session.flush()
    for level in levels:
        db.session.add(
            RiskFlagEvent(flag_id=flag.id, kind="raised", detail=f"level {level}")
        )
    db.session.add(RiskFlagEvent(flag_id=flag.id, kind="raised", detail="level 0"))
    db.session.flush()
    return flag


# ---- outcomes ------------------------------------------------------------------------


def test_outcomes_on_three_patients_read_as_counts(client, place):
    admitted = place.day(0, 0)
    for start, latest in ((20, 10), (12, 10), (6, 4)):  # a drop of exactly half
        patient = enroll(place, admitted)
        _screener(patient, Instrument.PHQ9, place.at(0, 1, 10), total=start)
        _screener(patient, Instrument.PHQ9, place.at(1, 1, 10), total=start)
        _screener(patient, Instrument.PHQ9, place.at(2, 1, 10), total=latest)
    only_one = enroll(place, admitted)
    _screener(only_one, Instrument.PHQ9, place.at(0, 1, 10), total=20)
    late_start = enroll(place, admitted)  # first score 10 days in: no admission score
    _screener(late_start, Instrument.PHQ9, place.at(1, 3, 10), total=20)
    _screener(late_start, Instrument.PHQ9, place.at(2, 3, 10), total=2)
    table = rows_by_first_cell(tables_of(signed_in(client, place), place)["outcomes"])
    phq9 = table["PHQ-9"]
    assert phq9["Patients with both scores"] == "3"
    assert (phq9["Average at admission"], phq9["Average latest"]) == ("12.7", "8.0")
    assert (phq9["Response"], phq9["Remission"]) == ("1 of 3", "1 of 3")
    assert table["GAD-7"]["Patients with both scores"] == "0"
    assert table["GAD-7"]["Response"] == "none"


def test_outcomes_on_ten_patients_read_as_percentages(client, place):
    for n in range(10):
        patient = enroll(place, place.day(0, 0))
        _screener(patient, Instrument.GAD7, place.at(0, 2, 10), total=14)
        _screener(patient, Instrument.GAD7, place.at(2, 2, 10), total=4 if n < 3 else 9)
    gad7 = rows_by_first_cell(tables_of(signed_in(client, place), place)["outcomes"])[
        "GAD-7"
    ]
    assert gad7["Patients with both scores"] == "10"
    assert (gad7["Response"], gad7["Remission"]) == ("30%", "30%")


# ---- help requests -------------------------------------------------------------------


def _answered(place, patient, answers):
    for answer in answers:
        make_need(
            patient,
            place.program,
            status=TaskStatus.COMPLETED,
            created_at=place.at(1, 0, 9),
            first_contact_at=place.at(1, 0, 10),
            closed_at=place.at(1, 1, 9),
            due_at=None,
            help_received=answer,
            help_received_at=place.at(1, 2, 9),
        )


def test_got_the_help_counts_yes_of_the_answers_as_n_of_n_when_few(client, place):
    patient = enroll(place, place.first - timedelta(days=30))
    _answered(place, patient, [HelpAnswer.YES, HelpAnswer.PARTLY, HelpAnswer.NO, None])
    kinds = rows_by_first_cell(tables_of(signed_in(client, place), place)["requests"])
    assert kinds["Other"]["Asked"] == "4"
    assert kinds["Other"]["Answered: got the help?"] == "3"
    assert kinds["Other"]["Got the help"] == "1 of 3"
    assert kinds["Rides"]["Got the help"] == "none"


def test_got_the_help_reads_as_a_share_from_ten_answers(client, place):
    patient = enroll(place, place.first - timedelta(days=30))
    _answered(place, patient, [HelpAnswer.YES] * 7 + [HelpAnswer.NO] * 3)
    kinds = rows_by_first_cell(tables_of(signed_in(client, place), place)["requests"])
    assert kinds["Other"]["Got the help"] == "70%"


def test_requests_count_opening_hours_to_first_contact_and_on_time(client, place):
    patient = enroll(place, place.first - timedelta(days=30))
    cm = place.case_manager
    housing = {
        "kind": NeedKind.HOUSING,
        "category": SdohCategory.HOUSING_INSTABILITY,
        "other_need": None,
        "housing_situation": HousingSituation.AT_RISK,
        "owner_id": cm.id,
        "due_at": None,
    }
    # Monday 09:00, contacted 11:00 (2 opening hours), due 12:00: on time
    make_need(
        patient,
        place.program,
        **housing,
        created_at=place.at(1, 0, 9),
        first_contact_at=place.at(1, 0, 11),
        contact_due_at=place.at(1, 0, 12),
        status=TaskStatus.COMPLETED,
        closed_at=place.at(1, 1, 9),  # 8 + 1 opening hours
    )
    # Friday 16:30, contacted Monday 09:00: 0.5 + 1 opening hours, due 08:30: late
    make_need(
        patient,
        place.program,
        **housing,
        created_at=place.at(0, 4, 16, 30),
        first_contact_at=place.at(1, 0, 9),
        contact_due_at=place.at(1, 0, 8, 30),
        status=TaskStatus.IN_PROGRESS,
    )
    now = utcnow()
    make_need(patient, place.program, owner_id=cm.id, due_at=now - timedelta(hours=2))
    make_need(patient, place.program, owner_id=None)
    tables = tables_of(signed_in(client, place), place)
    kinds = rows_by_first_cell(tables["requests"])
    assert kinds["Housing"]["Asked"] == "2"
    assert kinds["Housing"]["Median hours to first contact"] == "1.8"
    assert kinds["Housing"]["First contact on time"] == "1 of 2"
    assert kinds["Housing"]["Median hours to done"] == "9.0"
    assert kinds["Housing"]["Done on time"] == "1 of 1"
    assert (kinds["Other"]["Open now"], kinds["Other"]["Overdue now"]) == ("2", "1")
    assert kinds["Other"]["Open with nobody"] == "1"
    weeks = rows_by_first_cell(tables["request_weeks"])
    assert weeks[week_label(place, 0)]["Median hours to first contact"] == "1.5"
    assert weeks[week_label(place, 1)]["On time"] == "1"
    load = rows_by_first_cell(tables["caseload"])
    assert load[cm.display_name]["Open"] == "2"  # the in-progress one and the overdue
    assert load[cm.display_name]["Overdue"] == "1"


def test_the_needs_report_moves_to_the_board(client, place):
    signed_in(client, place)
    response = client.get("/staff/needs/report?days=365")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/board/all?weeks=52#requests")
    assert (
        client.get("/staff/needs/report")
        .headers["Location"]
        .endswith("weeks=13#requests")
    )


# ---- peer support --------------------------------------------------------------------


def test_peer_contacts_units_and_messages_answered_within_an_opening_day(client, place):
    patient = enroll(place, place.first - timedelta(days=30))
    for minutes in (7, 8, 22, 23, 45):  # units 0, 1, 1, 2, 3
        db.session.add(
            PeerContact(
                patient_id=patient.id,
                peer_id=place.peer.id,
                contact_on=place.day(0, 1),
                minutes=minutes,
                kind="call",
            )
        )
    thread = messages.open_thread(patient.id)
    _message(thread, patient, place.at(1, 0, 10))
    _message(thread, place.peer, place.at(1, 0, 15))  # 5 opening hours: in time
    _message(thread, patient, place.at(1, 4, 16))
    _message(thread, place.peer, place.at(2, 0, 16, 30))  # 1 + 8.5 hours: late
    _message(thread, patient, place.at(2, 1, 10))  # never answered: late by now
    table = rows_by_first_cell(tables_of(signed_in(client, place), place)["peer"])
    week0, week1 = table[week_label(place, 0)], table[week_label(place, 1)]
    assert (week0["Contacts"], week0["Minutes"], week0["H0038 units"]) == (
        "5",
        "105",
        "7",
    )
    assert (week1["Patient messages"], week1["Answered within a day"]) == ("2", "1")
    assert week1["Share answered"] == "1 of 2"
    assert table[week_label(place, 2)]["Share answered"] == "0 of 1"


def _message(thread, author, when: datetime) -> None:
    thread.last_seq += 1
    db.session.add(
        Message(
            thread_id=thread.id,
            seq=thread.last_seq,
            author_id=author.id,
            body="hello",
            created_at=when,
        )
    )
    db.session.flush()


# ---- the table and its CSV -----------------------------------------------------------


@pytest.mark.parametrize("weeks", [4, 13])
def test_every_csv_holds_exactly_its_table(client, place, weeks):
    patient = enroll(place, place.first - timedelta(days=3))
    _checkin(patient, place.day(0, 2))
    _flag(place, patient, place.at(1, 1, 10), taken_after=timedelta(minutes=3))
    signed_in(client, place)
    tables = tables_of(client, place, weeks)
    assert set(tables) == set(FIGURES)
    for figure in FIGURES:
        url = f"/staff/board/{place.program.id}/{figure}.csv?weeks={weeks}"
        response = client.get(url)
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        assert response.headers["Content-Disposition"].startswith(
            f'attachment; filename="{figure}-{weeks}-weeks-'
        )
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        assert rows == tables[figure], figure


# ---- who may see which board ---------------------------------------------------------


def test_a_director_of_another_program_gets_404_and_a_denied_row(client, world):
    sign_in(client, world.director)
    for path in (
        f"/staff/board/{world.other_program.id}",
        f"/staff/board/{world.other_program.id}/census.csv",
        "/staff/board/not-a-program",
    ):
        response = client.get(path)
        assert response.status_code == 404
        body = response.get_data(as_text=True)
        assert "data-figure" not in body and "s board" not in body
    denied = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.data_kind == "board", AuditEvent.outcome == "denied"
        )
    ).all()
    assert world.other_program.id in {row.object_id for row in denied}


@pytest.mark.parametrize(
    "role",
    [
        Role.THERAPIST,
        Role.PEER,
        Role.ADMIN,
        Role.CASE_MANAGER,
        Role.NURSE,
        Role.PATIENT,
    ],
)
def test_only_directors_open_the_board(client, login_as, world, role):
    login_as(role)
    for path in (
        "/staff/board",
        f"/staff/board/{world.program.id}",
        "/staff/board/all",
        f"/staff/board/{world.program.id}/census.csv",
    ):
        assert client.get(path).status_code == 404, path


def test_a_period_or_figure_the_board_does_not_offer_answers_404(client, world):
    sign_in(client, world.director)
    for query in ("?weeks=5", "?weeks=0", "?weeks=-4", "?weeks=52x", "?weeks="):
        assert client.get(f"/staff/board/all{query}").status_code == 404, query
    assert client.get("/staff/board/all/secrets.csv").status_code == 404
    assert client.get("/staff/board/all?weeks=52").status_code == 200


def test_each_board_read_writes_one_audit_row_without_patients(client, place):
    enroll(place, place.first)
    signed_in(client, place)
    before = _board_rows()
    client.get(f"/staff/board/{place.program.id}?weeks=13")
    client.get(f"/staff/board/{place.program.id}/peer.csv?weeks=13")
    rows = _board_rows()[len(before) :]
    assert [(r.action, r.object_id, r.detail) for r in rows] == [
        ("read", place.program.id, "13 weeks"),
        ("export", place.program.id, "peer, 13 weeks"),
    ]
    assert all(r.patient_id is None and r.outcome == "allowed" for r in rows)


def _board_rows():
    return db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.data_kind == "board")
        .order_by(AuditEvent.id)
    ).all()


def test_all_programs_adds_up_every_program_of_the_director(client, place):
    second = f.ProgramFactory(name="Second Board Program")
    f.StaffMembershipFactory(user_id=place.director.id, program_id=second.id)
    enroll(place, place.day(0, 0))
    patient = f.UserFactory()
    f.EnrollmentFactory(
        patient_id=patient.id, program_id=second.id, admitted_on=place.day(0, 1)
    )
    signed_in(client, place)
    page = client.get("/staff/board?weeks=4", follow_redirects=True)
    assert "All my programs" in page.get_data(as_text=True)
    census = rows_by_first_cell(tables_of(client, place, key="all")["census"])
    assert census[week_label(place, 0)]["Admitted"] == "2"
    one = rows_by_first_cell(tables_of(client, place)["census"])
    assert one[week_label(place, 0)]["Admitted"] == "1"
