"""The morning huddle: each reason in plain words from a hand-made data set, risk
first; what each role sees (a peer or case manager never a score, an answer or a
note); notes and actions kept with who and when, shown until done, audited; a note or
action on a patient outside the program refused with nothing saved; admissions since
the last huddle; admin staff and other programs answer 404."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.checkins.instruments import Instrument
from portal.blueprints.checkins.models import CheckIn, Medication, ScreenerResponse
from portal.blueprints.needs.models import NeedKind, SdohCategory
from portal.blueprints.programs.models import Enrollment
from portal.blueprints.safety.models import FlagStatus, RiskFlag
from portal.blueprints.schedule.models import (
    AttendanceStatus,
    GroupSession,
    NoticeKind,
    NoticeReason,
    SessionNotice,
)
from portal.blueprints.staff.huddle_day import previous_program_day
from portal.blueprints.staff.models import Huddle, HuddleAction, HuddleNote
from portal.db import new_id, utcnow
from portal.security import Role
from tests import factories as f
from tests.conftest import MARKERS, csrf_from, program_today
from tests.factories.needs import make_need
from tests.factories.reviews import attend

NY = ZoneInfo("America/New_York")
NOTE = "Talked about the weekend; NOTE-MARKER-7731"
CLINICAL_WORDS = (
    "PHQ-9",
    "GAD-7",
    "I do not feel safe",
    "item 9",
    "check-in",
    "risk flag",
)


def checkin(patient, day: date, feels_safe: bool = True) -> None:
    db.session.add(
        CheckIn(
            patient_id=patient.id,
            local_date=day,
            mood=5,
            craving=2,
            sleep_hours=7,
            medication=Medication.YES,
            feels_safe=feels_safe,
            idempotency_key=new_id(),
        )
    )
    db.session.flush()


def screener(patient, instrument, total, days_ago: float, risk: bool = False) -> None:
    db.session.add(
        ScreenerResponse(
            patient_id=patient.id,
            instrument=instrument,
            answers=[],
            total=total,
            severity="x",
            risk_positive=risk,
            idempotency_key=new_id(),
            completed_at=utcnow() - timedelta(days=days_ago),
        )
    )
    db.session.flush()


def open_flag(patient, program, status=FlagStatus.OPEN) -> None:
    db.session.add(
        RiskFlag(
            patient_id=patient.id,
            program_id=program.id,
            open_key=patient.id,
            source="checkin",
            source_id=patient.id,
            status=status,
        )
    )
    db.session.flush()


def new_patient(world, name: str, admitted_on: date | None = None, **enrollment):
    patient = f.UserFactory(display_name=name)
    f.EnrollmentFactory(
        patient_id=patient.id,
        program_id=world.program.id,
        track_id=world.track.id,
        level_of_care=world.track.level_of_care,
        admitted_on=admitted_on or date.today() - timedelta(days=30),
        **enrollment,
    )
    return patient


def session_on(world, day: date) -> GroupSession:
    return db.session.scalar(
        select(GroupSession).where(
            GroupSession.track_id == world.track.id,
            GroupSession.weekday == day.weekday(),
        )
    )


@pytest.fixture
def scene(world):
    """Patient A: an open flag, an unsafe check-in, PHQ-9 up from 8 to 15. Patient B:
    absent from yesterday's group, a ride request overdue, checked in. Quiet: checked
    in, came, nothing open (not on the huddle)."""
    today = program_today()
    previous = previous_program_day(world.program.opening_hours, today)
    therapist = world.staff[Role.THERAPIST]
    open_flag(world.patient, world.program)
    checkin(world.patient, previous, feels_safe=False)
    screener(world.patient, Instrument.PHQ9, 8, 14)
    screener(world.patient, Instrument.PHQ9, 15, 1)
    screener(world.patient, Instrument.GAD7, 6, 14)
    screener(world.patient, Instrument.GAD7, 9, 1)  # up 3: not a reason
    checkin(world.patient_b, today)
    attend(
        world.patient_b,
        session_on(world, previous),
        previous,
        therapist,
        AttendanceStatus.ABSENT,
    )
    make_need(
        world.patient_b,
        world.program,
        kind=NeedKind.TRANSPORT,
        category=SdohCategory.TRANSPORTATION,
        other_need=None,
        due_at=utcnow() - timedelta(hours=1),
    )
    quiet = new_patient(world, "Quiet Patient")
    checkin(quiet, today)
    attend(quiet, session_on(world, previous), previous, therapist)
    return {"today": today, "previous": previous, "quiet": quiet}


def huddle_url(world, program=None) -> str:
    return f"/staff/huddle/{(program or world.program).id}"


def rows_of(html: str) -> list[str]:
    body = html.split('class="table huddle-table"', 1)[1].split("</tbody>", 1)[0]
    return body.split('<tr id="p-')[1:]


def test_clinician_sees_each_reason_in_plain_words_risk_first(
    client, login_as, world, scene
):
    login_as(Role.THERAPIST)
    html = client.get(huddle_url(world)).get_data(as_text=True)
    rows = rows_of(html)
    assert MARKERS["patient"] in rows[0]  # the open flag comes first
    first = rows[0]
    assert "Open risk flag, not yet acknowledged" in first
    assert 'Checked in "I do not feel safe" in the last 7 days' in first.replace(
        "&#34;", '"'
    )
    assert "PHQ-9 up from 8 to 15" in first
    assert "GAD-7" not in first  # up 3 only
    second = next(r for r in rows if MARKERS["patient_b"] in r)
    assert "Absent from" in second and "group" in second
    assert "Ride request overdue" in second
    assert "No check-in" not in second
    assert "Quiet Patient" not in html
    # A patient on the therapist's team links to their page; another asks a reason.
    assert f'/staff/patients/{world.patient.id}"' in first
    assert f"/staff/patients/{world.patient_b.id}/reason" in second


@pytest.mark.parametrize("role", [Role.PRESCRIBER, Role.NURSE, Role.DIRECTOR])
def test_every_clinician_sees_the_reasons(client, login_as, world, scene, role):
    login_as(role)
    first = rows_of(client.get(huddle_url(world)).get_data(as_text=True))[0]
    assert MARKERS["patient"] in first and "PHQ-9 up from 8 to 15" in first


def test_no_checkin_for_two_program_days_and_a_flag_being_handled(
    client, login_as, world, scene
):
    silent = new_patient(world, "Silent Patient")
    recent = new_patient(world, "Just Admitted", admitted_on=scene["today"])
    open_flag(scene["quiet"], world.program, FlagStatus.ACKNOWLEDGED)
    screener(scene["quiet"], Instrument.PHQ9, 3, 2, risk=True)
    login_as(Role.NURSE)
    html = client.get(huddle_url(world)).get_data(as_text=True)
    row = next(r for r in rows_of(html) if "Silent Patient" in r)
    assert "No check-in for 2 program days" in row
    assert "Just Admitted" not in "".join(rows_of(html))  # admitted today
    assert recent.display_name in html  # ... but listed among the admissions
    quiet = next(r for r in rows_of(html) if "Quiet Patient" in r)
    assert "Open risk flag (acknowledged)" in quiet
    assert "PHQ-9 item 9 (self-harm) above 0 in the last 7 days" in quiet
    assert silent.id


@pytest.mark.parametrize("role", [Role.PEER, Role.CASE_MANAGER])
def test_peers_and_case_managers_never_see_a_score_an_answer_or_a_note(
    client, login_as, world, scene, role
):
    db.session.add(
        HuddleNote(
            program_id=world.program.id,
            patient_id=world.patient.id,
            body=NOTE,
            author_id=world.staff[Role.NURSE].id,
        )
    )
    db.session.flush()
    login_as(role)
    html = client.get(huddle_url(world)).get_data(as_text=True)
    rows = rows_of(html)
    first = rows[0]
    assert MARKERS["patient"] in first
    assert "the on-call clinician has been alerted" in first
    assert "Needs attention: a clinician has the details" in first
    main = html.split('id="main"', 1)[1]
    for words in (*CLINICAL_WORDS, "8 to 15", NOTE, "NOTE-MARKER"):
        assert words not in main, words
    second = next(r for r in rows if MARKERS["patient_b"] in r)
    assert "Ride request overdue" in second and "Absent from" in second
    assert "Add a note" not in html


def test_a_peer_sees_a_clinician_is_on_it_once_the_flag_is_taken(
    client, login_as, world, scene
):
    flag = db.session.scalar(
        select(RiskFlag).where(RiskFlag.patient_id == world.patient.id)
    )
    flag.status = FlagStatus.ACKNOWLEDGED
    db.session.flush()
    login_as(Role.PEER)
    first = rows_of(client.get(huddle_url(world)).get_data(as_text=True))[0]
    assert "a clinician is on it" in first
    assert "acknowledged" not in first


def test_the_director_sees_the_reasons_and_every_read_is_audited(
    client, login_as, world, scene
):
    login_as(Role.DIRECTOR)
    html = client.get(huddle_url(world)).get_data(as_text=True)
    assert "PHQ-9 up from 8 to 15" in html
    audited = set(
        db.session.scalars(
            select(AuditEvent.patient_id).where(
                AuditEvent.data_kind == "huddle",
                AuditEvent.actor_id == world.director.id,
            )
        )
    )
    assert {world.patient.id, world.patient_b.id} <= audited


@pytest.mark.parametrize("role", [Role.ADMIN, Role.PATIENT])
def test_admin_staff_and_patients_get_404(client, login_as, world, role):
    login_as(role)
    assert client.get(huddle_url(world)).status_code == 404
    assert client.get("/staff/huddle").status_code == 404


def test_another_programs_huddle_answers_404(client, login_as, world):
    login_as(Role.THERAPIST)
    response = client.get(huddle_url(world, world.other_program))
    assert response.status_code == 404
    # nothing of that program's huddle; the crisis help every error page ends with
    # may list every program's public on-call line, which is not the huddle's
    page = response.get_data(as_text=True).split('id="help-any-time"', 1)[0]
    assert "Other Program" not in page
    assert client.get("/staff/huddle").headers["Location"].endswith(huddle_url(world))


def _token(client, world) -> str:
    return csrf_from(client.get(huddle_url(world)).get_data(as_text=True))


def _action(world, owner, **values) -> dict:
    return {
        "what": "call about the ride",
        "owner": owner.id,
        "due_on": program_today().isoformat(),
        "due_time": "11:00",
        **values,
    }


def test_a_note_and_an_action_are_kept_with_who_and_when_until_done(
    client, login_as, world, scene
):
    nurse = login_as(Role.NURSE)
    token = _token(client, world)
    base = f"{huddle_url(world)}/patients/{world.patient_b.id}"
    response = client.post(f"{base}/notes", data={"csrf_token": token, "body": NOTE})
    assert response.status_code == 303
    cm = world.staff[Role.CASE_MANAGER]
    response = client.post(
        f"{base}/actions", data={"csrf_token": token, **_action(world, cm)}
    )
    assert response.status_code == 303
    note = db.session.scalar(select(HuddleNote))
    action = db.session.scalar(select(HuddleAction))
    assert (note.author_id, note.patient_id) == (nurse.id, world.patient_b.id)
    assert action.owner_id == cm.id and action.created_by_id == nurse.id
    assert action.due_at.astimezone(NY).strftime("%H:%M") == "11:00"
    kinds = set(
        db.session.scalars(
            select(AuditEvent.data_kind).where(
                AuditEvent.action == "create",
                AuditEvent.patient_id == world.patient_b.id,
            )
        )
    )
    assert {"huddle_note", "huddle_action"} <= kinds
    html = client.get(huddle_url(world)).get_data(as_text=True)
    assert NOTE in html and "call about the ride by 11:00 AM" in html

    # The next day's huddle still shows the action to its owner, not the note.
    client.post("/sign-out", data={"csrf_token": _token(client, world)})
    login_as(Role.CASE_MANAGER)
    html = client.get(huddle_url(world)).get_data(as_text=True)
    assert "call about the ride" in html and NOTE not in html
    done = f"{huddle_url(world)}/actions/{action.id}/done"
    response = client.post(
        done, data={"csrf_token": csrf_from(html)}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "call about the ride" not in response.get_data(as_text=True)
    action = db.session.get(HuddleAction, action.id)
    assert action.done_by_id == cm.id and action.done_at is not None
    assert "call about the ride" not in client.get(huddle_url(world)).get_data(
        as_text=True
    )


def test_a_peer_cannot_close_someone_elses_action_nor_write_notes(
    client, login_as, world, scene
):
    action = HuddleAction(
        program_id=world.program.id,
        patient_id=world.patient.id,
        what="check on the ride",
        owner_id=world.staff[Role.CASE_MANAGER].id,
        due_at=utcnow(),
        created_by_id=world.staff[Role.NURSE].id,
    )
    db.session.add(action)
    db.session.flush()
    login_as(Role.PEER)
    token = _token(client, world)
    done = f"{huddle_url(world)}/actions/{action.id}/done"
    assert client.post(done, data={"csrf_token": token}).status_code == 404
    note = f"{huddle_url(world)}/patients/{world.patient.id}/notes"
    assert client.post(note, data={"csrf_token": token, "body": "x"}).status_code == 404
    assert db.session.scalar(select(func.count(HuddleNote.id))) == 0
    action = db.session.get(HuddleAction, action.id)
    assert action.done_at is None


def test_a_note_or_action_on_a_patient_outside_the_program_saves_nothing(
    client, login_as, world, scene
):
    discharged = new_patient(world, "Gone Home", status="discharged")
    login_as(Role.THERAPIST)
    token = _token(client, world)
    for patient in (world.patient_c, discharged):
        base = f"{huddle_url(world)}/patients/{patient.id}"
        assert (
            client.post(f"{base}/notes", data={"csrf_token": token, "body": NOTE})
        ).status_code == 404
        assert (
            client.post(
                f"{base}/actions",
                data={"csrf_token": token, **_action(world, world.staff[Role.PEER])},
            )
        ).status_code == 404
    other = (
        f"/staff/huddle/{world.other_program.id}/patients/{world.patient_c.id}/notes"
    )
    assert (
        client.post(other, data={"csrf_token": token, "body": NOTE}).status_code == 404
    )
    assert db.session.scalar(select(func.count(HuddleNote.id))) == 0
    assert db.session.scalar(select(func.count(HuddleAction.id))) == 0
    denied = set(
        db.session.scalars(
            select(AuditEvent.data_kind).where(
                AuditEvent.outcome == "denied", AuditEvent.patient_id == discharged.id
            )
        )
    )
    assert denied == {"huddle_note", "huddle_action"}


def test_the_forms_of_a_patient_open_in_their_row_or_as_a_page(
    client, login_as, world, scene
):
    login_as(Role.NURSE)
    board = client.get(huddle_url(world)).get_data(as_text=True)
    url = f"{huddle_url(world)}/patients/{world.patient.id}"
    assert f'href="{url}" data-hx-get="{url}"' in board
    assert 'name="body"' not in board  # no form per row on the board itself
    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Huddle: " + MARKERS["patient"] in html
    assert 'name="body"' in html and 'name="owner"' in html
    fragment = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div class="followup"')
    assert 'name="body"' in fragment
    outside = f"{huddle_url(world)}/patients/{world.patient_c.id}"
    assert client.get(outside).status_code == 404


def test_an_action_with_mistakes_is_sent_back_and_nothing_is_saved(
    client, login_as, world, scene
):
    login_as(Role.THERAPIST)
    token = _token(client, world)
    url = f"{huddle_url(world)}/patients/{world.patient.id}/actions"
    outsider = world.other_admin  # not a care-team member of the program
    bad = _action(world, outsider, due_time="eleven", what="ring the shelter")
    response = client.post(url, data={"csrf_token": token, **bad})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "ring the shelter" in html  # what was typed is kept
    assert "Enter the time it is due by" in html
    assert "Not a valid choice" in html
    response = client.post(
        url, data={"csrf_token": token, **bad}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert f'id="followup-{world.patient.id}"' in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(HuddleAction.id))) == 0


def test_admissions_count_from_the_last_huddle_and_discharges_a_week_ahead(
    client, login_as, world, scene
):
    today = scene["today"]
    new_patient(world, "Came Yesterday", admitted_on=scene["previous"])
    new_patient(world, "Leaving Soon", discharged_on=today + timedelta(days=3))
    new_patient(world, "Leaving Later", discharged_on=today + timedelta(days=20))
    login_as(Role.THERAPIST)
    html = client.get(huddle_url(world)).get_data(as_text=True)
    top = html.split('id="attention-h"')[0]
    assert "Came Yesterday" in top and "Leaving Soon" in top
    assert "Leaving Later" not in top
    assert "No huddle marked held yet" in html
    response = client.post(
        f"{huddle_url(world)}/held", data={"csrf_token": csrf_from(html)}
    )
    assert response.status_code == 303
    assert (
        db.session.scalar(select(Huddle.held_by_id)) == world.staff[Role.THERAPIST].id
    )
    html = client.get(huddle_url(world)).get_data(as_text=True)
    top = html.split('id="attention-h"')[0]
    assert "Last huddle marked held" in html
    assert "Came Yesterday" not in top  # admitted before the huddle just held
    late = new_patient(world, "Came After", admitted_on=today)
    assert late.display_name in client.get(huddle_url(world)).get_data(as_text=True)


def test_census_counts_active_patients_by_track(client, login_as, world, scene):
    f.EnrollmentFactory(
        patient_id=f.UserFactory(display_name="Iop Patient").id,
        program_id=world.program.id,
        track_id=world.iop_track.id,
        level_of_care=world.iop_track.level_of_care,
        admitted_on=date.today() - timedelta(days=3),
    )
    login_as(Role.PEER)
    html = client.get(huddle_url(world)).get_data(as_text=True)
    census = html.split('id="census-h"')[1].split("</table>")[0]
    # A, B and Quiet on PHP Days; one on IOP Mornings.
    assert "PHP Days (PHP)</th><td>3</td>" in census
    assert "IOP Mornings (IOP)</th><td>1</td>" in census
    assert "All tracks</th><td>4</td>" in census
    assert db.session.scalar(select(func.count(Enrollment.id)))


def _grow(world, scene, n: int) -> None:
    """n more patients, each with every reason, a note and an open action."""
    previous = scene["previous"]
    session = session_on(world, previous)
    nurse = world.staff[Role.NURSE]
    for i in range(n):
        patient = new_patient(world, f"Grown {i}")
        open_flag(patient, world.program)
        checkin(patient, previous - timedelta(days=7), feels_safe=False)
        screener(patient, Instrument.GAD7, 2, 9)
        screener(patient, Instrument.GAD7, 12, 1, risk=False)
        attend(patient, session, previous, nurse, AttendanceStatus.LATE)
        make_need(patient, world.program, due_at=_later_today(world))
        db.session.add_all(
            [
                HuddleNote(
                    program_id=world.program.id,
                    patient_id=patient.id,
                    body="note",
                    author_id=nurse.id,
                ),
                HuddleAction(
                    program_id=world.program.id,
                    patient_id=patient.id,
                    what="call",
                    owner_id=world.staff[Role.PEER].id,
                    due_at=utcnow(),
                    created_by_id=nurse.id,
                ),
            ]
        )
    db.session.flush()


@pytest.mark.parametrize("role", [Role.THERAPIST, Role.PEER])
def test_the_huddle_sends_the_same_statements_whatever_the_number_of_patients(
    client, login_as, world, scene, query_counter, role
):
    login_as(role)
    client.get("/account")
    query_counter["n"] = 0
    assert client.get(huddle_url(world)).status_code == 200
    small = query_counter["n"]
    _grow(world, scene, 15)
    query_counter["n"] = 0
    html = client.get(huddle_url(world)).get_data(as_text=True)
    assert query_counter["n"] == small <= 15
    assert html.count('<tr id="p-') == 2 + 15
    if role is Role.THERAPIST:
        assert "GAD-7 up from 2 to 12" in html and "Late to" in html
        assert "Help request due today" in html


# ---- each role's home starts with its part of the huddle -----------------------------


def _later_today(world):
    """A moment still to come today in the program's time zone (half way to its
    midnight): "due today" at any hour the test runs."""
    zone = ZoneInfo(world.program.timezone)
    now = utcnow().astimezone(zone)
    midnight = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=zone)
    return now + (midnight - now) / 2


def _home_part(client) -> str:
    html = client.get("/staff").get_data(as_text=True)
    return html.split('id="home-huddle-h"', 1)[1].split("</section>", 1)[0]


def test_a_clinicians_home_lists_their_own_patients_who_need_attention(
    client, login_as, world, scene
):
    login_as(Role.THERAPIST)
    part = _home_part(client)
    assert MARKERS["patient"] in part and "PHQ-9 up from 8 to 15" in part
    assert MARKERS["patient_b"] not in part  # not on this therapist's team


def test_a_peers_home_lists_their_patients_with_a_safety_alert_and_nothing_clinical(
    client, login_as, world, scene
):
    only_flag = new_patient(world, "Only Flagged")
    checkin(only_flag, scene["today"])
    f.CareTeamFactory(
        patient_id=only_flag.id, staff_id=world.staff[Role.PEER].id, team_role="peer"
    )
    open_flag(only_flag, world.program, FlagStatus.ASSESSED)
    login_as(Role.PEER)
    part = _home_part(client)
    assert "the on-call clinician has been alerted" in part
    assert "Only Flagged</a>:" in part and "a clinician is on it" in part
    for words in (*CLINICAL_WORDS, "8 to 15"):
        assert words not in part, words
    # ... and the huddle shows the patient whose only reason is the alert.
    huddle = client.get(huddle_url(world)).get_data(as_text=True)
    assert "Only Flagged" in "".join(rows_of(huddle))


def test_a_case_managers_home_lists_their_requests_due_today_and_their_actions(
    client, login_as, world, scene
):
    cm = world.staff[Role.CASE_MANAGER]
    make_need(
        world.patient,
        world.program,
        kind=NeedKind.TRANSPORT,
        category=SdohCategory.TRANSPORTATION,
        other_need=None,
        owner_id=cm.id,
        due_at=utcnow() - timedelta(minutes=20),
    )
    make_need(world.patient, world.program, owner_id=cm.id)  # due tomorrow
    db.session.add(
        HuddleAction(
            program_id=world.program.id,
            patient_id=world.patient.id,
            what="call about the ride",
            owner_id=cm.id,
            due_at=utcnow() + timedelta(hours=1),
            created_by_id=world.staff[Role.NURSE].id,
        )
    )
    db.session.flush()
    login_as(Role.CASE_MANAGER)
    part = _home_part(client)
    assert f"{MARKERS['patient']}: ride request</a>, <strong" in part
    assert "overdue since" in part
    assert "help request" not in part  # due tomorrow
    assert f"{MARKERS['patient']}: call about the ride by" in part
    for words in CLINICAL_WORDS:
        assert words not in part, words


@pytest.mark.parametrize("role", [Role.NURSE, Role.PEER])
def test_i_cant_come_today_is_on_the_huddle_without_the_patients_own_words(
    client, login_as, world, scene, role
):
    """The patient told the program this morning; the whole team sees the kind and
    the reason from the list (non-clinical), never the words the patient wrote."""
    told = new_patient(world, "Told Patient")
    group = session_on(world, scene["today"])
    db.session.add(
        SessionNotice(
            patient_id=told.id,
            group_session_id=group.id,
            occurs_on=scene["today"],
            kind=NoticeKind.ABSENT,
            reason=NoticeReason.RIDE,
            note="WORDS-OF-THE-PATIENT",
        )
    )
    db.session.flush()
    login_as(role)
    html = client.get(huddle_url(world)).get_data(as_text=True)
    row = next(r for r in rows_of(html) if "Told Patient" in r)
    assert "I can&#39;t come today" in row or "I can't come today" in row
    assert group.title in row
    assert "WORDS-OF-THE-PATIENT" not in html


def test_a_clinician_of_two_programs_picks_which_huddle_the_home_shows(
    client, login_as, world
):
    """Only the programs they are on the staff of: another one, or something that is
    not an id, answers 404."""
    therapist = world.staff[Role.THERAPIST]
    f.StaffMembershipFactory(user_id=therapist.id, program_id=world.other_program.id)
    login_as(Role.THERAPIST)
    first = client.get("/staff").get_data(as_text=True)
    assert "Your programs" in first
    heading = first.split('id="home-huddle-h">', 1)[1].split("</h2>", 1)[0]
    assert heading.endswith(world.program.name)  # the first by name: "Harbor"
    second = client.get(f"/staff?program={world.other_program.id}")
    heading = second.get_data(as_text=True).split('id="home-huddle-h">', 1)[1]
    assert heading.split("</h2>", 1)[0].endswith(world.other_program.name)
    unknown = f.ProgramFactory(name="Not Theirs")
    assert client.get(f"/staff?program={unknown.id}").status_code == 404
    assert client.get("/staff?program=x'--").status_code == 404


def test_a_clinician_of_one_program_sees_no_program_choice(client, login_as, world):
    login_as(Role.THERAPIST)
    assert "Your programs" not in client.get("/staff").get_data(as_text=True)
