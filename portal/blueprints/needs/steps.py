"""The steps of a request after it is asked: claim, reassign, status, urgency, notes,
outcome, and the patient adding information or cancelling.

Services change models, write audit rows and notifications (the outbox) and flush;
the request commits once.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext
from sqlalchemy import update
from sqlalchemy.orm.exc import StaleDataError

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.needs.events import record_event, tell_owner, tell_patient
from portal.blueprints.needs.models import (
    CONTACT_STATUSES,
    NEXT_STATUSES,
    OPEN_STATUSES,
    OUTCOME_REQUIRED,
    REASON_REQUIRED,
    EventKind,
    HelpAnswer,
    Need,
    NeedOutcome,
    TaskStatus,
    Urgency,
)
from portal.blueprints.needs.routing import program_case_managers
from portal.blueprints.needs.sla import deadlines
from portal.blueprints.needs.targets import (
    clock_of,
    schedule_deadlines,
    set_next_due,
    sla_rule,
)
from portal.blueprints.programs.models import Program
from portal.db import utcnow


class NeedConflict(Exception):
    """The request changed since the form was opened; nothing was saved."""


class NeedStepError(ValueError):
    """A change that cannot be made as asked; the message says why in plain words."""


def add_patient_info(patient: User, need: Need, text: str) -> None:
    """The patient adds information to an open request; its owner is told."""
    if not need.is_open:
        raise NeedStepError(
            gettext("This request is closed. Ask again if you still need help.")
        )
    record_event(need, patient, EventKind.PATIENT_INFO, body=text, visible=True)
    _touch(need)
    audit(
        "update",
        "need",
        patient_id=patient.id,
        object_id=need.id,
        detail="patient added information",
    )
    tell_owner(need)


def cancel_by_patient(patient: User, need: Need, reason: str) -> None:
    """The patient cancels their own open request, with a reason."""
    if not need.is_open:
        raise NeedStepError(gettext("This request is already closed."))
    _move(need, patient, TaskStatus.CANCELLED, reason=reason)
    _touch(need)
    audit(
        "update",
        "need",
        patient_id=patient.id,
        object_id=need.id,
        detail="cancelled by patient",
    )
    tell_owner(need)


def answer_got_help(patient: User, need: Need, answer: HelpAnswer) -> None:
    """The patient says once whether they got the help of a done request; an answer
    other than yes tells the owner, so that someone follows up."""
    if need.status is not TaskStatus.COMPLETED:
        raise NeedStepError(gettext("You can tell us this once the request is done."))
    if need.help_received is not None:
        raise NeedStepError(gettext("You already told us. Thank you."))
    need.help_received, need.help_received_at = answer, utcnow()
    _touch(need)
    audit(
        "update",
        "need",
        patient_id=patient.id,
        object_id=need.id,
        detail=f"got the help: {answer.value}",
    )
    if answer is not HelpAnswer.YES:
        tell_owner(need)


def _touch(need: Need) -> None:
    """Write the request row (a new version): flushing raises NeedConflict when
    someone else changed it first."""
    need.updated_at = utcnow()
    try:
        db.session.flush()
    except StaleDataError as stale:
        raise NeedConflict() from stale


def claim_need(staff: User, need: Need) -> bool:
    """Take an unassigned open request. One conditional UPDATE: when many claim at
    once exactly one wins; the others get False."""
    now = utcnow()
    result = db.session.execute(
        update(Need)
        .where(
            Need.id == need.id,
            Need.owner_id.is_(None),
            Need.status.in_(OPEN_STATUSES),
        )
        .values(owner_id=staff.id, version=Need.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.expire(need)
        return False
    db.session.expire(need)
    record_event(need, staff, EventKind.CLAIMED, owner_id=staff.id)
    audit(
        "update",
        "need",
        patient_id=need.patient_id,
        object_id=need.id,
        detail="claimed",
    )
    tell_patient(need)
    return True


def reassign_need(
    staff: User, need: Need, version: int, to_id: str | None, reason: str
) -> None:
    """Give the request to another case manager, or back to the queue, with a reason."""
    if version != need.version:
        raise NeedConflict()
    if not need.is_open:
        raise NeedStepError("This request is closed; it cannot be reassigned.")
    if to_id and to_id not in {u.id for u in program_case_managers(need.program_id)}:
        raise NeedStepError("Choose a case manager of this program.")
    if (to_id or None) == need.owner_id:
        raise NeedStepError("It is already with that person. Choose someone else.")
    need.owner_id = to_id or None
    record_event(
        need, staff, EventKind.REASSIGNED, owner_id=need.owner_id, reason=reason
    )
    _touch(need)
    audit(
        "update",
        "need",
        patient_id=need.patient_id,
        object_id=need.id,
        detail="reassigned",
    )
    if need.owner_id and need.owner_id != staff.id:
        tell_owner(need)
    tell_patient(need)


@dataclass
class NeedChange:
    """One save of the staff form: any of status, urgency, a note."""

    version: int
    status: TaskStatus
    reason: str | None = None
    note: str | None = None
    note_visible: bool = False
    outcome: NeedOutcome | None = None
    outcome_note: str | None = None
    patient_outcome_note: str | None = None
    urgency: Urgency | None = None


def allowed_statuses(need: Need) -> tuple[TaskStatus, ...]:
    return NEXT_STATUSES.get(need.status, ())


def update_need(staff: User, need: Need, change: NeedChange, program: Program) -> None:
    """Apply a staff member's change. A stale version raises NeedConflict and saves
    nothing, so that the other person's change is never overwritten unseen."""
    if change.version != need.version:
        raise NeedConflict()
    _check_change(need, change)
    visible_change = False
    if change.urgency is not None and change.urgency != need.urgency:
        _set_urgency(staff, need, change.urgency, program)
    if change.status != need.status:
        _move(
            need,
            staff,
            change.status,
            reason=change.reason,
            outcome=change.outcome,
            outcome_note=change.outcome_note,
            patient_outcome_note=change.patient_outcome_note,
            program=program,
        )
        visible_change = True
    if change.note:
        record_event(
            need, staff, EventKind.NOTE, body=change.note, visible=change.note_visible
        )
        visible_change = visible_change or change.note_visible
        if change.note_visible:
            _first_contact(need)
    _touch(need)
    audit("update", "need", patient_id=need.patient_id, object_id=need.id)
    if visible_change:
        tell_patient(need)


