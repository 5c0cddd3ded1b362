"""The people around a conversation: who reads and answers it, peers away and the
peers covering for them, the staff inbox, and the unread count of the navigation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlalchemy.orm import aliased

from portal import db
from portal.audit import audit, audit_many
from portal.blueprints.auth.models import User
from portal.blueprints.messages import access
from portal.blueprints.messages.models import (
    MessageConsent,
    MessageThread,
    PeerAvailability,
)
from portal.blueprints.programs.models import (
    CareTeamAssignment,
    Enrollment,
    EnrollmentStatus,
    StaffMembership,
    TeamRole,
)
from portal.blueprints.safety.services import (
    open_alerts_statement,
    open_flag_status,
    taken_flag_status,
)
from portal.db import is_id, utcnow
from portal.security import Permission, Role, has_permission

INBOX_LIMIT = 500
COUNT_CAP = 100  # the navigation shows "99+" beyond this


# ---- who reads the conversation ------------------------------------------------------


@dataclass
class TeamMember:
    staff_id: str
    name: str
    team_role: TeamRole
    active: bool
    away: bool
    cover_id: str | None
    cover_name: str | None
    cover_present: bool
    consented: bool


@dataclass
class Readers:
    """The patient's care team as the conversation sees it."""

    team: list[TeamMember] = field(default_factory=list)

    @property
    def peer(self) -> TeamMember | None:
        return next((m for m in self.team if m.team_role is TeamRole.PEER), None)

    @property
    def peer_present(self) -> bool:
        return bool(self.peer and self.peer.active and not self.peer.away)

    @property
    def covered(self) -> bool:
        peer = self.peer
        return bool(peer and peer.away and peer.cover_id and peer.cover_present)

    @property
    def to_program_peers(self) -> bool:
        return not self.peer_present and not self.covered

    @property
    def others(self) -> list[TeamMember]:
        """Care-team members other than the peer: those the patient may let in."""
        return [m for m in self.team if m.team_role is not TeamRole.PEER and m.active]

    @property
    def sharing_with(self) -> list[TeamMember]:
        return [m for m in self.others if m.consented]


@cache
def _readers_statement():
    person, cover = aliased(User), aliased(User)
    availability, cover_availability = (
        aliased(PeerAvailability),
        aliased(PeerAvailability),
    )
    consent = (
        select(MessageConsent.id)
        .where(
            MessageConsent.patient_id == CareTeamAssignment.patient_id,
            MessageConsent.staff_id == CareTeamAssignment.staff_id,
            MessageConsent.active_key.is_not(None),
        )
        .exists()
    )
    cover_present = and_(
        cover.is_active.is_(True),
        func.coalesce(cover_availability.away, False).is_(False),
    )
    return (
        select(
            person.id,
            person.display_name,
            CareTeamAssignment.team_role,
            person.is_active,
            func.coalesce(availability.away, False),
            availability.covering_id,
            cover.display_name,
            case((cover_present, True), else_=False),
            consent,
        )
        .join(person, person.id == CareTeamAssignment.staff_id)
        .outerjoin(availability, availability.user_id == person.id)
        .outerjoin(cover, cover.id == availability.covering_id)
        .outerjoin(cover_availability, cover_availability.user_id == cover.id)
        .where(CareTeamAssignment.patient_id == bindparam("patient_id"))
        .order_by(person.display_name)
    )


def readers_of(patient_id: str) -> Readers:
    rows = db.session.execute(_readers_statement(), {"patient_id": patient_id}).all()
    return Readers(
        [
            TeamMember(
                staff_id=r[0],
                name=r[1],
                team_role=TeamRole(r[2]),
                active=bool(r[3]),
                away=bool(r[4]),
                cover_id=r[5],
                cover_name=r[6],
                cover_present=bool(r[7]),
                consented=bool(r[8]),
            )
            for r in rows
        ]
    )


def program_peers(program_id: str, present_only: bool = True) -> list[User]:
    """The program's active peer specialists (only those not away, by default)."""
    query = (
        select(User)
        .join(StaffMembership, StaffMembership.user_id == User.id)
        .outerjoin(PeerAvailability, PeerAvailability.user_id == User.id)
        .where(
            StaffMembership.program_id == program_id,
            User.role == Role.PEER,
            User.is_active.is_(True),
        )
        .order_by(User.display_name)
    )
    if present_only:
        query = query.where(func.coalesce(PeerAvailability.away, False).is_(False))
    return list(db.session.scalars(query))


def responsible_peer_ids(readers: Readers, program_id: str | None) -> list[str]:
    """Who answers the patient now: their peer, the peer covering for them, or every
    peer of the program who is not away."""
    if readers.peer_present:
        return [readers.peer.staff_id]
    if readers.covered:
        return [readers.peer.cover_id]
    return [p.id for p in program_peers(program_id)] if program_id else []


# ---- away and coverage ---------------------------------------------------------------


class CoverError(ValueError):
    """A covering peer that cannot be chosen; the message says why."""


