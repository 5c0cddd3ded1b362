"""Programs, tracks, staff membership, enrollments, care teams and access grants."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.blueprints.auth.models import User
from portal.db import Base, Timestamps, UUIDPk, str_enum


class LevelOfCare(StrEnum):
    IOP = "IOP"
    PHP = "PHP"


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    DISCHARGED = "discharged"
    # Discharged with an aftercare plan, and still using the portal in step-down:
    # peer messaging and optional check-ins, with risk answers still flagged.
    ALUMNI = "alumni"


# Enrollments that are in treatment now (not discharged, not in step-down).
IN_TREATMENT = (EnrollmentStatus.ACTIVE, EnrollmentStatus.ON_HOLD)


class TeamRole(StrEnum):
    THERAPIST = "therapist"
    PRESCRIBER = "prescriber"
    NURSE = "nurse"
    CASE_MANAGER = "case_manager"
    PEER = "peer"


# Monday=0 … Sunday=6 -> ["09:00", "17:00"]; a missing weekday is closed.
DEFAULT_OPENING_HOURS = {str(day): ["08:00", "17:00"] for day in range(5)}


class Program(UUIDPk, Timestamps, Base):
    __tablename__ = "programs"

    name: Mapped[str] = mapped_column(String(120))
    app_name: Mapped[str | None] = mapped_column(String(40))
    levels_of_care: Mapped[str] = mapped_column(String(20), default="IOP,PHP")
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    on_call_phone: Mapped[str] = mapped_column(String(32))
    opening_hours: Mapped[dict] = mapped_column(
        JSON, default=lambda: dict(DEFAULT_OPENING_HOURS)
    )
    substance_use: Mapped[bool] = mapped_column(Boolean, default=True)


class StaffMembership(Base):
    __tablename__ = "staff_memberships"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    program_id: Mapped[str] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), primary_key=True, index=True
    )


# Hours a patient must attend in a day for the day to count against a payer's
# authorization, unless the track says otherwise.
DEFAULT_MINIMUM_DAILY_HOURS = {LevelOfCare.PHP: Decimal(4), LevelOfCare.IOP: Decimal(3)}


def _default_minimum_hours(context) -> Decimal:
    level = LevelOfCare(context.get_current_parameters()["level_of_care"])
    return DEFAULT_MINIMUM_DAILY_HOURS[level]


class Track(UUIDPk, Base):
    __tablename__ = "tracks"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    level_of_care: Mapped[LevelOfCare] = mapped_column(str_enum(LevelOfCare, 3))
    minimum_daily_hours: Mapped[Decimal] = mapped_column(
        Numeric(3, 1), default=_default_minimum_hours
    )


class Enrollment(UUIDPk, Timestamps, Base):
    __tablename__ = "enrollments"
    __table_args__ = (Index("ix_enrollments_program_status", "program_id", "status"),)

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    track_id: Mapped[str | None] = mapped_column(ForeignKey("tracks.id"))
    level_of_care: Mapped[LevelOfCare] = mapped_column(str_enum(LevelOfCare, 3))
    admitted_on: Mapped[date]
    discharged_on: Mapped[date | None]
    status: Mapped[EnrollmentStatus] = mapped_column(
        str_enum(EnrollmentStatus), default=EnrollmentStatus.ACTIVE
    )
    # Digits with a leading + kept, as admin staff entered it. Contact data for the
    # care team: never in push text or log lines.
    mobile_phone: Mapped[str | None] = mapped_column(String(32))
    date_of_birth: Mapped[date | None]
    preferred_name: Mapped[str | None] = mapped_column(String(80))
    pronouns: Mapped[str | None] = mapped_column(String(40))
    emergency_name: Mapped[str | None] = mapped_column(String(120))
    emergency_relationship: Mapped[str | None] = mapped_column(String(60))
    emergency_phone: Mapped[str | None] = mapped_column(String(32))
    # The aftercare plan written at discharge: next appointments, where to get help.
    aftercare_appointments: Mapped[str | None] = mapped_column(Text)
    aftercare_help: Mapped[str | None] = mapped_column(Text)
    discharged_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))

    program: Mapped[Program] = relationship(lazy="raise")
    track: Mapped[Track | None] = relationship(lazy="raise")
    patient: Mapped[User] = relationship(foreign_keys=[patient_id], lazy="raise")


class CareTeamAssignment(UUIDPk, Base):
    __tablename__ = "care_team"
    __table_args__ = (UniqueConstraint("patient_id", "team_role"),)

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    staff_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    team_role: Mapped[TeamRole] = mapped_column(str_enum(TeamRole))

    staff: Mapped[User] = relationship(foreign_keys=[staff_id], lazy="raise")


class AccessGrant(UUIDPk, Timestamps, Base):
    """A staff member's recorded reason to see a program patient outside their team."""

    __tablename__ = "access_grants"
    __table_args__ = (
        Index("ix_access_grants_staff_patient", "staff_id", "patient_id"),
    )

    staff_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
