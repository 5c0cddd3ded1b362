"""Benchmark of utilization review: the worklist of a 300-patient program and a
90-day review packet with its PDF.

In PostgreSQL databases seeded with 100 and with 50,000 patients (`portal seed`),
`seed_scale_reviews` adds a program of 300 patients with 90 days of attendance,
check-ins and weekly screeners, coverage and an authorization each. Measures, in
process (Flask test client, no network), as the program's director and prescriber:
1. SQL statements of the worklist (GET /reviews), the packet page and the huddle's
   `attention_for_program` (target: the same at both sizes);
2. the worklist's median (target: under 200 ms);
3. saving a 90-day packet with its PDF (POST), median (target: under 1 s).

    .venv/bin/python bench/reviews.py [--sizes 100,50000] [--requests 50] [--reuse]
                                      [--work-mem 32MB]

Results go to bench/results/reviews-<time>.json and reviews-latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from needs_queue import prepare  # the same seeding of the same sizes

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - published demo secret
PASSWORD = "demo-portal-2026"  # noqa: S105 - the published password of seeded accounts
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TARGETS = {"worklist_p50_ms_max": 200.0, "packet_p50_ms_max": 1000.0}


def sign_in(client, email: str) -> None:
    import pyotp

    def post(path: str, data: dict):
        token = CSRF_RE.search(client.get(path).get_data(as_text=True)).group(1)
        return client.post(path, data={"csrf_token": token, **data})

    post("/sign-in", {"email": email, "password": PASSWORD})
    for _attempt in range(2):  # a code works once: a run just before may have used it
        code = pyotp.TOTP(TOTP_SECRET).now()
        if post("/sign-in/code", {"code": code}).status_code == 302:
            return
        time.sleep(30.5 - time.time() % 30)
    raise SystemExit(f"sign-in of {email} failed")


def counted(engine, action) -> tuple[int, object]:
    from sqlalchemy import event

    seen = []

    def record(*_args):
        seen.append(1)

    event.listen(engine, "before_cursor_execute", record)
    try:
        result = action()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(seen), result


def timings(action, runs: int) -> dict:
    """Wall-clock and this process's CPU per run (the CPU moves less with other
    work on a shared machine; the database's own time is in the wall clock only)."""
    times, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        action()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    times.sort()
    return {
        "p50": statistics.median(times),
        "p95": times[int(0.95 * (len(times) - 1))],
        "min": times[0],
        "cpu_p50": statistics.median(cpu),
        "runs": runs,
        "load_average": os.getloadavg()[0],
    }


def ok(response, status=200):
    if response.status_code != status:
        raise SystemExit(f"{response.request.path} answered {response.status_code}")
    return response


def measure(database_url: str, requests: int) -> dict:
    os.environ["PORTAL_DATABASE_URL"] = database_url
    from argon2 import PasswordHasher
    from sqlalchemy import select

    from portal import create_app, db
    from portal.blueprints.programs.models import Program
    from portal.blueprints.reviews.demo import (
        BENCH_DIRECTOR,
        BENCH_PRESCRIBER,
        BENCH_PROGRAM,
        seed_scale_reviews,
    )
    from portal.blueprints.reviews.models import Authorization
    from portal.blueprints.reviews.worklist import attention_for_program

    app = create_app()
    engine = app.extensions["engine"]
    with app.app_context():
        hashed = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        started = time.monotonic()
        made = seed_scale_reviews(db.session, hashed.hash(PASSWORD))
        seeded = time.monotonic() - started
        program = db.session.scalar(
            select(Program).where(Program.name == BENCH_PROGRAM)
        )
        auth = db.session.scalar(
            select(Authorization)
            .where(Authorization.program_id == program.id)
            .order_by(Authorization.reference)
            .limit(1)
        )
        program_id, auth_id, first = program.id, auth.id, auth.starts_on
        db.session.remove()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")
    director, prescriber = app.test_client(), app.test_client()
    sign_in(director, BENCH_DIRECTOR)
    sign_in(prescriber, BENCH_PRESCRIBER)
    ok(director.get("/reviews"))  # warm
    worklist_statements, response = counted(
        engine, lambda: ok(director.get("/reviews"))
    )
    rows = response.get_data(as_text=True).count("BENCH-PA-")
    packet_path = f"/reviews/authorizations/{auth_id}/packet"
    ok(prescriber.get(packet_path))
    packet_statements, _ = counted(engine, lambda: ok(prescriber.get(packet_path)))
    with app.app_context():
        today = datetime.now(UTC).date()
        attention_statements, attention = counted(
            engine, lambda: attention_for_program(program_id, today)
        )
        db.session.remove()
    page = prescriber.get(packet_path).get_data(as_text=True)
    token = CSRF_RE.search(page).group(1)
    last = datetime.now(UTC).date()

    def save_packet():
        ok(
            prescriber.post(
                f"/reviews/authorizations/{auth_id}/packets",
                data={
                    "csrf_token": token,
                    "start": first.isoformat(),
                    "end": last.isoformat(),
                },
            ),
            303,
        )

    result = {
        "patients_made_now": made,
        "seed_seconds": seeded,
        "worklist": {
            "statements": worklist_statements,
            "rows": rows,
            "latency_ms": timings(lambda: ok(director.get("/reviews")), requests),
        },
        "packet_page": {
            "statements": packet_statements,
            "days": (last - first).days + 1,
            "latency_ms": timings(lambda: ok(prescriber.get(packet_path)), 20),
        },
        "packet_with_pdf": {"latency_ms": timings(save_packet, 10)},
        "attention_for_program": {
            "statements": attention_statements,
            "patients": len(attention),
        },
    }
    engine.dispose()
    return result


