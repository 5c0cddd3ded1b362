"""Threads and messages: load what a person may read, the "anything new?" check, a page
of the conversation, read state, sending, after-hours outlook, flags for a clinician,
peer-support contacts, consents and the crisis phrase list. Services add and flush;
the request commits. (Who answers, coverage and the inbox: inbox.py.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

from flask_babel import gettext
from sqlalchemy import (
    and_,
    bindparam,
    func,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.orm import aliased, contains_eager
from sqlalchemy.orm.attributes import set_committed_value

from portal import db
from portal.audit import audit
from portal.blueprints.auth.models import User
from portal.blueprints.messages import access, inbox
from portal.blueprints.messages.models import (
    ContactKind,
    CrisisPhraseList,
    FlagReason,
    Message,
    MessageConsent,
    MessageThread,
    PeerContact,
    ThreadFlag,
    ThreadRead,
)
from portal.blueprints.messages.text import (
    DEFAULT_CRISIS_PHRASES,
    clean_phrases,
    find_crisis_phrases,
)
from portal.blueprints.programs.context import PatientContext
from portal.blueprints.programs.models import (
    CareTeamAssignment,
    Enrollment,
    EnrollmentStatus,
    Program,
    StaffMembership,
    TeamRole,
)
from portal.blueprints.safety.services import open_flag_status
from portal.db import UTCDateTime, is_id, new_id, utcnow
from portal.hours import is_open, next_opening
from portal.i18n import when
from portal.security import Role

PAGE_SIZE = 50  # messages on one page; older ones are a link away


# ---- loading a thread the actor may read ---------------------------------------------


def others_read_total():
    """The sum of everyone else's read pointers: it grows when someone else reads."""
    return (
        select(func.coalesce(func.sum(ThreadRead.last_read_seq), 0))
        .where(
            ThreadRead.thread_id == MessageThread.id,
            ThreadRead.user_id != access.actor_param(),
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
            access.my_read(),
            others_read_total(),
            _seen(role),
            # staff only: that a safety alert is open, and whether someone has it
            null()
            if role is Role.PATIENT
            else open_flag_status(MessageThread.patient_id),
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
    safety_alert: str | None = None  # for staff: the open flag's status, no content

    @property
    def etag(self) -> str:
        return make_etag(self.thread.last_seq, self.others_read_total)


def make_etag(last_seq: int, others_read_total: int) -> str:
    return f"{last_seq}.{others_read_total}"


def load_thread(actor: User, thread_id: str) -> LoadedThread | None:
    """The thread if the actor may read it, else None (the view answers 404)."""
    if not is_id(thread_id):
        return None
    row = db.session.execute(
        _thread_statement(actor.role), access.params(actor, thread_id=thread_id)
    ).first()
    if row is None:
        return None
    thread, name, enrollment, my_read, others, seen, safety_alert = row
    ctx = None
    if enrollment is not None:
        program = enrollment.program
        ctx = PatientContext(enrollment, program, ZoneInfo(program.timezone))
    return LoadedThread(
        thread, name, ctx, my_read or 0, others or 0, seen or 0, safety_alert
    )


def own_thread_id(patient: User) -> str | None:
    return db.session.scalar(
        select(MessageThread.id).where(MessageThread.patient_id == patient.id)
    )


def open_thread(patient_id: str) -> MessageThread:
    """The patient's thread, made the first time anyone writes in it."""
    db.session.execute(
        db.upsert(MessageThread)
        .values(id=new_id(), patient_id=patient_id, last_seq=0, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["patient_id"])
    )
    return db.session.scalar(
        select(MessageThread).where(MessageThread.patient_id == patient_id)
    )


# ---- the "anything new?" check: one query --------------------------------------------


def poll_version(actor: User, thread_id: str) -> tuple[int, int] | None:
    """(last message number, others' read total) when the actor may read the thread."""
    if not is_id(thread_id):
        return None
    statement = select(MessageThread.last_seq, others_read_total()).where(
        MessageThread.id == thread_id, access.may_read(actor.role)
    )
    row = db.session.execute(statement, access.params(actor)).first()
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
    statement = db.upsert(ThreadRead).values(
        thread_id=thread.id, user_id=viewer.id, last_read_seq=seq, read_at=now
    )
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["thread_id", "user_id"],
            set_={"last_read_seq": seq, "read_at": now},
            where=ThreadRead.last_read_seq < seq,
        )
    )


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
    """ "today at 8:00 AM", "tomorrow at 8:00 AM" or "Monday at 8:00 AM", in the
    page's language."""
    local_now = now.astimezone(opening.tzinfo)
    days = (opening.date() - local_now.date()).days
    at = when(opening, "time")
    if days == 0:
        return gettext("today at %(time)s", time=at)
    if days == 1:
        return gettext("tomorrow at %(time)s", time=at)
    return gettext("%(weekday)s at %(time)s", weekday=when(opening, "weekday"), time=at)


# ---- sending -------------------------------------------------------------------------


@dataclass
class Sent:
    message: Message
    crisis_phrases: list[str]


def send_message(
    author: User,
    thread: MessageThread,
    body: str,
    ctx: PatientContext | None,
    key: str | None = None,
) -> Sent:
    """Number and keep the message, mark it read by its author, tell the other side;
    a patient's message with crisis language also flags the thread and opens the
    crisis loop. A message sent again under the key it was first sent under is that
    first message (nothing new, nobody told twice)."""
    if key is not None:
        earlier = _sent_under(author, thread, key)
        if earlier is not None:
            return Sent(earlier, earlier.crisis_phrases or [])
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
        sent_key=key,
    )
    db.session.add(message)
    db.session.flush()
    mark_read(author, thread, seq)
    audit("create", "message", patient_id=thread.patient_id, object_id=message.id)
    _tell_the_other_side(author, thread, program)
    if matched:
        _crisis_language(author, thread, message, program)
    return Sent(message, matched)


def _sent_under(author: User, thread: MessageThread, key: str) -> Message | None:
    """The message this author sent under `key`, once a twin sending still in flight
    has finished: the thread's row lock (PostgreSQL; SQLite writes one at a time)
    makes a double tap wait for the first, then read what it stored."""
    db.session.execute(
        select(MessageThread.id).where(MessageThread.id == thread.id).with_for_update()
    )
    return db.session.scalar(
        select(Message).where(Message.author_id == author.id, Message.sent_key == key)
    )


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
        readers = inbox.readers_of(thread.patient_id)
        recipients = inbox.responsible_peer_ids(
            readers, program.id if program else None
        )
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
    from portal.blueprints.safety.escalation import record_positive

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


def save_consents(patient: User, readers: inbox.Readers, chosen: set[str]) -> int:
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
