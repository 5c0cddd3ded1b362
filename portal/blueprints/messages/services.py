"""Threads and messages: load what a person may read, send, mark read, the "anything
new?" check, the peer's inbox, coverage, consents, flags for a clinician, peer-support
contacts and the crisis phrase list. Services add and flush; the request commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import (
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased, contains_eager
from sqlalchemy.orm.attributes import set_committed_value

from portal import db
from portal.audit import audit, audit_many
from portal.blueprints.auth.models import Role, User
from portal.blueprints.messages import access
from portal.blueprints.messages.models import (
    ContactKind,
    CrisisPhraseList,
    FlagReason,
    Message,
    MessageConsent,
    MessageThread,
    PeerAvailability,
    PeerContact,
    ThreadFlag,
    ThreadRead,
)
from portal.blueprints.messages.text import (
    DEFAULT_CRISIS_PHRASES,
    clean_phrases,
    find_crisis_phrases,
)
from portal.blueprints.schedule.services import PatientContext
from portal.blueprints.staff.models import (
    CareTeamAssignment,
    Enrollment,
    EnrollmentStatus,
    Program,
    StaffMembership,
    TeamRole,
)
from portal.db import UTCDateTime, new_id, utcnow
from portal.hours import is_open, next_opening

PAGE_SIZE = 50  # messages on one page; older ones are a link away
INBOX_LIMIT = 500
COUNT_CAP = 100  # the nav shows "99+" beyond this


def _looks_like_id(value: str | None) -> bool:
    return bool(value) and len(value) == 36 and value.count("-") == 4


def _params(actor: User, **more) -> dict:
    return {"actor_id": actor.id, "now": utcnow(), **more}


def _upsert(model):
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


# ---- loading a thread the actor may read ---------------------------------------------


def _others_read_total():
    """The sum of everyone else's read pointers: it grows when someone else reads."""
    return (
        select(func.coalesce(func.sum(ThreadRead.last_read_seq), 0))
        .where(
            ThreadRead.thread_id == MessageThread.id,
            ThreadRead.user_id != access.actor_param(),
        )
        .scalar_subquery()
    )


def _my_read():
    return (
        select(ThreadRead.last_read_seq)
        .where(
            ThreadRead.thread_id == MessageThread.id,
            ThreadRead.user_id == access.actor_param(),
        )
        .scalar_subquery()
    )


def _seen(role: Role):
    """How far the other side has read: the patient, for staff; anyone on staff, for
    the patient (a "Seen" under the viewer's own last message)."""
    other = (
        ThreadRead.user_id != access.actor_param()
        if role is Role.PATIENT
        else ThreadRead.user_id == MessageThread.patient_id
    )
    return (
        select(func.max(ThreadRead.last_read_seq))
        .where(ThreadRead.thread_id == MessageThread.id, other)
        .scalar_subquery()
    )


@cache
def _thread_statement(role: Role):
    """The thread, the patient's name, current enrollment and program, and the read
    pointers: one query for everything a thread page needs to start."""
    patient = aliased(User)
    current = and_(
        Enrollment.patient_id == MessageThread.patient_id,
        Enrollment.status != EnrollmentStatus.DISCHARGED,
    )
    return (
        select(
            MessageThread,
            patient.display_name,
            Enrollment,
            _my_read(),
            _others_read_total(),
            _seen(role),
        )
        .join(patient, patient.id == MessageThread.patient_id)
        .outerjoin(Enrollment, current)
        .outerjoin(Enrollment.program)
        .options(contains_eager(Enrollment.program))
        .where(MessageThread.id == bindparam("thread_id"), access.may_read(role))
        .order_by(Enrollment.admitted_on.desc())
        .limit(1)
    )


@dataclass
class LoadedThread:
    thread: MessageThread
    patient_name: str
    ctx: PatientContext | None
    my_read_seq: int
    others_read_total: int
    seen_seq: int

    @property
    def etag(self) -> str:
        return make_etag(self.thread.last_seq, self.others_read_total)


def make_etag(last_seq: int, others_read_total: int) -> str:
    return f"{last_seq}.{others_read_total}"


