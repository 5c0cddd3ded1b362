"""Daily check-ins and screeners: stored once, scored on the server, errors keep what
was typed, and every risk answer opens one flag per episode that reaches a human."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from portal import db
from portal.blueprints.auth.models import Role
from portal.blueprints.checkins.models import (
    CheckIn,
    OutboundPage,
    RiskFlag,
    RiskFlagEvent,
    RiskSettings,
    ScreenerResponse,
)
from portal.blueprints.notifications.models import Notification
from tests.conftest import csrf_from, post_form

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
