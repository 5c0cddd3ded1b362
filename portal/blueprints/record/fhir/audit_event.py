"""AuditEvent: one row of the audit log about the patient (who read, wrote or received
which kind of their data, and whether it was allowed)."""

from __future__ import annotations

from portal.audit import AuditEvent
from portal.blueprints.record.fhir.common import MapContext, instant, meta, ref

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ACTIONS = {"read": "R", "create": "C", "update": "U", "delete": "D", "disclose": "R"}
STAFF_ROLES = {
    "peer",
    "case_manager",
    "therapist",
    "prescriber",
    "nurse",
    "director",
    "admin",
}


def audit_event(
    row: AuditEvent,
    person_name: str | None,
    client_name: str | None,
    ctx: MapContext,
) -> dict:
    allowed = row.outcome == "allowed"
    resource = {
        "resourceType": "AuditEvent",
        "id": str(row.id),
        "meta": meta(row.at, ctx.part2),
        "type": {"system": DCM, "code": "110110", "display": "Patient Record"},
        "action": ACTIONS.get(row.action, "E"),
        "recorded": instant(row.at),
        "outcome": "0" if allowed else "4",
        "agent": [_agent(row, person_name, client_name, ctx)],
        "source": {"observer": ctx.organization_ref()},
        "entity": [
            {
                "what": ref("Patient", row.patient_id),
                "name": row.data_kind,
                "description": f"{row.action} {row.data_kind}",
            }
        ],
    }
    if not allowed:
        resource["outcomeDesc"] = "Refused"
    return resource


def _agent(row: AuditEvent, person_name, client_name, ctx: MapContext) -> dict:
    if row.actor_role == "system":
        who = {
            "identifier": {
                "system": f"{ctx.canonical}/sid/fhir-client-id",
                "value": row.actor_id,
            },
            "display": client_name or "EHR",
        }
    elif row.actor_role == "patient":
        who = ref("Patient", row.actor_id, person_name)
    elif row.actor_role in STAFF_ROLES:
        who = ref("Practitioner", row.actor_id, person_name)
    else:
        who = {"display": "Not signed in"}
    return {"who": who, "requestor": True}
