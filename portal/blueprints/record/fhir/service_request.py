"""ServiceRequest: a request for help (transport, housing, other social needs), with
its Gravity SDOH category."""

from __future__ import annotations

from portal.blueprints.needs.models import Need, NeedKind, TaskStatus, Urgency
from portal.blueprints.record.fhir.common import (
    SDOH,
    MapContext,
    codeable,
    instant,
    meta,
    ref,
)

CATEGORY_WORDS = {
    "transportation-insecurity": "Transportation insecurity",
    "housing-instability": "Housing instability",
    "homelessness": "Homelessness",
    "food-insecurity": "Food insecurity",
    "utility-insecurity": "Utility insecurity",
    "financial-insecurity": "Financial insecurity",
    "digital-access": "Digital access",
    "employment-status": "Employment status",
    "sdoh-category-unspecified": "SDOH category unspecified",
}
KIND_WORDS = {
    NeedKind.TRANSPORT: "A ride to the program",
    NeedKind.HOUSING: "Help with housing",
    NeedKind.OTHER: "Help with another need",
}
OTHER_WORDS = {
    "food": "food",
    "utilities": "power, gas, heat or water bills",
    "phone": "a phone or phone service",
    "childcare": "childcare",
    "work": "work or a job",
    "money": "money for basics",
}
PRIORITY = {Urgency.URGENT: "asap", Urgency.SOON: "urgent", Urgency.ROUTINE: "routine"}
REQUEST_STATUS = {
    TaskStatus.DRAFT: "draft",
    TaskStatus.REQUESTED: "active",
    TaskStatus.ACCEPTED: "active",
    TaskStatus.IN_PROGRESS: "active",
    TaskStatus.ON_HOLD: "on-hold",
    TaskStatus.COMPLETED: "completed",
    TaskStatus.REJECTED: "revoked",
    TaskStatus.CANCELLED: "revoked",
    TaskStatus.FAILED: "revoked",
    TaskStatus.ENTERED_IN_ERROR: "entered-in-error",
}


def what_was_asked(need: Need) -> str:
    if need.kind is NeedKind.OTHER and need.other_need:
        return f"Help with {OTHER_WORDS.get(need.other_need.value, 'another need')}"
    return KIND_WORDS[need.kind]


def category(need: Need) -> dict:
    code = need.category.value
    return codeable(SDOH, code, CATEGORY_WORDS.get(code), text=CATEGORY_WORDS.get(code))


def service_request(need: Need, owner_name: str | None, ctx: MapContext) -> dict:
    resource = {
        "resourceType": "ServiceRequest",
        "id": need.id,
        "meta": meta(need.updated_at, ctx.part2),
        "status": REQUEST_STATUS[need.status],
        "intent": "order",
        "category": [category(need)],
        "priority": PRIORITY[need.urgency],
        "code": {"text": what_was_asked(need)},
        "subject": ref("Patient", need.patient_id),
        "authoredOn": instant(need.created_at),
        "requester": ref("Patient", need.patient_id),
    }
    if need.ride_at:
        resource["occurrenceDateTime"] = instant(need.ride_at)
    if need.owner_id:
        resource["performer"] = [ref("Practitioner", need.owner_id, owner_name)]
    notes = [
        text
        for text in (
            need.details,
            f"Pickup: {need.pickup}" if need.pickup else None,
            f"Going to: {need.destination}" if need.destination else None,
            "Needs a wheelchair-accessible ride" if need.wheelchair else None,
            f"Access needs: {need.access_needs}" if need.access_needs else None,
        )
        if text
    ]
    if notes:
        resource["note"] = [{"text": text} for text in notes]
    return resource
