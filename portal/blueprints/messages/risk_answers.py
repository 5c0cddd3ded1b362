"""The patient's messages behind a risk flag, for the alert page: the crisis phrases
each matched (safety reads them through its registry: it sits below messages)."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import and_, or_, select

from portal import db
from portal.blueprints.messages.models import FlagReason, Message, ThreadFlag
from portal.blueprints.safety.answers import (
    SOURCE_WORDS,
    AnswerWindow,
    RiskAnswer,
    reads_answers,
)

MOST = 20  # messages shown on one alert


@reads_answers("message")
def message_answers(window: AnswerWindow) -> list[RiskAnswer]:
    """The message that opened the flag and any message with crisis words since; the
    crisis-language flag on the thread marks each (the message text is not shown)."""
    rows = db.session.execute(
        select(Message.created_at, Message.crisis_phrases, Message.thread_id)
        .join(ThreadFlag, ThreadFlag.message_id == Message.id)
        .where(
            ThreadFlag.patient_id == window.patient_id,
            ThreadFlag.reason == FlagReason.CRISIS_LANGUAGE,
            or_(
                Message.id == window.first_id,
                and_(
                    Message.author_id == window.patient_id,
                    Message.created_at.between(window.since, window.until),
                ),
            ),
        )
        .order_by(Message.created_at.desc())
        .limit(MOST)
    )
    return [
        RiskAnswer(
            created_at,
            SOURCE_WORDS["message"],
            ("Crisis words found: " + ", ".join(f"“{p}”" for p in phrases or ()),),
            url_for("messages.thread", thread_id=thread_id),
            "Read the conversation",
        )
        for created_at, phrases, thread_id in rows
    ]
