"""RiskAssessment: a clinician's assessment of a risk flag, with the plan."""

from __future__ import annotations

from portal.blueprints.record.fhir.common import (
    MapContext,
    codeable,
    instant,
    meta,
    ref,
)
from portal.blueprints.safety.models import RiskFlag

RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
LIKELIHOOD = {
    "low": "Low likelihood",
    "moderate": "Moderate likelihood",
    "high": "High likelihood",
}
SOURCE_TYPES = {"checkin": "Observation"}


def risk_assessment(risk_flag: RiskFlag, ctx: MapContext) -> dict:
    level = risk_flag.risk_level.value if risk_flag.risk_level else None
    resource = {
        "resourceType": "RiskAssessment",
        "id": risk_flag.id,
        "meta": meta(
            risk_flag.resolved_at or risk_flag.assessed_at,
            ctx.part2,
        ),
        "status": "final",
        "code": {"text": "Suicide risk assessment"},
        "subject": ref("Patient", risk_flag.patient_id),
        "occurrenceDateTime": instant(risk_flag.assessed_at),
        "basis": [
            ref(
                SOURCE_TYPES.get(risk_flag.source, "QuestionnaireResponse"),
                risk_flag.source_id,
            )
        ],
    }
    if risk_flag.assessed_by_id:
        resource["performer"] = ref("Practitioner", risk_flag.assessed_by_id)
    if level:
        resource["prediction"] = [
            {
                "outcome": {"text": "Suicide attempt"},
                "qualitativeRisk": codeable(
                    RISK_PROBABILITY, level, LIKELIHOOD[level], text=level
                ),
            }
        ]
    if risk_flag.plan:
        resource["mitigation"] = risk_flag.plan
    if risk_flag.assessment_note:
        resource["note"] = [{"text": risk_flag.assessment_note}]
    return resource
