"""Consent: the patient's permission to share kinds of their record with one EHR."""

from __future__ import annotations

from portal.blueprints.record.fhir.common import (
    ACT_CODE,
    ACT_REASON,
    LOINC,
    MapContext,
    codeable,
    instant,
    meta,
    ref,
)
from portal.blueprints.record.kinds import RESOURCE_KINDS
from portal.blueprints.record.models import RecordConsent
from portal.db import utcnow

PART2_POLICY = "https://www.ecfr.gov/current/title-42/chapter-I/subchapter-A/part-2"


def covered_types(kinds: list[str]) -> list[str]:
    """The resource types a consent to these kinds lets out."""
    types = [t for t, kind in RESOURCE_KINDS.items() if kind is None or kind in kinds]
    if {"checkin", "screener"} & set(kinds):
        types.append("Observation")
    return sorted(set(types))


def consent(
    record: RecordConsent, client_name: str, client_key: str, ctx: MapContext
) -> dict:
    now = utcnow()
    active = record.revoked_at is None and record.expires_at > now
    ends = min(filter(None, (record.expires_at, record.revoked_at)))
    return {
        "resourceType": "Consent",
        "id": record.id,
        "meta": meta(record.updated_at, ctx.part2),
        "status": "active" if active else "inactive",
        "scope": codeable(
            "http://terminology.hl7.org/CodeSystem/consentscope",
            "patient-privacy",
            "Privacy Consent",
        ),
        "category": [
            codeable(LOINC, "59284-0"),
            codeable(ACT_CODE, "IDSCL", "information disclosure"),
        ],
        "patient": ref("Patient", record.patient_id),
        "dateTime": instant(record.given_at),
        "performer": [ref("Patient", record.patient_id)],
        "organization": [ref("Organization", record.program_id)],
        "policy": [{"uri": PART2_POLICY}],
        "provision": {
            "type": "permit",
            "period": {"start": instant(record.given_at), "end": instant(ends)},
            "actor": [
                {
                    "role": codeable(
                        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                        "IRCP",
                        "information recipient",
                    ),
                    "reference": {
                        "identifier": {
                            "system": f"{ctx.canonical}/sid/fhir-client",
                            "value": client_key,
                        },
                        "display": client_name,
                    },
                }
            ],
            "action": [
                codeable(
                    "http://terminology.hl7.org/CodeSystem/consentaction",
                    "disclose",
                    "Disclose",
                )
            ],
            "purpose": [
                {"system": ACT_REASON, "code": record.purpose, "display": "treatment"}
            ],
            "class": [
                {"system": "http://hl7.org/fhir/resource-types", "code": t}
                for t in covered_types(record.kind_list)
            ],
        },
    }
