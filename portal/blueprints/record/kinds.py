"""The kinds of data in a patient's record: what the timeline filters on and what a
patient chooses to share, each in plain words."""

from __future__ import annotations

from enum import StrEnum

from flask_babel import gettext


def N_(text: str) -> str:
    """Mark words for the Spanish catalog (`pybabel extract` knows `N_`) without
    translating them here: FHIR answers use them in English; patient pages translate
    them when shown."""
    return text


class RecordKind(StrEnum):
    CHECKIN = "checkin"
    SCREENER = "screener"
    RISK = "risk"
    APPOINTMENT = "appointment"
    ATTENDANCE = "attendance"
    NEED = "need"
    MESSAGE = "message"
    ACCESS = "access"
    COVERAGE = "coverage"


# Label for staff (timeline filter) and the patient's words (sharing choices).
STAFF_LABELS = {
    RecordKind.CHECKIN: "Check-ins",
    RecordKind.SCREENER: "Screener scores",
    RecordKind.RISK: "Risk flags",
    RecordKind.APPOINTMENT: "Appointments",
    RecordKind.ATTENDANCE: "Attendance",
    RecordKind.NEED: "Help requests",
    RecordKind.MESSAGE: "Messages",
}
PATIENT_LABELS = {
    RecordKind.CHECKIN: N_("My daily check-ins"),
    RecordKind.SCREENER: N_("My answers to the mood, worry and safety questions"),
    RecordKind.RISK: N_("Safety alerts and what staff did about them"),
    RecordKind.APPOINTMENT: N_("My appointments"),
    RecordKind.ATTENDANCE: N_("Which groups I came to"),
    RecordKind.NEED: N_("My requests for help (rides, housing and more)"),
    RecordKind.MESSAGE: N_("My messages with my peer specialist"),
    RecordKind.ACCESS: N_("A list of who opened or shared my record"),
    RecordKind.COVERAGE: N_("My insurance and the days it approved"),
}
# Clinical content: only the clinicians of the team see it on the timeline.
CLINICAL_KINDS = frozenset({RecordKind.CHECKIN, RecordKind.SCREENER, RecordKind.RISK})

# What kinds of the record each FHIR resource type carries (None: the patient's name
# and program, and the consent itself, which go with any consent).
RESOURCE_KINDS: dict[str, RecordKind | None] = {
    "Patient": None,
    "Consent": None,
    "Observation": None,  # check-ins and screener scores: decided per source
    "QuestionnaireResponse": RecordKind.SCREENER,
    "Flag": RecordKind.RISK,
    "RiskAssessment": RecordKind.RISK,
    "Appointment": RecordKind.APPOINTMENT,
    "Encounter": RecordKind.ATTENDANCE,
    "ServiceRequest": RecordKind.NEED,
    "Task": RecordKind.NEED,
    "Communication": RecordKind.MESSAGE,
    "AuditEvent": RecordKind.ACCESS,
    "Coverage": RecordKind.COVERAGE,
    "ClaimResponse": RecordKind.COVERAGE,
}

# Plain words for the patient's list of what was sent.
RESOURCE_WORDS = {
    "Patient": N_("your name and program"),
    "Consent": N_("your sharing choices"),
    "Observation": N_("check-ins and scores"),
    "QuestionnaireResponse": N_("question answers"),
    "Flag": N_("safety alerts"),
    "RiskAssessment": N_("safety checks by staff"),
    "Appointment": N_("appointments"),
    "Encounter": N_("group attendance"),
    "ServiceRequest": N_("requests for help"),
    "Task": N_("progress on requests for help"),
    "Communication": N_("messages"),
    "AuditEvent": N_("who opened your record"),
    "Coverage": N_("your insurance"),
    "ClaimResponse": N_("the days your insurance approved"),
    "ReviewPacket": N_(
        "a review of your care for payment: attendance, check-ins, "
        "scores, safety alerts, help requests and your team's statement"
    ),
}


def patient_labels() -> dict[RecordKind, str]:
    """PATIENT_LABELS in the page's language."""
    return {kind: gettext(words) for kind, words in PATIENT_LABELS.items()}


def resource_words() -> dict[str, str]:
    """RESOURCE_WORDS in the page's language."""
    return {name: gettext(words) for name, words in RESOURCE_WORDS.items()}
