"""Check-ins, the keys they were sent under, and screener responses."""

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
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.blueprints.checkins.instruments import Instrument
from portal.db import Base, Timestamps, UUIDPk, str_enum, utcnow


class Medication(StrEnum):
    YES = "yes"
    NO = "no"
    NONE_PRESCRIBED = "none"


class CheckIn(UUIDPk, Timestamps, Base):
    """One per patient per program day; editable that day."""

    __tablename__ = "checkins"
    __table_args__ = (UniqueConstraint("patient_id", "local_date"),)

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    local_date: Mapped[date]
    mood: Mapped[int] = mapped_column(SmallInteger)
    craving: Mapped[int] = mapped_column(SmallInteger)
    sleep_hours: Mapped[Decimal] = mapped_column(Numeric(3, 1))
    medication: Mapped[Medication] = mapped_column(str_enum(Medication, 8))
    feels_safe: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    # The key of the sending that last wrote these answers; every key ever sent, the
    # earlier ones of the day included, is in `checkin_submissions`.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CheckInSubmission(Base):
    """One sending of a check-in that was stored, under the key the phone made for it:
    a key found here is a resend, whatever has changed on the check-in since."""

    __tablename__ = "checkin_submissions"

    idempotency_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    checkin_id: Mapped[str] = mapped_column(
        ForeignKey("checkins.id", ondelete="CASCADE"), index=True
    )
    local_date: Mapped[date]
    # This sending's own answer, for crisis help on its resend after a later edit.
    feels_safe: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScreenerResponse(UUIDPk, Base):
    __tablename__ = "screener_responses"
    __table_args__ = (
        # Scores over time per patient and instrument, the total read from the index
        # (trends, the board's outcomes, the huddle's rising scores).
        Index(
            "ix_screener_patient_scores",
            "patient_id",
            "instrument",
            "completed_at",
            "total",
        ),
    )

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    instrument: Mapped[Instrument] = mapped_column(str_enum(Instrument, 8))
    answers: Mapped[list] = mapped_column(JSON)
    total: Mapped[int | None] = mapped_column(SmallInteger)
    severity: Mapped[str] = mapped_column(String(24))
    risk_positive: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    completed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The language the questionnaire was shown in ("en" or "es"): the published
    # version the answers were given to (the C-SSRS is always "en").
    language: Mapped[str] = mapped_column(String(5), default="en")
