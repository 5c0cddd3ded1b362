"""What each kind of notification says, to whom, and how a push service treats it.

The words are the same in the app and on a lock screen, and they are generic on
purpose: never who, what or why, and nothing that tells an onlooker the person is in
treatment. They are lazy: a page reads them in its own language (staff's in English),
and the worker composes a push inside `force_locale` with the recipient's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask_babel import lazy_gettext as _l

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
        _l("You have a new message"),
        _l("New messages"),
        frozenset({PATIENTS, STAFF}),
        timedelta(days=1),
        "normal",
    ),
    Kind.NEED_UPDATE: KindInfo(
        _l("There is an update on your request"),
        _l("Updates on requests for help"),
        frozenset({PATIENTS, STAFF}),
        timedelta(days=1),
        "normal",
    ),
    Kind.SESSION_REMINDER: KindInfo(
        _l("Something on your schedule starts soon"),
        _l("Reminders before your day starts and before appointments"),
        frozenset({PATIENTS}),
        timedelta(hours=1),
        "high",
    ),
    Kind.CHECKIN_REMINDER: KindInfo(
        _l("Time for your daily check-in"),
        _l("A daily check-in reminder"),
        frozenset({PATIENTS}),
        timedelta(hours=8),
        "normal",
    ),
    Kind.SCHEDULE_CHANGE: KindInfo(
        _l("Your schedule has changed"),
        _l("Changes to your schedule"),
        frozenset({PATIENTS}),
        timedelta(days=1),
        "normal",
    ),
    Kind.RISK_ESCALATION: KindInfo(
        _l("An urgent alert needs you now"),
        _l("Urgent safety alerts"),
        frozenset({STAFF}),
        timedelta(hours=1),
        "high",
        always_on=True,
    ),
    Kind.ANNOUNCEMENT: KindInfo(
        _l("There is news for you in the app"),
        _l("News from the program"),
        frozenset({PATIENTS, STAFF}),
        timedelta(days=3),
        "low",
    ),
    Kind.AUTHORIZATION_REVIEW: KindInfo(
        _l("An authorization needs review"),
        _l("Authorizations running out or due for review"),
        frozenset({STAFF}),
        timedelta(days=1),
        "normal",
    ),
    Kind.APPOINTMENT_CHANGE: KindInfo(
        _l("A request to change an appointment needs an answer"),
        _l("Requests to change an appointment"),
        frozenset({STAFF}),
        timedelta(days=1),
        "normal",
    ),
}


def kinds_for(is_staff: bool) -> list[Kind]:
    audience = STAFF if is_staff else PATIENTS
    return [kind for kind, info in KINDS.items() if audience in info.audiences]
