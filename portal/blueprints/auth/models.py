"""Accounts, server-side sessions, enrollment codes and sign-in throttling."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, Timestamps, UUIDPk, str_enum, utcnow
from portal.security import Role


class User(UUIDPk, Timestamps, Base):
    __tablename__ = "users"

    # Optional for patients: one without email signs in with their mobile number.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    # The mobile number in E.164 (+12125550188): a patient may sign in with it.
    phone: Mapped[str | None] = mapped_column(String(16), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    # "en" or "es": the language the patient reads best.
    # None until the patient (or staff at enrollment) chooses; the phone's language
    # applies until then.
    preferred_language: Mapped[str | None] = mapped_column(String(5))
    # When a patient closed the first sign-in welcome; None shows it once.
    welcome_seen_at: Mapped[datetime | None]
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

    @property
    def sign_in_name(self) -> str:
        """What this person signs in with: their email, else their mobile number."""
        return self.email or self.phone or self.id

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
    """Tries at a secret in the current window, per key: an account and a client, a
    client over all accounts, or an account over all clients (see throttle.py)."""

    __tablename__ = "sign_in_throttle"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]


class PasskeyCredential(UUIDPk, Timestamps, Base):
    """A passkey (WebAuthn credential) registered to an account."""

    __tablename__ = "passkey_credentials"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The authenticator's credential id, base64url without padding.
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None]


class PasskeyChallenge(UUIDPk, Base):
    """A WebAuthn challenge kept on the server: used once, before it expires."""

    __tablename__ = "passkey_challenges"

    # SHA-256 of the challenge: the table never holds one that could be replayed.
    challenge_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(12))  # "register" or "sign_in"
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE")
    )
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
