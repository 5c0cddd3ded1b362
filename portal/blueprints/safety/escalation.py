"""The crisis loop on the server: one risk flag per episode, told to a human by more
than one channel, escalated when nobody acknowledges it in time.

In opening hours the program's on-call clinician is told first (in the app, by push and
by SMS); after T1 the backup (adding a voice call), after T2 the director, then every T1
again to all three until someone acknowledges. Outside opening hours the after-hours
clinician is told at once by every channel, and the flag is raised again at opening.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.util import identity_key

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.programs.access import program_director_ids
from portal.blueprints.programs.models import Program
from portal.blueprints.safety.models import (
    FlagStatus,
    RiskFlag,
    RiskFlagEvent,
    RiskLevel,
    RiskSettings,
)
from portal.blueprints.safety.paging import queue_page
from portal.db import new_id, utcnow
from portal.hours import closes_at, is_open, next_opening

log = logging.getLogger("portal.risk")

AFTER_HOURS = -1  # escalation_level while waiting for the program to open
BACKUP, DIRECTOR = 1, 2


class FlagStepError(ValueError):
    """A step that does not fit the flag's state; the message says why."""


def settings_for(program_id: str) -> RiskSettings:
    settings = db.session.get(RiskSettings, program_id)
    if settings is None:
        settings = RiskSettings(program_id=program_id)
        db.session.add(settings)
        db.session.flush()
    return settings


def paged_staff(program_id: str) -> set[str]:
    """Whom the program pages for risk, read without making its settings (a refused
    request writes nothing)."""
    settings = db.session.get(RiskSettings, program_id)
    if settings is None:
        return set()
    return {settings.on_call_id, settings.backup_id, settings.after_hours_id} - {None}


def record_positive(
    patient: User, program: Program, source: str, source_id: str
) -> RiskFlag:
    """Open the patient's risk flag, or add this positive to the one already open."""
    flag = _open_or_add(patient, program, source, source_id)
    return flag if isinstance(flag, RiskFlag) else _flag_object(flag)


UNSAVED_SENDING = "unsaved_sending"


def note_unsaved_positive(
    patient: User, program: Program, source: str, key: str
) -> None:
    """A risk answer whose sending could not be saved: open or count on the flag once
    per sending key (the phone sends it again until it is saved), noting the key."""
    noted = select(RiskFlagEvent.id).where(
        RiskFlagEvent.kind == UNSAVED_SENDING, RiskFlagEvent.detail == key
    )
    if db.session.scalar(select(noted.exists())):
        return
    flag_id = note_positive(patient, program, source, "not saved")
    db.session.add(RiskFlagEvent(flag_id=flag_id, kind=UNSAVED_SENDING, detail=key))


def note_positive(patient: User, program: Program, source: str, source_id: str) -> str:
    """`record_positive` for a caller that needs no flag object: the flag's id."""
    flag = _open_or_add(patient, program, source, source_id)
    return flag.id if isinstance(flag, RiskFlag) else flag


