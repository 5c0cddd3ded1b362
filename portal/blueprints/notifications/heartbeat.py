"""The workers' heartbeat: each round, a worker stamps a row of its own name, and
/metrics reports how long ago each worker (and the freshest of them) last did.

Reported apart from /readyz on purpose: a stopped worker must never take the web hosts
out of the load balancer, it must page someone. The rows live in `reminder_runs`
under `worker:<name>` keys, beside the reminder batches, because this needed no
schema change; a worker not seen for a day is forgotten.
"""

from __future__ import annotations

import time as clock
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import delete, select

from portal import db
from portal.blueprints.notifications.models import ReminderRun
from portal.db import utcnow
from portal.metrics import gauge, metrics_reader, seconds_since
from portal.worker import task

PREFIX = "worker:"
FORGET_AFTER = timedelta(days=1)


@task("heartbeat")
def beat(app: Flask) -> int:
    """Stamp this worker's row with the time of this round."""
    now = utcnow()
    key = PREFIX + app.config["WORKER_NAME"][:100]
    db.session.execute(
        db.upsert(ReminderRun)
        .values(key=key, created_at=now)
        .on_conflict_do_update(index_elements=["key"], set_={"created_at": now})
    )
    if clock.monotonic() - app.extensions.get("heartbeat_pruned_at", -1e9) > 3600:
        app.extensions["heartbeat_pruned_at"] = clock.monotonic()
        db.session.execute(
            delete(ReminderRun).where(
                ReminderRun.key.startswith(PREFIX),
                ReminderRun.created_at < now - FORGET_AFTER,
            )
        )
    db.session.commit()
    return 1


@metrics_reader
def heartbeats(now: datetime):
    rows = db.session.execute(
        select(ReminderRun.key, ReminderRun.created_at).where(
            ReminderRun.key.startswith(PREFIX),
            ReminderRun.created_at >= now - FORGET_AFTER,
        )
    ).all()
    ages = [(key.removeprefix(PREFIX), seconds_since(at, now)) for key, at in rows]
    return [
        gauge(
            "portal_worker_heartbeat_age_seconds",
            "Seconds since each worker last began a round (workers seen in a day)",
            labels=["worker"],
            samples=[((name,), age) for name, age in ages],
        ),
        gauge(
            "portal_worker_freshest_heartbeat_age_seconds",
            "Seconds since any worker began a round (-1: none seen in a day)",
            min((age for _, age in ages), default=-1),
        ),
    ]
