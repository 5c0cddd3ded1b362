"""Accounts, server-side sessions, enrollment codes and sign-in throttling."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, Timestamps, UUIDPk, utcnow


class Role(StrEnum):
    PATIENT = "patient"
    PEER = "peer"
    CASE_MANAGER = "case_manager"
    THERAPIST = "therapist"
    PRESCRIBER = "prescriber"
    NURSE = "nurse"
    DIRECTOR = "director"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def is_staff(self) -> bool:
        return self is not Role.PATIENT


ROLE_LABELS = {
    Role.PATIENT: "Patient",
    Role.PEER: "Peer specialist",
    Role.CASE_MANAGER: "Case manager",
    Role.THERAPIST: "Therapist",
    Role.PRESCRIBER: "Psychiatrist or NP",
    Role.NURSE: "Nurse",
    Role.DIRECTOR: "Program director",
    Role.ADMIN: "Admin staff",
}


def str_enum(enum_cls: type[StrEnum], length: int = 20) -> Enum:
    """Store a StrEnum by value as a portable VARCHAR with a CHECK constraint."""
    return Enum(
        enum_cls,
        native_enum=False,
        length=length,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
        create_constraint=True,
        name=enum_cls.__name__.lower(),
    )


class User(UUIDPk, Timestamps, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_changed_at: Mapped[datetime | None]

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return self.id

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff

    def __repr__(self) -> str:  # ids only: never names or emails in logs
        return f"<User {self.id} {self.role.value}>"


class WebSession(Base):
    """A server-side session; the cookie holds a random token whose hash is the key."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    mfa_passed: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ip: Mapped[str | None] = mapped_column(String(45))

    user: Mapped[User | None] = relationship(lazy="joined", innerjoin=False)


class EnrollmentCode(UUIDPk, Timestamps, Base):
    """A one-time code with which a person sets their password (first time or reset)."""

    __tablename__ = "enrollment_codes"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    issued_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))


class SignInThrottle(Base):
    """Failed sign-in counts per account (hashed identifier) and per client address."""

    __tablename__ = "sign_in_throttle"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
