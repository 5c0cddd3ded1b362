"""What each kind of notification says, to whom, and how a push service treats it.

The words are the same in the app and on a lock screen, and they are generic on
purpose: never who, what or why, and nothing that tells an onlooker the person is in
treatment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from portal.blueprints.notifications.models import NotificationKind as Kind

PATIENTS, STAFF = "patients", "staff"


@dataclass(frozen=True)
class KindInfo:
    text: str  # the whole message, in the app and in the push
    label: str  # the setting's name on the preferences page
    audiences: frozenset[str]
    ttl: timedelta  # how long a push service keeps it for an offline device
    urgency: str  # RFC 8030: very-low, low, normal, high
    always_on: bool = False  # cannot be turned off, and ignores quiet hours


KINDS: dict[Kind, KindInfo] = {
    Kind.NEW_MESSAGE: KindInfo(
        "You have a new message",
        "New messages",
        frozenset({PATIENTS, STAFF}),
        timedelta(days=1),
        "normal",
    ),
    Kind.NEED_UPDATE: KindInfo(
        "There is an update on your request",
        "Updates on requests for help",
        frozenset({PATIENTS, STAFF}),
        timedelta(days=1),
        "normal",
    ),
    Kind.SESSION_REMINDER: KindInfo(
        "Something on your schedule starts soon",
        "Reminders before your day starts and before appointments",
        frozenset({PATIENTS}),
        timedelta(hours=1),
        "high",
    ),
    Kind.CHECKIN_REMINDER: KindInfo(
        "Time for your daily check-in",
        "A daily check-in reminder",
        frozenset({PATIENTS}),
        timedelta(hours=8),
        "normal",
    ),
    Kind.SCHEDULE_CHANGE: KindInfo(
        "Your schedule has changed",
        "Changes to your schedule",
        frozenset({PATIENTS}),
        timedelta(days=1),
        "normal",
    ),
    Kind.RISK_ESCALATION: KindInfo(
        "An urgent alert needs you now",
        "Urgent safety alerts",
        frozenset({STAFF}),
        timedelta(hours=1),
        "high",
        always_on=True,
    ),
    Kind.ANNOUNCEMENT: KindInfo(
        "There is news for you in the app",
        "News from the program",
        frozenset({PATIENTS, STAFF}),
        timedelta(days=3),
        "low",
    ),
    Kind.AUTHORIZATION_REVIEW: KindInfo(
        "An authorization needs review",
        "Authorizations running out or due for review",
        frozenset({STAFF}),
        timedelta(days=1),
        "normal",
    ),
    Kind.APPOINTMENT_CHANGE: KindInfo(
        "A request to change an appointment needs an answer",
        "Requests to change an appointment",
        frozenset({STAFF}),
        timedelta(days=1),
        "normal",
    ),
}


def kinds_for(is_staff: bool) -> list[Kind]:
    audience = STAFF if is_staff else PATIENTS
    return [kind for kind, info in KINDS.items() if audience in info.audiences]
