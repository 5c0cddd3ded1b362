"""Who may read a thread, as SQL: one condition per kind of reader, with bound values
(`actor_id`, `now`) so that each statement is built once and reused.

- The patient reads their own thread.
- A peer specialist reads the threads of the patients assigned to them; while they are
  away, the peer covering for them reads those too; a patient whose peer is missing,
  inactive or away without cover (or who has none) is read by every peer of the
  program.
- Another member of the care team reads it while the patient's consent stands.
- A clinician of the patient's circle reads it while a flag asks a clinician to look.

Every staff reader must also share a program with the patient's current enrollment.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import and_, bindparam, exists, false, func, or_, select, true
from sqlalchemy.orm import aliased

from portal.blueprints.auth.models import User
from portal.blueprints.messages.models import (
    MessageConsent,
    MessageThread,
    PeerAvailability,
    ThreadRead,
)
from portal.blueprints.programs.models import (
    AccessGrant,
    CareTeamAssignment,
    Enrollment,
    EnrollmentStatus,
    StaffMembership,
    TeamRole,
)
from portal.db import utcnow
from portal.security import Role

CLINICIANS = frozenset({Role.THERAPIST, Role.PRESCRIBER, Role.NURSE, Role.DIRECTOR})


def actor_param():
    return bindparam("actor_id")


def params(actor: User, **more) -> dict:
    """The bound values of these statements for one actor."""
    return {"actor_id": actor.id, "now": utcnow(), **more}


def my_read():
    """How far the actor has read the thread (NULL before their first visit)."""
    return (
        select(ThreadRead.last_read_seq)
        .where(
            ThreadRead.thread_id == MessageThread.id,
            ThreadRead.user_id == actor_param(),
        )
        .scalar_subquery()
    )


def my_unread():
    """Messages in the thread after the actor's read pointer."""
    return MessageThread.last_seq - func.coalesce(my_read(), 0)


def _not_away(availability):
    return func.coalesce(availability.away, false()) == false()


def _actor_programs():
    return select(StaffMembership.program_id).where(
        StaffMembership.user_id == actor_param()
    )


def shares_program():
    """The patient's current enrollment is in one of the actor's programs."""
    enrollment = aliased(Enrollment)  # the page's own query joins Enrollment too
    return exists().where(
        enrollment.patient_id == MessageThread.patient_id,
        enrollment.status != EnrollmentStatus.DISCHARGED,
        enrollment.program_id.in_(_actor_programs()),
    )


def _peer_rows():
    team = aliased(CareTeamAssignment)
    return team, (team.patient_id == MessageThread.patient_id) & (
        team.team_role == TeamRole.PEER
    )


def assigned_peer_present():
    team, is_peer = _peer_rows()
    person, availability = aliased(User), aliased(PeerAvailability)
    return (
        select(team.id)
        .join(person, person.id == team.staff_id)
        .outerjoin(availability, availability.user_id == team.staff_id)
        .where(is_peer, person.is_active.is_(True), _not_away(availability))
        .exists()
    )


def covered_while_away():
    team, is_peer = _peer_rows()
    away, cover = aliased(PeerAvailability), aliased(User)
    cover_availability = aliased(PeerAvailability)
    return (
        select(team.id)
        .join(away, (away.user_id == team.staff_id) & away.away.is_(True))
        .join(cover, (cover.id == away.covering_id) & cover.is_active.is_(True))
        .outerjoin(cover_availability, cover_availability.user_id == cover.id)
        .where(is_peer, _not_away(cover_availability))
        .exists()
    )


def peer_may_read():
    team, is_peer = _peer_rows()
    mine = exists().where(is_peer, team.staff_id == actor_param())
    away = aliased(PeerAvailability)
    covering_me = (
        select(team.id)
        .join(away, (away.user_id == team.staff_id) & away.away.is_(True))
        .where(is_peer, away.covering_id == actor_param())
        .exists()
    )
    nobody_else = ~assigned_peer_present() & ~covered_while_away()
    return or_(mine, covering_me, nobody_else)


def consented():
    """A standing consent to a person who is still on the patient's care team."""
    team = aliased(CareTeamAssignment)
    return (
        select(MessageConsent.id)
        .join(
            team,
            (team.patient_id == MessageConsent.patient_id)
            & (team.staff_id == MessageConsent.staff_id),
        )
        .where(
            MessageConsent.patient_id == MessageThread.patient_id,
            MessageConsent.staff_id == actor_param(),
            MessageConsent.active_key.is_not(None),
        )
        .exists()
    )


def flagged_for_circle(role: Role):
    """Flagged, and the patient is in the clinician's circle: the same circle as
    portal.security.patient_circle_clause, with bound values."""
    if role not in CLINICIANS:
        return false()
    team = aliased(CareTeamAssignment)
    on_team = exists().where(
        team.patient_id == MessageThread.patient_id,
        team.staff_id == actor_param(),
    )
    granted = exists().where(
        AccessGrant.patient_id == MessageThread.patient_id,
        AccessGrant.staff_id == actor_param(),
        AccessGrant.expires_at > bindparam("now"),
    )
    circle = true() if role is Role.DIRECTOR else or_(on_team, granted)
    return and_(MessageThread.flagged_at.is_not(None), circle)


@cache
def staff_may_read(role: Role):
    """The whole condition for a staff member of this role (built once per role)."""
    if role is Role.PEER:
        return and_(shares_program(), peer_may_read())
    if role is Role.ADMIN or role is Role.PATIENT:
        return false()
    return and_(shares_program(), or_(consented(), flagged_for_circle(role)))


def may_read(role: Role):
    if role is Role.PATIENT:
        return MessageThread.patient_id == actor_param()
    return staff_may_read(role)


def needs_now(role: Role) -> bool:
    return role in CLINICIANS
