"""Notifications, push subscriptions, the push outbox, preferences and reminder runs."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, Timestamps, UUIDPk, str_enum, utcnow


class NotificationKind(StrEnum):
    NEW_MESSAGE = "new_message"
    NEED_UPDATE = "need_update"
    SESSION_REMINDER = "session_reminder"
    CHECKIN_REMINDER = "checkin_reminder"
    SCHEDULE_CHANGE = "schedule_change"
    RISK_ESCALATION = "risk_escalation"
    ANNOUNCEMENT = "announcement"
    AUTHORIZATION_REVIEW = "authorization_review"
    APPOINTMENT_CHANGE = "appointment_change"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its time, or leased by a worker sending it
    SENT = "sent"  # the push service accepted it (201)
    DEAD = "dead"  # refused for good, or failed on every try: the dead-letter state
    EXPIRED = "expired"  # stale before it could go (a reminder after its session began)


class Notification(UUIDPk, Timestamps, Base):
    """One thing to tell one person; the in-app list shows these rows.

    Holds no text and no health details: the words come from the kind, the page to
    open is `target` (kept on the server, never sent to a push service).
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_recipient_unread", "recipient_id", "read_at"),
        Index("ix_notifications_recipient_created", "recipient_id", "created_at"),
    )

    recipient_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE")
    )
    kind: Mapped[NotificationKind] = mapped_column(str_enum(NotificationKind, 24))
    patient_id: Mapped[str | None] = mapped_column(String(36))
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(36))
    target: Mapped[str] = mapped_column(String(300), default="/")
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    expires_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]


class PushSubscription(UUIDPk, Timestamps, Base):
    """A browser's Web Push subscription: one row per device, removable by its owner."""

    __tablename__ = "push_subscriptions"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    endpoint: Mapped[str] = mapped_column(String(1024))
    endpoint_hash: Mapped[str] = mapped_column(String(64), unique=True)
    p256dh: Mapped[str] = mapped_column(String(100))
    auth: Mapped[str] = mapped_column(String(40))
    device_label: Mapped[str] = mapped_column(String(60))
    last_success_at: Mapped[datetime | None]

    def __repr__(self) -> str:  # ids only: an endpoint is a capability URL
        return f"<PushSubscription {self.id} user {self.user_id}>"


class PushDelivery(UUIDPk, Base):
    """The outbox: one notification to one subscription, at most one row per pair."""

    __tablename__ = "push_deliveries"
    __table_args__ = (
        UniqueConstraint("notification_id", "subscription_id"),
        Index("ix_push_deliveries_due", "status", "next_attempt_at"),
    )

    notification_id: Mapped[str] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE")
    )
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("push_subscriptions.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, 10), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(32))
    last_status: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(80))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the request (or worker round) that made it: the worker's lines about this
    # delivery carry it, so one search of the logs follows an action to its push
    request_id: Mapped[str | None] = mapped_column(String(40))


class NotificationPreference(Base):
    """What a person wants pushed to their devices, and when to keep quiet."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    push_off: Mapped[list] = mapped_column(JSON, default=list)
    quiet_start: Mapped[time | None]
    quiet_end: Mapped[time | None]
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReminderRun(Base):
    """Marks a batch of reminders as made (e.g. one program's check-in reminders for a
    day), so that several workers make each batch once and later rounds skip it."""

    __tablename__ = "reminder_runs"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