def run_size(args, size: int) -> dict:
    name = f"reviews_bench_{size}"
    seeded = prepare(args.base, name, size, args.reuse)
    out = subprocess.run(
        [
            PYTHON,
            __file__,
            "measure",
            "--database-url",
            # the deployment's role setting (docs/deployment.md): sorts in memory
            f"{args.base.rstrip('/')}/{name}?options=-c%20work_mem%3D{args.work_mem}",
            "--requests",
            str(args.requests),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["portal_seed_seconds"] = seeded
    return result


def verdict(results: dict) -> dict:
    sizes = list(results)

    def same(key: str) -> bool:
        return len({results[s][key]["statements"] for s in sizes}) == 1

    worklist = max(results[s]["worklist"]["latency_ms"]["p50"] for s in sizes)
    packet = max(results[s]["packet_with_pdf"]["latency_ms"]["p50"] for s in sizes)
    return {
        "same_statements_at_every_size": same("worklist")
        and same("packet_page")
        and same("attention_for_program"),
        "worklist_p50_ms_worst": round(worklist, 1),
        "worklist_ok": worklist < TARGETS["worklist_p50_ms_max"],
        "packet_p50_ms_worst": round(packet, 1),
        "packet_ok": packet < TARGETS["packet_p50_ms_max"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "measure"])
    parser.add_argument("--base", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--sizes", default="100,50000")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--reuse", action="store_true", help="keep seeded databases")
    parser.add_argument(
        "--work-mem",
        default="32MB",
        help="PostgreSQL work_mem of the portal's connections (deployment: 32MB; "
        "PostgreSQL's default is 4MB)",
    )
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if args.mode == "measure":
        print(json.dumps(measure(args.database_url, args.requests), default=str))
        return 0
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"seeding and measuring {size} patients ...", flush=True)
        results[size] = run_size(args, size)
    checks = verdict(results)
    for size, r in results.items():
        print(
            f"\n{size} patients: worklist {r['worklist']['statements']} statements,"
            f" {r['worklist']['rows']} rows, p50"
            f" {r['worklist']['latency_ms']['p50']:.1f} ms (min"
            f" {r['worklist']['latency_ms']['min']:.1f}, CPU"
            f" {r['worklist']['latency_ms']['cpu_p50']:.1f}, load"
            f" {r['worklist']['latency_ms']['load_average']:.1f});"
            f" packet page {r['packet_page']['statements']} statements"
            f" ({r['packet_page']['days']} days), p50"
            f" {r['packet_page']['latency_ms']['p50']:.1f} ms;"
            f" packet with PDF p50 {r['packet_with_pdf']['latency_ms']['p50']:.1f} ms;"
            f" attention_for_program {r['attention_for_program']['statements']}"
            " statements"
        )
    print("\n" + json.dumps(checks))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"targets": TARGETS, "verdict": checks, "results": results}
    for path in (RESULTS / f"reviews-{stamp}.json", RESULTS / "reviews-latest.json"):
        path.write_text(json.dumps(payload, indent=1, default=str))
    good = checks["same_statements_at_every_size"] and checks["worklist_ok"]
    return 0 if good and checks["packet_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