def availability_of(peer: User) -> PeerAvailability:
    found = db.session.get(PeerAvailability, peer.id)
    return found or PeerAvailability(user_id=peer.id, away=False)


def cover_choices(peer: User) -> list[User]:
    """Peers who share a program with this peer and are not away themselves."""
    programs = select(StaffMembership.program_id).where(
        StaffMembership.user_id == peer.id
    )
    return list(
        db.session.scalars(
            select(User)
            .join(StaffMembership, StaffMembership.user_id == User.id)
            .outerjoin(PeerAvailability, PeerAvailability.user_id == User.id)
            .where(
                StaffMembership.program_id.in_(programs),
                User.role == Role.PEER,
                User.is_active.is_(True),
                User.id != peer.id,
                func.coalesce(PeerAvailability.away, False).is_(False),
            )
            .order_by(User.display_name)
            .distinct()
        )
    )


def covering_for(actor: User) -> list[str]:
    """Names of the away peers whose patients this peer covers."""
    if actor.role is not Role.PEER:
        return []
    return list(
        db.session.scalars(
            select(User.display_name)
            .join(PeerAvailability, PeerAvailability.user_id == User.id)
            .where(
                PeerAvailability.away.is_(True),
                PeerAvailability.covering_id == actor.id,
            )
            .order_by(User.display_name)
        )
    )


def set_away(peer: User, away: bool, covering_id: str | None) -> PeerAvailability:
    """Away with a covering peer (or none: the program's peers see the threads), or
    back. What this peer covered for others passes to their own cover."""
    if away and covering_id and covering_id not in {u.id for u in cover_choices(peer)}:
        raise CoverError("Choose a peer specialist of your program who is not away.")
    row = db.session.get(PeerAvailability, peer.id)
    if row is None:
        row = PeerAvailability(user_id=peer.id)
        db.session.add(row)
    was_away = bool(row.away)
    row.away, row.updated_at = away, utcnow()
    row.covering_id = covering_id if away else None
    row.away_since = (row.away_since if was_away else utcnow()) if away else None
    if away:
        db.session.execute(
            update(PeerAvailability)
            .where(PeerAvailability.covering_id == peer.id)
            .values(covering_id=row.covering_id)
            .execution_options(synchronize_session=False)
        )
    audit(
        "write",
        "peer_availability",
        object_id=peer.id,
        detail="away" if away else "back",
    )
    return row


# ---- the inbox -----------------------------------------------------------------------


@dataclass
class InboxRow:
    thread_id: str
    patient_id: str
    patient_name: str
    last_message_at: datetime | None
    waiting_since: datetime | None
    flagged: bool
    unread: int
    why: str  # "yours", "covering", "unassigned", "shared" or "flagged"
    peer_name: str | None
    safety_alert: str | None  # the open risk flag's status only: never its content


@cache
def _inbox_statement(role: Role):
    patient, peer = aliased(User), aliased(User)
    team, availability = aliased(CareTeamAssignment), aliased(PeerAvailability)
    return (
        select(
            MessageThread.id,
            MessageThread.patient_id,
            patient.display_name,
            MessageThread.last_message_at,
            MessageThread.waiting_since,
            MessageThread.flagged_at,
            access.my_unread(),
            peer.id,
            peer.display_name,
            func.coalesce(availability.away, False),
            availability.covering_id,
            open_flag_status(MessageThread.patient_id),
        )
        .join(patient, patient.id == MessageThread.patient_id)
        .outerjoin(
            team,
            (team.patient_id == MessageThread.patient_id)
            & (team.team_role == TeamRole.PEER),
        )
        .outerjoin(peer, peer.id == team.staff_id)
        .outerjoin(availability, availability.user_id == team.staff_id)
        .where(MessageThread.last_seq > 0, access.may_read(role))
        .order_by(
            MessageThread.waiting_since.is_(None),
            MessageThread.waiting_since,
            MessageThread.last_message_at.desc(),
        )
        .limit(INBOX_LIMIT)
    )


def inbox(actor: User) -> list[InboxRow]:
    """The threads this staff member answers or may read, unanswered first (longest
    wait first), then the most recent; one audit row per patient listed."""
    rows = db.session.execute(_inbox_statement(actor.role), access.params(actor)).all()
    result = [_inbox_row(actor, row) for row in rows]
    audit_many(
        "read",
        "message",
        [(row.patient_id, row.thread_id) for row in result],
        detail="inbox",
    )
    return result


def _inbox_row(actor: User, row) -> InboxRow:
    thread_id, patient_id, name, last_at, waiting, flagged_at, unread = row[:7]
    peer_id, peer_name, away, covering_id, safety_alert = row[7:]
    if actor.role is not Role.PEER:
        why = "flagged" if flagged_at else "shared"
    elif peer_id == actor.id:
        why = "yours"
    elif away and covering_id == actor.id:
        why = "covering"
    else:
        why = "unassigned"
    return InboxRow(
        thread_id,
        patient_id,
        name,
        last_at,
        waiting,
        flagged_at is not None,
        max(0, unread or 0),
        why,
        peer_name,
        safety_alert,
    )


