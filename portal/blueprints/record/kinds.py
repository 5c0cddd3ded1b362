"""The kinds of data in a patient's record: what the timeline filters on and what a
patient chooses to share, each in plain words."""

from __future__ import annotations

from enum import StrEnum


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
    RecordKind.CHECKIN: "My daily check-ins",
    RecordKind.SCREENER: "My answers to the mood, worry and safety questions",
    RecordKind.RISK: "Safety alerts and what staff did about them",
    RecordKind.APPOINTMENT: "My appointments",
    RecordKind.ATTENDANCE: "Which groups I came to",
    RecordKind.NEED: "My requests for help (rides, housing and more)",
    RecordKind.MESSAGE: "My messages with my peer specialist",
    RecordKind.ACCESS: "A list of who opened or shared my record",
    RecordKind.COVERAGE: "My insurance and the days it approved",
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
    "Patient": "your name and program",
    "Consent": "your sharing choices",
    "Observation": "check-ins and scores",
    "QuestionnaireResponse": "question answers",
    "Flag": "safety alerts",
    "RiskAssessment": "safety checks by staff",
    "Appointment": "appointments",
    "Encounter": "group attendance",
    "ServiceRequest": "requests for help",
    "Task": "progress on requests for help",
    "Communication": "messages",
    "AuditEvent": "who opened your record",
    "Coverage": "your insurance",
    "ClaimResponse": "the days your insurance approved",
    "ReviewPacket": "a review of your care for payment: attendance, check-ins, "
    "scores, safety alerts, help requests and your team's statement",
}
