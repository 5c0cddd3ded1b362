"""QuestionnaireResponse: a PHQ-9, GAD-7 or C-SSRS screener as answered, LOINC coded."""

from __future__ import annotations

from portal.blueprints.checkins.instruments import (
    CSSRS_RECENT_QUESTION,
    QUESTIONNAIRES,
    Instrument,
    Questionnaire,
)
from portal.blueprints.checkins.models import ScreenerResponse
from portal.blueprints.record.fhir.common import LOINC, MapContext, instant, meta, ref


def questionnaire_canonical(questionnaire: Questionnaire) -> str:
    """The instrument's canonical: LOINC's own form of its panel (as LHC-Forms and
    the LOINC FHIR server name it)."""
    return f"http://loinc.org/q/{questionnaire.panel_loinc}"


def questionnaire_response(response: ScreenerResponse, ctx: MapContext) -> dict:
    # The items as the patient read them: the published version in the language the
    # questionnaire was shown in (the codes are the same in every language).
    questionnaire = QUESTIONNAIRES[response.instrument].worded_in(response.language)
    by_value = {answer.value: answer for answer in questionnaire.answers}
    items = []
    for item, value in zip(questionnaire.items, response.answers, strict=False):
        entry = {"linkId": item.loinc, "text": item.text}
        answer = by_value.get(value)
        if answer is not None:
            coding = {"system": LOINC, "code": answer.loinc, "display": answer.text}
            entry["answer"] = [{"valueCoding": coding}]
        items.append(entry)
    if response.instrument is Instrument.CSSRS and len(response.answers) > 6:
        items.append(
            {
                "linkId": "recent-behavior",
                "text": CSSRS_RECENT_QUESTION,
                "answer": [{"valueBoolean": bool(response.answers[6])}],
            }
        )
    if response.total is not None and questionnaire.total_loinc:
        items.append(
            {
                "linkId": questionnaire.total_loinc,
                "text": f"{questionnaire.short_title} total score",
                "answer": [{"valueInteger": response.total}],
            }
        )
    return {
        "resourceType": "QuestionnaireResponse",
        "id": response.id,
        "meta": meta(response.completed_at, ctx.part2),
        "language": questionnaire.language,
        "identifier": {
            "system": f"{ctx.canonical}/sid/screener",
            "value": response.id,
        },
        "questionnaire": questionnaire_canonical(questionnaire),
        "status": "completed",
        "subject": ref("Patient", response.patient_id),
        "authored": instant(response.completed_at),
        "author": ref("Patient", response.patient_id),
        "source": ref("Patient", response.patient_id),
        "item": [
            {
                "linkId": questionnaire.panel_loinc,
                "text": questionnaire.title,
                "item": items,
            }
        ],
    }
