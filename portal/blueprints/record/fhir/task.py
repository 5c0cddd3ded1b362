"""Task: the work on a request for help, with its FHIR Task status and outcome."""

from __future__ import annotations

from portal.blueprints.needs.models import Need
from portal.blueprints.record.fhir.common import MapContext, instant, meta, ref
from portal.blueprints.record.fhir.service_request import (
    PRIORITY,
    category,
    what_was_asked,
)

TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
OUTCOME_WORDS = {
    "arranged": "Arranged",
    "referred": "Referred elsewhere",
    "partly": "Partly met",
    "not_possible": "Not possible",
    "no_longer_needed": "No longer needed",
}


def task(need: Need, owner_name: str | None, ctx: MapContext) -> dict:
    resource = {
        "resourceType": "Task",
        "id": need.id,
        "meta": meta(need.updated_at, ctx.part2),
        "status": need.status.value,
        "intent": "order",
        "priority": PRIORITY[need.urgency],
        "code": {
            "coding": [{"system": TASK_CODE, "code": "fulfill"}],
            "text": what_was_asked(need),
        },
        "description": what_was_asked(need),
        "focus": ref("ServiceRequest", need.id),
        "for": ref("Patient", need.patient_id),
        "authoredOn": instant(need.created_at),
        "lastModified": instant(need.updated_at),
        "requester": ref("Patient", need.patient_id),
        "reasonCode": category(need),
    }
    if need.status_reason:
        resource["statusReason"] = {"text": need.status_reason}
    if need.owner_id:
        resource["owner"] = ref("Practitioner", need.owner_id, owner_name)
    if need.outcome:
        words = OUTCOME_WORDS.get(need.outcome.value, need.outcome.value)
        if need.outcome_note:
            words = f"{words}: {need.outcome_note}"
        resource["output"] = [{"type": {"text": "Outcome"}, "valueString": words}]
    return resource
