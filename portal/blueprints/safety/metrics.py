"""The crisis loop on /metrics: open flags, those nobody acknowledged within their
program's T1 (the figure to page on), escalations made, and SMS/voice pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from portal import db
from portal.blueprints.safety.models import (
    FlagStatus,
    OutboundPage,
    RiskFlag,
    RiskFlagEvent,
    RiskSettings,
)
from portal.metrics import counter, gauge, metrics_reader, seconds_since

DEFAULT_T1 = RiskSettings.__table__.c.t1_minutes.default.arg


@metrics_reader
def risk_flags(now: datetime):
    # Open flags are few (one per patient at most, closed within hours), so each one's
    # T1 is compared here rather than with date arithmetic that differs by database.
    open_flags = db.session.execute(
        select(RiskFlag.opened_at, RiskSettings.t1_minutes)
        .outerjoin(RiskSettings, RiskSettings.program_id == RiskFlag.program_id)
        .where(RiskFlag.status == FlagStatus.OPEN)
    ).all()
    past_t1 = [
        opened
        for opened, t1 in open_flags
        if now - opened > timedelta(minutes=t1 or DEFAULT_T1)
    ]
    return [
        gauge(
            "portal_risk_flags_open",
            "Risk flags nobody has acknowledged yet",
            len(open_flags),
        ),
        gauge(
            "portal_risk_flags_unacknowledged_past_t1",
            "Open risk flags older than their program's T1: page someone",
            len(past_t1),
        ),
        gauge(
            "portal_risk_flag_oldest_unacknowledged_seconds",
            "Age of the oldest open risk flag (0 when none is open)",
            seconds_since(min((o for o, _ in open_flags), default=None), now),
        ),
    ]


@metrics_reader
def escalations(_now: datetime):
    # Every flag is raised once when it opens; each raise after that is the worker
    # moving it up (backup, director, again) or raising it after hours.
    raised, opened = db.session.execute(
        select(
            func.count().filter(RiskFlagEvent.kind.in_(["raised", "after_hours"])),
            func.count().filter(RiskFlagEvent.kind == "opened"),
        )
    ).one()
    return [
        counter(
            "portal_risk_escalations",
            "Times the worker moved an unacknowledged flag up",
            max(0, raised - opened),
        )
    ]


@metrics_reader
def pages(_now: datetime):
    rows = db.session.execute(
        select(OutboundPage.channel, OutboundPage.status, func.count()).group_by(
            OutboundPage.channel, OutboundPage.status
        )
    ).all()
    return [
        gauge(
            "portal_pages",
            "SMS and voice pages to staff phones, by channel and status",
            labels=["channel", "status"],
            samples=[((channel, str(status)), n) for channel, status, n in rows],
        )
    ]
