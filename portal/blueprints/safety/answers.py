"""What raised a risk flag, in plain words. The answers live with the features above
safety (check-ins, screeners, messages); each registers a reader here when the app is
made, so the alert page shows them without importing a layer above its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from portal.blueprints.safety.models import RiskFlag

NOT_SAVED = "not saved"  # the source id of a risk answer whose form was not stored


@dataclass(frozen=True)
class RiskAnswer:
    """One answer that raised (or was added to) the flag."""

    at: datetime
    title: str
    lines: tuple[str, ...] = ()
    link: str | None = None  # shown to the patient's circle only
    link_text: str | None = None


@dataclass(frozen=True)
class AnswerWindow:
    """What a reader looks for: the answer that opened the flag (`first_id`), and the
    patient's risk answers from `since` to `until`, which were added to it."""

    patient_id: str
    first_id: str
    since: datetime
    until: datetime


Reader = Callable[[AnswerWindow], list[RiskAnswer]]
_READERS: dict[str, Reader] = {}


def reads_answers(*sources: str) -> Callable[[Reader], Reader]:
    """Register a reader for these flag sources (one statement per reader)."""

    def register(reader: Reader) -> Reader:
        for source in sources:
            _READERS[source] = reader
        return reader

    return register


def risk_answers(flag: RiskFlag, sources: set[str], now: datetime) -> list[RiskAnswer]:
    """The answers behind the flag, oldest first: one statement per kind of source
    present (check-ins, screeners, messages), whatever the number of answers."""
    window = AnswerWindow(
        flag.patient_id, flag.source_id, flag.opened_at, flag.resolved_at or now
    )
    readers = dict.fromkeys(_READERS[s] for s in sorted(sources) if s in _READERS)
    found = [a for reader in readers for a in reader(window)]
    if flag.source_id == NOT_SAVED:
        found.append(
            RiskAnswer(
                flag.opened_at,
                SOURCE_WORDS.get(flag.source, flag.source),
                (
                    "The patient chose a risk answer, but the form had a mistake or "
                    "was sent twice, so the other answers were not saved.",
                ),
            )
        )
    return sorted(found, key=lambda answer: answer.at)


SOURCE_WORDS = {
    "checkin": "Daily check-in: does not feel safe",
    "phq9": "PHQ-9 question 9",
    "cssrs": "C-SSRS screener",
    "message": "Message with crisis words",
}