def _check_change(need: Need, change: NeedChange) -> None:
    moving = change.status != need.status
    if not need.is_open and (moving or change.urgency not in (None, need.urgency)):
        raise NeedStepError("This request is closed. You can still add a note.")
    if moving and change.status not in allowed_statuses(need):
        raise NeedStepError(
            f"A request that is {need.status.value} cannot become "
            f"{change.status.value}."
        )
    if moving and change.status in REASON_REQUIRED and not change.reason:
        raise NeedStepError(f"Write a reason for {change.status.value}.")
    if moving and change.status in OUTCOME_REQUIRED and change.outcome is None:
        raise NeedStepError("Choose the outcome.")
    nothing = not moving and not change.note and change.urgency in (None, need.urgency)
    if nothing:
        raise NeedStepError(
            "Nothing to save: change the status, urgency or add a note."
        )


def _move(
    need: Need,
    actor: User,
    to: TaskStatus,
    *,
    reason: str | None = None,
    outcome: NeedOutcome | None = None,
    outcome_note: str | None = None,
    patient_outcome_note: str | None = None,
    program: Program | None = None,
) -> None:
    """Change the status, record it, and move the clock: on hold stops it, resuming
    restarts the resolution clock, closing ends it."""
    now, was = utcnow(), need.status
    need.status, need.status_reason = to, reason
    if to in CONTACT_STATUSES and actor.is_staff:
        _first_contact(need)
    if not need.is_open:
        need.closed_at = now
        need.outcome, need.outcome_note = outcome, outcome_note
        need.patient_outcome_note = patient_outcome_note
    elif was is TaskStatus.ON_HOLD and program is not None:
        rule = sla_rule(need.program_id, need.kind, need.urgency)
        fresh = deadlines(clock_of(program), rule, need.kind, now, need.ride_at)
        need.resolve_due_at = fresh.resolve_due
    set_next_due(need)
    record_event(
        need,
        actor,
        EventKind.STATUS,
        from_status=was,
        to_status=to,
        reason=reason,
        visible=True,
    )


def _first_contact(need: Need) -> None:
    if need.first_contact_at is None:
        need.first_contact_at = utcnow()
        set_next_due(need)


def _set_urgency(staff: User, need: Need, urgency: Urgency, program: Program) -> None:
    """Re-rate the request; its deadlines count again from when it was asked."""
    need.urgency = urgency
    rule = sla_rule(need.program_id, need.kind, urgency)
    schedule_deadlines(need, clock_of(program), need.created_at, rule)
    record_event(need, staff, EventKind.URGENCY, reason=urgency.name.lower())