def load_thread(actor: User, thread_id: str) -> LoadedThread | None:
    """The thread if the actor may read it, else None (the view answers 404)."""
    if not _looks_like_id(thread_id):
        return None
    row = db.session.execute(
        _thread_statement(actor.role), _params(actor, thread_id=thread_id)
    ).first()
    if row is None:
        return None
    thread, name, enrollment, my_read, others, seen = row
    ctx = None
    if enrollment is not None:
        program = enrollment.program
        ctx = PatientContext(enrollment, program, ZoneInfo(program.timezone))
    return LoadedThread(thread, name, ctx, my_read or 0, others or 0, seen or 0)


def own_thread_id(patient: User) -> str | None:
    return db.session.scalar(
        select(MessageThread.id).where(MessageThread.patient_id == patient.id)
    )


def open_thread(patient_id: str) -> MessageThread:
    """The patient's thread, made the first time anyone writes in it."""
    db.session.execute(
        _upsert(MessageThread)
        .values(id=new_id(), patient_id=patient_id, last_seq=0, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["patient_id"])
    )
    return db.session.scalar(
        select(MessageThread).where(MessageThread.patient_id == patient_id)
    )


# ---- the "anything new?" check: one query --------------------------------------------


@cache
def _poll_statement(role: Role):
    return select(MessageThread.last_seq, _others_read_total()).where(
        MessageThread.id == bindparam("thread_id"), access.may_read(role)
    )


def poll_version(actor: User, thread_id: str) -> tuple[int, int] | None:
    """(last message number, others' read total) when the actor may read the thread."""
    if not _looks_like_id(thread_id):
        return None
    params = {"actor_id": actor.id, "thread_id": thread_id}
    if access.needs_now(actor.role):
        params["now"] = utcnow()
    row = db.session.execute(_poll_statement(actor.role), params).first()
    return (row[0], row[1] or 0) if row is not None else None


# ---- a page of the conversation ------------------------------------------------------


@dataclass
class ShownMessage:
    seq: int
    body: str
    created_at: datetime
    author_id: str
    author_name: str
    author_role: Role
    crisis_phrases: list | None


@dataclass
class Conversation:
    messages: list[ShownMessage]
    has_older: bool
    my_read_seq: int  # before this page was opened: where "new" begins
    seen_seq: int  # the last message of the viewer's side that the other side has read


@cache
def _page_statement():
    return (
        select(
            Message.seq,
            Message.body,
            Message.created_at,
            Message.author_id,
            User.display_name,
            User.role,
            Message.crisis_phrases,
        )
        .join(User, User.id == Message.author_id)
        .where(
            Message.thread_id == bindparam("thread_id"),
            Message.seq < bindparam("before"),
            Message.seq > bindparam("after"),
        )
        .order_by(Message.seq.desc())
        .limit(bindparam("size"))
    )


def messages_between(thread_id: str, after: int, before: int, size: int) -> list:
    rows = db.session.execute(
        _page_statement(),
        {"thread_id": thread_id, "after": after, "before": before, "size": size},
    ).all()
    return [ShownMessage(*row) for row in reversed(rows)]


def conversation(
    viewer: User, loaded: LoadedThread, before: int | None = None
) -> Conversation:
    """The latest page of messages (or the page before a message number), audited."""
    thread = loaded.thread
    upper = before if before is not None else thread.last_seq + 1
    shown = messages_between(thread.id, 0, upper, PAGE_SIZE + 1)
    has_older = len(shown) > PAGE_SIZE
    shown = shown[-PAGE_SIZE:]
    audit(
        "read",
        "message",
        patient_id=thread.patient_id,
        object_id=thread.id,
        detail=_range(shown),
    )
    return Conversation(shown, has_older, loaded.my_read_seq, loaded.seen_seq)


def _range(shown: list[ShownMessage]) -> str:
    return f"messages {shown[0].seq}-{shown[-1].seq}" if shown else "no messages"


def mark_read(viewer: User, thread: MessageThread, seq: int) -> None:
    """Move the viewer's read pointer forward to `seq` (never back)."""
    now = utcnow()
    statement = _upsert(ThreadRead).values(
        thread_id=thread.id, user_id=viewer.id, last_read_seq=seq, read_at=now
    )
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["thread_id", "user_id"],
            set_={"last_read_seq": seq, "read_at": now},
            where=ThreadRead.last_read_seq < seq,
        )
    )


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


