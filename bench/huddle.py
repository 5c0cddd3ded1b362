"""Benchmark of the morning huddle and the staff homes on PostgreSQL.

For two data sizes seeded with `portal seed --history` (a year of history; 100 and
50,000 patients in 20 programs by default), in process through Flask's test client,
signed in with password and TOTP as program 00's staff, after adding 30 huddle notes
and 30 open actions to program 00:

1. SQL statements of the huddle (the director's view, with notes and the team; a peer
   specialist's) and of the director's, case manager's and peer's homes: equal at both
   sizes, the huddle at most 15;
2. the director's huddle of program 00 (about 300 enrolled at 50,000): median and p95
   of `--requests` renders, target median under 300 ms at the large size, and the CPU
   per render of the app and of PostgreSQL (from /proc);
3. EXPLAIN (ANALYZE, BUFFERS) of every statement of that huddle, saved to
   bench/results/huddle-plans-<size>.txt.

It runs VACUUM (ANALYZE) before measuring, as autovacuum would after a bulk load. The
seeded databases are `huddle_bench_<size>`; `--reuse` keeps them.

.venv/bin/python bench/huddle.py [--small 100] [--large 50000] [--requests 30] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.board import (  # noqa: E402 - the board's bench is the model of this one
    CSRF_RE,
    PASSWORD,
    RESULTS,
    TOTP_SECRET,
    cpu_ms,
    explain,
    latency_ms,
    measure_size,
    print_table,
    recorded,
)

TARGETS = {"huddle_statements_max": 15, "median_ms_max": 300.0}
TIMED = "huddle, program 00, director"
FOLLOW_UPS = 30  # notes and open actions added to program 00 before measuring


def staff(role: str) -> str:
    return f"scale-0-{role}@scale.test"


def pages(program_id: str) -> dict[str, tuple[str, str]]:
    """Name -> (who signs in, path)."""
    huddle = f"/staff/huddle/{program_id}"
    return {
        TIMED: ("director", huddle),
        "huddle, program 00, peer specialist": ("peer", huddle),
        "home, director": ("director", "/staff"),
        "home, case manager": ("case_manager", "/staff"),
        "home, peer specialist": ("peer", "/staff"),
    }


# ---- in a subprocess, per database -----------------------------------------------


def sign_in(client, email: str) -> None:
    """Password, then the second factor, through the real forms."""
    import pyotp

    def post(path: str, data: dict):
        token = CSRF_RE.search(client.get(path).get_data(as_text=True)).group(1)
        return client.post(path, data={"csrf_token": token, **data})

    post("/sign-in", {"email": email, "password": PASSWORD})
    response = post("/sign-in/code", {"code": pyotp.TOTP(TOTP_SECRET).now()})
    if response.status_code != 302:
        raise SystemExit(f"{email} sign-in failed: {response.status_code}")


def add_follow_ups(program_id: str) -> None:
    """30 notes and 30 open actions about program 00's patients (once per database)."""
    from sqlalchemy import func, select

    from portal import db
    from portal.blueprints.auth.models import User
    from portal.blueprints.programs.models import Enrollment, EnrollmentStatus
    from portal.blueprints.staff.models import HuddleAction, HuddleNote
    from portal.db import utcnow

    if db.session.scalar(
        select(func.count(HuddleNote.id)).where(HuddleNote.program_id == program_id)
    ):
        return
    nurse, cm = (
        db.session.scalar(select(User.id).where(User.email == staff(r)))
        for r in ("nurse", "case_manager")
    )
    patients = db.session.scalars(
        select(Enrollment.patient_id)
        .where(
            Enrollment.program_id == program_id,
            Enrollment.status != EnrollmentStatus.DISCHARGED,
        )
        .limit(FOLLOW_UPS)
    ).all()
    now = utcnow()
    for n, patient_id in enumerate(patients):
        db.session.add(
            HuddleNote(
                program_id=program_id,
                patient_id=patient_id,
                body="Discussed at the huddle; seen before group.",
                author_id=nurse,
                written_at=now - timedelta(hours=n),
            )
        )
        db.session.add(
            HuddleAction(
                program_id=program_id,
                patient_id=patient_id,
                what="call about the ride",
                owner_id=cm,
                due_at=now + timedelta(hours=n - 10),
                created_by_id=nurse,
            )
        )
    db.session.commit()


def rows_shown(body: bytes) -> int:
    return body.decode().count('<tr id="p-')


def census(body: bytes) -> str:
    text = body.decode()
    total = re.search(r"All tracks</th><td>(\d+)</td>", text)
    return f"{total.group(1) if total else 0} active, {rows_shown(body)} on the list"


