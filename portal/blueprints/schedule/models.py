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
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.blueprints.auth.models import User, str_enum
from portal.db import Base, Timestamps, UUIDPk, utcnow


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
