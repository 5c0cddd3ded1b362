"""Requests for help (transport, housing, other social needs), what happened to each,
the program's response times (SLA rules) and case managers' time away.

A request is a FHIR ServiceRequest plus a Task: its category is a Gravity SDOH code,
its status a Task status.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum

from sqlalchemy import (
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from portal.db import Base, Timestamps, UUIDPk, str_enum, utcnow

SDOH_SYSTEM = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"


class NeedKind(StrEnum):
    TRANSPORT = "transport"
    HOUSING = "housing"
    OTHER = "other"


class SdohCategory(StrEnum):
    """Gravity SDOH Clinical Care categories (SDOH_SYSTEM)."""

    TRANSPORTATION = "transportation-insecurity"
    HOUSING_INSTABILITY = "housing-instability"
    HOMELESSNESS = "homelessness"
    FOOD = "food-insecurity"
    UTILITY = "utility-insecurity"
    FINANCIAL = "financial-insecurity"
    DIGITAL_ACCESS = "digital-access"
    EMPLOYMENT = "employment-status"
    UNSPECIFIED = "sdoh-category-unspecified"


class HousingSituation(StrEnum):
    STABLE = "stable"
    AT_RISK = "at_risk"
    HOMELESS = "homeless"
    SHELTER = "shelter"


class OtherNeed(StrEnum):
    FOOD = "food"
    UTILITIES = "utilities"
    PHONE = "phone"
    CHILDCARE = "childcare"
    WORK = "work"
    MONEY = "money"


# Childcare has no Gravity category of its own: it is recorded as unspecified.
OTHER_NEED_CATEGORY = {
    OtherNeed.FOOD: SdohCategory.FOOD,
    OtherNeed.UTILITIES: SdohCategory.UTILITY,
    OtherNeed.PHONE: SdohCategory.DIGITAL_ACCESS,
    OtherNeed.CHILDCARE: SdohCategory.UNSPECIFIED,
    OtherNeed.WORK: SdohCategory.EMPLOYMENT,
    OtherNeed.MONEY: SdohCategory.FINANCIAL,
}


class Urgency(IntEnum):
    """Stored as a small number so that the queue sorts on an index."""

    URGENT = 1
    SOON = 2
    ROUTINE = 3


class TaskStatus(StrEnum):
    """FHIR Task statuses used for referrals."""

    DRAFT = "draft"
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    FAILED = "failed"
    COMPLETED = "completed"
    ENTERED_IN_ERROR = "entered-in-error"


OPEN_STATUSES = (
    TaskStatus.REQUESTED,
    TaskStatus.ACCEPTED,
    TaskStatus.IN_PROGRESS,
    TaskStatus.ON_HOLD,
)
REASON_REQUIRED = frozenset(
    {
        TaskStatus.REJECTED,
        TaskStatus.CANCELLED,
        TaskStatus.ON_HOLD,
        TaskStatus.FAILED,
    }
)
OUTCOME_REQUIRED = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED})
# Status moves the patient sees as a reply from their case manager (first contact).
CONTACT_STATUSES = frozenset(
    {
        TaskStatus.ACCEPTED,
        TaskStatus.IN_PROGRESS,
        TaskStatus.REJECTED,
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
    }
)
# Which status may follow which (the FHIR Task state machine, without draft).
NEXT_STATUSES: dict[TaskStatus, tuple[TaskStatus, ...]] = {
    TaskStatus.REQUESTED: (
        TaskStatus.ACCEPTED,
        TaskStatus.IN_PROGRESS,
        TaskStatus.ON_HOLD,
        TaskStatus.REJECTED,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
        TaskStatus.ENTERED_IN_ERROR,
    ),
    TaskStatus.ACCEPTED: (
        TaskStatus.IN_PROGRESS,
        TaskStatus.ON_HOLD,
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
        TaskStatus.ENTERED_IN_ERROR,
    ),
    TaskStatus.IN_PROGRESS: (
        TaskStatus.ON_HOLD,
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
        TaskStatus.ENTERED_IN_ERROR,
    ),
    TaskStatus.ON_HOLD: (
        TaskStatus.IN_PROGRESS,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
        TaskStatus.ENTERED_IN_ERROR,
    ),
}


class NeedOutcome(StrEnum):
    ARRANGED = "arranged"
    REFERRED = "referred"
    PARTLY = "partly"
    NOT_POSSIBLE = "not_possible"
    NO_LONGER_NEEDED = "no_longer_needed"


class HelpAnswer(StrEnum):
    """The patient's answer to "Did you get the help?" once a request is done."""

    YES = "yes"
    NO = "no"
    PARTLY = "partly"


class EventKind(StrEnum):
    CREATED = "created"
    ROUTED = "routed"
    CLAIMED = "claimed"
    REASSIGNED = "reassigned"
    STATUS = "status"
    NOTE = "note"
    PATIENT_INFO = "patient_info"
    URGENCY = "urgency"


