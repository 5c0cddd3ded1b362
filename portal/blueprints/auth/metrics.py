"""Sign-in throttling on /metrics: keys locked now, by what they count (one client at
one account, one address over all accounts, one account over all clients)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from portal import db
from portal.blueprints.auth.models import SignInThrottle
from portal.metrics import gauge, metrics_reader

SCOPES = {"ac": "account_client", "c": "address", "a": "account"}


@metrics_reader
def sign_in_locks(now: datetime):
    prefix = func.substr(SignInThrottle.key, 1, 2)
    rows = dict(
        db.session.execute(
            select(prefix, func.count())
            .where(SignInThrottle.locked_until > now)
            .group_by(prefix)
        ).all()
    )
    return [
        gauge(
            "portal_sign_in_locks",
            "Throttle keys locked now (a client, address or account must wait)",
            labels=["scope"],
            samples=[
                ((scope,), sum(n for key, n in rows.items() if key.rstrip(":") == tag))
                for tag, scope in SCOPES.items()
            ],
        )
    ]
