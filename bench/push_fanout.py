"""Benchmark: one announcement fanned out to 10,000 Web Push subscriptions.

Measures, on one machine in one run:
1. enqueue: `announce()` writing 10,000 notifications and their deliveries (one
   transaction, as a request would);
2. deliver: the worker's Outbox draining that queue through the real pywebpush
   against the local fake push service (tests/fake_push_service.py, in its own
   process) that answers after 50 ms, with 2 % of subscriptions gone (410). Time to
   deliver all (target: under 10 s), and every gone subscription removed;
3. notifications per second beside pywebpush's bare encryption rate
   (WebPusher.encode, one thread) measured in the same run, as a ratio;
4. for scale, the naive way: `webpush()` per message (a new ECDSA signature and a new
   connection each time, one at a time), timed on a sample and extrapolated.

The fake service checks every VAPID token's signature (once per distinct token, as a
cache) and decrypts a sample of the payloads (every 10th; `--decrypt-every 1` for
all), so that the client, not the stand-in service, is what is measured.

Run: `.venv/bin/python bench/push_fanout.py` (SQLite in a temporary folder), or
`--database-url postgresql://postgres@127.0.0.1:5432/postgres` to use a fresh
PostgreSQL database made beside that one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import secrets
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402

from portal import create_app, db  # noqa: E402
from portal.blueprints.auth.models import User  # noqa: E402
from portal.blueprints.notifications import services  # noqa: E402
from portal.blueprints.notifications.delivery import Outbox  # noqa: E402
from portal.blueprints.notifications.models import (  # noqa: E402
    DeliveryStatus,
    NotificationKind,
    PushDelivery,
    PushSubscription,
)
from portal.blueprints.notifications.push import (  # noqa: E402
    build_payload,
    endpoint_hash,
    private_key_text,
    public_key_of,
    push_settings,
)
from portal.blueprints.programs.models import (  # noqa: E402
    Enrollment,
    LevelOfCare,
    Program,
    Track,
)
from portal.db import new_id  # noqa: E402
from portal.migrate import upgrade  # noqa: E402
from portal.security import Role  # noqa: E402
from tests.fake_push_service import run_in_process, subscription_info  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TARGET_SECONDS = 10.0
SEED = "bench-fanout"
MARKER = "FANOUT-MARKER-7731"  # every patient's name carries it; no payload may


def make_database(base: str | None, folder: Path) -> tuple[str, callable]:
    if not base:
        return f"sqlite:///{folder}/fanout.db", lambda: None
    name = f"portal_fanout_{secrets.token_hex(3)}"
    admin = create_engine(db.make_engine(base).url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = db.make_engine(base).url.set(database=name)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return url.render_as_string(hide_password=False), drop


def start_push_service(args, public_key: str, gone: set[str]):
    ports = multiprocessing.Queue()
    process = multiprocessing.Process(
        target=run_in_process,
        args=(ports,),
        kwargs={
            "vapid_public_key": public_key,
            "delay": args.latency_ms / 1000,
            "seed": SEED,
            "gone": gone,
            "decrypt_every": args.decrypt_every,
        },
        daemon=True,
    )
    process.start()
    return process, f"http://127.0.0.1:{ports.get(timeout=30)}"


def seed_subscribers(count: int, base_url: str) -> tuple[str, list[dict], list[str]]:
    """One program, `count` active patients, one phone each; returns the program id,
    the subscriptions as browsers would send them, and the ids of the gone ones."""
    program = Program(name="Fan-out Program", on_call_phone="+1-555-010-0199")
    db.session.add(program)
    db.session.flush()
    track = Track(program_id=program.id, name="Days", level_of_care=LevelOfCare.PHP)
    db.session.add(track)
    db.session.flush()
    users, enrollments, devices, infos = [], [], [], []
    for n in range(count):
        user_id = new_id()
        info = subscription_info(base_url, SEED, f"p{n}")
        users.append(
            {
                "id": user_id,
                "email": f"fanout-{n}@bench.test",
                "display_name": f"{MARKER} {n}",
                "role": Role.PATIENT,
            }
        )
        enrollments.append(
            {
                "id": new_id(),
                "patient_id": user_id,
                "program_id": program.id,
                "track_id": track.id,
                "level_of_care": LevelOfCare.PHP,
                "admitted_on": date.today(),
            }
        )
        devices.append(
            {
                "id": new_id(),
                "user_id": user_id,
                "endpoint": info["endpoint"],
                "endpoint_hash": endpoint_hash(info["endpoint"]),
                "p256dh": info["keys"]["p256dh"],
                "auth": info["keys"]["auth"],
                "device_label": "Chrome on Android phone",
            }
        )
        infos.append(info)
    for model, rows in ((User, users), (Enrollment, enrollments)):
        for start in range(0, len(rows), 1000):
            db.session.execute(insert(model), rows[start : start + 1000])
    for start in range(0, len(devices), 1000):
        db.session.execute(insert(PushSubscription), devices[start : start + 1000])
    db.session.commit()
    return program.id, infos, [d["id"] for d in devices]


def bare_encryption_rate(infos: list[dict], seconds: float) -> tuple[float, float]:
    """pywebpush's own aes128gcm encryption, one message after another: messages per
    second of wall time, and CPU milliseconds per message."""
    from pywebpush import WebPusher

    payload = build_payload(NotificationKind.ANNOUNCEMENT, new_id(), "Day Program")
    done, started, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        WebPusher(infos[done % len(infos)]).encode(payload)
        done += 1
    elapsed = time.perf_counter() - started
    return done / elapsed, (time.process_time() - cpu) / done * 1000


def naive_seconds_per_message(infos: list[dict], vapid_key: str, sample: int) -> float:
    """`webpush()` as its README shows it: sign and connect anew for each message."""
    from pywebpush import WebPushException, webpush

    payload = build_payload(NotificationKind.ANNOUNCEMENT, new_id(), "Day Program")
    started = time.perf_counter()
    for info in infos[:sample]:
        with contextlib.suppress(WebPushException):  # a gone one costs the same
            webpush(
                info,
                payload.decode(),
                vapid_private_key=vapid_key,
                vapid_claims={"sub": "mailto:push-admin@example.org"},
                ttl=3600,
            )
    return (time.perf_counter() - started) / sample


def service_stats(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/_stats", timeout=30) as response:  # noqa: S310 - our local fake service
        return json.load(response)


def run(args) -> dict:
    from py_vapid import Vapid

    vapid = Vapid()
    vapid.generate_keys()
    folder = Path(tempfile.mkdtemp(prefix="portal-fanout-"))
    url, drop = make_database(args.database_url, folder)
    gone_every = round(1 / args.gone_share)
    gone = {f"p{n}" for n in range(args.subscriptions) if n % gone_every == 7}
    service, base_url = start_push_service(args, public_key_of(vapid), gone)
    try:
        upgrade(url)
        app = create_app(
            {
                "SQLALCHEMY_URL": url,
                "SECRET_KEY": secrets.token_urlsafe(32),
                "VAPID_PRIVATE_KEY": private_key_text(vapid),
                "VAPID_SUBJECT": "mailto:push-admin@example.org",
                "PUSH_ALLOW_HTTP": True,
                "PUSH_HOSTS": "127.0.0.1",
                "PUSH_CONCURRENCY": args.concurrency,
                "PUSH_BATCH": args.batch,
            }
        )
        with app.app_context():
            return measure(args, app, vapid, base_url, gone, service.pid)
    finally:
        service.terminate()
        service.join(10)
        db.session.remove()
        drop()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(args, app, vapid, base_url: str, gone: set[str], service_pid: int) -> dict:
    program_id, infos, _ = seed_subscribers(args.subscriptions, base_url)
    # Encryption is timed just before and just after the delivery, and averaged, so
    # that both figures see the same machine (other load on it moves both).
    before = bare_encryption_rate(infos, args.encrypt_seconds / 2)

    started = time.perf_counter()
    made = services.announce(program_id)
    db.session.commit()
    enqueue = time.perf_counter() - started

    outbox = Outbox(push_settings(app), app.config["APP_NAME"])
    try:
        cpu_started, service_cpu_started = time.process_time(), process_cpu(service_pid)
        started = time.perf_counter()
        settled = 0
        while True:
            settled += outbox.deliver_due(budget=120)
            pending = db.session.scalar(
                select(func.count())
                .select_from(PushDelivery)
                .where(PushDelivery.status == DeliveryStatus.PENDING)
            )
            db.session.commit()
            if not pending:
                break
        deliver = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        service_cpu = process_cpu(service_pid) - service_cpu_started
        signatures = outbox.signer.signatures
    finally:
        outbox.close()

    after = bare_encryption_rate(infos, args.encrypt_seconds / 2)
    encrypt_rate = (before[0] + after[0]) / 2
    encrypt_cpu_ms = (before[1] + after[1]) / 2
    sent = db.session.scalar(
        select(func.count())
        .select_from(PushDelivery)
        .where(PushDelivery.status == DeliveryStatus.SENT)
    )
    left = set(
        db.session.scalars(
            select(PushSubscription.endpoint).where(
                PushSubscription.endpoint.in_([f"{base_url}/push/{g}" for g in gone])
            )
        )
    )
    remaining = db.session.scalar(select(func.count()).select_from(PushSubscription))
    stats = service_stats(base_url)
    naive = naive_seconds_per_message(
        [i for i in infos if i["endpoint"].rsplit("/", 1)[1] not in gone],
        private_key_text(vapid),
        args.naive_sample,
    )
    rate = sent / deliver
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": db.session.get_bind().dialect.name,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "subscriptions": args.subscriptions,
        "gone": len(gone),
        "latency_ms": args.latency_ms,
        "concurrency": args.concurrency,
        "notifications_made": made,
        "enqueue_seconds": round(enqueue, 2),
        "deliver_seconds": round(deliver, 2),
        "target_seconds": TARGET_SECONDS,
        "settled": settled,
        "sent": sent,
        "gone_left": len(left),
        "subscriptions_left": remaining,
        "notifications_per_second": round(rate),
        "bare_encryptions_per_second": round(encrypt_rate),
        "ratio_to_bare_encryption": round(rate / encrypt_rate, 2),
        "vapid_signatures": signatures,
        "worker_cpu_ms_per_notification": round(cpu / sent * 1000, 3),
        "bare_encryption_cpu_ms": round(encrypt_cpu_ms, 3),
        "cpu_ratio_to_bare_encryption": round(encrypt_cpu_ms / (cpu / sent * 1000), 2),
        "service_cpu_ms_per_notification": round(service_cpu / sent * 1000, 3),
        "service": {
            "answers": stats["answers"],
            "decrypted": stats["decrypted"],
            "distinct_tokens": stats["distinct_tokens"],
            "problems": stats["problems"],
            "payload_texts": stats["payload_texts"],
        },
        "naive_seconds_per_message": round(naive, 4),
        "naive_seconds_for_all": round(naive * args.subscriptions),
    }


def verdict(result: dict) -> list[str]:
    problems = []
    if result["deliver_seconds"] >= TARGET_SECONDS:
        problems.append(f"delivery took {result['deliver_seconds']} s (target < 10 s)")
    expected = result["subscriptions"] - result["gone"]
    if (
        result["sent"] != expected
        or result["service"]["answers"].get("201") != expected
    ):
        problems.append(f"sent {result['sent']}, expected {expected}")
    if result["gone_left"] or result["subscriptions_left"] != expected:
        problems.append(f"{result['gone_left']} gone subscriptions were not removed")
    if result["service"]["problems"]:
        problems.append(f"push service refused: {result['service']['problems'][:3]}")
    if any(MARKER in text for text in result["service"]["payload_texts"]):
        problems.append("a patient's name reached a payload")
    return problems


def report(result: dict) -> None:
    rows = [
        ("subscriptions (gone)", f"{result['subscriptions']:,} ({result['gone']})"),
        ("push service latency", f"{result['latency_ms']} ms"),
        ("messages in flight at once", result["concurrency"]),
        ("enqueue (announce + commit)", f"{result['enqueue_seconds']} s"),
        ("deliver all", f"{result['deliver_seconds']} s (target < 10 s)"),
        (
            "sent / gone removed",
            f"{result['sent']:,} / {result['gone'] - result['gone_left']}",
        ),
        ("notifications per second", f"{result['notifications_per_second']:,}"),
        (
            "bare pywebpush encryptions per second",
            f"{result['bare_encryptions_per_second']:,}",
        ),
        ("ratio (notifications / encryptions)", result["ratio_to_bare_encryption"]),
        ("VAPID signatures", result["vapid_signatures"]),
        (
            "worker CPU per notification",
            f"{result['worker_cpu_ms_per_notification']} ms (bare encryption "
            f"{result['bare_encryption_cpu_ms']} ms, ratio "
            f"{result['cpu_ratio_to_bare_encryption']})",
        ),
        (
            "fake service CPU per notification",
            f"{result['service_cpu_ms_per_notification']} ms",
        ),
        ("payloads decrypted by the service", f"{result['service']['decrypted']:,}"),
        (
            "naive webpush() per message",
            f"{result['naive_seconds_per_message'] * 1000:.0f} ms "
            f"(~{result['naive_seconds_for_all'] / 60:.1f} min for all)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    print(
        f"push fan-out on {result['database']}, {result['cpus']} CPUs, load "
        f"{result['load_average'][0]:.1f}"
    )
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", help="PostgreSQL server to make a database on"
    )
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--gone-share", type=float, default=0.02)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--decrypt-every", type=int, default=10)
    parser.add_argument("--encrypt-seconds", type=float, default=3.0)
    parser.add_argument("--naive-sample", type=int, default=60)
    args = parser.parse_args()
    result = run(args)
    report(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"push_fanout_{result['database']}.json"
    out.write_text(json.dumps(result, indent=2))
    problems = verdict(result)
    for problem in problems:
        print(f"FAIL: {problem}")
    print("PASS" if not problems else "")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