class IntEnumType(TypeDecorator):
    """An IntEnum stored as SMALLINT."""

    impl = SmallInteger
    cache_ok = True

    def __init__(self, enum_cls: type[IntEnum]):
        super().__init__()
        self.enum_cls = enum_cls

    def process_bind_param(self, value, dialect):
        return None if value is None else int(self.enum_cls(value))

    def process_result_value(self, value, dialect):
        return None if value is None else self.enum_cls(value)


def _status_column(name: str) -> Enum:
    """A Task status column with its own CHECK constraint name (two in one table)."""
    return Enum(
        TaskStatus,
        native_enum=False,
        length=20,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
        create_constraint=True,
        name=name,
    )


_OPEN_SQL = "status IN ('requested', 'accepted', 'in-progress', 'on-hold')"


class Need(UUIDPk, Timestamps, Base):
    """One request for help, from asking to its outcome."""

    __tablename__ = "needs"
    __table_args__ = (
        # The triage queue: a program's open requests, most urgent and soonest first.
        # It holds the sort order whole, and on PostgreSQL the filter columns too, so
        # that the page and its counts read the index alone.
        Index(
            "ix_needs_queue",
            "program_id",
            "urgency",
            "due_at",
            "created_at",
            "id",
            postgresql_where=text(_OPEN_SQL),
            sqlite_where=text(_OPEN_SQL),
            postgresql_include=["owner_id", "kind"],
        ),
        Index("ix_needs_program_created", "program_id", "created_at"),
        Index("ix_needs_patient_created", "patient_id", "created_at"),
        Index("ix_needs_owner_status", "owner_id", "status"),
    )

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    kind: Mapped[NeedKind] = mapped_column(str_enum(NeedKind, 10))
    category: Mapped[SdohCategory] = mapped_column(str_enum(SdohCategory, 32))
    other_need: Mapped[OtherNeed | None] = mapped_column(str_enum(OtherNeed, 10))
    urgency: Mapped[Urgency] = mapped_column(IntEnumType(Urgency))
    status: Mapped[TaskStatus] = mapped_column(
        str_enum(TaskStatus), default=TaskStatus.REQUESTED
    )
    status_reason: Mapped[str | None] = mapped_column(String(300))
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))

    # transport
    ride_at: Mapped[datetime | None]
    pickup: Mapped[str | None] = mapped_column(String(300))
    destination: Mapped[str | None] = mapped_column(String(300))
    wheelchair: Mapped[bool] = mapped_column(Boolean, default=False)
    access_needs: Mapped[str | None] = mapped_column(String(300))
    companions: Mapped[str | None] = mapped_column(String(200))
    # housing
    housing_situation: Mapped[HousingSituation | None] = mapped_column(
        str_enum(HousingSituation, 10)
    )
    # all kinds: what would help, in the patient's words
    details: Mapped[str | None] = mapped_column(Text)

    contact_due_at: Mapped[datetime | None]
    resolve_due_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]  # the next deadline; none while on hold or closed
    first_contact_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    outcome: Mapped[NeedOutcome | None] = mapped_column(str_enum(NeedOutcome, 20))
    # for the record (the patient's copy and FHIR Task show it, the request page not)
    outcome_note: Mapped[str | None] = mapped_column(Text)
    # what was arranged, in words for the patient ("pickup Thu 7:45 AM, white van")
    patient_outcome_note: Mapped[str | None] = mapped_column(Text)
    help_received: Mapped[HelpAnswer | None] = mapped_column(str_enum(HelpAnswer, 10))
    help_received_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def __repr__(self) -> str:  # ids only
        return f"<Need {self.id} {self.kind.value} {self.status.value}>"


class NeedEvent(UUIDPk, Base):
    """What happened to a request: routing, claims, status moves, notes, additions."""

    __tablename__ = "need_events"
    __table_args__ = (Index("ix_need_events_need_at", "need_id", "at"),)

    need_id: Mapped[str] = mapped_column(ForeignKey("needs.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[EventKind] = mapped_column(str_enum(EventKind))
    from_status: Mapped[TaskStatus | None] = mapped_column(
        _status_column("need_event_from_status")
    )
    to_status: Mapped[TaskStatus | None] = mapped_column(
        _status_column("need_event_to_status")
    )
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    patient_visible: Mapped[bool] = mapped_column(Boolean, default=False)


class NeedSlaRule(Base):
    """How soon a program answers a kind of request at an urgency, in opening hours."""

    __tablename__ = "need_sla_rules"

    program_id: Mapped[str] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[NeedKind] = mapped_column(str_enum(NeedKind, 10), primary_key=True)
    urgency: Mapped[Urgency] = mapped_column(IntEnumType(Urgency), primary_key=True)
    contact_hours: Mapped[int] = mapped_column(SmallInteger)
    resolve_hours: Mapped[int | None] = mapped_column(SmallInteger)


class CaseManagerAway(Base):
    """A case manager away until a moment: new requests are routed past them."""

    __tablename__ = "case_manager_away"

    staff_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    until: Mapped[datetime]
    set_at: Mapped[datetime] = mapped_column(default=utcnow)
