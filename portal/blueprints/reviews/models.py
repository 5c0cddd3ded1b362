"""Coverage of an enrollment, payer authorizations with their history, statements of
medical necessity, review packets, and the files made from them (kept in the
database, not on one host's disk)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.blueprints.programs.models import LevelOfCare
from portal.db import Base, Timestamps, UUIDPk, str_enum, utcnow


class CareFocus(StrEnum):
    MENTAL_HEALTH = "mental_health"
    SUBSTANCE_USE = "substance_use"


class AuthorizationStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DENIED = "denied"
    PARTLY_APPROVED = "partly_approved"
    EXTENDED = "extended"
    ENDED = "ended"


# Days inside these authorizations are paid (an ended one still covers its days).
COVERING = (
    AuthorizationStatus.APPROVED,
    AuthorizationStatus.PARTLY_APPROVED,
    AuthorizationStatus.EXTENDED,
    AuthorizationStatus.ENDED,
)
# Still running: these are the ones the worklist watches.
CURRENT = (
    AuthorizationStatus.APPROVED,
    AuthorizationStatus.PARTLY_APPROVED,
    AuthorizationStatus.EXTENDED,
)


class Coverage(UUIDPk, Timestamps, Base):
    """Who pays for an enrollment: the payer, plan, member id and whether primary."""

    __tablename__ = "coverages"

    enrollment_id: Mapped[str] = mapped_column(ForeignKey("enrollments.id"), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    payer: Mapped[str] = mapped_column(String(120))
    plan: Mapped[str | None] = mapped_column(String(120))
    member_id: Mapped[str] = mapped_column(String(40))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Authorization(UUIDPk, Timestamps, Base):
    """A payer's answer to a request for days at a level of care."""

    __tablename__ = "authorizations"
    __table_args__ = (
        Index("ix_authorizations_patient_dates", "patient_id", "starts_on"),
        Index("ix_authorizations_program_review", "program_id", "next_review_on"),
    )

    coverage_id: Mapped[str] = mapped_column(ForeignKey("coverages.id"), index=True)
    enrollment_id: Mapped[str] = mapped_column(ForeignKey("enrollments.id"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    reference: Mapped[str] = mapped_column(String(40))
    level_of_care: Mapped[LevelOfCare] = mapped_column(str_enum(LevelOfCare, 3))
    focus: Mapped[CareFocus] = mapped_column(str_enum(CareFocus, 16))
    service_code: Mapped[str] = mapped_column(String(8))
    units: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    next_review_on: Mapped[date | None]
    status: Mapped[AuthorizationStatus] = mapped_column(str_enum(AuthorizationStatus))
    denial_reason: Mapped[str | None] = mapped_column(String(300))
    appeal_by: Mapped[date | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CoverageChange(UUIDPk, Base):
    """One change to a coverage or an authorization: who, when, and the values before
    and after (numbers, codes and dates only)."""

    __tablename__ = "coverage_changes"
    __table_args__ = (Index("ix_coverage_changes_subject", "subject_id", "at"),)

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    subject_type: Mapped[str] = mapped_column(String(20))  # coverage, authorization
    subject_id: Mapped[str] = mapped_column(String(36))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    changes: Mapped[dict] = mapped_column(JSON)  # field -> [before, after]


class NecessityStatement(UUIDPk, Base):
    """The prescriber's or therapist's statement of why this level of care is still
    needed. Signed, it is locked: a change is a new version."""

    __tablename__ = "necessity_statements"
    __table_args__ = (UniqueConstraint("authorization_id", "version"),)

    authorization_id: Mapped[str] = mapped_column(ForeignKey("authorizations.id"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    written_at: Mapped[datetime] = mapped_column(default=utcnow)
    signed_at: Mapped[datetime | None]
    signer_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    signer_name: Mapped[str | None] = mapped_column(String(120))
    signer_role: Mapped[str | None] = mapped_column(String(40))


class ReviewPacket(UUIDPk, Base):
    """The evidence for one concurrent review: a frozen copy of what the packet page
    and its PDF show, and, once released, to which payer and by whom."""

    __tablename__ = "review_packets"

    authorization_id: Mapped[str] = mapped_column(
        ForeignKey("authorizations.id"), index=True
    )
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    first_day: Mapped[date]
    last_day: Mapped[date]
    content: Mapped[dict] = mapped_column(JSON)
    statement_id: Mapped[str | None] = mapped_column(
        ForeignKey("necessity_statements.id")
    )
    made_by_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    made_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None]
    released_to: Mapped[str | None] = mapped_column(String(120))
    released_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))


class ReviewFile(UUIDPk, Base):
    """A file the portal made (a packet's PDF, a billing CSV), with its SHA-256."""

    __tablename__ = "review_files"
    __table_args__ = (Index("ix_review_files_program_made", "program_id", "made_at"),)

    kind: Mapped[str] = mapped_column(String(20))  # packet_pdf, billing_csv
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    packet_id: Mapped[str | None] = mapped_column(
        ForeignKey("review_packets.id"), index=True
    )
    filename: Mapped[str] = mapped_column(String(80))
    media_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    made_by_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    made_at: Mapped[datetime] = mapped_column(default=utcnow)
