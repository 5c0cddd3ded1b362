"""Communication: one message between the patient and their peer specialist (or the
care team members the patient let in)."""

from __future__ import annotations

from portal.blueprints.messages.models import Message, MessageThread
from portal.blueprints.record.fhir.common import MapContext, instant, meta, ref


def communication(
    message: Message,
    thread: MessageThread,
    author_role: str | None,
    author_name: str | None,
    ctx: MapContext,
) -> dict:
    from_patient = message.author_id == thread.patient_id
    sender = (
        ref("Patient", thread.patient_id)
        if from_patient
        else ref("Practitioner", message.author_id, author_name)
    )
    resource = {
        "resourceType": "Communication",
        "id": message.id,
        "meta": meta(message.created_at, ctx.part2),
        "status": "completed",
        "category": [{"text": "Peer support message"}],
        "subject": ref("Patient", thread.patient_id),
        "sent": instant(message.created_at),
        "sender": sender,
        "payload": [{"contentString": message.body}],
    }
    if not from_patient:
        resource["recipient"] = [ref("Patient", thread.patient_id)]
    return resource
