"""Risk flags with their history, program risk settings, outbound pages (SMS/voice)
and safety plans."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UUIDPk, str_enum, utcnow


class FlagStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ASSESSED = "assessed"
    RESOLVED = "resolved"


class RiskLevel(StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class RiskFlag(UUIDPk, Base):
    """One episode of suicide risk for a patient, from first positive to resolution."""

    __tablename__ = "risk_flags"
    __table_args__ = (
        Index("ix_risk_flags_status_due", "status", "next_escalation_at"),
    )

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    # Exactly one unresolved flag per patient: set while open, NULL once resolved.
    open_key: Mapped[str | None] = mapped_column(String(36), unique=True)
    source: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[FlagStatus] = mapped_column(
        str_enum(FlagStatus), default=FlagStatus.OPEN
    )
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    escalation_level: Mapped[int] = mapped_column(SmallInteger, default=0)
    next_escalation_at: Mapped[datetime | None]
    positives: Mapped[int] = mapped_column(Integer, default=1)
    acknowledged_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime | None]
    risk_level: Mapped[RiskLevel | None] = mapped_column(str_enum(RiskLevel, 10))
    plan: Mapped[str | None] = mapped_column(Text)
    assessment_note: Mapped[str | None] = mapped_column(Text)
    assessed_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    assessed_at: Mapped[datetime | None]
    resolved_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None]
    resolution_note: Mapped[str | None] = mapped_column(Text)


# What a patient can answer on the page after a risk answer, kept as the event's kind.
PATIENT_CALL_ME = "patient_call_me"
PATIENT_SAFE_NOW = "patient_safe_now"


class RiskFlagEvent(UUIDPk, Base):
    """What happened to a flag, when, by whom or through which channel."""

    __tablename__ = "risk_flag_events"

    flag_id: Mapped[str] = mapped_column(ForeignKey("risk_flags.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    recipient_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str | None] = mapped_column(String(12))
    detail: Mapped[str | None] = mapped_column(String(300))


class RiskSettings(Base):
    """Who is told of a risk flag in a program, and how soon it moves up."""

    __tablename__ = "risk_settings"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    on_call_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    backup_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    after_hours_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    t1_minutes: Mapped[int] = mapped_column(SmallInteger, default=15)
    t2_minutes: Mapped[int] = mapped_column(SmallInteger, default=30)
    after_hours_repeat_minutes: Mapped[int] = mapped_column(SmallInteger, default=30)
    screener_schedule: Mapped[dict] = mapped_column(
        JSON, default=lambda: {"admission": True, "every_days": 7, "discharge": True}
    )


class PageStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboundPage(UUIDPk, Base):
    """An SMS or voice call to a staff phone, written in the event's transaction and
    sent by the worker through the configured pager."""

    __tablename__ = "outbound_pages"
    __table_args__ = (Index("ix_outbound_pages_status", "status", "created_at"),)

    recipient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(String(160))
    flag_id: Mapped[str | None] = mapped_column(ForeignKey("risk_flags.id"))
    status: Mapped[PageStatus] = mapped_column(
        str_enum(PageStatus), default=PageStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


# The sections' names and hints are read by the patient: in their language.
SAFETY_PLAN_SECTIONS = (
    (
        "warning_signs",
        _l("Warning signs that a crisis may be coming"),
        _l("Thoughts, images, moods, situations or behavior"),
    ),
    (
        "coping",
        _l("Things I can do on my own to take my mind off my problems"),
        _l("Relaxation, physical activity, something I enjoy"),
    ),
    (
        "distraction",
        _l("People and places that help me feel better"),
        _l("Names and phone numbers, places I can go"),
    ),
    ("help_people", _l("People I can ask for help"), _l("Names and phone numbers")),
    (
        "professionals",
        _l("Professionals and crisis lines I can call"),
        _l("My clinicians, the program's on-call line, 988, 911"),
    ),
    (
        "safe_environment",
        _l("Making my space safe"),
        _l("What I will move away or lock up"),
    ),
    ("reasons", _l("My reasons for living"), _l("The things most important to me")),
)


class SafetyPlan(UUIDPk, Base):
    """A Stanley-Brown style safety plan, edited by the patient and their clinician."""

    __tablename__ = "safety_plans"

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"), unique=True)
    sections: Mapped[dict] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"version_id_col": version}
