"""The push outbox, delivered by `portal worker`.

A worker claims due deliveries in one short transaction: it sets a lease and counts
the attempt (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers take
different rows; SQLite's BEGIN IMMEDIATE serialises the claim). It commits, sends
outside any transaction (many at once, see `PushConnections`), and records the
answers as they come, a few times a second, each fenced by its lease token. A worker
killed mid-send loses nothing: its lease runs out and another worker takes the rows
again. A push service's answer is the only proof of delivery, so the one window for a
repeat is between a service's 201 and our commit; the Topic header and the
notification's tag make such a repeat replace, not add to, the first on the device.

Answers: 2xx sent; 404/410 the subscription is gone and is deleted (its queued
deliveries go with it); 429, 5xx, timeouts and refused connections are retried with
exponential backoff (or the service's Retry-After) until the last try, then dead;
any other answer, a payload that is too large, or broken keys are dead at once.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import secrets
import time as clock
from datetime import datetime, timedelta

from flask import Flask, current_app
from flask_babel import force_locale
from sqlalchemy import delete, or_, select, update

from portal import db
from portal.blueprints.auth.models import User
from portal.blueprints.notifications.kinds import KINDS
from portal.blueprints.notifications.models import (
    DeliveryStatus,
    Notification,
    PushDelivery,
    PushSubscription,
)
from portal.blueprints.notifications.push import (
    MAX_PAYLOAD_BYTES,
    PushConnections,
    PushJob,
    PushResult,
    PushSettings,
    VapidSigner,
    build_payload,
    push_settings,
)
from portal.blueprints.programs.models import Enrollment, EnrollmentStatus, Program
from portal.db import utcnow
from portal.i18n import known_language
from portal.security import Role
from portal.worker import task

log = logging.getLogger("portal.push")

CHUNK = 500
FLUSH_EVERY = 0.25  # seconds between writes of finished sends
GONE = {404, 410}
RETRYABLE = {408, 425, 429}


class Outbox:
    """Sends due deliveries with one VAPID signer and one pool of connections, kept
    for the life of the worker process."""

    def __init__(self, settings: PushSettings, app_name: str):
        if settings.vapid is None:
            raise ValueError("no VAPID key: run `portal vapid-keys`")
        self.settings, self.app_name = settings, app_name
        self.signer = VapidSigner(settings.vapid, settings.subject)
        self.connections = PushConnections(
            settings.concurrency, settings.connect_timeout, settings.read_timeout
        )
        self.patience = settings.connect_timeout + settings.read_timeout + 30
        self.broken = False

    @classmethod
    def for_app(cls, app: Flask) -> Outbox:
        old = app.extensions.get("push_outbox")
        if old is not None and old.broken:
            del app.extensions["push_outbox"]
        if "push_outbox" not in app.extensions:
            settings, name = push_settings(app), app.config["APP_NAME"]
            app.extensions["push_outbox"] = cls(settings, name)
        return app.extensions["push_outbox"]

    def close(self) -> None:
        self.connections.close()

    # ---- one round ---------------------------------------------------------------

    def deliver_due(self, budget: float | None = None) -> int:
        """Send what is due until nothing is left or the budget is spent; returns how
        many deliveries were settled (sent, gone, retried, dead or expired)."""
        deadline = clock.monotonic() + (budget or self.settings.round_seconds)
        answers: queue.SimpleQueue[PushResult] = queue.SimpleQueue()
        finished: list[PushResult] = []
        in_flight, settled, last_write, more = 0, 0, clock.monotonic(), True
        last_answer = clock.monotonic()
        while True:
            if more and in_flight < self.settings.concurrency:
                if clock.monotonic() < deadline:
                    want = self.settings.concurrency + self.settings.batch - in_flight
                    jobs, ready = self.claim(want)
                    finished += ready
                    more = len(jobs) + len(ready) == want
                    self.connections.send_all(jobs, answers.put)
                    in_flight += len(jobs)
                else:
                    more = False
            if in_flight:
                received = self._collect(answers)
                in_flight -= len(received)
                finished += received
                if received:
                    last_answer = clock.monotonic()
                elif clock.monotonic() - last_answer > self.patience:
                    # Every send ends by its own timeouts; silence this long means
                    # the sending loop is gone. Leases bring the rows back later.
                    log.error("push round stopped waiting for %s answers", in_flight)
                    self.broken, in_flight, more = True, 0, False
            if finished and (
                not in_flight or clock.monotonic() - last_write > FLUSH_EVERY
            ):
                settled += self.record(finished)
                finished, last_write = [], clock.monotonic()
            if not in_flight and not more:
                return settled

    @staticmethod
    def _collect(answers: queue.SimpleQueue) -> list[PushResult]:
        """Every answer that is in, waiting at most a moment for the first."""
        received: list[PushResult] = []
        with contextlib.suppress(queue.Empty):
            received.append(answers.get(timeout=0.1))
            while True:
                received.append(answers.get_nowait())
        return received

    # ---- claim -------------------------------------------------------------------

    def claim(self, limit: int) -> tuple[list[PushJob], list[PushResult]]:
        """Lease up to `limit` due deliveries and commit; returns the jobs to send and
        the results already known (stale, or a payload too large to send)."""
        now, lease = utcnow(), secrets.token_hex(16)
        due = (
            select(PushDelivery.id)
            .where(
                PushDelivery.status == DeliveryStatus.PENDING,
                PushDelivery.next_attempt_at <= now,
                or_(PushDelivery.lease_until.is_(None), PushDelivery.lease_until < now),
            )
            .order_by(PushDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = db.session.scalars(
            update(PushDelivery)
            .where(PushDelivery.id.in_(due.scalar_subquery()))
            .values(
                lease_until=now + timedelta(seconds=self.settings.lease_seconds),
                leased_by=lease,
                attempts=PushDelivery.attempts + 1,
            )
            .returning(PushDelivery.id)
            .execution_options(synchronize_session=False)
        ).all()
        rows = self._load(ids) if ids else []
        db.session.commit()
        jobs, ready = [], []
        for row in rows:
            job, result = self._job(row, lease, now)
            (ready.append(result) if result else jobs.append(job))
        return jobs, ready

    def _load(self, ids: list[str]):
        rows = db.session.execute(
            select(
                PushDelivery.id,
                PushDelivery.attempts,
                PushSubscription.id,
                PushSubscription.endpoint,
                PushSubscription.p256dh,
                PushSubscription.auth,
                Notification.id,
                Notification.kind,
                Notification.recipient_id,
                Notification.expires_at,
                PushDelivery.request_id,
            )
            .join(PushSubscription, PushSubscription.id == PushDelivery.subscription_id)
            .join(Notification, Notification.id == PushDelivery.notification_id)
            .where(PushDelivery.id.in_(ids))
            .order_by(PushDelivery.next_attempt_at)
        ).all()
        recipients = {row[8] for row in rows}
        names = self._app_names(recipients)
        languages = self._languages(recipients)
        return [
            (*row, names.get(row[8], self.app_name), languages.get(row[8], "en"))
            for row in rows
        ]

    def _languages(self, user_ids: set[str]) -> dict[str, str]:
        """The language each recipient reads: a patient's choice, English for staff."""
        return {
            user_id: known_language(language)
            for user_id, role, language in db.session.execute(
                select(User.id, User.role, User.preferred_language).where(
                    User.id.in_(sorted(user_ids))
                )
            )
            if role is Role.PATIENT
        }

    def _app_names(self, user_ids: set[str]) -> dict[str, str]:
        """A patient's program may have its own app name (the installed app's name)."""
        return dict(
            db.session.execute(
                select(Enrollment.patient_id, Program.app_name)
                .join(Program, Program.id == Enrollment.program_id)
                .where(
                    Enrollment.patient_id.in_(sorted(user_ids)),
                    Enrollment.status != EnrollmentStatus.DISCHARGED,
                    Program.app_name.is_not(None),
                )
            ).all()
        )

    def _job(self, row, lease: str, now: datetime):
        (delivery_id, attempts, sub_id, endpoint, p256dh, auth) = row[:6]
        (note_id, kind, _recipient, expires_at, request_id, app_name, language) = row[
            6:
        ]
        info = KINDS[kind]
        job = PushJob(
            delivery_id,
            lease,
            attempts,
            sub_id,
            note_id,
            endpoint,
            p256dh,
            auth,
            request_id,
        )
        if expires_at is not None and expires_at <= now:
            return job, PushResult(job, None, "expired")
        with force_locale(language):  # the worker has no request: the recipient's
            job.payload = build_payload(kind, note_id, app_name)
        if len(job.payload) > MAX_PAYLOAD_BYTES:
            return job, PushResult(job, None, "payload_too_large")
        ttl = info.ttl.total_seconds()
        if expires_at is not None:
            ttl = min(ttl, (expires_at - now).total_seconds())
        job.ttl, job.urgency = max(1, int(ttl)), info.urgency
        job.authorization = self.signer.authorization(endpoint)
        return job, None

    # ---- record ------------------------------------------------------------------

    def record(self, results: list[PushResult]) -> int:
        """Write the answers in one transaction, each fenced by its lease."""
        now = utcnow()
        sent = [r for r in results if r.status is not None and 200 <= r.status < 300]
        gone = [r for r in results if r.status in GONE]
        expired = [r for r in results if r.error == "expired"]
        for result in sent:
            log.debug(
                "push delivery %s of notification %s sent (made by request %s)",
                result.job.delivery_id,
                result.job.notification_id,
                result.job.request_id,
            )
        self._settle(sent, DeliveryStatus.SENT, now, sent_at=now)
        self._settle(expired, DeliveryStatus.EXPIRED, now)
        self._touch_devices({r.job.subscription_id for r in sent}, now)
        self._prune(gone)
        handled = set(map(id, sent + gone + expired))
        for result in results:
            if id(result) not in handled:
                self._retry_or_bury(result, now)
        db.session.commit()
        return len(results)

    def _settle(self, results, status: DeliveryStatus, now: datetime, **values) -> None:
        by_lease: dict[str, list[str]] = {}
        for result in results:
            by_lease.setdefault(result.job.lease, []).append(result.job.delivery_id)
        for lease, ids in by_lease.items():
            for start in range(0, len(ids), CHUNK):
                db.session.execute(
                    update(PushDelivery)
                    .where(
                        PushDelivery.id.in_(ids[start : start + CHUNK]),
                        PushDelivery.leased_by == lease,
                    )
                    .values(status=status, lease_until=None, leased_by=None, **values)
                    .execution_options(synchronize_session=False)
                )

    def _touch_devices(self, device_ids: set[str], now: datetime) -> None:
        """Note when a device last got a push (to the day: no write per message)."""
        ids = sorted(device_ids)
        for start in range(0, len(ids), CHUNK):
            db.session.execute(
                update(PushSubscription)
                .where(
                    PushSubscription.id.in_(ids[start : start + CHUNK]),
                    or_(
                        PushSubscription.last_success_at.is_(None),
                        PushSubscription.last_success_at < now - timedelta(days=1),
                    ),
                )
                .values(last_success_at=now)
                .execution_options(synchronize_session=False)
            )

    def _prune(self, gone: list[PushResult]) -> None:
        """The push service says the subscription no longer exists: delete it."""
        for result in gone:
            log.info(
                "push subscription %s removed: push service answered %s "
                "(delivery %s, notification %s, made by request %s)",
                result.job.subscription_id,
                result.status,
                result.job.delivery_id,
                result.job.notification_id,
                result.job.request_id,
            )
        ids = sorted({r.job.subscription_id for r in gone})
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            # Delete the deliveries first: SQLite only cascades with foreign keys on,
            # and this keeps the order of locks the same on every database.
            db.session.execute(
                delete(PushDelivery).where(PushDelivery.subscription_id.in_(chunk))
            )
            db.session.execute(
                delete(PushSubscription).where(PushSubscription.id.in_(chunk))
            )

    def _retry_or_bury(self, result: PushResult, now: datetime) -> None:
        job, reason = result.job, result.error or f"http_{result.status}"
        retryable = result.error in {"timeout", "connection"} or (
            result.status is not None
            and (result.status >= 500 or result.status in RETRYABLE)
        )
        values = {
            "lease_until": None,
            "leased_by": None,
            "last_status": result.status,
            "last_error": reason,
        }
        if retryable and job.attempts < self.settings.max_attempts:
            delay = self.backoff(job.attempts, result.retry_after)
            values["next_attempt_at"] = now + timedelta(seconds=delay)
            log.warning(
                "push delivery %s of notification %s to subscription %s failed (%s), "
                "attempt %s of %s; retrying in %.0f s (made by request %s)",
                job.delivery_id,
                job.notification_id,
                job.subscription_id,
                reason,
                job.attempts,
                self.settings.max_attempts,
                delay,
                job.request_id,
            )
        else:
            values["status"] = DeliveryStatus.DEAD
            log.error(
                "push delivery %s of notification %s to subscription %s is dead "
                "after %s attempt(s): %s (made by request %s)",
                job.delivery_id,
                job.notification_id,
                job.subscription_id,
                job.attempts,
                reason,
                job.request_id,
            )
        db.session.execute(
            update(PushDelivery)
            .where(
                PushDelivery.id == job.delivery_id,
                PushDelivery.leased_by == job.lease,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Exponential backoff with jitter; a longer Retry-After wins."""
        base = self.settings.backoff_seconds * 2 ** max(0, attempts - 1)
        delay = min(self.settings.max_backoff_seconds, base)
        delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret
        return max(delay, min(retry_after or 0, self.settings.max_backoff_seconds))


@task("deliver_push")
def deliver_push(app: Flask) -> int:
    """Worker task: send the push outbox (nothing when no VAPID key is set up)."""
    settings = push_settings(app)
    if settings.vapid is None:
        if not app.extensions.get("push_warned"):
            log.warning("push is off: no VAPID key (run `portal vapid-keys`)")
            app.extensions["push_warned"] = True
        return 0
    return Outbox.for_app(current_app._get_current_object()).deliver_due()


@task("prune_outbox")
def prune_outbox(app: Flask) -> int:
    """Once an hour: drop settled deliveries and read notifications past keeping."""
    last = app.extensions.get("outbox_pruned_at", 0.0)
    if clock.monotonic() - last < 3600:
        return 0
    app.extensions["outbox_pruned_at"] = clock.monotonic()
    now = utcnow()
    settled = db.session.execute(
        delete(PushDelivery).where(
            PushDelivery.status != DeliveryStatus.PENDING,
            PushDelivery.next_attempt_at < now - timedelta(days=14),
        )
    ).rowcount
    old = db.session.execute(
        delete(Notification).where(
            Notification.created_at < now - timedelta(days=90),
            Notification.read_at.is_not(None),
        )
    ).rowcount
    db.session.commit()
    return (settled or 0) + (old or 0)
