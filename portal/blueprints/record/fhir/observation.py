"""Observation: a daily check-in (our own codes) and a screener result (LOINC), both of
category survey."""

from __future__ import annotations

from portal.blueprints.checkins.instruments import (
    CSSRS_RECENT_QUESTION,
    CSSRS_RISK_LOINC,
    QUESTIONNAIRES,
    Instrument,
)
from portal.blueprints.checkins.models import CheckIn, ScreenerResponse
from portal.blueprints.record.fhir.common import (
    LOINC,
    OBSERVATION_CATEGORY,
    MapContext,
    codeable,
    day,
    decimal_value,
    instant,
    meta,
    ref,
)

SURVEY = codeable(OBSERVATION_CATEGORY, "survey", "Survey")
# LOINC's display names (the long common name) of the codes an Observation carries.
LOINC_DISPLAY = {
    "44261-6": "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
    "70274-6": "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]",
    CSSRS_RISK_LOINC: "Suicide risk level",
}
MEDICATION_WORDS = {"yes": "Taken", "no": "Not taken", "none": "None prescribed"}
CSSRS_RISK_WORDS = {
    "high": "High risk",
    "moderate": "Moderate risk",
    "low": "Low risk",
    "none": "No risk identified",
}


def checkin_observation(checkin: CheckIn, ctx: MapContext) -> dict:
    system = ctx.code_system("checkin")

    def part(code: str, text: str, **value) -> dict:
        return {"code": codeable(system, code, text, text=text), **value}

    medication = checkin.medication.value
    resource = {
        "resourceType": "Observation",
        "id": checkin.id,
        "meta": meta(checkin.updated_at, ctx.part2),
        "status": "final",
        "category": [SURVEY],
        "code": codeable(
            system, "daily-checkin", "Daily check-in", text="Daily check-in"
        ),
        "subject": ref("Patient", checkin.patient_id),
        "effectiveDateTime": day(checkin.local_date),
        "issued": instant(checkin.updated_at),
        "performer": [ref("Patient", checkin.patient_id)],
        "component": [
            part("mood", "Mood, 0 to 10", valueInteger=checkin.mood),
            part("craving", "Craving, 0 to 10", valueInteger=checkin.craving),
            part(
                "sleep",
                "Hours of sleep",
                valueQuantity={
                    "value": decimal_value(checkin.sleep_hours),
                    "unit": "h",
                    "system": "http://unitsofmeasure.org",
                    "code": "h",
                },
            ),
            part(
                "medication",
                "Medication taken",
                valueCodeableConcept=codeable(
                    system,
                    f"medication-{medication}",
                    MEDICATION_WORDS[medication],
                    text=MEDICATION_WORDS[medication],
                ),
            ),
            part("feels-safe", "Feels safe", valueBoolean=checkin.feels_safe),
        ],
    }
    if checkin.note:
        resource["note"] = [{"text": checkin.note}]
    return resource


def screener_observation(response: ScreenerResponse, ctx: MapContext) -> dict:
    questionnaire = QUESTIONNAIRES[response.instrument]
    resource = {
        "resourceType": "Observation",
        "id": response.id,
        "meta": meta(response.completed_at, ctx.part2),
        "status": "final",
        "category": [SURVEY],
        "subject": ref("Patient", response.patient_id),
        "effectiveDateTime": instant(response.completed_at),
        "issued": instant(response.completed_at),
        "performer": [ref("Patient", response.patient_id)],
        "derivedFrom": [ref("QuestionnaireResponse", response.id)],
        "component": item_components(response),
    }
    if response.instrument is Instrument.CSSRS:
        words = CSSRS_RISK_WORDS.get(response.severity, response.severity)
        resource["code"] = codeable(
            LOINC,
            CSSRS_RISK_LOINC,
            LOINC_DISPLAY[CSSRS_RISK_LOINC],
            text="C-SSRS screener risk level",
        )
        resource["valueCodeableConcept"] = codeable(
            ctx.code_system("cssrs-risk"), response.severity, words, text=words
        )
    else:
        resource["code"] = codeable(
            LOINC,
            questionnaire.total_loinc,
            LOINC_DISPLAY.get(questionnaire.total_loinc),
            text=f"{questionnaire.short_title} total score",
        )
        resource["valueInteger"] = response.total
        resource["interpretation"] = [{"text": response.severity}]
    return resource


def item_components(response: ScreenerResponse) -> list[dict]:
    """One component per question: the item's LOINC code and the answer's LA code."""
    questionnaire = QUESTIONNAIRES[response.instrument]
    by_value = {answer.value: answer for answer in questionnaire.answers}
    components = []
    for item, value in zip(questionnaire.items, response.answers, strict=False):
        answer = by_value.get(value)
        if answer is None:
            continue
        components.append(
            {
                "code": codeable(LOINC, item.loinc, item.text, text=item.text),
                "valueCodeableConcept": codeable(
                    LOINC, answer.loinc, answer.text, text=answer.text
                ),
            }
        )
    if response.instrument is Instrument.CSSRS and len(response.answers) > 6:
        components.append(
            {
                "code": {"text": CSSRS_RECENT_QUESTION},
                "valueBoolean": bool(response.answers[6]),
            }
        )
    return components
