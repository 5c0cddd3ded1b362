"""Daily check-ins and screeners: stored once, scored on the server, errors keep what
was typed, and every risk answer opens one flag per episode that reaches a human."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import bindparam, delete, func, select, text, update

from portal import db
from portal.audit import AuditEvent
from portal.blueprints.checkins import services
from portal.blueprints.checkins.instruments import Instrument
from portal.blueprints.checkins.models import (
    CheckIn,
    CheckInSubmission,
    Medication,
    ScreenerResponse,
)
from portal.blueprints.notifications.models import Notification
from portal.blueprints.safety import escalation
from portal.blueprints.safety.models import (
    OutboundPage,
    RiskFlag,
    RiskFlagEvent,
    RiskSettings,
    SafetyPlan,
)
from portal.security import Role
from tests.conftest import csrf_from, post_form, program_today, sign_in

ALWAYS_OPEN = {str(day): ["00:00", "23:59"] for day in range(7)}


@pytest.fixture
def risk_world(world):
    world.program.opening_hours = ALWAYS_OPEN
    db.session.add(
        RiskSettings(
            program_id=world.program.id,
            on_call_id=world.staff[Role.NURSE].id,
            backup_id=world.staff[Role.THERAPIST].id,
            after_hours_id=world.staff[Role.PRESCRIBER].id,
        )
    )
    db.session.flush()
    return world


def checkin_data(**changes) -> dict:
    data = {
        "mood": "6",
        "craving": "2",
        "sleep_hours": "7.5",
        "medication": "yes",
        "feels_safe": "yes",
        "note": "",
        "idempotency_key": str(uuid.uuid4()),
    }
    data.update(changes)
    return data


def _count(model, **where) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return db.session.scalar(query)


def test_checkin_is_saved_and_can_be_changed_the_same_day(client, login_as, risk_world):
    patient = login_as(Role.PATIENT)
    assert "Thank you" in post_form(client, "/check-in", checkin_data()).get_data(True)
    post_form(client, "/check-in", checkin_data(mood="3"))
    rows = db.session.scalars(
        select(CheckIn).where(CheckIn.patient_id == patient.id)
    ).all()
    assert len(rows) == 1 and rows[0].mood == 3
    assert "check-in for today is done" in client.get("/").get_data(as_text=True)


def test_the_same_checkin_sent_twice_is_stored_once(client, login_as, risk_world):
    login_as(Role.PATIENT)
    data = checkin_data(feels_safe="no")
    first = post_form(client, "/check-in", data)
    again = post_form(client, "/check-in", data)
    assert first.status_code == again.status_code == 200
    assert _count(CheckIn) == 1
    flag = db.session.scalars(select(RiskFlag)).one()
    assert flag.positives == 1  # a resend is not a second positive


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mood": "11"}, "Choose a number for your mood"),
        ({"mood": ""}, "Choose a number for your mood"),
        ({"sleep_hours": "30"}, "from 0 to 24"),
        ({"sleep_hours": "lots"}, "Write how many hours"),
        ({"sleep_hours": "sNaN"}, "Write how many hours"),
        ({"sleep_hours": "NaN"}, "Write how many hours"),
        ({"sleep_hours": "Infinity"}, "Write how many hours"),
        ({"feels_safe": ""}, "Tell us if you feel safe"),
        ({"note": "x" * 1001}, "under 1000"),
    ],
)
def test_bad_answers_get_a_clear_error_and_keep_what_was_typed(
    client, login_as, risk_world, changes, message
):
    login_as(Role.PATIENT)
    data = checkin_data(**({"note": "my typed note"} | changes))
    response = post_form(client, "/check-in", data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and message in html
    if "note" not in changes:
        assert "my typed note" in html
    assert 'value="2" checked' in html  # craving stays chosen
    assert _count(CheckIn) == 0


def test_checkin_page_carries_crisis_help_ready_before_any_server_answer(
    client, login_as, risk_world
):
    login_as(Role.PATIENT)
    html = client.get("/check-in").get_data(as_text=True)
    assert 'class="risk-answer"' in html and 'id="crisis-panel"' in html
    panel = html[html.index('id="crisis-panel"') :]
    for needed in (
        'href="tel:988"',
        'href="sms:988"',
        'href="tel:911"',
        "988lifeline.org",
        risk_world.program.on_call_phone,
        "not watched around the clock",
    ):
        assert needed in panel


def test_unsafe_checkin_opens_a_flag_told_by_app_push_and_sms(
    client, login_as, risk_world
):
    patient = login_as(Role.PATIENT)
    response = post_form(client, "/check-in", checkin_data(feels_safe="no"))
    html = response.get_data(as_text=True)
    assert "crisis-panel is-shown" in html and "told your care team" in html
    flag = db.session.scalars(select(RiskFlag)).one()
    nurse = risk_world.staff[Role.NURSE]
    assert flag.patient_id == patient.id and flag.source == "checkin"
    assert _count(Notification, recipient_id=nurse.id) == 1
    assert _count(OutboundPage, recipient_id=nurse.id, channel="sms") == 1
    told = db.session.scalars(
        select(RiskFlagEvent.channel).where(RiskFlagEvent.kind == "told")
    ).all()
    assert set(told) == {"app+push", "sms"}


def test_raw_http_positive_checkin_without_javascript_fields_still_opens_the_flag(
    client, login_as, risk_world
):
    login_as(Role.PATIENT)
    page = client.get("/check-in").get_data(as_text=True)
    response = client.post(
        "/check-in",
        data={
            "csrf_token": csrf_from(page),
            "mood": "1",
            "craving": "9",
            "sleep_hours": "2",
            "medication": "no",
            "feels_safe": "no",
        },
    )
    assert response.status_code == 200
    assert _count(RiskFlag) == 1


PHQ9_SAFE = ["1", "2", "1", "0", "3", "1", "0", "2", "0"]


def _screener(client, slug, answers, **extra):
    data = {
        f"q{n}": value for n, value in enumerate(answers, start=1) if value is not None
    }
    data["idempotency_key"] = str(uuid.uuid4())
    data.update(extra)
    return post_form(client, f"/questions/{slug}", data)


@pytest.mark.parametrize(
    ("slug", "answers", "flagged"),
    [
        ("a", PHQ9_SAFE, False),
        ("a", [*PHQ9_SAFE[:8], "1"], True),
        ("a", [*PHQ9_SAFE[:8], "2"], True),
        ("a", [*PHQ9_SAFE[:8], "3"], True),
        ("b", ["3"] * 7, False),  # GAD-7 has no risk item
        ("c", ["0", "0", None, None, None, "0"], False),
        ("c", ["1", "0", None, None, None, "0"], True),
        ("c", ["0", "1", "0", "0", "0", "0"], True),
        ("c", ["0", "1", "1", "0", "0", "0"], True),
        ("c", ["0", "1", "0", "1", "0", "0"], True),
        ("c", ["0", "1", "0", "0", "1", "0"], True),
        ("c", ["0", "0", None, None, None, "1"], True),
    ],
)
def test_every_risk_combination_opens_a_flag_exactly_when_it_should(
    client, login_as, risk_world, slug, answers, flagged
):
    login_as(Role.PATIENT)
    response = _screener(client, slug, answers)
    assert response.status_code == 200, response.get_data(as_text=True)[-800:]
    assert _count(RiskFlag) == (1 if flagged else 0)
    assert ("crisis-panel is-shown" in response.get_data(as_text=True)) is flagged


def test_phq9_is_scored_on_the_server_with_its_band(client, login_as, risk_world):
    login_as(Role.PATIENT)
    html = _screener(client, "a", PHQ9_SAFE).get_data(as_text=True)
    assert "<strong>10</strong> of 27 (moderate)" in html
    response = db.session.scalars(select(ScreenerResponse)).one()
    assert response.total == 10 and response.severity == "Moderate"
    assert response.answers == [int(a) for a in PHQ9_SAFE]


def test_cssrs_risk_level_follows_the_screener_triage(client, login_as, risk_world):
    login_as(Role.PATIENT)
    _screener(client, "c", ["1", "1", "1", "0", "0", "1"], recent="0")
    assert db.session.scalars(select(ScreenerResponse)).one().severity == "moderate"


def test_a_missing_screener_answer_keeps_the_others(client, login_as, risk_world):
    login_as(Role.PATIENT)
    response = _screener(client, "a", [*PHQ9_SAFE[:4], None, *PHQ9_SAFE[5:]])
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "Question 5 needs an answer" in html
    assert re.search(r'name="q5"[^>]*value="3"(?! checked)', html)
    assert 'name="q4" value="0" checked' in html
    assert _count(ScreenerResponse) == 0


def test_one_episode_per_patient_however_many_positives(client, login_as, risk_world):
    login_as(Role.PATIENT)
    post_form(client, "/check-in", checkin_data(feels_safe="no"))
    _screener(client, "a", [*PHQ9_SAFE[:8], "2"])
    _screener(client, "c", ["1", "1", "0", "0", "0", "0"])
    flag = db.session.scalars(select(RiskFlag)).one()
    assert flag.positives == 3


def test_screeners_due_at_admission_then_weekly(client, login_as, risk_world):
    login_as(Role.PATIENT)
    today = client.get("/").get_data(as_text=True)
    assert (
        "Answer the mood questions" in today and "Answer the worry questions" in today
    )
    _screener(client, "a", PHQ9_SAFE)
    today = client.get("/").get_data(as_text=True)
    assert "Answer the mood questions" not in today
    assert "Answer the worry questions" in today


def test_an_incomplete_checkin_with_a_risk_answer_still_opens_the_flag(
    client, login_as, risk_world
):
    login_as(Role.PATIENT)
    response = post_form(client, "/check-in", checkin_data(feels_safe="no", mood=""))
    assert response.status_code == 422
    assert _count(CheckIn) == 0  # the answers were not valid, so not stored ...
    assert _count(RiskFlag) == 1  # ... but the risk answer reaches a person


def test_a_cssrs_yes_after_a_no_to_question_2_is_kept(client, login_as, risk_world):
    login_as(Role.PATIENT)
    _screener(client, "c", ["0", "0", "1", None, None, "0"])
    assert _count(RiskFlag) == 1
    assert db.session.scalars(select(ScreenerResponse)).one().answers[2] == 1


# ---- what a check-in costs: statements per request, whatever the history -----------


def _history(patient, days_ago: range) -> None:
    """A check-in on each of these earlier days, and a PHQ-9 every seventh."""
    for n in days_ago:
        db.session.add(
            CheckIn(
                patient_id=patient.id,
                local_date=program_today() - timedelta(days=n),
                mood=5,
                craving=1,
                sleep_hours=Decimal("7"),
                medication=Medication.YES,
                feels_safe=True,
                idempotency_key=str(uuid.uuid4()),
            )
        )
        if n % 7 == 0:
            db.session.add(
                ScreenerResponse(
                    patient_id=patient.id,
                    instrument=Instrument.PHQ9,
                    answers=[1] * 8 + [0],
                    total=8,
                    severity="Mild",
                    idempotency_key=str(uuid.uuid4()),
                )
            )
    db.session.flush()


def _statements_of_a_post(client, counter, **changes) -> list[str]:
    page = client.get("/check-in").get_data(as_text=True)  # warm: last seen, CSRF
    counter["n"], counter["statements"][:] = 0, []
    response = client.post(
        "/check-in", data={"csrf_token": csrf_from(page), **checkin_data(**changes)}
    )
    assert response.status_code == 200 and "Thank you" in response.get_data(True)
    return list(counter["statements"])


def _costs(client, counter) -> dict[str, int]:
    """Statements of each kind of post, in the order a day may bring them."""
    return {
        kind: len(_statements_of_a_post(client, counter, **changes))
        for kind, changes in (
            ("safe, first of the day", {}),
            ("safe, an edit", {"mood": "2"}),
            ("risk, opens the flag", {"feels_safe": "no"}),
            ("risk, flag already open", {"feels_safe": "no"}),
        )
    }


def _start_the_day_again(patient) -> None:
    """No check-in today and no open flag, as before the first post."""
    db.session.execute(
        delete(CheckIn).where(
            CheckIn.patient_id == patient.id, CheckIn.local_date == program_today()
        )
    )
    db.session.execute(
        update(RiskFlag).where(RiskFlag.open_key == patient.id).values(open_key=None)
    )
    db.session.expire_all()


def test_a_checkin_post_costs_the_same_few_statements_with_a_long_history(
    client, login_as, risk_world, query_counter
):
    patient = login_as(Role.PATIENT)
    _history(patient, range(1, 2))
    short = _costs(client, query_counter)
    _start_the_day_again(patient)
    _history(patient, range(2, 121))
    long = _costs(client, query_counter)
    assert short == long, query_counter["statements"]
    # The session, the patient's context, the sending stored under the key, the
    # upsert, the key recorded as used, the audit row and the header's counts. A risk
    # answer with the flag open adds the safety plan, the UPDATE that counts the
    # positive, its event and its audit row.
    assert long["safe, first of the day"] <= 8, long
    assert long["safe, an edit"] <= 8, long
    assert long["risk, flag already open"] <= 12, long


def test_a_safe_post_reads_no_safety_plan_and_no_count_of_its_own(
    client, login_as, risk_world, query_counter
):
    login_as(Role.PATIENT)
    statements = " ".join(_statements_of_a_post(client, query_counter)).lower()
    assert "safety_plans" not in statements
    assert statements.count("from notifications") == 1  # inside the one read


def test_the_checkin_page_stays_within_budget_with_a_long_history(
    client, login_as, risk_world, query_counter
):
    patient = login_as(Role.PATIENT)
    _history(patient, range(0, 120))
    client.get("/check-in")
    query_counter["n"] = 0
    html = client.get("/check-in").get_data(as_text=True)
    assert "You checked in today" in html
    assert query_counter["n"] <= 8, query_counter["statements"]


# ---- exactly once, and a human told, on the cheaper path -----------------------------


def _state_and_data(patient, feels_safe: bool = True):
    state = services.load_checkin_state(patient.id, key=str(uuid.uuid4()))
    data = services.CheckInData(6, 2, Decimal("7.5"), Medication.YES, feels_safe, None)
    return state, data


def test_a_resend_that_raced_its_first_sending_is_stored_once(app_ctx, risk_world):
    patient = risk_world.patient
    state, data = _state_and_data(patient, feels_safe=False)
    first = services.save_checkin(patient, state, data, "k-raced-0001")
    # the second read the state before the first was stored: its key looked new
    again = services.save_checkin(patient, state, data, "k-raced-0001")
    assert (first.outcome, again.outcome) == ("created", "duplicate")
    assert again.risk  # crisis help is shown again, the team is not told twice
    assert _count(CheckIn) == 1
    assert db.session.scalars(select(RiskFlag)).one().positives == 1
    assert _count(AuditEvent, data_kind="checkin", patient_id=patient.id) == 1


def test_a_key_stored_for_another_patient_is_refused(app_ctx, risk_world):
    state, data = _state_and_data(risk_world.patient)
    services.save_checkin(risk_world.patient, state, data, "k-someone-0001")
    other = services.load_checkin_state(risk_world.patient_b.id, key="k-someone-0001")
    with pytest.raises(ValueError, match="someone else"):
        services.save_checkin(risk_world.patient_b, other, data, "k-someone-0001")
    assert _count(CheckIn) == 1


def test_another_positive_reaches_whoever_took_the_flag(client, login_as, risk_world):
    login_as(Role.PATIENT)
    post_form(client, "/check-in", checkin_data(feels_safe="no"))
    flag = db.session.scalars(select(RiskFlag)).one()
    therapist = risk_world.staff[Role.THERAPIST]
    escalation.acknowledge_flag(therapist, flag)
    db.session.flush()
    post_form(client, "/check-in", checkin_data(feels_safe="no"))
    db.session.expire_all()
    flag = db.session.get(RiskFlag, flag.id)
    assert flag.positives == 2
    assert _count(Notification, recipient_id=therapist.id) == 1
    assert _count(OutboundPage, recipient_id=therapist.id, channel="sms") == 1
    kinds = db.session.scalars(
        select(RiskFlagEvent.kind).where(RiskFlagEvent.flag_id == flag.id)
    ).all()
    assert kinds.count("positive_again") == 1
    assert _count(AuditEvent, data_kind="risk_flag", object_id=flag.id) >= 2


def test_a_resent_risk_checkin_shows_crisis_help_with_the_safety_plan(
    client, login_as, risk_world
):
    patient = login_as(Role.PATIENT)
    db.session.add(SafetyPlan(patient_id=patient.id, sections={"coping": "Walk"}))
    db.session.flush()
    data = checkin_data(feels_safe="no")
    post_form(client, "/check-in", data)
    again = post_form(client, "/check-in", data | {"feels_safe": "yes"})
    html = again.get_data(as_text=True)
    assert "crisis-panel is-shown" in html and "Walk" in html
    assert _count(CheckIn, feels_safe=False) == 1  # the first answer stands


def test_a_safe_checkin_page_after_saving_has_no_crisis_panel(
    client, login_as, risk_world
):
    login_as(Role.PATIENT)
    html = post_form(client, "/check-in", checkin_data()).get_data(as_text=True)
    assert "Thank you" in html and 'id="crisis-panel"' not in html


# ---- every key sent is kept, not only the day's last ---------------------------------


def _todays_checkin(patient) -> CheckIn:
    db.session.expire_all()
    return db.session.scalars(
        select(CheckIn).where(
            CheckIn.patient_id == patient.id, CheckIn.local_date == program_today()
        )
    ).one()


def _checkin_audits(patient) -> list[str]:
    return db.session.scalars(
        select(AuditEvent.action).where(
            AuditEvent.patient_id == patient.id,
            AuditEvent.data_kind == "checkin",
            AuditEvent.action != "read",  # the form pages' reads
        )
    ).all()


def test_a_late_resend_of_an_earlier_key_does_not_undo_a_later_edit(
    client, login_as, risk_world, query_counter
):
    patient = login_as(Role.PATIENT)
    sent_offline = checkin_data(mood="2", feels_safe="no", note="before the edit")
    post_form(client, "/check-in", sent_offline)
    post_form(client, "/check-in", checkin_data(mood="8", note="after the edit"))
    page = client.get("/check-in").get_data(as_text=True)
    query_counter["n"], query_counter["statements"][:] = 0, []
    # The phone's queue sends its copy of the first check-in once more, late.
    again = client.post(
        "/check-in", data={"csrf_token": csrf_from(page), **sent_offline}
    )
    html = again.get_data(as_text=True)
    assert again.status_code == 200 and "Thank you" in html
    assert "crisis-panel is-shown" in html  # that sending's own answer was a risk
    # Nothing written, not even an audit row.
    written = [
        statement
        for statement in query_counter["statements"]
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert written == [], written
    todays = _todays_checkin(patient)
    assert (todays.mood, todays.note, todays.feels_safe) == (8, "after the edit", True)
    assert _checkin_audits(patient) == ["create", "update"]
    assert db.session.scalars(select(RiskFlag)).one().positives == 1
    assert _count(CheckInSubmission, patient_id=patient.id) == 2


def test_a_late_resend_of_a_safe_key_shows_no_crisis_help_after_a_risk_edit(
    client, login_as, risk_world
):
    patient = login_as(Role.PATIENT)
    sent_offline = checkin_data()
    post_form(client, "/check-in", sent_offline)
    post_form(client, "/check-in", checkin_data(feels_safe="no"))
    html = post_form(client, "/check-in", sent_offline).get_data(as_text=True)
    assert "Thank you" in html and 'id="crisis-panel"' not in html
    assert _todays_checkin(patient).feels_safe is False
    assert db.session.scalars(select(RiskFlag)).one().positives == 1


def test_a_resend_after_midnight_of_yesterdays_key_stays_yesterdays(
    client, login_as, risk_world
):
    patient = login_as(Role.PATIENT)
    yesterday = program_today() - timedelta(days=1)
    sent = checkin_data(mood="4", note="last night")
    post_form(client, "/check-in", sent)
    # as if that post had arrived yesterday evening
    for model in (CheckIn, CheckInSubmission):
        db.session.execute(
            update(model)
            .where(model.patient_id == patient.id)
            .values(local_date=yesterday)
        )
    db.session.expire_all()
    audits = _checkin_audits(patient)
    response = post_form(client, "/check-in", sent)  # after midnight, from the queue
    assert response.status_code == 200 and "Thank you" in response.get_data(True)
    db.session.expire_all()
    kept = db.session.scalars(select(CheckIn)).one()
    assert (kept.local_date, kept.mood, kept.note) == (yesterday, 4, "last night")
    assert _checkin_audits(patient) == audits
    assert "check-in for today is done" not in client.get("/").get_data(as_text=True)


def test_another_patients_key_reveals_and_changes_nothing_of_theirs(
    app_ctx, risk_world
):
    state, data = _state_and_data(risk_world.patient, feels_safe=False)
    services.save_checkin(risk_world.patient, state, data, "k-theirs-0001")
    mine = services.load_checkin_state(
        risk_world.patient_b.id, key="k-theirs-0001", page=True
    )
    assert mine.todays is None  # the read under their key brings none of theirs
    safe = services.CheckInData(9, 0, Decimal("8"), Medication.YES, True, "mine")
    with pytest.raises(ValueError, match="someone else"):
        services.save_checkin(risk_world.patient_b, mine, safe, "k-theirs-0001")
    theirs = db.session.scalars(select(CheckIn)).one()
    assert (theirs.patient_id, theirs.mood, theirs.feels_safe) == (
        risk_world.patient.id,
        6,
        False,
    )
    assert _count(CheckInSubmission) == 1


def test_the_migration_records_each_stored_checkins_key_as_used():
    """Check-ins stored before the keys' table have their current key recorded."""
    from portal.db import UTCDateTime, make_engine, utcnow
    from portal.migrate import downgrade, upgrade
    from tests.conftest import _make_database_url

    url, drop = _make_database_url()
    engine = make_engine(url)
    try:
        upgrade(url, "0006")
        at = bindparam("at", utcnow(), type_=UTCDateTime())
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, email, display_name, role, totp_enabled,"
                    " is_active, created_at) VALUES ('u1', 'u1@example.test', 'U',"
                    " 'patient', false, true, :at)"
                ).bindparams(at)
            )
            connection.execute(
                text(
                    "INSERT INTO checkins (id, patient_id, local_date, mood, craving,"
                    " sleep_hours, medication, feels_safe, idempotency_key,"
                    " updated_at, created_at) VALUES ('c1', 'u1', '2026-11-20', 3, 1,"
                    " 7, 'yes', false, 'k-before', :at, :at)"
                ).bindparams(at)
            )
        upgrade(url)
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT idempotency_key, patient_id, checkin_id, local_date,"
                    " feels_safe FROM checkin_submissions"
                )
            ).all()
        assert [(*map(str, row[:4]), bool(row[4])) for row in rows] == [
            ("k-before", "u1", "c1", "2026-11-20", False)
        ]
        downgrade(url, "0006")  # the check-ins keep their key
    finally:
        engine.dispose()
        drop()