def inbox_version_columns() -> list:
    """What the inbox shows, as aggregates over the threads listed: threads,
    messages, what the actor has read, how many wait, how many are flagged, and how
    many patients have a safety alert open and taken."""
    return [
        func.count(MessageThread.id),
        func.coalesce(func.sum(MessageThread.last_seq), 0),
        func.coalesce(func.sum(access.my_read()), 0),
        func.count(MessageThread.waiting_since),
        func.count(MessageThread.flagged_at),
        # a safety alert opening, taken or closed changes the inbox's markers
        func.count(open_flag_status(MessageThread.patient_id)),
        func.count(taken_flag_status(MessageThread.patient_id)),
    ]


def inbox_etag(values) -> str:
    return "i" + ".".join(str(value or 0) for value in values)


@cache
def _inbox_version_statement(role: Role):
    return select(*inbox_version_columns()).where(
        MessageThread.last_seq > 0, access.may_read(role)
    )


def inbox_version(actor: User) -> str:
    """The inbox's ETag, from one aggregate row."""
    row = (
        db.session.connection()
        .execute(_inbox_version_statement(actor.role), access.params(actor))
        .one()
    )
    return inbox_etag(row)


@cache
def _startable_statement():
    """The peer's own (or covered) patients who have no conversation yet."""
    team, availability = aliased(CareTeamAssignment), aliased(PeerAvailability)
    started = (
        select(MessageThread.id)
        .where(MessageThread.patient_id == User.id, MessageThread.last_seq > 0)
        .exists()
    )
    programs = select(StaffMembership.program_id).where(
        StaffMembership.user_id == access.actor_param()
    )
    return (
        select(User.id, User.display_name)
        .join(
            Enrollment,
            (Enrollment.patient_id == User.id)
            & (Enrollment.status != EnrollmentStatus.DISCHARGED),
        )
        .join(team, (team.patient_id == User.id) & (team.team_role == TeamRole.PEER))
        .outerjoin(availability, availability.user_id == team.staff_id)
        .where(
            Enrollment.program_id.in_(programs),
            or_(
                team.staff_id == access.actor_param(),
                and_(
                    availability.away.is_(True),
                    availability.covering_id == access.actor_param(),
                ),
            ),
            ~started,
        )
        .order_by(User.display_name)
        .limit(INBOX_LIMIT)
    )


def startable(actor: User) -> list[tuple[str, str]]:
    """(patient id, name) of the peer's patients without a conversation yet."""
    if actor.role is not Role.PEER:
        return []
    rows = db.session.execute(_startable_statement(), access.params(actor)).all()
    audit_many(
        "read", "enrollment", [(r[0], None) for r in rows], detail="no messages yet"
    )
    return [(r[0], r[1]) for r in rows]


def may_start(actor: User, patient_id: str) -> bool:
    """A peer may start a conversation with their own (or a covered) patient."""
    if actor.role is not Role.PEER or not is_id(patient_id):
        return False
    rows = db.session.execute(_startable_statement(), access.params(actor)).all()
    return any(row[0] == patient_id for row in rows)


# ---- the count in the navigation -----------------------------------------------------


@cache
def unread_messages_column(role: Role):
    """Patients: unread messages in their thread. Staff: threads of their inbox with
    something unread (at most 100 counted)."""
    if role is Role.PATIENT:
        return (
            select(func.coalesce(func.sum(access.my_unread()), 0))
            .where(MessageThread.patient_id == access.actor_param())
            .scalar_subquery()
        )
    threads = (
        select(MessageThread.id)
        .where(access.may_read(role), access.my_unread() > 0)
        .limit(COUNT_CAP)
        .subquery()
    )
    return select(func.count()).select_from(threads).scalar_subquery()


@cache
def _header_statement(role: Role):
    """The bell's count and this count in one statement, built once per role."""
    from portal.blueprints.notifications.services import UNREAD_COUNT

    return select(UNREAD_COUNT.scalar_subquery(), unread_messages_column(role))


def header_counts(actor: User) -> tuple[int, int, int | None] | None:
    """(unread notifications, unread messages, open alerts) in one query; the alerts
    only for those who handle them (None otherwise). None for people who have no
    messages (admin staff), whose bell counts on its own."""
    from portal.blueprints.notifications.services import unread_count_params

    if actor.role is Role.ADMIN:
        return None
    statement = _header_statement(actor.role)
    handles_alerts = has_permission(actor, Permission.RISK_HANDLE)
    if handles_alerts:  # built per request: who may handle a flag is not cached
        statement = statement.add_columns(
            open_alerts_statement(actor).scalar_subquery()
        )
    values = access.params(actor) | unread_count_params(actor.id)
    row = db.session.execute(statement, values).one()
    alerts = (row[2] or 0) if handles_alerts else None
    return row[0] or 0, row[1] or 0, alerts
