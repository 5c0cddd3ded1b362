"""What a person may read of requests: one request with its names, a patient's own
list, a request's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import pgettext
from sqlalchemy import null, select
from sqlalchemy.orm import aliased

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.needs.models import OPEN_STATUSES, Need, NeedEvent
from portal.blueprints.programs.access import staff_program_ids
from portal.blueprints.programs.models import Program
from portal.blueprints.safety.services import open_flag_status
from portal.db import is_id
from portal.i18n import when


@dataclass
class NeedView:
    """A request with the names and program its pages show."""

    need: Need
    patient_name: str
    owner_name: str | None
    program: Program
    safety_alert: str | None = None  # staff only: the open flag's status, no content


def load_need_view(user: User, need_id: str, staff: bool = False) -> NeedView | None:
    """One query: the request if the user may see it (their own, or for staff one of
    their programs'), with names and program (and for staff whether the patient has
    a safety alert open); else None."""
    if not is_id(need_id):
        return None
    patient, owner = aliased(User), aliased(User)
    scope = (
        Need.program_id.in_(staff_program_ids(user))
        if staff
        else Need.patient_id == user.id
    )
    alert = open_flag_status(Need.patient_id) if staff else null()
    row = db.session.execute(
        select(Need, patient.display_name, owner.display_name, Program, alert)
        .join(patient, patient.id == Need.patient_id)
        .outerjoin(owner, owner.id == Need.owner_id)
        .join(Program, Program.id == Need.program_id)
        .where(Need.id == need_id, scope)
    ).one_or_none()
    return NeedView(*row) if row else None


# ---- the patient's view -----------------------------------------------------------


def plain_moment(moment: datetime, tz: ZoneInfo | str, now: datetime) -> str:
    """A moment as people say it, in the program's time zone: "today 4 PM",
    "tomorrow 9:30 AM", "Tuesday 11 AM", past a week "Tuesday, Dec 15, 11 AM". In the
    page's language; the words end "You will hear back by ..." (the context)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    local, today = moment.astimezone(zone), now.astimezone(zone).date()
    clock = when(local, "hour" if local.minute == 0 else "time")
    days = (local.date() - today).days
    if days == 0:
        return pgettext("hear back by", "today %(time)s", time=clock)
    if days == 1:
        return pgettext("hear back by", "tomorrow %(time)s", time=clock)
    if 1 < days < 7:
        weekday = when(local, "weekday")
        return pgettext(
            "hear back by", "%(weekday)s %(time)s", weekday=weekday, time=clock
        )
    day = when(local, "weekday_date")
    return pgettext("hear back by", "%(day)s, %(time)s", day=day, time=clock)


def hear_back_by(need: Need, tz: ZoneInfo | str, now: datetime) -> str | None:
    """By when the patient will hear back (the first-contact deadline, counted in
    opening hours), while nobody has answered yet; else None."""
    if not need.is_open or need.first_contact_at or need.contact_due_at is None:
        return None
    return plain_moment(need.contact_due_at, tz, now)


@dataclass
class PatientNeedRow:
    need: Need
    owner_name: str | None


def patient_needs(patient: User, limit: int = 50) -> list[PatientNeedRow]:
    """The patient's requests, open ones first, newest first; audited."""
    owner = aliased(User)
    is_closed = Need.status.not_in(OPEN_STATUSES)
    rows = db.session.execute(
        select(Need, owner.display_name)
        .outerjoin(owner, owner.id == Need.owner_id)
        .where(Need.patient_id == patient.id)
        .order_by(is_closed, Need.created_at.desc())
        .limit(limit)
    ).all()
    audit("read", "need", patient_id=patient.id, detail=f"{len(rows)} requests")
    return [PatientNeedRow(need, name) for need, name in rows]


def timeline(
    need: Need, *, for_patient: bool
) -> list[tuple[NeedEvent, str | None, str | None]]:
    """The request's events in order with the actor's and new owner's names; a patient
    sees only what is meant for them."""
    actor, owner = aliased(User), aliased(User)
    query = (
        select(NeedEvent, actor.display_name, owner.display_name)
        .outerjoin(actor, actor.id == NeedEvent.actor_id)
        .outerjoin(owner, owner.id == NeedEvent.owner_id)
        .where(NeedEvent.need_id == need.id)
        .order_by(NeedEvent.at, NeedEvent.id)
    )
    if for_patient:
        query = query.where(NeedEvent.patient_visible.is_(True))
    return [(e, a, o) for e, a, o in db.session.execute(query).all()]
