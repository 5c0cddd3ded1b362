"""The alert page a clinician works from: a risk level chosen on purpose, times in the
program's zone, plain words, the answers that raised the alert, the patient's phone
and safety plan, how long it has been open and where it goes next; the menu's count
of open alerts; and for peers and case managers only that an alert is open."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal import db
from portal.blueprints.checkins.instruments import Instrument
from portal.blueprints.checkins.models import CheckIn, Medication, ScreenerResponse
from portal.blueprints.messages import services as messages
from portal.blueprints.programs.context import load_patient_context
from portal.blueprints.programs.models import Enrollment
from portal.blueprints.safety import escalation
from portal.blueprints.safety.models import (
    FlagStatus,
    RiskFlag,
    RiskFlagEvent,
    RiskSettings,
    SafetyPlan,
)
from portal.db import new_id, utcnow
from portal.security import Role
from tests.conftest import post_form, sign_in
from tests.functional.test_statement_budgets import PAGE_BUDGETS

# 15:00 UTC on a Monday in January: 10:00 AM in New York (EST, UTC-5), in the
# program's opening hours (Monday to Friday, 8:00 to 17:00).
JAN_MONDAY_10AM = datetime(2026, 1, 12, 15, 0, tzinfo=UTC)
NOTE = "NOTE-ONLY-FOR-CLINICIANS-5521"


@pytest.fixture
def setup(world):
    """On call: the nurse, then the therapist (backup), the prescriber after hours.
    No app context is pushed around the test: each request has its own `g`, where the
    menu's count is kept."""
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


def _open(world, source: str, source_id: str, patient=None) -> RiskFlag:
    """A flag opened as the first risk answer opens it, at a fixed time in opening
    hours (the escalation clock is the crisis loop's tests' business)."""
    patient = patient or world.patient
    flag = RiskFlag(
        patient_id=patient.id,
        program_id=world.program.id,
        open_key=patient.id,
        source=source,
        source_id=source_id,
        opened_at=JAN_MONDAY_10AM,
    )
    db.session.add(flag)
    db.session.flush()
    db.session.add(RiskFlagEvent(flag_id=flag.id, kind="opened", detail=source))
    escalation.raise_flag(flag, world.program, JAN_MONDAY_10AM)
    db.session.flush()
    return flag


def _again(world, source: str, patient=None) -> None:
    """Another risk answer while the flag is open."""
    escalation.add_positive((patient or world.patient).id, source)


def _checkin(world, safe: bool = False, note: str | None = None) -> CheckIn:
    checkin = CheckIn(
        patient_id=world.patient.id,
        local_date=utcnow().date(),
        mood=3,
        craving=4,
        sleep_hours=Decimal("5.0"),
        medication=Medication.YES,
        feels_safe=safe,
        note=note,
        idempotency_key=new_id(),
    )
    db.session.add(checkin)
    db.session.flush()
    return checkin


def _screener(world, instrument: Instrument, answers: list[int]) -> ScreenerResponse:
    response = ScreenerResponse(
        patient_id=world.patient.id,
        instrument=instrument,
        answers=answers,
        total=sum(answers) if instrument is Instrument.PHQ9 else None,
        severity="Moderate" if instrument is Instrument.PHQ9 else "low",
        risk_positive=True,
        idempotency_key=new_id(),
    )
    db.session.add(response)
    db.session.flush()
    return response