# ---- after hours ---------------------------------------------------------------------


@dataclass
class ReplyOutlook:
    open_now: bool
    next_opening: datetime | None  # in the program's time zone
    on_call_phone: str
    next_opening_words: str | None = None


def reply_outlook(program: Program, now: datetime | None = None) -> ReplyOutlook:
    """Whether someone is likely to answer soon, or when the program opens next."""
    now = now or utcnow()
    hours, tz = program.opening_hours or {}, program.timezone
    open_now = is_open(hours, tz, now)
    opening = None if open_now else next_opening(hours, tz, now)
    words = opening_words(opening, now) if opening else None
    return ReplyOutlook(open_now, opening, program.on_call_phone, words)


def opening_words(opening: datetime, now: datetime) -> str:
    """ "today at 8:00 AM", "tomorrow at 8:00 AM" or "Monday at 8:00 AM"."""
    local_now = now.astimezone(opening.tzinfo)
    days = (opening.date() - local_now.date()).days
    day = {0: "today", 1: "tomorrow"}.get(days, opening.strftime("%A"))
    return f"{day} at {opening.strftime('%-I:%M %p')}"


# ---- sending -------------------------------------------------------------------------


@dataclass
class Sent:
    message: Message
    crisis_phrases: list[str]


def send_message(
    author: User, thread: MessageThread, body: str, ctx: PatientContext | None
) -> Sent:
    """Number and keep the message, mark it read by its author, tell the other side;
    a patient's message with crisis language also flags the thread and opens the
    crisis loop."""
    seq = _next_seq(author, thread)
    from_patient = author.role is Role.PATIENT
    program = ctx.program if ctx else None
    matched = (
        find_crisis_phrases(body, phrases_for(program.id))
        if from_patient and program
        else []
    )
    message = Message(
        thread_id=thread.id,
        seq=seq,
        author_id=author.id,
        body=body,
        crisis_phrases=matched or None,
    )
    db.session.add(message)
    db.session.flush()
    mark_read(author, thread, seq)
    audit("create", "message", patient_id=thread.patient_id, object_id=message.id)
    _tell_the_other_side(author, thread, program)
    if matched:
        _crisis_language(author, thread, message, program)
    return Sent(message, matched)


def _next_seq(author: User, thread: MessageThread) -> int:
    """One UPDATE numbers the message: concurrent senders each get their own number."""
    now = utcnow()
    waiting = (
        func.coalesce(MessageThread.waiting_since, literal(now, UTCDateTime()))
        if author.role is Role.PATIENT
        else None
    )
    seq, waiting_since = db.session.execute(
        update(MessageThread)
        .where(MessageThread.id == thread.id)
        .values(
            last_seq=MessageThread.last_seq + 1,
            last_message_at=now,
            waiting_since=waiting,
        )
        .returning(MessageThread.last_seq, MessageThread.waiting_since)
        .execution_options(synchronize_session=False)
    ).one()
    set_committed_value(thread, "last_seq", seq)
    set_committed_value(thread, "last_message_at", now)
    set_committed_value(thread, "waiting_since", waiting_since)
    return seq


def _tell_the_other_side(
    author: User, thread: MessageThread, program: Program | None
) -> None:
    """A notification to whoever answers; one per unread stretch, not per message."""
    if author.role is Role.PATIENT:
        readers = readers_of(thread.patient_id)
        recipients = responsible_peer_ids(readers, program.id if program else None)
    else:
        recipients = [thread.patient_id]
    recipients = [r for r in recipients if r != author.id]
    if not recipients:
        return
    pointers = dict(
        db.session.execute(
            select(ThreadRead.user_id, ThreadRead.last_read_seq).where(
                ThreadRead.thread_id == thread.id, ThreadRead.user_id.in_(recipients)
            )
        ).all()
    )
    for recipient in recipients:
        _notify(
            recipient,
            thread,
            dedupe_key=f"message:{thread.id}:{recipient}:{pointers.get(recipient, 0)}",
        )


