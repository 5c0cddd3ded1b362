"""The check-in and screener answers behind a risk flag, for the alert page (safety
reads them through its registry: it sits below check-ins)."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import and_, or_, select

from portal import db
from portal.blueprints.checkins.instruments import (
    CSSRS_RECENT_QUESTION,
    QUESTIONNAIRES,
    Instrument,
)
from portal.blueprints.checkins.models import CheckIn, ScreenerResponse
from portal.blueprints.safety.answers import (
    SOURCE_WORDS,
    AnswerWindow,
    RiskAnswer,
    reads_answers,
)

MOST = 20  # answers of one kind shown on one alert


@reads_answers("checkin")
def checkin_answers(window: AnswerWindow) -> list[RiskAnswer]:
    """The check-in that opened the flag and any "not safe" check-in since."""
    rows = db.session.scalars(
        select(CheckIn)
        .where(
            CheckIn.patient_id == window.patient_id,
            or_(
                CheckIn.id == window.first_id,
                and_(
                    CheckIn.feels_safe.is_(False),
                    CheckIn.updated_at.between(window.since, window.until),
                ),
            ),
        )
        .order_by(CheckIn.updated_at.desc())
        .limit(MOST)
    )
    return [_checkin(row) for row in rows]


def _checkin(row: CheckIn) -> RiskAnswer:
    safe = "Yes (changed by the patient after the alert opened)"
    return RiskAnswer(
        row.updated_at,
        SOURCE_WORDS["checkin"],
        (
            f"Do you feel safe right now? {safe if row.feels_safe else 'No'}",
            f"Their note: {row.note}" if row.note else "No note.",
        ),
        url_for("checkins.staff_trends", patient_id=row.patient_id),
        "Check-ins and scores",
    )


@reads_answers(Instrument.PHQ9.value, Instrument.CSSRS.value)
def screener_answers(window: AnswerWindow) -> list[RiskAnswer]:
    """The screener that opened the flag and any risk-positive screener since."""
    rows = db.session.scalars(
        select(ScreenerResponse)
        .where(
            ScreenerResponse.patient_id == window.patient_id,
            or_(
                ScreenerResponse.id == window.first_id,
                and_(
                    ScreenerResponse.risk_positive.is_(True),
                    ScreenerResponse.completed_at.between(window.since, window.until),
                ),
            ),
        )
        .order_by(ScreenerResponse.completed_at.desc())
        .limit(MOST)
    )
    return [_screener(row) for row in rows]


def _screener(row: ScreenerResponse) -> RiskAnswer:
    questionnaire = QUESTIONNAIRES[row.instrument]
    words = {answer.value: answer.text for answer in questionnaire.answers}
    if row.instrument is Instrument.PHQ9:
        item = questionnaire.items[8]
        lines = (
            f"{item.text}: {words.get(row.answers[8], 'no answer')}",
            f"PHQ-9 total {row.total} ({row.severity.lower()})",
        )
    else:
        lines = tuple(
            f"{item.text} {words[1]}"
            for item, value in zip(questionnaire.items, row.answers, strict=False)
            if value == 1
        )
        if len(row.answers) > len(questionnaire.items) and row.answers[-1] == 1:
            lines += (f"{CSSRS_RECENT_QUESTION} {words[1]}",)
        lines += (f"Screener risk: {row.severity}",)
    return RiskAnswer(
        row.completed_at,
        SOURCE_WORDS[row.instrument.value],
        lines,
        url_for("checkins.staff_trends", patient_id=row.patient_id),
        "Check-ins and scores",
    )