def _page(client, flag: RiskFlag) -> str:
    response = client.get(f"/staff/flags/{flag.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# ---- the assessment ------------------------------------------------------------------


def test_an_untouched_assessment_is_refused_and_nothing_is_saved(
    client, login_as, setup
):
    flag = _open(setup, "checkin", _checkin(setup).id)
    login_as(Role.NURSE)
    url = f"/staff/flags/{flag.id}"
    post_form(client, f"{url}/acknowledge", {}, page=url)
    form = _page(client, flag)
    assert 'type="radio"' in form and "checked" not in form

    refused = post_form(
        client, f"{url}/assess", {"assess-plan": "Call her today"}, page=url
    )

    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert "Choose a risk level: low, moderate or high." in body
    assert "Call her today" in body  # what was typed is kept
    db.session.expire_all()
    flag = db.session.get(RiskFlag, flag.id)
    assert flag.status is FlagStatus.ACKNOWLEDGED and flag.risk_level is None
    assert flag.plan is None
    kinds = db.session.scalars(
        select(RiskFlagEvent.kind).where(RiskFlagEvent.flag_id == flag.id)
    ).all()
    assert "assessed" not in kinds


def test_a_chosen_risk_level_is_saved(client, login_as, setup):
    flag = _open(setup, "checkin", _checkin(setup).id)
    login_as(Role.NURSE)
    url = f"/staff/flags/{flag.id}"
    post_form(client, f"{url}/acknowledge", {}, page=url)
    saved = post_form(
        client,
        f"{url}/assess",
        {"assess-risk_level": "high", "assess-plan": "ER now"},
        page=url,
    )
    assert saved.status_code == 303
    assert db.session.get(RiskFlag, flag.id).risk_level.value == "high"


# ---- times and words -----------------------------------------------------------------


def test_every_time_is_in_the_programs_zone_with_the_zone_named(
    client, login_as, setup
):
    flag = _open(setup, "checkin", _checkin(setup).id)
    db.session.execute(
        RiskFlagEvent.__table__.update()
        .where(RiskFlagEvent.flag_id == flag.id)
        .values(at=JAN_MONDAY_10AM + timedelta(minutes=2))
    )
    db.session.flush()
    login_as(Role.NURSE)

    page = _page(client, flag)

    assert "Mon Jan 12, 10:00 AM EST" in page  # opened
    assert "Mon Jan 12, 10:02 AM EST" in page  # the history
    for utc in ("UTC", "+00:00", "T15:00", "3:00 PM", "3:02 PM"):
        assert utc not in page, utc
    listed = client.get("/staff/flags").get_data(as_text=True)
    assert "Mon Jan 12, 10:00 AM EST" in listed and "UTC" not in listed


def test_sources_channels_and_steps_are_in_plain_words(client, login_as, setup):
    flag = _open(setup, "checkin", _checkin(setup).id)
    _screener(setup, Instrument.PHQ9, [0] * 8 + [1])
    _again(setup, "phq9")
    escalation.escalate_due_flags(flag.next_escalation_at)  # the backup: a call too
    for kind in ("patient_call_me", "patient_safe_now"):
        db.session.add(
            RiskFlagEvent(flag_id=flag.id, kind=kind, actor_id=setup.patient.id)
        )
    db.session.flush()
    login_as(Role.NURSE)

    page = _page(client, flag)

    for words in (
        "Alert opened — Daily check-in: does not feel safe",
        "Another risk answer — PHQ-9 question 9",
        "nurse one alerted — In the app and on their phone",
        "nurse one alerted — Text message",
        "therapist one alerted — Phone call",
        "Moved up to the backup",
        "Asked the team to call",
        "Said they are safe for now",
    ):
        assert words in page, words
    for code in ("app+push", "(checkin)", "(phq9)", "by sms", "level 1", "voice"):
        assert code not in page, code


# ---- what raised it ------------------------------------------------------------------


def test_a_checkin_alert_shows_the_safe_answer_and_the_note(client, login_as, setup):
    checkin = _checkin(setup, note="I gave away my things today")
    flag = _open(setup, "checkin", checkin.id)
    login_as(Role.NURSE)

    page = _page(client, flag)

    assert "Do you feel safe right now? No" in page
    assert "Their note: I gave away my things today" in page


def test_a_screener_alert_shows_the_positive_items_with_their_answer_words(
    client, login_as, setup
):
    phq9 = _screener(setup, Instrument.PHQ9, [0, 1, 0, 0, 0, 0, 0, 0, 2])
    flag = _open(setup, "phq9", phq9.id)
    _screener(setup, Instrument.CSSRS, [1, 1, 0, 0, 0, 0, 0])
    _again(setup, "cssrs")
    login_as(Role.NURSE)

    page = _page(client, flag)

    assert (
        "Thoughts that you would be better off dead or of hurting yourself in some "
        "way: More than half the days"
    ) in page
    assert "Have you wished you were dead" in page
    assert "Have you actually had any thoughts about killing yourself? Yes" in page
    assert "Have you thought about how you might do this?" not in page  # a no
    assert "Feeling down, depressed, or hopeless" not in page  # not a risk item


def test_a_message_alert_shows_the_crisis_words_matched(client, login_as, setup):
    patient = setup.patient
    thread = messages.open_thread(patient.id)
    sent = messages.send_message(
        patient,
        thread,
        "Some days I think everyone is better off without me",
        load_patient_context(patient.id),
    )
    db.session.flush()
    assert sent.crisis_phrases
    flag = db.session.scalar(select(RiskFlag).where(RiskFlag.patient_id == patient.id))
    login_as(Role.THERAPIST)  # on the patient's team: may read the conversation

    page = _page(client, flag)

    assert "Message with crisis words" in page
    assert "Crisis words found: “better off without me”" in page
    assert f"/messages/{thread.id}" in page


def test_the_page_keeps_its_budget_with_every_kind_of_answer_and_escalated(
    client, login_as, setup, query_counter
):
    flag = _open(setup, "checkin", _checkin(setup, note="n").id)
    _screener(setup, Instrument.PHQ9, [0] * 8 + [3])
    _again(setup, "phq9")
    thread = messages.open_thread(setup.patient.id)
    messages.send_message(
        setup.patient, thread, "I want to die", load_patient_context(setup.patient.id)
    )
    db.session.flush()
    flag = db.session.get(RiskFlag, flag.id)
    flag.escalation_level = escalation.DIRECTOR  # the next step reads the directors
    db.session.flush()
    login_as(Role.NURSE)
    client.get("/account")

    query_counter["n"], query_counter["statements"] = 0, []
    page = _page(client, flag)

    assert "I want to die" not in page  # the phrase matched, not the message
    assert "“want to die”" in page and "Their note: n" in page
    assert "PHQ-9 question 9" in page
    budget = PAGE_BUDGETS["safety.flag"][0]
    assert query_counter["n"] <= budget, query_counter["statements"]


# ---- reaching the patient ------------------------------------------------------------


def test_the_patients_mobile_number_is_a_tap_to_call_link(client, login_as, setup):
    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.patient_id == setup.patient.id)
    )
    enrollment.mobile_phone = "+15550100123"
    flag = _open(setup, "checkin", _checkin(setup).id)
    login_as(Role.NURSE)

    page = _page(client, flag)

    assert 'href="tel:+15550100123"' in page
    staff_page = client.get(f"/staff/patients/{setup.patient.id}")
    assert 'href="tel:+15550100123"' in staff_page.get_data(as_text=True)