def _notify(recipient_id: str, thread: MessageThread, dedupe_key: str) -> None:
    from portal.blueprints.notifications.models import NotificationKind
    from portal.blueprints.notifications.services import notify

    notify(
        recipient_id,
        NotificationKind.NEW_MESSAGE,
        thread,
        patient_id=thread.patient_id,
        target=f"/messages/{thread.id}",
        dedupe_key=dedupe_key,
    )


def _crisis_language(
    patient: User, thread: MessageThread, message: Message, program: Program
) -> None:
    from portal.blueprints.checkins.escalation import record_positive

    raise_flag(thread, FlagReason.CRISIS_LANGUAGE, program, message_id=message.id)
    record_positive(patient, program, "message", message.id)


# ---- flags for a clinician -----------------------------------------------------------


def raise_flag(
    thread: MessageThread,
    reason: FlagReason,
    program: Program | None,
    *,
    note: str | None = None,
    message_id: str | None = None,
    raised_by: User | None = None,
) -> ThreadFlag:
    """Ask a clinician to look: the patient's therapist is told (the program's director
    when the patient has no therapist) and may read the thread while it is open."""
    flag = ThreadFlag(
        thread_id=thread.id,
        patient_id=thread.patient_id,
        reason=reason,
        note=note,
        message_id=message_id,
        raised_by_id=raised_by.id if raised_by else None,
    )
    db.session.add(flag)
    if thread.flagged_at is None:
        thread.flagged_at = utcnow()
    db.session.flush()
    audit("create", "message_flag", patient_id=thread.patient_id, object_id=flag.id)
    for clinician in _clinicians_to_tell(thread.patient_id, program):
        _notify(clinician, thread, dedupe_key=f"message-flag:{flag.id}:{clinician}")
    return flag


def _clinicians_to_tell(patient_id: str, program: Program | None) -> list[str]:
    therapist = db.session.scalar(
        select(User.id)
        .join(CareTeamAssignment, CareTeamAssignment.staff_id == User.id)
        .where(
            CareTeamAssignment.patient_id == patient_id,
            CareTeamAssignment.team_role == TeamRole.THERAPIST,
            User.is_active.is_(True),
        )
    )
    if therapist or program is None:
        return [therapist] if therapist else []
    return list(
        db.session.scalars(
            select(User.id)
            .join(StaffMembership, StaffMembership.user_id == User.id)
            .where(
                StaffMembership.program_id == program.id,
                User.role == Role.DIRECTOR,
                User.is_active.is_(True),
            )
        )
    )


def open_flags(thread_id: str) -> list[ThreadFlag]:
    return list(
        db.session.scalars(
            select(ThreadFlag)
            .where(ThreadFlag.thread_id == thread_id, ThreadFlag.handled_at.is_(None))
            .order_by(ThreadFlag.raised_at)
        )
    )


def handle_flags(actor: User, thread: MessageThread, note: str) -> int:
    """A clinician has looked: the open flags are closed with a note."""
    flags = open_flags(thread.id)
    now = utcnow()
    for flag in flags:
        flag.handled_by_id, flag.handled_at, flag.handled_note = actor.id, now, note
        audit("update", "message_flag", patient_id=thread.patient_id, object_id=flag.id)
    thread.flagged_at = None
    return len(flags)


# ---- peer-support contacts -----------------------------------------------------------


@dataclass(frozen=True)
class ContactData:
    contact_on: date
    minutes: int
    kind: ContactKind
    note: str | None


def log_contact(peer: User, thread: MessageThread, data: ContactData) -> PeerContact:
    """A peer-support encounter for the record (billable as HCPCS H0038)."""
    contact = PeerContact(
        patient_id=thread.patient_id,
        peer_id=peer.id,
        thread_id=thread.id,
        contact_on=data.contact_on,
        minutes=data.minutes,
        kind=data.kind,
        note=data.note,
    )
    db.session.add(contact)
    db.session.flush()
    audit("create", "peer_contact", patient_id=thread.patient_id, object_id=contact.id)
    return contact


def recent_contacts(patient_id: str, limit: int = 10) -> list[PeerContact]:
    return list(
        db.session.scalars(
            select(PeerContact)
            .where(PeerContact.patient_id == patient_id)
            .order_by(PeerContact.contact_on.desc(), PeerContact.created_at.desc())
            .limit(limit)
        )
    )


# ---- consent -------------------------------------------------------------------------


