"""Flag: one episode of suicide risk, open from the first positive answer until a
clinician resolves it."""

from __future__ import annotations

from portal.blueprints.record.fhir.common import (
    MapContext,
    codeable,
    instant,
    meta,
    ref,
)
from portal.blueprints.safety.models import FlagStatus, RiskFlag

FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"


def last_change(flag: RiskFlag):
    return (
        flag.resolved_at or flag.assessed_at or flag.acknowledged_at or flag.opened_at
    )


def flag(risk_flag: RiskFlag, ctx: MapContext) -> dict:
    period = {"start": instant(risk_flag.opened_at)}
    if risk_flag.resolved_at:
        period["end"] = instant(risk_flag.resolved_at)
    return {
        "resourceType": "Flag",
        "id": risk_flag.id,
        "meta": meta(last_change(risk_flag), ctx.part2),
        "status": ("inactive" if risk_flag.status is FlagStatus.RESOLVED else "active"),
        "category": [codeable(FLAG_CATEGORY, "safety", "Safety")],
        "code": codeable(
            ctx.code_system("risk-flag"),
            "suicide-risk",
            "Suicide risk",
            text="Suicide risk: a positive answer on a check-in or screener "
            f"({risk_flag.status.value})",
        ),
        "subject": ref("Patient", risk_flag.patient_id),
        "period": period,
        "author": ref("Organization", risk_flag.program_id),
    }