def test_without_a_number_the_page_says_so(client, login_as, setup):
    flag = _open(setup, "checkin", _checkin(setup).id)
    login_as(Role.NURSE)
    page = _page(client, flag)
    assert "No mobile number on file" in page and 'class="tap" href="tel:' not in page


def test_the_safety_plan_is_shown_with_a_link_to_change_it(client, login_as, setup):
    db.session.add(
        SafetyPlan(
            patient_id=setup.patient.id,
            sections={"reasons": "My daughter Mia", "help_people": "Sam 555-0104"},
        )
    )
    flag = _open(setup, "checkin", _checkin(setup).id)
    login_as(Role.NURSE)

    page = _page(client, flag)

    assert "My daughter Mia" in page and "Sam 555-0104" in page
    assert f"/staff/patients/{setup.patient.id}/safety-plan" in page


# ---- how long and what next ----------------------------------------------------------


def test_how_long_it_is_open_and_when_and_to_whom_it_moves_next(
    client, login_as, setup
):
    flag = _open(setup, "checkin", _checkin(setup).id)
    flag.opened_at = utcnow() - timedelta(minutes=80, seconds=5)
    db.session.flush()
    login_as(Role.NURSE)

    page = _page(client, flag)

    assert "Open for 1 h 20 min" in page
    # Told the on-call nurse at 10:00 AM; not taken by 10:15 AM, it goes to the backup.
    assert re.search(
        r"Next escalation: <time[^>]*>Mon Jan 12, 10:15 AM EST</time> \(due now\) "
        r"to the backup "
        r"\(therapist one\)",
        page,
    ), page
    url = f"/staff/flags/{flag.id}"
    post_form(client, f"{url}/acknowledge", {}, page=url)
    assert "Not escalating (acknowledged)" in _page(client, flag)


# ---- the menu ------------------------------------------------------------------------


def _menu_count(html: str) -> str | None:
    found = re.search(r'>Alerts <span class="nav-count">([^<]+)<', html)
    return found.group(1) if found else None


def test_the_staff_menu_counts_the_open_alerts_each_clinician_may_handle(
    client, login_as, setup
):
    _open(setup, "checkin", _checkin(setup).id)
    closed = _open(setup, "phq9", "not saved", patient=setup.patient_b)
    closed.status, closed.open_key = FlagStatus.RESOLVED, None
    db.session.flush()
    _open(setup, "checkin", "not saved", patient=setup.patient_b)

    login_as(Role.NURSE)  # on call: both open alerts of the program
    assert _menu_count(client.get("/staff").get_data(as_text=True)) == "2"
    assert _menu_count(client.get("/account").get_data(as_text=True)) == "2"

    sign_in(client, setup.other_therapist)  # not paged; patient B's therapist only
    assert _menu_count(client.get("/staff").get_data(as_text=True)) == "1"


def test_the_menu_shows_no_count_without_open_alerts(client, login_as, setup):
    login_as(Role.NURSE)
    html = client.get("/staff").get_data(as_text=True)
    assert ">Alerts</a>" in html and _menu_count(html) is None
