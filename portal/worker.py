"""Background work outside the request path: audit sealing, and the tasks features
register with ``@task`` (outbox delivery, reminders, escalations); the
app factory imports those modules, so the worker imports no feature."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable

from flask import Flask

from portal import db
from portal.audit import seal_chain
from portal.logs import bind_request_id, unbind_request_id
from portal.migrate import Schema, newest_revision, schema_state

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


def run_round(app: Flask) -> dict[str, int]:
    """One round of every task; its log lines carry the round's id as request_id.
    Nothing runs while the database does not answer or is older than this code
    (a worker started before `portal migrate`): it says so once and waits."""
    round_id = bind_request_id(f"worker-{secrets.token_hex(6)}")
    done = {}
    try:
        if _schema_usable(app):
            for name, func in TASKS:
                try:
                    done[name] = func(app)
                except Exception:
                    db.session.rollback()
                    log.exception("worker task %s failed; will retry next round", name)
                    done[name] = -1
    finally:
        db.session.remove()
        unbind_request_id(round_id)
    return done


def _schema_usable(app: Flask) -> bool:
    state, at = schema_state(db.session)
    if state is not app.extensions.get("worker_schema_state"):
        app.extensions["worker_schema_state"] = state
        if state is Schema.UNREACHABLE:
            log.warning(
                "worker waiting: the database does not answer (PORTAL_DATABASE_URL)"
            )
        elif state is Schema.OLDER:
            log.warning(
                "worker waiting: the database is at migration %s, this code needs "
                "%s: run `portal migrate`",
                at or "none",
                newest_revision(),
            )
        else:
            log.info("worker running: the database is at migration %s", at)
    return state in {Schema.CURRENT, Schema.NEWER}


def run_worker(
    app: Flask,
    once: bool = False,
    interval: float = 2.0,
    stop: threading.Event | None = None,
) -> None:
    stop = stop or threading.Event()
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
