"""The worker's housekeeping for sign-in: sessions idle past every timeout and
throttle counts older than a day (and no longer locked) and passkey challenges an
hour past their expiry are deleted."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import delete, or_

from portal import db
from portal.blueprints.auth.models import SignInThrottle, WebSession
from portal.blueprints.auth.passkeys import prune_challenges
from portal.db import utcnow
from portal.worker import task


@task("prune_sessions")
def prune_sessions(app: Flask) -> int:
    now = utcnow()
    longest_idle = max(
        app.config["IDLE_TIMEOUT_STAFF"],
        app.config["IDLE_TIMEOUT_PATIENT"],
        2 * 60 * 60,
    )
    result = db.session.execute(
        delete(WebSession).where(
            WebSession.last_seen_at < now - timedelta(seconds=longest_idle)
        )
    )
    db.session.execute(
        delete(SignInThrottle).where(
            SignInThrottle.window_started_at < now - timedelta(days=1),
            or_(
                SignInThrottle.locked_until.is_(None),
                SignInThrottle.locked_until < now,
            ),
        )
    )
    prune_challenges()
    db.session.commit()
    return result.rowcount or 0
