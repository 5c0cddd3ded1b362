"""Real `portal worker` processes against their own database and the fake push
service: one is killed in the middle of a delivery, two more run at once, and every
(notification, subscription) pair still arrives exactly once, reminders included."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from portal import db
from portal.blueprints.notifications import services
from portal.blueprints.notifications.models import (
    DeliveryStatus,
    Notification,
    NotificationKind,
    PushDelivery,
)
from portal.blueprints.notifications.push import (
    KNOWN_PUSH_HOSTS,
    PushSettings,
    private_key_text,
    public_key_of,
    vapid_from_text,
)
from portal.db import utcnow
from portal.migrate import upgrade
from tests import factories as f
from tests.conftest import _make_database_url
from tests.fake_push_service import FakePushService

PATIENTS, MESSAGES = 24, 3


@pytest.fixture(scope="module")
def worker_database():
    """A database of its own: the workers are other processes, so the data must be
    committed, not kept in the suite's rolled-back transaction."""
    url, drop = _make_database_url()
    upgrade(url)
    yield url
    drop()


@contextmanager
def bound_to(engine, suite_connection):
    db.session.remove()
    db.session.configure(bind=engine, join_transaction_mode="conditional_savepoint")
    try:
        yield
    finally:
        db.session.rollback()
        db.session.remove()
        db.session.configure(
            bind=suite_connection, join_transaction_mode="create_savepoint"
        )


def _portal() -> str:
    found = Path(sys.executable).with_name("portal")
    return str(found) if found.exists() else shutil.which("portal") or "portal"


def _start_worker(url, key, tmp_path, name, threads, checkins) -> subprocess.Popen:
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": url,
        "PORTAL_VAPID_PRIVATE_KEY": key,
        "PORTAL_VAPID_SUBJECT": "mailto:push-admin@example.org",
        "PORTAL_PUSH_ALLOW_HTTP": "1",
        "PORTAL_PUSH_HOSTS": "127.0.0.1",
        "PORTAL_PUSH_CONCURRENCY": str(threads),
        "PORTAL_PUSH_BATCH": "4",
        "PORTAL_PUSH_LEASE_SECONDS": "3",
        "PORTAL_PUSH_READ_TIMEOUT": "30",
        "PORTAL_CHECKIN_REMINDER_AT": "00:00",
        "PORTAL_CHECKIN_REMINDER_UNTIL": "23:59:59" if checkins else "00:00",
    }
    env.pop("PORTAL_ENV", None)
    folder = tmp_path / name
    folder.mkdir()
    log = (folder / "worker.log").open("w")
    return subprocess.Popen(
        [_portal(), "worker"], cwd=folder, env=env, stdout=log, stderr=log
    )


def _wait_for(condition, seconds: float, what: str, logs=()) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    text = "\n".join(Path(log).read_text()[-3000:] for log in logs)
    pytest.fail(f"timed out waiting for {what}\n{text}")


def _count(engine, *where) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(PushDelivery).where(*where))


def _make_world(settings, service: FakePushService) -> tuple[str, int]:
    """Patients with two phones each, a few messages each, and one phone whose push
    service will hang on the first try (its delivery is first in the queue)."""
    program = f.ProgramFactory(name="Worker Program")
    track = f.TrackFactory(program=program)
    patients = []
    for _ in range(PATIENTS):
        person = f.UserFactory()
        f.EnrollmentFactory(
            patient_id=person.id, program_id=program.id, track_id=track.id
        )
        patients.append(person)
    hung_person = patients[0]
    hung = services.save_device(
        hung_person, service.subscribe(script=["hang"]), "test", settings
    )
    for person in patients[1:]:
        for _ in range(2):
            services.save_device(person, service.subscribe(), "test", settings)
    services.notify(hung_person, NotificationKind.NEW_MESSAGE)
    db.session.execute(
        update(PushDelivery).values(next_attempt_at=utcnow() - timedelta(minutes=1))
    )
    for person in patients[1:]:
        for _ in range(MESSAGES):
            services.notify(person, NotificationKind.NEW_MESSAGE)
    db.session.commit()
    devices = 1 + 2 * (PATIENTS - 1)
    return hung.id, devices


def test_two_workers_and_one_killed_deliver_each_pair_exactly_once(
    worker_database, transaction, tmp_path
):
    vapid_key = private_key_text(_new_vapid())
    vapid = vapid_from_text(vapid_key)
    engine = db.make_engine(worker_database)
    settings = PushSettings(
        vapid=vapid,
        public_key=public_key_of(vapid),
        subject="mailto:push-admin@example.org",
        allow_http=True,
        hosts=("127.0.0.1", *KNOWN_PUSH_HOSTS),
    )
    service = FakePushService(vapid_public_key=public_key_of(vapid), delay=0.01)
    service.hang_seconds = 60
    workers: list[subprocess.Popen] = []
    with service, bound_to(engine, transaction):
        hung_id, devices = _make_world(settings, service)
        queued = _count(engine)
        logs = []
        try:
            # 1. One worker, one thread: it leases a batch and hangs on the first push.
            first = _start_worker(
                worker_database, vapid_key, tmp_path, "a", threads=1, checkins=False
            )
            workers.append(first)
            logs.append(tmp_path / "a" / "worker.log")
            _wait_for(lambda: service.hanging == 1, 60, "a hanging push", logs)
            leased = _count(engine, PushDelivery.leased_by.is_not(None))
            assert leased > 1  # the hung one and the rest of its batch
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            assert service.accepted() == []

            # 2. Two workers at once take everything over, the dead one's lease too,
            # and make the day's check-in reminders (each once) as well.
            for name in ("b", "c"):
                workers.append(
                    _start_worker(
                        worker_database, vapid_key, tmp_path, name, 4, checkins=True
                    )
                )
                logs.append(tmp_path / name / "worker.log")
            expected = queued + devices  # the messages, then one reminder per phone
            _wait_for(
                lambda: (
                    _count(engine, PushDelivery.status == DeliveryStatus.SENT)
                    == expected
                ),
                90,
                f"{expected} deliveries sent",
                logs,
            )
            time.sleep(1)  # a late duplicate would show up here
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.terminate()
                    worker.wait(10)

        pairs = Counter((m.sub_id, m.payload["tag"]) for m in service.accepted())
        assert len(pairs) == expected
        assert set(pairs.values()) == {1}, pairs.most_common(3)
        assert service.problems() == []
        with engine.connect() as conn:
            reminders_made = conn.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.kind == NotificationKind.CHECKIN_REMINDER)
            )
            hung_attempts = conn.scalar(
                select(func.max(PushDelivery.attempts)).where(
                    PushDelivery.subscription_id == hung_id
                )
            )
        assert reminders_made == PATIENTS
        assert hung_attempts >= 2  # taken again after the killed worker's lease ran out
        assert _count(engine, PushDelivery.status != DeliveryStatus.SENT) == 0
    engine.dispose()


def _new_vapid():
    from py_vapid import Vapid

    vapid = Vapid()
    vapid.generate_keys()
    return vapid
