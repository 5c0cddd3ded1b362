"""The huddle's notes and actions: what the team said and agreed about a patient,
kept and shown at the next huddle until done; who may be given an action; marking
the huddle held. Every read and change is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import aliased

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.programs.models import (
    Enrollment,
    EnrollmentStatus,
    StaffMembership,
)
from portal.blueprints.staff.huddle_day import HuddleDay, is_clinician
from portal.blueprints.staff.models import Huddle, HuddleAction, HuddleNote
from portal.security import CLINICAL

NOTE_DAYS = 7  # notes this recent are shown under the patient
NOTES_SHOWN = 300  # at most, newest first: a page, not an archive


@dataclass(frozen=True)
class ActionView:
    id: str
    patient_id: str
    what: str
    owner_id: str
    owner: str
    due_at: datetime
    created_by: str
    created_at: datetime
    patient: str

    def overdue(self, now: datetime) -> bool:
        return self.due_at < now


def open_actions(
    actor: User, day: HuddleDay, patient_id: str | None = None, mine: bool = False
):
    """The program's actions not yet done, soonest first, with who owns and who
    agreed each: one statement. Peers and case managers get only their own."""
    owner, author, patient = aliased(User), aliased(User), aliased(User)
    stmt = (
        select(
            HuddleAction.id,
            HuddleAction.patient_id,
            HuddleAction.what,
            HuddleAction.owner_id,
            owner.display_name,
            HuddleAction.due_at,
            author.display_name,
            HuddleAction.created_at,
            patient.display_name,
        )
        .join(owner, owner.id == HuddleAction.owner_id)
        .join(patient, patient.id == HuddleAction.patient_id)
        .join(author, author.id == HuddleAction.created_by_id)
        .where(
            HuddleAction.program_id == day.program.id, HuddleAction.done_at.is_(None)
        )
        .order_by(HuddleAction.due_at, HuddleAction.created_at)
    )
    if mine or not is_clinician(actor):
        stmt = stmt.where(HuddleAction.owner_id == actor.id)
    if patient_id is not None:
        stmt = stmt.where(HuddleAction.patient_id == patient_id)
    return [ActionView(*r) for r in db.session.execute(stmt)]


@dataclass(frozen=True)
class NoteView:
    id: str
    patient_id: str
    body: str
    author: str
    written_at: datetime


def recent_notes(day: HuddleDay, patient_id: str | None = None) -> list[NoteView]:
    """The program's huddle notes of the last 7 days, newest first: one statement.
    Clinicians only (the caller checks)."""
    stmt = (
        select(
            HuddleNote.id,
            HuddleNote.patient_id,
            HuddleNote.body,
            User.display_name,
            HuddleNote.written_at,
        )
        .join(User, User.id == HuddleNote.author_id)
        .where(
            HuddleNote.program_id == day.program.id,
            HuddleNote.written_at >= day.now - timedelta(days=NOTE_DAYS),
        )
        .order_by(HuddleNote.written_at.desc())
        .limit(NOTES_SHOWN)
    )
    if patient_id is not None:
        stmt = stmt.where(HuddleNote.patient_id == patient_id)
    return [NoteView(*r) for r in db.session.execute(stmt)]


def program_staff(day: HuddleDay) -> list[tuple[str, str]]:
    """(id, name) of the program's active care-team staff, to own an action."""
    return list(
        db.session.execute(
            select(User.id, User.display_name)
            .join(StaffMembership, StaffMembership.user_id == User.id)
            .where(
                StaffMembership.program_id == day.program.id,
                User.is_active.is_(True),
                User.role.in_(CLINICAL),
            )
            .order_by(User.display_name)
        ).tuples()
    )


# ---- changes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Patient:
    id: str
    name: str


def enrolled_patient(day: HuddleDay, patient_id: str) -> Patient | None:
    """The patient if enrolled (not discharged) in the huddle's program."""
    row = db.session.execute(
        select(User.id, User.display_name)
        .join(Enrollment, Enrollment.patient_id == User.id)
        .where(
            Enrollment.patient_id == patient_id,
            Enrollment.program_id == day.program.id,
            Enrollment.status != EnrollmentStatus.DISCHARGED,
        )
        .limit(1)
    ).first()
    return Patient(*row) if row else None


def mark_held(actor: User, day: HuddleDay) -> Huddle:
    """Record that the team held its huddle now."""
    huddle = Huddle(program_id=day.program.id, held_at=day.now, held_by_id=actor.id)
    db.session.add(huddle)
    db.session.flush()
    audit("create", "huddle", object_id=huddle.id)
    return huddle


def add_note(actor: User, day: HuddleDay, patient_id: str, body: str) -> HuddleNote:
    """Keep what the team said about a patient, with who and when."""
    note = HuddleNote(
        program_id=day.program.id,
        patient_id=patient_id,
        body=body.strip(),
        author_id=actor.id,
        written_at=day.now,
    )
    db.session.add(note)
    db.session.flush()
    audit("create", "huddle_note", patient_id=patient_id, object_id=note.id)
    return note


def add_action(
    actor: User, day: HuddleDay, patient_id: str, what: str, owner_id: str, due_at
) -> HuddleAction:
    """Record an action agreed for a patient: who does it, by when."""
    action = HuddleAction(
        program_id=day.program.id,
        patient_id=patient_id,
        what=what.strip(),
        owner_id=owner_id,
        due_at=due_at,
        created_by_id=actor.id,
        created_at=day.now,
    )
    db.session.add(action)
    db.session.flush()
    audit("create", "huddle_action", patient_id=patient_id, object_id=action.id)
    return action


def load_open_action(
    actor: User, day: HuddleDay, action_id: str
) -> HuddleAction | None:
    """An open action of the program the actor may close: its owner, or a clinician."""
    stmt = select(HuddleAction).where(
        HuddleAction.id == action_id,
        HuddleAction.program_id == day.program.id,
        HuddleAction.done_at.is_(None),
    )
    if not is_clinician(actor):
        stmt = stmt.where(HuddleAction.owner_id == actor.id)
    return db.session.scalar(stmt)


def mark_done(actor: User, action: HuddleAction, now: datetime) -> None:
    """Close an action: who and when are kept."""
    action.done_at, action.done_by_id = now, actor.id
    db.session.flush()
    audit(
        "update",
        "huddle_action",
        patient_id=action.patient_id,
        object_id=action.id,
        detail="done",
    )


def due_moment(day: HuddleDay, on: date, at: time) -> datetime:
    """A due time the team said in the program's local time, as UTC."""
    return datetime.combine(on, at, day.tz)
