"""Coverage and ClaimResponse: who pays for the patient's care, and each payer
authorization as a prior-authorization response with its reference (preAuthRef)."""

from __future__ import annotations

from portal.blueprints.record.fhir.common import (
    MapContext,
    codeable,
    day,
    instant,
    meta,
    ref,
)
from portal.blueprints.reviews.models import (
    Authorization,
    AuthorizationStatus,
    Coverage,
)

COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
REVENUE = "https://www.nubc.org/CodeSystem/RevenueCodes"

# The payer's status as a ClaimResponse's outcome (queued | complete | partial).
OUTCOMES = {
    AuthorizationStatus.REQUESTED: "queued",
    AuthorizationStatus.PARTLY_APPROVED: "partial",
}
DISPOSITIONS = {
    AuthorizationStatus.REQUESTED: "Requested",
    AuthorizationStatus.APPROVED: "Approved",
    AuthorizationStatus.DENIED: "Denied",
    AuthorizationStatus.PARTLY_APPROVED: "Partly approved",
    AuthorizationStatus.EXTENDED: "Extended",
    AuthorizationStatus.ENDED: "Ended",
}


def coverage(record: Coverage, ctx: MapContext) -> dict:
    result = {
        "resourceType": "Coverage",
        "id": record.id,
        "meta": meta(record.updated_at, ctx.part2),
        "identifier": [
            {"system": f"{ctx.canonical}/sid/member-id", "value": record.member_id}
        ],
        "status": "active",
        "subscriberId": record.member_id,
        "beneficiary": ref("Patient", record.patient_id),
        "payor": [{"display": record.payer}],
        "order": 1 if record.is_primary else 2,
    }
    if record.plan:
        result["class"] = [
            {
                "type": codeable(COVERAGE_CLASS, "plan", "Plan"),
                "value": record.plan,
                "name": record.plan,
            }
        ]
    return result


def claim_response(record: Authorization, payer: str, ctx: MapContext) -> dict:
    system = REVENUE if record.service_code.isdigit() else HCPCS
    period = {"start": day(record.starts_on), "end": day(record.ends_on)}
    result = {
        "resourceType": "ClaimResponse",
        "id": record.id,
        "meta": meta(record.updated_at, ctx.part2),
        "identifier": [
            {
                "system": f"{ctx.canonical}/sid/payer-reference",
                "value": record.reference,
            }
        ],
        "status": "active",
        "type": codeable(CLAIM_TYPE, "institutional", "Institutional"),
        "use": "preauthorization",
        "patient": ref("Patient", record.patient_id),
        "created": instant(record.created_at),
        "insurer": {"display": payer},
        "outcome": OUTCOMES.get(record.status, "complete"),
        "disposition": DISPOSITIONS[record.status],
        "preAuthRef": record.reference,
        "preAuthPeriod": period,
        "addItem": [
            {
                "productOrService": codeable(system, record.service_code),
                "servicedPeriod": period,
                "quantity": {"value": record.units, "unit": "day"},
                "adjudication": [
                    {
                        "category": codeable(ADJUDICATION, "eligible", "Eligible"),
                        "value": record.units,
                    }
                ],
            }
        ],
        "insurance": [
            {
                "sequence": 1,
                "focal": True,
                "coverage": ref("Coverage", record.coverage_id),
            }
        ],
        "extension": [
            {
                "url": f"{ctx.canonical}/StructureDefinition/level-of-care",
                "valueString": f"{record.level_of_care.value} "
                f"{record.focus.value.replace('_', ' ')}",
            }
        ],
    }
    if record.next_review_on:
        result["extension"].append(
            {
                "url": f"{ctx.canonical}/StructureDefinition/next-review",
                "valueDate": day(record.next_review_on),
            }
        )
    if record.status is AuthorizationStatus.DENIED:
        result["addItem"][0]["adjudication"][0]["value"] = 0
        result["processNote"] = [{"type": "display", "text": record.denial_reason}]
        if record.appeal_by:
            result["extension"].append(
                {
                    "url": f"{ctx.canonical}/StructureDefinition/appeal-by",
                    "valueDate": day(record.appeal_by),
                }
            )
    return result