def save_consents(patient: User, readers: Readers, chosen: set[str]) -> int:
    """Let in the chosen members of the care team and withdraw the rest; returns how
    many changed. Only current care-team members other than the peer can be chosen."""
    allowed = {m.staff_id for m in readers.others}
    standing = {
        c.staff_id: c
        for c in db.session.scalars(
            select(MessageConsent).where(
                MessageConsent.patient_id == patient.id,
                MessageConsent.active_key.is_not(None),
            )
        )
    }
    changed = 0
    for staff_id in (chosen & allowed) - set(standing):
        consent = MessageConsent(
            patient_id=patient.id,
            staff_id=staff_id,
            active_key=f"{patient.id}:{staff_id}",
        )
        db.session.add(consent)
        db.session.flush()
        audit("create", "message_consent", patient_id=patient.id, object_id=consent.id)
        changed += 1
    for staff_id, consent in standing.items():
        if staff_id not in chosen:
            consent.active_key, consent.withdrawn_at = None, utcnow()
            audit(
                "revoke", "message_consent", patient_id=patient.id, object_id=consent.id
            )
            changed += 1
    return changed


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


def _my_unread():
    mine = aliased(ThreadRead)
    unread = MessageThread.last_seq - func.coalesce(
        select(mine.last_read_seq)
        .where(mine.thread_id == MessageThread.id, mine.user_id == access.actor_param())
        .scalar_subquery(),
        0,
    )
    return unread


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
            _my_unread(),
            peer.id,
            peer.display_name,
            func.coalesce(availability.away, False),
            availability.covering_id,
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
    rows = db.session.execute(_inbox_statement(actor.role), _params(actor)).all()
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
    peer_id, peer_name, away, covering_id = row[7:]
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
    )


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
    rows = db.session.execute(_startable_statement(), _params(actor)).all()
    audit_many(
        "read", "enrollment", [(r[0], None) for r in rows], detail="no messages yet"
    )
    return [(r[0], r[1]) for r in rows]


def may_start(actor: User, patient_id: str) -> bool:
    """A peer may start a conversation with their own (or a covered) patient."""
    if actor.role is not Role.PEER or not _looks_like_id(patient_id):
        return False
    rows = db.session.execute(_startable_statement(), _params(actor)).all()
    return any(row[0] == patient_id for row in rows)


# ---- the count in the navigation -----------------------------------------------------


@cache
def _unread_statement(role: Role):
    """Patients: unread messages in their thread. Staff: threads of their inbox with
    something unread (at most 100 counted)."""
    if role is Role.PATIENT:
        return (
            select(func.coalesce(func.sum(_my_unread()), 0))
            .where(MessageThread.patient_id == access.actor_param())
            .scalar_subquery()
        )
    threads = (
        select(MessageThread.id)
        .where(access.may_read(role), _my_unread() > 0)
        .limit(COUNT_CAP)
        .subquery()
    )
    return select(func.count()).select_from(threads).scalar_subquery()


def unread_messages_subquery(actor: User):
    """A scalar subquery for the navigation's count, to run beside other counts; None
    for people who have no messages (admin staff)."""
    if actor.role is Role.ADMIN:
        return None
    return _unread_statement(actor.role)


def unread_params(actor: User) -> dict:
    return _params(actor)


# ---- the crisis phrase list ----------------------------------------------------------


def phrases_for(program_id: str) -> list[str]:
    """The program's list, or the starting list until a clinician changes it."""
    row = db.session.get(CrisisPhraseList, program_id)
    return list(row.phrases) if row is not None else list(DEFAULT_CRISIS_PHRASES)


def phrase_list(program_id: str) -> CrisisPhraseList | None:
    return db.session.get(CrisisPhraseList, program_id)


def save_phrases(actor: User, program: Program, lines: list[str]) -> list[str]:
    phrases = clean_phrases(lines)
    row = db.session.get(CrisisPhraseList, program.id)
    if row is None:
        row = CrisisPhraseList(program_id=program.id)
        db.session.add(row)
    row.phrases, row.updated_by_id, row.updated_at = phrases, actor.id, utcnow()
    audit(
        "update",
        "crisis_phrases",
        object_id=program.id,
        detail=f"{len(phrases)} phrases",
    )
    return phrases
