"""Recurring group sessions, individual appointments, attendance, calendar feeds."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.blueprints.auth.models import User
from portal.db import Base, Timestamps, UUIDPk, str_enum, utcnow


class SessionKind(StrEnum):
    GROUP = "group"
    BREAK = "break"
    EDUCATION = "education"


class AppointmentKind(StrEnum):
    THERAPY = "therapy"
    MEDICATION = "medication"
    CASE_MANAGEMENT = "case_management"


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"


class AttendanceStatus(StrEnum):
    PRESENT = "present"
    LATE = "late"
    ABSENT = "absent"
    EXCUSED = "excused"


class GroupSession(UUIDPk, Base):
    """A weekly recurring session of a track, in the program's local time."""

    __tablename__ = "group_sessions"
    __table_args__ = (Index("ix_group_sessions_track_weekday", "track_id", "weekday"),)

    track_id: Mapped[str] = mapped_column(ForeignKey("tracks.id"))
    title: Mapped[str] = mapped_column(String(120))
    kind: Mapped[SessionKind] = mapped_column(str_enum(SessionKind))
    weekday: Mapped[int] = mapped_column(SmallInteger)  # Monday=0
    starts_at: Mapped[time]
    ends_at: Mapped[time]
    facilitator_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    room: Mapped[str | None] = mapped_column(String(80))
    telehealth_url: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    facilitator: Mapped[User | None] = relationship(lazy="raise")


class Appointment(UUIDPk, Timestamps, Base):
    __tablename__ = "appointments"
    __table_args__ = (
        Index("ix_appointments_patient_start", "patient_id", "starts_at"),
    )

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    staff_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[AppointmentKind] = mapped_column(str_enum(AppointmentKind))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    room: Mapped[str | None] = mapped_column(String(80))
    telehealth_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[AppointmentStatus] = mapped_column(
        str_enum(AppointmentStatus), default=AppointmentStatus.BOOKED
    )

    staff: Mapped[User] = relationship(foreign_keys=[staff_id], lazy="raise")


class Attendance(UUIDPk, Base):
    """Whether a patient came to one occurrence of a group session on a given date."""

    __tablename__ = "attendance"
    __table_args__ = (
        UniqueConstraint("patient_id", "group_session_id", "occurs_on"),
        Index("ix_attendance_session_date", "group_session_id", "occurs_on"),
        # The board's attendance figure reads who came to which session, per day,
        # from the index alone (bench/board.py: 800 ms without it, about 300 with).
        Index(
            "ix_attendance_attended",
            "group_session_id",
            "occurs_on",
            "patient_id",
            postgresql_where=text("status IN ('present', 'late')"),
            sqlite_where=text("status IN ('present', 'late')"),
        ),
    )

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    group_session_id: Mapped[str] = mapped_column(ForeignKey("group_sessions.id"))
    occurs_on: Mapped[date]
    status: Mapped[AttendanceStatus] = mapped_column(str_enum(AttendanceStatus))
    recorded_by_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarFeed(UUIDPk, Timestamps, Base):
    """A revocable secret link to a patient's schedule as iCalendar."""

    __tablename__ = "calendar_feeds"

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[datetime | None]


class NoticeKind(StrEnum):
    LATE = "late"  # "I'll be late"
    ABSENT = "absent"  # "I can't come today"


class NoticeReason(StrEnum):
    SICK = "sick"
    RIDE = "ride"
    FAMILY = "family"
    WORK = "work"
    OTHER_APPOINTMENT = "other_appointment"
    OTHER = "other"


class SessionNotice(UUIDPk, Timestamps, Base):
    """A patient telling the program they will be late to, or miss, one occurrence of
    a group session; one per patient, session and day."""

    __tablename__ = "session_notices"
    __table_args__ = (
        UniqueConstraint("patient_id", "group_session_id", "occurs_on"),
        # the roster and the huddle read one day's notices of a program's sessions
        Index("ix_session_notices_day", "occurs_on", "group_session_id"),
    )

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    group_session_id: Mapped[str] = mapped_column(ForeignKey("group_sessions.id"))
    occurs_on: Mapped[date]
    kind: Mapped[NoticeKind] = mapped_column(str_enum(NoticeKind, 10))
    reason: Mapped[NoticeReason] = mapped_column(str_enum(NoticeReason, 20))
    note: Mapped[str | None] = mapped_column(String(300))


class ChangeStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"  # moved to the time the patient asked for
    OFFERED = "offered"  # moved to another time staff offered
    WITHDRAWN = "withdrawn"  # the patient took the request back before an answer


class AppointmentChange(UUIDPk, Timestamps, Base):
    """A patient's request to move an individual appointment, and staff's answer."""

    __tablename__ = "appointment_changes"
    __table_args__ = (
        Index("ix_appointment_changes_appointment", "appointment_id", "created_at"),
        Index("ix_appointment_changes_patient", "patient_id", "created_at"),
        Index("ix_appointment_changes_pending", "status", "created_at"),
    )

    appointment_id: Mapped[str] = mapped_column(ForeignKey("appointments.id"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    was_starts_at: Mapped[datetime]
    wanted_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[ChangeStatus] = mapped_column(
        str_enum(ChangeStatus, 10), default=ChangeStatus.PENDING
    )
    answered_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[datetime | None]
    new_starts_at: Mapped[datetime | None]
    staff_note: Mapped[str | None] = mapped_column(String(300))
