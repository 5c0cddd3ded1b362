"""Threads, messages, read state, sharing consents, clinician flags, peer availability,
peer-support contacts and the crisis phrase list of each program."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, Timestamps, UUIDPk, str_enum, utcnow

MAX_MESSAGE_LENGTH = 4000
PEER_SUPPORT_HCPCS = "H0038"  # peer support services, per 15 minutes


class ContactKind(StrEnum):
    MESSAGE = "message"
    CALL = "call"
    IN_PERSON = "in_person"


class FlagReason(StrEnum):
    CRISIS_LANGUAGE = "crisis_language"
    STAFF_CONCERN = "staff_concern"


class MessageThread(UUIDPk, Timestamps, Base):
    """The one conversation of a patient with their peer specialist and whoever of
    their care team they have let in. `last_seq` numbers the messages and, with the
    read pointers, is the version that the "anything new?" check compares."""

    __tablename__ = "message_threads"
    __table_args__ = (Index("ix_message_threads_waiting", "waiting_since"),)

    patient_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_message_at: Mapped[datetime | None]
    # The first patient message that nobody on staff has answered yet.
    waiting_since: Mapped[datetime | None]
    # Set while a clinician flag is open: a clinician of the patient's circle may read.
    flagged_at: Mapped[datetime | None]


class Message(UUIDPk, Base):
    """Plain text, never edited or deleted: the history is part of the record."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("thread_id", "seq"),
        # A message sent twice under one key (a double tap, a resend on a weak
        # signal) is kept once.
        UniqueConstraint("author_id", "sent_key"),
    )

    thread_id: Mapped[str] = mapped_column(
        ForeignKey("message_threads.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    # The phrases of the program's list that this message matched, if any.
    crisis_phrases: Mapped[list | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The key the form was sent under (a UUID made when the form was shown).
    sent_key: Mapped[str | None] = mapped_column(String(36))


class ThreadRead(Base):
    """How far one person has read one thread."""

    __tablename__ = "message_reads"

    thread_id: Mapped[str] = mapped_column(
        ForeignKey("message_threads.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    last_read_seq: Mapped[int] = mapped_column(Integer, default=0)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageConsent(UUIDPk, Base):
    """The patient lets one member of their care team into the conversation. Rows are
    kept when withdrawn (the record of who could read, and when)."""

    __tablename__ = "message_consents"
    __table_args__ = (
        Index("ix_message_consents_patient_staff", "patient_id", "staff_id"),
    )

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    staff_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    # "<patient id>:<staff id>" while the consent stands, NULL once withdrawn: at most
    # one standing consent per pair, even when two requests race.
    active_key: Mapped[str | None] = mapped_column(String(73), unique=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None]


class ThreadFlag(UUIDPk, Base):
    """A request for a clinician to look at a conversation: crisis language in a
    patient's message, or a staff member's concern with a note."""

    __tablename__ = "message_flags"

    thread_id: Mapped[str] = mapped_column(
        ForeignKey("message_threads.id", ondelete="CASCADE"), index=True
    )
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[FlagReason] = mapped_column(str_enum(FlagReason, 20))
    note: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(ForeignKey("messages.id"))
    raised_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    handled_at: Mapped[datetime | None]
    handled_note: Mapped[str | None] = mapped_column(Text)


class PeerAvailability(Base):
    """A peer specialist who is away, and the peer of the program who covers."""

    __tablename__ = "peer_availability"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    away: Mapped[bool] = mapped_column(Boolean, default=False)
    covering_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    away_since: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PeerContact(UUIDPk, Timestamps, Base):
    """A peer-support encounter for the record and for billing (HCPCS H0038)."""

    __tablename__ = "peer_contacts"
    __table_args__ = (Index("ix_peer_contacts_patient_on", "patient_id", "contact_on"),)

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    peer_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    thread_id: Mapped[str | None] = mapped_column(ForeignKey("message_threads.id"))
    contact_on: Mapped[date]
    minutes: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[ContactKind] = mapped_column(str_enum(ContactKind, 12))
    note: Mapped[str | None] = mapped_column(Text)
    hcpcs: Mapped[str] = mapped_column(String(5), default=PEER_SUPPORT_HCPCS)


class CrisisPhraseList(Base):
    """The phrases that mark a patient's message as crisis language in one program:
    plain words that the program's clinicians can read and change."""

    __tablename__ = "crisis_phrase_lists"

    program_id: Mapped[str] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), primary_key=True
    )
    phrases: Mapped[list] = mapped_column(JSON, default=list)
    updated_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