def test_a_risk_answer_sent_with_another_patients_key_still_reaches_a_human(
    client, app, login_as, risk_world
):
    """A forged or clashing key: nothing is saved, nothing of the key's owner shows,
    the patient is told plainly (409) with crisis help, and the flag opens anyway."""
    login_as(Role.PATIENT)
    key = str(uuid.uuid4())
    first = post_form(
        client, "/check-in", checkin_data(idempotency_key=key, note="ALPHA-NOTE-77")
    )
    assert first.status_code == 200
    other = app.test_client()
    sign_in(other, risk_world.patient_b)
    response = post_form(
        other, "/check-in", checkin_data(idempotency_key=key, feels_safe="no")
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Not saved" in body and 'id="crisis-panel"' in body and "tel:988" in body
    assert "ALPHA-NOTE-77" not in body
    assert _count(CheckIn, patient_id=risk_world.patient_b.id) == 0
    flag = db.session.scalars(
        select(RiskFlag).where(RiskFlag.patient_id == risk_world.patient_b.id)
    ).one()
    assert flag.positives == 1
    assert _count(RiskFlag, patient_id=risk_world.patient.id) == 0
    denied = _count(
        AuditEvent,
        data_kind="checkin",
        outcome="denied",
        patient_id=risk_world.patient_b.id,
    )
    assert denied == 1
