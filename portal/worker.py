"""Background work outside the request path: audit sealing, session pruning, and the
tasks later features register (outbox delivery, reminders, escalations)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from sqlalchemy import delete

from portal import db
from portal.audit import seal_chain
from portal.blueprints.auth.models import SignInThrottle, WebSession
from portal.db import utcnow

log = logging.getLogger("portal.worker")

TASKS: list[tuple[str, Callable[[Flask], int]]] = []


def task(name: str):
    """Register a function run on every worker round; it returns how much it did."""

    def register(func):
        TASKS.append((name, func))
        return func

    return register


@task("seal_audit")
def seal_audit(_app: Flask) -> int:
    return seal_chain(db.session)


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
            SignInThrottle.window_started_at < now - timedelta(days=1)
        )
    )
    db.session.commit()
    return result.rowcount or 0


def load_feature_tasks() -> None:
    """Import the modules whose @task functions the worker runs."""
    import portal.blueprints.checkins.tasks  # noqa: F401


def run_round(app: Flask) -> dict[str, int]:
    done = {}
    for name, func in TASKS:
        try:
            done[name] = func(app)
        except Exception:
            db.session.rollback()
            log.exception("worker task %s failed; will retry next round", name)
            done[name] = -1
    db.session.remove()
    return done


def run_worker(
    app: Flask,
    once: bool = False,
    interval: float = 2.0,
    stop: threading.Event | None = None,
) -> None:
    stop = stop or threading.Event()
    load_feature_tasks()
    with app.app_context():
        while not stop.is_set():
            run_round(app)
            if once:
                return
            stop.wait(interval)


def start_background_worker(app: Flask) -> threading.Event:
    """Run the worker in a thread beside the demo server (one process, SQLite)."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker,
        args=(app,),
        kwargs={"stop": stop},
        daemon=True,
        name="portal-worker",
    )
    thread.start()
    time.sleep(0)
    return stop