def _open_or_add(patient, program, source: str, source_id: str) -> RiskFlag | str:
    """The flag opened now, or the id of the open flag this positive was added to."""
    added = add_positive(patient.id, source)
    if added is not None:
        return added
    flag = RiskFlag(
        patient_id=patient.id,
        program_id=program.id,
        open_key=patient.id,
        source=source,
        source_id=source_id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(flag)
    except IntegrityError:  # another request opened it a moment ago
        return add_positive(patient.id, source)
    _event(flag, "opened", detail=source)
    audit("create", "risk_flag", patient_id=patient.id, object_id=flag.id)
    raise_flag(flag, program, utcnow())
    return flag


_FLAGS = RiskFlag.__table__

# One UPDATE finds the open flag and counts the positive: no read before it, and two
# positives at once both count (the row lock orders them).
_ADD_POSITIVE = (
    update(_FLAGS)
    .where(_FLAGS.c.open_key == bindparam("flag_patient"))
    .values(positives=_FLAGS.c.positives + 1)
    .returning(_FLAGS.c.id, _FLAGS.c.acknowledged_by_id)
)
_INSERT_EVENT = insert(RiskFlagEvent.__table__)


def add_positive(patient_id: str, source: str) -> str | None:
    """Add a positive to the patient's open flag and return its id; None when no flag
    is open. Whoever already took the flag is told again."""
    connection = db.session.connection()
    row = connection.execute(_ADD_POSITIVE, {"flag_patient": patient_id}).first()
    if row is None:
        return None
    flag_id, holder = row
    connection.execute(
        _INSERT_EVENT,
        {
            "id": new_id(),
            "flag_id": flag_id,
            "at": utcnow(),
            "kind": "positive_again",
            "actor_id": None,
            "recipient_id": None,
            "channel": None,
            "detail": source,
        },
    )
    audit(
        "update",
        "risk_flag",
        patient_id=patient_id,
        object_id=flag_id,
        detail="another positive answer",
    )
    if holder:
        _tell(_flag_object(flag_id), holder, voice=False)
    return flag_id


def _flag_object(flag_id: str) -> RiskFlag:
    """The flag as an object. One this session already holds reads its count again:
    `add_positive` changed it past the ORM."""
    held = db.session.identity_map.get(identity_key(RiskFlag, flag_id))
    if held is None:
        return db.session.get(RiskFlag, flag_id)
    db.session.expire(held, ["positives"])
    return held


def raise_flag(flag: RiskFlag, program: Program, now: datetime) -> None:
    """Tell the people for the flag's current level and set when it moves up next."""
    settings = settings_for(program.id)
    if not is_open(program.opening_hours, program.timezone, now):
        _raise_after_hours(flag, program, settings, now)
        return
    if flag.escalation_level == AFTER_HOURS:
        flag.escalation_level = 0
    level = flag.escalation_level
    for recipient in recipients(settings, program.id, level):
        _tell(flag, recipient, voice=level > 0)
    wait = {0: settings.t1_minutes, BACKUP: settings.t2_minutes - settings.t1_minutes}
    flag.next_escalation_at = _until_closing(
        program, now, timedelta(minutes=max(1, wait.get(level, settings.t1_minutes)))
    )
    _event(flag, "raised", detail=raised_detail(level))


def raised_detail(level: int) -> str:
    """How a "raised" event names its level (the director's board counts them)."""
    return f"level {level}"


def _raise_after_hours(flag, program, settings, now) -> None:
    target = settings.after_hours_id or settings.on_call_id
    for recipient in [target] if target else program_director_ids(program.id):
        _tell(flag, recipient, voice=True)
    opening = next_opening(program.opening_hours, program.timezone, now)
    repeat = now + timedelta(minutes=settings.after_hours_repeat_minutes)
    flag.escalation_level = AFTER_HOURS
    flag.next_escalation_at = min(opening, repeat) if opening else repeat
    _event(flag, "after_hours", detail="after-hours path")


def _until_closing(program: Program, now: datetime, wait: timedelta) -> datetime:
    """Move up after `wait`, or at closing time if sooner (then after-hours)."""
    closing = closes_at(program.opening_hours, program.timezone, now)
    return min(now + wait, closing) if closing else now + wait


def recipients(settings: RiskSettings, program_id: str, level: int) -> list[str]:
    """Who is told at a level; a missing person falls through to the next level."""
    chain = [settings.on_call_id, settings.backup_id]
    if level >= DIRECTOR:
        people = {
            settings.on_call_id,
            settings.backup_id,
            *program_director_ids(program_id),
        }
        return sorted(p for p in people if p)
    for person in chain[level:]:
        if person:
            return [person]
    return program_director_ids(program_id)


def tell_again(flag: RiskFlag) -> None:
    """The patient asked to be called: tell whoever has the alert, or the people of
    its current level (after hours, the after-hours clinician)."""
    if flag.acknowledged_by_id:
        _tell(flag, flag.acknowledged_by_id, voice=False)
        return
    settings = settings_for(flag.program_id)
    if flag.escalation_level == AFTER_HOURS:
        people = [settings.after_hours_id or settings.on_call_id]
    else:
        people = recipients(settings, flag.program_id, flag.escalation_level)
    for person in filter(None, people):
        _tell(flag, person, voice=False)


LEVEL_WORDS = {
    0: "the on-call clinician",
    BACKUP: "the backup",
    DIRECTOR: "the director and everyone on call",
}


@dataclass(frozen=True)
class NextStep:
    """When the flag moves next and to whom, as the worker will move it."""

    at: datetime
    whom: str
    people: list[str]


def next_step(
    flag: RiskFlag, program: Program, settings: RiskSettings
) -> NextStep | None:
    """The flag's next escalation; None once someone has it (or nothing is due)."""
    at = flag.next_escalation_at
    if flag.status is not FlagStatus.OPEN or at is None:
        return None
    if not is_open(program.opening_hours, program.timezone, at):
        target = settings.after_hours_id or settings.on_call_id
        people = [target] if target else program_director_ids(program.id)
        return NextStep(at, "the after-hours clinician", people)
    level = (
        0
        if flag.escalation_level == AFTER_HOURS
        else min(flag.escalation_level + 1, DIRECTOR)
    )
    return NextStep(at, LEVEL_WORDS[level], recipients(settings, program.id, level))


def _tell(flag: RiskFlag, recipient_id: str, voice: bool) -> None:
    """In the app and by push (via notify), and by SMS; a voice call when escalated."""
    from portal.blueprints.notifications.models import NotificationKind
    from portal.blueprints.notifications.services import notify

    recipient = db.session.get(User, recipient_id)
    if recipient is None or not recipient.is_active:
        return
    notify(
        recipient,
        NotificationKind.RISK_ESCALATION,
        flag,
        patient_id=flag.patient_id,
        target=f"/staff/flags/{flag.id}",
    )
    _event(flag, "told", recipient_id=recipient_id, channel="app+push")
    queue_page(recipient_id, "sms", flag.id)
    _event(flag, "told", recipient_id=recipient_id, channel="sms")
    if voice:
        queue_page(recipient_id, "voice", flag.id)
        _event(flag, "told", recipient_id=recipient_id, channel="voice")


def _event(
    flag: RiskFlag,
    kind: str,
    *,
    actor_id=None,
    recipient_id=None,
    channel=None,
    detail=None,
) -> None:
    db.session.add(
        RiskFlagEvent(
            flag_id=flag.id,
            kind=kind,
            actor_id=actor_id,
            recipient_id=recipient_id,
            channel=channel,
            detail=detail,
        )
    )


def escalate_due_flags(now: datetime | None = None, limit: int = 50) -> int:
    """Worker task: move up every unacknowledged flag whose time has come. Commits."""
    now = now or utcnow()
    query = (
        select(RiskFlag)
        .where(RiskFlag.status == FlagStatus.OPEN, RiskFlag.next_escalation_at <= now)
        .order_by(RiskFlag.next_escalation_at)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    flags = db.session.scalars(query).all()
    for flag in flags:
        program = db.session.get(Program, flag.program_id)
        if flag.escalation_level != AFTER_HOURS:
            flag.escalation_level = min(flag.escalation_level + 1, DIRECTOR)
        raise_flag(flag, program, now)
        audit(
            "escalate",
            "risk_flag",
            patient_id=flag.patient_id,
            object_id=flag.id,
            actor=None,
            detail=f"level {flag.escalation_level}",
        )
    db.session.commit()
    return len(flags)


# ---- the clinician's steps -----------------------------------------------------------


def acknowledge_flag(actor: User, flag: RiskFlag) -> None:
    """Someone has it: escalation stops."""
    if flag.status is not FlagStatus.OPEN:
        raise FlagStepError("This alert was already taken by someone.")
    flag.status, flag.acknowledged_by_id, flag.acknowledged_at = (
        FlagStatus.ACKNOWLEDGED,
        actor.id,
        utcnow(),
    )
    flag.next_escalation_at = None
    _event(flag, "acknowledged", actor_id=actor.id)
    audit("acknowledge", "risk_flag", patient_id=flag.patient_id, object_id=flag.id)


def assess_flag(
    actor: User, flag: RiskFlag, level: RiskLevel, plan: str, note: str
) -> None:
    if flag.status not in (FlagStatus.ACKNOWLEDGED, FlagStatus.ASSESSED):
        raise FlagStepError("Acknowledge the alert before you record an assessment.")
    flag.status, flag.risk_level = FlagStatus.ASSESSED, level
    flag.plan, flag.assessment_note = plan.strip(), note.strip()
    flag.assessed_by_id, flag.assessed_at = actor.id, utcnow()
    _event(flag, "assessed", actor_id=actor.id, detail=f"risk {level.value}")
    audit("assess", "risk_flag", patient_id=flag.patient_id, object_id=flag.id)


def resolve_flag(actor: User, flag: RiskFlag, note: str) -> None:
    if flag.status is not FlagStatus.ASSESSED:
        raise FlagStepError("Record an assessment before you close the alert.")
    flag.status, flag.resolved_by_id, flag.resolved_at = (
        FlagStatus.RESOLVED,
        actor.id,
        utcnow(),
    )
    flag.resolution_note, flag.open_key = note.strip(), None
    _event(flag, "resolved", actor_id=actor.id)
    audit("resolve", "risk_flag", patient_id=flag.patient_id, object_id=flag.id)
