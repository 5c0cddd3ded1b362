"""A request's history entries and the notices that tell its patient and owner."""

from __future__ import annotations

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.needs.models import EventKind, Need, NeedEvent
from portal.blueprints.notifications.models import NotificationKind
from portal.blueprints.notifications.services import notify
from portal.db import utcnow


def patient_target(need: Need) -> str:
    return f"/help/{need.id}"


def staff_target(need: Need) -> str:
    return f"/staff/needs/{need.id}"


def record_event(
    need: Need,
    actor: User | None,
    kind: EventKind,
    *,
    visible: bool = False,
    **values,
) -> NeedEvent:
    event = NeedEvent(
        need_id=need.id,
        actor_id=actor.id if actor else None,
        kind=kind,
        patient_visible=visible,
        at=utcnow(),
        **values,
    )
    db.session.add(event)
    return event


def tell_owner(need: Need) -> None:
    if need.owner_id:
        notify(
            need.owner_id,
            NotificationKind.NEED_UPDATE,
            need,
            patient_id=need.patient_id,
            target=staff_target(need),
        )


def tell_patient(need: Need) -> None:
    notify(
        need.patient_id,
        NotificationKind.NEED_UPDATE,
        need,
        patient_id=need.patient_id,
        target=patient_target(need),
    )