def measure(database_url: str, requests: int) -> dict:
    os.environ["PORTAL_DATABASE_URL"] = database_url
    from sqlalchemy import select

    from portal import create_app, db
    from portal.blueprints.programs.models import Program

    app = create_app()
    engine = app.extensions["engine"]
    with app.app_context():
        program_id = db.session.scalar(
            select(Program.id).where(Program.name == "Scale Program 00")
        )
        add_follow_ups(program_id)
        db.session.remove()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")
    clients: dict[str, object] = {}
    result: dict = {"pages": {}}
    for name, (role, path) in pages(program_id).items():
        if role not in clients:
            clients[role] = app.test_client()
            sign_in(clients[role], staff(role))
        statements, body = recorded(engine, clients[role], path)
        result["pages"][name] = {
            "path": path,
            "queries": len(statements),
            "statements": [" ".join(s.split())[:160] for s, _ in statements],
        }
        if name == TIMED:
            result["census"] = census(body)
            result["plans"] = explain(engine, statements)
    director, timed = clients["director"], pages(program_id)[TIMED][1]
    load_before = os.getloadavg()[0]
    result["latency_ms"] = latency_ms(director, timed, requests)
    result["load_average"] = [load_before, os.getloadavg()[0]]
    database = database_url.rsplit("/", 1)[1]
    result["cpu_ms"] = cpu_ms(director, timed, database, max(5, requests // 3))
    result["home_latency_ms"] = latency_ms(director, "/staff", max(5, requests // 3))
    engine.dispose()
    return result


# ---- the driver --------------------------------------------------------------------


def run_size(args, size: int) -> dict:
    """Seed (or reuse) one size's database and measure it in a fresh process."""
    return measure_size(__file__, args, size, "huddle")


def verdict(results: dict, small: int, large: int) -> list[tuple[str, str, str, bool]]:
    rows = []
    for name in results[small]["pages"]:
        counts = [results[s]["pages"][name]["queries"] for s in (small, large)]
        limit = TARGETS["huddle_statements_max"] if name.startswith("huddle") else None
        ok = counts[0] == counts[1] and (limit is None or counts[1] <= limit)
        target = f"equal, <= {limit}" if limit else "equal"
        rows.append((f"statements: {name}", f"{counts[0]} / {counts[1]}", target, ok))
    big = results[large]
    timed, load, cpu = big["latency_ms"], big["load_average"], big["cpu_ms"]
    rows.append(
        (
            f"{TIMED} ({big['census']}), median / p95 "
            f"(load average {load[0]:.1f} -> {load[1]:.1f} on {os.cpu_count()} CPUs)",
            f"{timed['p50']:.0f} / {timed['p95']:.0f} ms",
            f"median < {TARGETS['median_ms_max']:.0f} ms",
            timed["p50"] < TARGETS["median_ms_max"],
        )
    )
    rows.append(
        (
            f"{TIMED}, CPU per render: the app + PostgreSQL",
            f"{cpu['app']:.0f} + {cpu['postgres']:.0f} = "
            f"{cpu['app'] + cpu['postgres']:.0f} ms",
            "(reported)",
            True,
        )
    )
    for size in (small, large):
        home = results[size]["home_latency_ms"]
        rows.append(
            (
                f"director's home, {size} patients, median / p95",
                f"{home['p50']:.0f} / {home['p95']:.0f} ms",
                "(reported)",
                True,
            )
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    inner = sub.add_parser("measure", help="(internal) one database, one process")
    inner.add_argument("--database-url", required=True)
    inner.add_argument("--requests", type=int, default=30)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=50_000)
    parser.add_argument("--programs", type=int, default=20)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument(
        "--database-base",
        default=os.environ.get(
            "PORTAL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432"
        ),
    )
    parser.add_argument("--database-prefix", default="huddle_bench")
    parser.add_argument("--reuse", action="store_true", help="keep seeded databases")
    args = parser.parse_args()
    if args.command == "measure":
        print(json.dumps(measure(args.database_url, args.requests)))
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = {size: run_size(args, size) for size in (args.small, args.large)}
    rows = verdict(results, args.small, args.large)
    print_table(rows)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = {
        "sizes": [args.small, args.large],
        "results": {str(k): v for k, v in results.items()},
        "rows": [
            dict(zip(("measure", "measured", "target", "pass"), r, strict=True))
            for r in rows
        ],
    }
    for name in (f"huddle-{stamp}.json", "huddle-latest.json"):
        (RESULTS / name).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"\nJSON: bench/results/huddle-{stamp}.json")
    print("plans: bench/results/huddle-plans-*.txt")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
