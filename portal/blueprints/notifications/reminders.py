"""What every reminder batch shares: each batch is made once, however many workers run
and however often, because it first claims its key in `reminder_runs` (insert, or
nothing on conflict), and each notification also carries a dedupe key.

The batches themselves belong to the features they remind of: the program day and
appointments (`schedule/reminders.py`) and the daily check-in (`checkins/reminders.py`).
Reminders are made only inside their window, never late: a worker that was down at
9 a.m. does not remind anyone about a 9 a.m. session at noon.
"""

from __future__ import annotations

import os

from flask import Flask
from sqlalchemy import select

from portal import db
from portal.blueprints.notifications.models import ReminderRun
from portal.blueprints.notifications.services import insert_ignoring_duplicates
from portal.db import utcnow


def reminder_setting(app: Flask, name: str, default: str) -> str:
    return str(app.config.get(name) or os.environ.get("PORTAL_" + name) or default)


def claim_run(key: str) -> bool:
    """True for the one worker (and round) that gets to make this batch."""
    statement = (
        insert_ignoring_duplicates(ReminderRun, "key")
        .values(key=key, created_at=utcnow())
        .returning(ReminderRun.key)
    )
    return db.session.scalar(statement) is not None


# Keys this process has seen committed: later rounds skip them without a query.
_KNOWN_DONE: set[str] = set()


def unclaimed(keys: list[str]) -> set[str]:
    keys = [key for key in keys if key not in _KNOWN_DONE]
    if not keys:
        return set()
    done = set(
        db.session.scalars(select(ReminderRun.key).where(ReminderRun.key.in_(keys)))
    )
    if len(_KNOWN_DONE) > 50_000:
        _KNOWN_DONE.clear()
    _KNOWN_DONE.update(done)
    return set(keys) - done
