"""The push outbox on /metrics: what waits, how long the oldest due delivery has
waited, and the dead letters kept for inspection (14 days)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select

from portal import db
from portal.blueprints.notifications.models import DeliveryStatus, PushDelivery
from portal.metrics import gauge, metrics_reader, seconds_since


@metrics_reader
def push_outbox(now: datetime):
    pending = PushDelivery.status == DeliveryStatus.PENDING
    due = pending & (PushDelivery.next_attempt_at <= now)
    row = db.session.execute(
        select(
            func.count().filter(pending),
            func.count().filter(due),
            func.min(case((due, PushDelivery.next_attempt_at))),
            func.count().filter(PushDelivery.status == DeliveryStatus.DEAD),
        )
    ).one()
    waiting, due_now, oldest_due, dead = row
    return [
        gauge(
            "portal_outbox_pending",
            "Deliveries not settled yet (due now, held by quiet hours or backing off)",
            labels=["outbox"],
            samples=[(("push",), waiting)],
        ),
        gauge(
            "portal_outbox_due",
            "Deliveries whose time has come and that no worker has settled",
            labels=["outbox"],
            samples=[(("push",), due_now)],
        ),
        gauge(
            "portal_outbox_oldest_due_seconds",
            "How long the oldest due delivery has waited (0 when none is due)",
            labels=["outbox"],
            samples=[(("push",), seconds_since(oldest_due, now))],
        ),
        gauge(
            "portal_push_deliveries_dead",
            "Push deliveries refused for good or out of tries (kept 14 days)",
            dead,
        ),
    ]
