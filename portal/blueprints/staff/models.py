"""The morning huddle: huddles held, notes and actions agreed about a patient."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UUIDPk, utcnow


class Huddle(UUIDPk, Base):
    """The team marked a huddle held: the next one lists admissions since then."""

    __tablename__ = "huddles"
    __table_args__ = (Index("ix_huddles_program_held", "program_id", "held_at"),)

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    held_at: Mapped[datetime] = mapped_column(default=utcnow)
    held_by_id: Mapped[str] = mapped_column(ForeignKey("users.id"))


class HuddleNote(UUIDPk, Base):
    """What the team said about a patient at a huddle. Clinical: clinicians only."""

    __tablename__ = "huddle_notes"
    __table_args__ = (
        Index("ix_huddle_notes_program_written", "program_id", "written_at"),
    )

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    written_at: Mapped[datetime] = mapped_column(default=utcnow)


class HuddleAction(UUIDPk, Base):
    """Something a team member agreed to do for a patient by a time ("Maria to call
    about the ride by 11"), shown at every huddle until it is marked done."""

    __tablename__ = "huddle_actions"
    __table_args__ = (
        # The huddle's open actions of a program, soonest first.
        Index(
            "ix_huddle_actions_open",
            "program_id",
            "due_at",
            postgresql_where=text("done_at IS NULL"),
            sqlite_where=text("done_at IS NULL"),
        ),
    )

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    what: Mapped[str] = mapped_column(String(300))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    due_at: Mapped[datetime]
    created_by_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    done_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
