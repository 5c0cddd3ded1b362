"""Benchmark of the daily check-in (issue 4, item 9).

Measures, on one machine in one run:
1. check-in submissions per second and their latency (p50, p95, p99) with 50 distinct
   seeded patients posting at once, each signed in with its own session, against
   gunicorn on a 50,000-patient PostgreSQL database; every answer that is not a 200
   with the "saved" page is an error;
2. the SQL statements of the clinician's list (GET /staff as a seeded nurse) with 100
   and with 50,000 patients in the database (must be equal), and its latency in-process.

`bash bench/checkins.sh` does the set-up, then runs this file; see bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing
import os
import random
import secrets
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from home import (  # the shared helpers of bench/home.py
    CSRF_RE,
    PASSWORD,
    RESULTS,
    Server,
    add_database_options,
    add_server_options,
    cpu_snapshot,
    cpu_used,
    database_url,
    free_port,
    machine_facts,
    merge_cookies,
    prepare_database,
    print_table,
    run_in_fresh_process,
    start_gunicorn,
    stop,
    write_results,
)

TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - published demo secret
NURSE_EMAIL = "scale-0-nurse@scale.test"
SAVED_MARK = b"Your check-in is saved"

TARGETS = {"p95_ms": 100.0, "p99_ms": 200.0, "errors": 0}

# Tables the check-in and its risk path write to: counted before and after the load.
WRITTEN_TABLES = (
    "checkins",
    "risk_flags",
    "risk_flag_events",
    "notifications",
    "push_deliveries",
    "outbound_pages",
    "audit_log",
)


def patient_emails(count: int, programs: int) -> list[str]:
    """Distinct seeded patients spread over the programs: scale-<program>-<n>."""
    return [f"scale-{i % programs}-{i // programs}@scale.test" for i in range(count)]


# ---- database set-up beyond `portal seed` ------------------------------------------


def _engine(url: str):
    from sqlalchemy import create_engine

    return create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


def add_history(url: str) -> dict:
    """30 days of check-ins (about 4 in 5 days) and 5 weekly PHQ-9 and GAD-7 for every
    patient of program 00, so the nurse's list has something to show. Skipped when
    already there (a --reuse run)."""
    from sqlalchemy import text

    engine = _engine(url)
    program = "(SELECT id FROM programs WHERE name = 'Scale Program 00')"
    # The SQL below is built from constants of this file only (no input): S608 is moot.
    with engine.begin() as conn:
        have = conn.scalar(
            text(
                "SELECT count(*) FROM checkins c JOIN enrollments e"  # noqa: S608
                f" ON e.patient_id = c.patient_id WHERE e.program_id = {program}"
            )
        )
        if not have:
            conn.execute(
                text(
                    "INSERT INTO checkins (id, created_at, patient_id, local_date,"  # noqa: S608
                    " mood, craving, sleep_hours, medication, feels_safe, note,"
                    " idempotency_key, updated_at)"
                    " SELECT gen_random_uuid()::text, now(), e.patient_id,"
                    " current_date - d, (random() * 10)::int, (random() * 10)::int,"
                    " round((4 + random() * 5)::numeric, 1), 'yes', true, NULL,"
                    " gen_random_uuid()::text, now()"
                    f" FROM enrollments e, generate_series(1, 30) AS d"
                    f" WHERE e.program_id = {program} AND random() < 0.8"
                )
            )
            for instrument, items, bands in (
                (
                    "phq9",
                    9,
                    "CASE WHEN v = 0 THEN 'minimal' WHEN v = 1 THEN 'mild'"
                    " ELSE 'moderately severe' END",
                ),
                (
                    "gad7",
                    7,
                    "CASE WHEN v = 0 THEN 'minimal' WHEN v = 1 THEN 'mild'"
                    " ELSE 'moderate' END",
                ),
            ):
                last = "0" if instrument == "phq9" else "v"  # PHQ-9 item 9 stays 0
                conn.execute(
                    text(
                        "INSERT INTO screener_responses (id, patient_id, instrument,"  # noqa: S608
                        " answers, total, severity, risk_positive, idempotency_key,"
                        " completed_at)"
                        f" SELECT gen_random_uuid()::text, patient_id, '{instrument}',"
                        f" to_json(array_fill(v, ARRAY[{items - 1}]) || {last}),"
                        f" v * {items - 1} + {last}, {bands}, false,"
                        " gen_random_uuid()::text, now() - make_interval(days => 7 * w)"
                        " FROM (SELECT e.patient_id, w,"
                        " abs(hashtext(e.patient_id || w::text)) % 3 AS v"
                        f" FROM enrollments e, generate_series(1, 5) AS w"
                        f" WHERE e.program_id = {program}) AS s"
                    )
                )
        counts = {
            table: conn.scalar(
                text(
                    f"SELECT count(*) FROM {table} t JOIN enrollments e"  # noqa: S608
                    f" ON e.patient_id = t.patient_id WHERE e.program_id = {program}"
                )
            )
            for table in ("checkins", "screener_responses")
        }
    engine.dispose()
    return counts


def configure_risk_settings(url: str, programs: int) -> int:
    """Who is paged for a risk flag, per program, as the demo program has it: the nurse
    on call, the therapist as backup, the prescriber after hours. `portal seed` leaves
    it unset, and a flag with nobody to tell would skip the outbox writes."""
    from sqlalchemy import text

    engine = _engine(url)
    made = 0
    with engine.begin() as conn:
        for index in range(programs):
            staff = dict(
                conn.execute(
                    text("SELECT email, id FROM users WHERE email LIKE :pattern"),
                    {"pattern": f"scale-{index}-%@scale.test"},
                ).all()
            )
            made += conn.execute(
                text(
                    "INSERT INTO risk_settings (program_id, on_call_id, backup_id,"
                    " after_hours_id, t1_minutes, t2_minutes,"
                    " after_hours_repeat_minutes, screener_schedule)"
                    " SELECT id, :nurse, :therapist, :prescriber, 15, 30, 30, :schedule"
                    " FROM programs WHERE name = :name"
                    " ON CONFLICT (program_id) DO NOTHING"
                ),
                {
                    "name": f"Scale Program {index:02d}",
                    "nurse": staff[f"scale-{index}-nurse@scale.test"],
                    "therapist": staff[f"scale-{index}-therapist@scale.test"],
                    "prescriber": staff[f"scale-{index}-prescriber@scale.test"],
                    "schedule": json.dumps(
                        {"admission": True, "every_days": 7, "discharge": True}
                    ),
                },
            ).rowcount
    engine.dispose()
    return made


def table_counts(url: str) -> dict[str, int]:
    from sqlalchemy import text

    engine = _engine(url)
    with engine.connect() as conn:
        counts = {}
        for table in WRITTEN_TABLES:  # constants of this file, not input
            counts[table] = conn.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608
        counts["risk_flag_events_by_kind"] = dict(
            conn.execute(
                text(
                    "SELECT kind || coalesce(':' || channel, ''), count(*)"
                    " FROM risk_flag_events GROUP BY 1 ORDER BY 1"
                )
            ).all()
        )
    engine.dispose()
    return counts


# ---- in-process: the clinician's list (once per database, in a subprocess) --------


def _form_token(client, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    return CSRF_RE.search(html).group(1)


def sign_in_staff_test_client(client, email: str) -> None:
    """Password, then the TOTP code, through the real forms. A step already used by
    this account (an earlier run within 30 s) is refused: then the next step's code."""
    import pyotp

    response = client.post(
        "/sign-in",
        data={
            "csrf_token": _form_token(client, "/sign-in"),
            "email": email,
            "password": PASSWORD,
        },
    )
    if response.status_code != 302:
        raise SystemExit(f"staff sign-in failed: {response.status_code}")
    totp = pyotp.TOTP(TOTP_SECRET)
    for attempt in range(3):
        code = totp.at(time.time() + 30 * min(attempt, 1))
        response = client.post(
            "/sign-in/code",
            data={"csrf_token": _form_token(client, "/sign-in/code"), "code": code},
        )
        if response.status_code == 302:
            return
        time.sleep(31 - time.time() % 30)  # a step nobody used yet
    raise SystemExit("the TOTP step was refused three times")


def statements_of(engine, client, path: str) -> tuple[int, list[str], int]:
    """Every statement of one request (before_cursor_execute) and the answer's size."""
    from sqlalchemy import event

    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _executemany):
        seen.append(" ".join(statement.split())[:200])

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code}, not 200")
    return len(seen), seen, len(response.get_data())


def run_staff_list(database_url_: str, requests: int) -> dict:
    os.environ["PORTAL_DATABASE_URL"] = database_url_
    from portal import create_app

    app = create_app()
    engine = app.extensions["engine"]
    client = app.test_client()
    sign_in_staff_test_client(client, NURSE_EMAIL)
    statements_of(engine, client, "/staff")  # warm-up
    count, statements, size = statements_of(engine, client, "/staff")
    html = client.get("/staff").get_data(as_text=True)
    rows = html.count('<th scope="row">')
    wall, cpu = [], []
    for _ in range(requests):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get("/staff")
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET /staff answered {response.status_code}")
    engine.dispose()
    return {
        "queries": count,
        "statements": statements,
        "audit_inserts": sum("INSERT INTO audit_log" in s for s in statements),
        "rows_listed": rows,
        "open_alerts_listed": html.count("Safety alert:"),
        "page_bytes": size,
        "requests": requests,
        "wall_ms": _summary(wall),
        "cpu_ms": _summary(cpu),
        "nurse": NURSE_EMAIL,
    }


def staff_list_figures(url: str, requests: int) -> dict:
    return run_in_fresh_process(
        __file__, "staff-list", url, "--list-requests", requests
    )


def _summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p95": percentile(ordered, 95),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


# ---- over HTTP: 50 patients signing in, then posting check-ins ----------------------


def _request(port, method, path, cookie, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), response.getheaders()
    finally:
        conn.close()


def sign_in_patient(port: int, email: str) -> dict:
    """The real /sign-in form, then the check-in page's CSRF token for this session."""
    jar: dict[str, str] = {}
    _s, body, headers = _request(port, "GET", "/sign-in", "")
    merge_cookies(jar, headers)
    form = {
        "csrf_token": CSRF_RE.search(body.decode()).group(1),
        "email": email,
        "password": PASSWORD,
    }
    status, _b, headers = _request(
        port, "POST", "/sign-in", _cookie(jar), urlencode(form)
    )
    merge_cookies(jar, headers)
    if status != 302:
        raise SystemExit(f"sign-in of {email} answered {status}")
    status, body, headers = _request(port, "GET", "/check-in", _cookie(jar))
    merge_cookies(jar, headers)
    if status != 200:
        raise SystemExit(f"GET /check-in for {email} answered {status}")
    return {
        "email": email,
        "cookie": _cookie(jar),
        "csrf": CSRF_RE.search(body.decode()).group(1),
    }


def _cookie(jar: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def checkin_body(
    rng: random.Random, csrf: str, unsafe_share: float
) -> tuple[str, bool]:
    unsafe = rng.random() < unsafe_share
    form = {
        "csrf_token": csrf,
        "mood": rng.randint(0, 10),
        "craving": rng.randint(0, 10),
        "sleep_hours": rng.choice(["4", "5.5", "6", "7", "7.5", "8", "9"]),
        "medication": rng.choice(["yes", "yes", "yes", "no", "none"]),
        "feels_safe": "no" if unsafe else "yes",
        "note": rng.choice(["", "", "Slept badly.", "Group helped today."]),
        "idempotency_key": str(uuid.uuid4()),  # fresh each time, as a new form
    }
    return urlencode(form), unsafe


def _patient_loop(port, patient, seed, plan, out):
    """One patient: one keep-alive connection, one check-in after another. Paced
    (plan["interval"] set), the patient posts at random times (exponential gaps, that
    mean apart) and latency counts from the planned time, so a post that had to wait
    for the patient's previous one is not flattered."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {
        "Cookie": patient["cookie"],
        "Content-Type": "application/x-www-form-urlencoded",
    }
    interval, start_at, deadline = plan["interval"], plan["start_at"], plan["deadline"]
    samples = []
    planned = start_at + (rng.uniform(0, interval) if interval else 0.0)
    while planned < deadline and len(samples) < plan["cap"]:
        while (wait := planned - time.time()) > 0:
            time.sleep(wait)
        body, unsafe = checkin_body(rng, patient["csrf"], plan["unsafe_share"])
        waited = (time.time() - planned) * 1000  # behind plan: the last post was slow
        started = time.perf_counter()
        status, ok, conn = _post_once(conn, port, body, headers)
        if status == "reconnect":  # idle keep-alive closed by the server: send again
            plan["reconnects"].append(1)
            status, ok, conn = _post_once(conn, port, body, headers)
        latency = (time.perf_counter() - started) * 1000
        samples.append((planned - start_at, latency + waited, status, ok, unsafe))
        planned = planned + rng.expovariate(1 / interval) if interval else time.time()
    conn.close()
    out.extend(samples)


def _post_once(conn, port, body, headers):
    """One POST on the patient's connection. A connection the server closed while it
    sat idle (gunicorn's keep-alive is 2 s) fails before any answer: like a browser,
    the caller sends again on a new one (the idempotency key makes that safe)."""
    reused = conn.sock is not None
    try:
        conn.request("POST", "/check-in", body=body, headers=headers)
        response = conn.getresponse()
        page = response.read()
    except (OSError, http.client.HTTPException) as problem:
        conn.close()
        fresh = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        gone = isinstance(
            problem,
            BrokenPipeError | ConnectionResetError | http.client.RemoteDisconnected,
        )
        return (
            ("reconnect" if reused and gone else type(problem).__name__),
            False,
            fresh,
        )
    if response.will_close:
        conn.close()
    return response.status, response.status == 200 and SAVED_MARK in page, conn


def _client_process(port, patients, seeds, plan, queue):
    out: list = []
    plan = {**plan, "reconnects": []}  # list.append is thread-safe
    threads = [
        threading.Thread(target=_patient_loop, args=(port, p, s, plan, out))
        for p, s in zip(patients, seeds, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put((out, len(plan["reconnects"])))


def post_checkins(port: int, patients: list[dict], args, rate: float = 0.0) -> dict:
    """All patients at once for a bounded time, from several client processes: back to
    back (rate 0), or paced to `rate` check-ins a second in all."""
    processes = max(1, min(args.client_processes, len(patients)))
    groups = [patients[i::processes] for i in range(processes)]
    seeds = [
        [int(rate) * 1000 + n for n in range(i, len(patients), processes)]
        for i in range(processes)
    ]
    queue = multiprocessing.Queue()
    start_at = time.time() + 1.0  # every process ready before the first post
    plan = {
        "start_at": start_at,
        "deadline": start_at + args.duration,
        "interval": len(patients) / rate if rate else 0.0,
        "cap": args.max_per_patient,
        "unsafe_share": args.unsafe_share,
    }
    workers = [
        multiprocessing.Process(target=_client_process, args=(port, g, s, plan, queue))
        for g, s in zip(groups, seeds, strict=True)
    ]
    for worker in workers:
        worker.start()
    answers = [queue.get(timeout=args.duration + 120) for _ in workers]
    samples = [row for rows, _reconnects in answers for row in rows]
    for worker in workers:
        worker.join()
    elapsed = max(row[0] + row[1] / 1000 for row in samples) if samples else 0.0
    latencies = sorted(row[1] for row in samples)
    statuses: dict[str, int] = {}
    for row in samples:
        statuses[str(row[2])] = statuses.get(str(row[2]), 0) + 1
    return {
        "offered_per_second": rate or None,
        "requests": len(samples),
        "seconds": elapsed,
        "per_second": len(samples) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else math.nan,
        "mean_ms": statistics.fmean(latencies) if latencies else math.nan,
        "errors": sum(1 for row in samples if not row[3]),
        "statuses": statuses,
        "unsafe_posts": sum(1 for row in samples if row[4]),
        "reconnects": sum(reconnects for _rows, reconnects in answers),
        "patients": len(patients),
        "client_processes": processes,
        "per_second_by_second": _per_second(samples, args.duration),
    }


def _per_second(samples, duration: float) -> list[int]:
    buckets = [0] * (int(duration) + 1)
    for started, latency, *_rest in samples:
        buckets[min(int(started + latency / 1000), len(buckets) - 1)] += 1
    return buckets


def measured_run(server: Server, url: str, patients, args, rate: float = 0.0):
    """One load run with the CPU every process spent and the rows it wrote."""
    before_rows = table_counts(url)
    before = cpu_snapshot(server.master, server.database)
    load = post_checkins(server.port, patients, args, rate)
    used = cpu_used(before, cpu_snapshot(server.master, server.database))
    after_rows = table_counts(url)
    load["cpu_ms_per_request"] = {
        group: seconds / max(load["requests"], 1) * 1000
        for group, seconds in used.items()
    }
    load["rows_written"] = {t: after_rows[t] - before_rows[t] for t in WRITTEN_TABLES}
    kinds = after_rows["risk_flag_events_by_kind"]
    old = before_rows["risk_flag_events_by_kind"]
    load["risk_flag_events_written"] = {
        k: v - old.get(k, 0) for k, v in kinds.items() if v - old.get(k, 0)
    }
    return load


def serve_and_load(url: str, args) -> dict:
    port = free_port()
    server = Server(
        start_gunicorn(url, port, args, RESULTS / "checkins-gunicorn.log"),
        port,
        url.rsplit("/", 1)[1],
    )
    try:
        emails = patient_emails(args.patients, args.programs)
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            patients = list(pool.map(lambda e: sign_in_patient(port, e), emails))
        sign_in_seconds = time.monotonic() - started
        load = measured_run(server, url, patients, args)
        paced = [
            measured_run(server, url, patients, args, share * load["per_second"])
            for share in args.paced_shares
        ]
    finally:
        stop(server.process)
    load["sign_in_seconds"] = sign_in_seconds
    load["server"] = {
        "workers": args.workers,
        "worker_class": args.worker_class,
        "threads": args.threads,
    }
    return {"load": load, "paced": paced}


# ---- in-process profile of one POST /check-in ---------------------------------------


def _patient_client(database_url_: str, email: str):
    """The app in this process and a test client signed in as the patient, with the
    CSRF token of their check-in page."""
    os.environ["PORTAL_DATABASE_URL"] = database_url_
    from portal import create_app

    app = create_app()
    client = app.test_client()
    client.post(
        "/sign-in",
        data={
            "csrf_token": _form_token(client, "/sign-in"),
            "email": email,
            "password": PASSWORD,
        },
    )
    return app, client, _form_token(client, "/check-in")


def _poster(client, csrf: str, seed: int):
    rng = random.Random(seed)

    def post(unsafe_share: float = 0.05) -> None:
        body, _unsafe = checkin_body(rng, csrf, unsafe_share)
        response = client.post(
            "/check-in", data=body, content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 200, response.status_code

    return post


def profile_checkin(database_url_: str, requests: int) -> None:
    """Where POST /check-in spends CPU: cProfile on process time, portal functions."""
    import cProfile
    import pstats

    _app, client, csrf = _patient_client(database_url_, "scale-19-1@scale.test")
    post = _poster(client, csrf, 1)
    for _ in range(20):
        post()
    started = time.process_time()
    for _ in range(requests):
        post()
    print(
        f"CPU per POST: {(time.process_time() - started) / requests * 1000:.2f} ms"
        " (no profiler)"
    )
    started = time.process_time()
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(requests):
        post()
    profiler.disable()
    print(
        f"CPU per POST: {(time.process_time() - started) / requests * 1000:.2f} ms"
        " (profiler included)"
    )
    stats = pstats.Stats(profiler).sort_stats("cumulative")
    stats.print_stats(r"portal/|flask/templating|orm/session.py:.*\(commit", 45)


# ---- in-process: statements and CPU of one POST /check-in ---------------------------

POST_EMAIL = "scale-19-3@scale.test"  # not one of the 50 patients of the load


def run_checkin_post(database_url_: str, requests: int) -> dict:
    """Every statement of a safe post and of two risk posts in a row (the second finds
    the flag open), then the process CPU of `requests` safe posts, no profiler."""
    from sqlalchemy import event

    app, client, csrf = _patient_client(database_url_, POST_EMAIL)
    engine = app.extensions["engine"]
    post = _poster(client, csrf, 2)
    for _ in range(20):
        post(0.0)
    seen: list[list[str]] = []

    def record(_conn, _cursor, statement, _params, _context, _executemany):
        seen[-1].append(" ".join(statement.split())[:200])

    event.listen(engine, "before_cursor_execute", record)
    try:
        for share in (0.0, 1.0, 1.0):
            seen.append([])
            post(share)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    safe, risk_first, risk_open = seen
    cpu = []
    for _ in range(3):
        started = time.process_time()
        for _ in range(requests):
            post(0.0)
        cpu.append((time.process_time() - started) / requests * 1000)
    engine.dispose()
    return {
        "patient": POST_EMAIL,
        "statements_safe": len(safe),
        "statements_risk_first": len(risk_first),
        "risk_first_opened_the_flag": any(
            s.startswith("INSERT INTO risk_flags") for s in risk_first
        ),
        "statements_risk_flag_open": len(risk_open),
        "statements": {"safe": safe, "risk_first": risk_first, "risk_open": risk_open},
        "requests": requests,
        "cpu_ms_per_safe_post": cpu,
    }


def checkin_post_figures(url: str, requests: int) -> dict:
    return run_in_fresh_process(
        __file__, "checkin-post", url, "--post-requests", requests
    )


# ---- report ------------------------------------------------------------------------


def verdict_rows(result: dict) -> list[tuple[str, str, str, bool]]:
    load, small, large = result["load"], result["small"], result["large"]
    sizes, posted = result["sizes"], result["checkin_post"]
    return [
        (
            f"check-ins/s, {load['patients']} patients at once, {result['duration']} s",
            f"{load['per_second']:.0f} ({load['requests']:,} posts,"
            f" {load['unsafe_posts']} not safe)",
            "(reported)",
            True,
        ),
        ("check-in latency p50", f"{load['p50_ms']:.0f} ms", "(reported)", True),
        (
            "check-in latency p95",
            f"{load['p95_ms']:.0f} ms",
            f"< {TARGETS['p95_ms']:.0f} ms",
            load["p95_ms"] < TARGETS["p95_ms"],
        ),
        (
            "check-in latency p99",
            f"{load['p99_ms']:.0f} ms",
            f"< {TARGETS['p99_ms']:.0f} ms",
            load["p99_ms"] < TARGETS["p99_ms"],
        ),
        (
            "check-in errors (not 200 + saved page)",
            f"{load['errors']}",
            "0",
            load["errors"] == TARGETS["errors"],
        ),
        (
            "  CPU per check-in: workers + PostgreSQL + client",
            " + ".join(
                f"{load['cpu_ms_per_request'][g]:.1f}"
                for g in ("gunicorn", "postgres", "client")
            )
            + " ms",
            "(reported)",
            True,
        ),
        *(
            (
                f"  paced at {run['offered_per_second']:.0f}/s:"
                " p50 / p95 / p99 (errors)",
                f"{run['p50_ms']:.0f} / {run['p95_ms']:.0f} / {run['p99_ms']:.0f} ms"
                f" ({run['errors']})",
                "(reported)",
                run["errors"] == 0,
            )
            for run in result["paced"]
        ),
        (
            "  SQL statements per POST /check-in: safe / risk, flag already open",
            f"{posted['statements_safe']} / {posted['statements_risk_flag_open']}",
            "(reported)",
            True,
        ),
        (
            "  POST /check-in in-process CPU, safe answers (3 runs)",
            " / ".join(f"{ms:.1f}" for ms in posted["cpu_ms_per_safe_post"]) + " ms",
            "(reported)",
            True,
        ),
        (
            f"SQL queries, GET /staff as nurse ({sizes[0]:,} / {sizes[1]:,} patients)",
            f"{small['queries']} / {large['queries']}",
            "equal",
            small["queries"] == large["queries"],
        ),
        (
            "GET /staff in-process, median (p95)",
            f"{small['wall_ms']['median']:.0f} ({small['wall_ms']['p95']:.0f}) ms /"
            f" {large['wall_ms']['median']:.0f} ({large['wall_ms']['p95']:.0f}) ms",
            "(reported)",
            True,
        ),
    ]


def run_all(args) -> int:
    os.environ.setdefault("PORTAL_SECRET_KEY", secrets.token_urlsafe(48))
    RESULTS.mkdir(parents=True, exist_ok=True)
    sizes = (args.small, args.large)
    result: dict = {
        "sizes": sizes,
        "duration": args.duration,
        "machine": machine_facts(),
        "targets": TARGETS,
        "load_average_before": os.getloadavg(),
    }
    print("seeding PostgreSQL databases with `portal seed`")
    urls = {}
    for size in sizes:
        name = f"{args.database_prefix}_{size}"
        result.setdefault("seed_seconds", {})[size] = prepare_database(
            args.database_base, name, size, args.programs, args.reuse
        )
        urls[size] = database_url(args.database_base, name)
        result.setdefault("history", {})[size] = add_history(urls[size])
    result["risk_settings_added"] = configure_risk_settings(
        urls[args.large], args.programs
    )
    print(
        f"gunicorn: {args.workers} {args.worker_class} workers x {args.threads}"
        f" threads; {args.patients} patients posting check-ins for {args.duration} s"
    )
    result.update(serve_and_load(urls[args.large], args))
    print(f"in-process: POST /check-in as {POST_EMAIL}")
    result["checkin_post"] = checkin_post_figures(urls[args.large], args.post_requests)
    print("in-process: GET /staff as the nurse of program 00")
    result["small"] = staff_list_figures(urls[args.small], args.list_requests)
    result["large"] = staff_list_figures(urls[args.large], args.list_requests)
    result["load_average_after"] = os.getloadavg()
    rows = verdict_rows(result)
    print_table(rows)
    result["rows"] = [
        {"measure": m, "measured": v, "target": t, "pass": ok} for m, v, t, ok in rows
    ]
    write_results(result, "checkins", "checkins-latest.json")
    return 0 if all(row[3] for row in rows) else 1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    inner = sub.add_parser("staff-list", help="(internal) one database, one process")
    inner.add_argument("--database-url", required=True)
    inner.add_argument("--list-requests", type=int, default=30)
    posting = sub.add_parser("checkin-post", help="(internal) statements and CPU")
    posting.add_argument("--database-url", required=True)
    posting.add_argument("--post-requests", type=int, default=300)
    prof = sub.add_parser("profile", help="cProfile of POST /check-in, in-process")
    prof.add_argument("--database-url", required=True)
    prof.add_argument("--requests", type=int, default=300)
    add_database_options(parser, "portal_checkins")
    add_server_options(parser)
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--duration", type=int, default=20, help="seconds of load")
    parser.add_argument(
        "--max-per-patient", type=int, default=5000, help="a bound on posts per patient"
    )
    parser.add_argument(
        "--unsafe-share",
        type=float,
        default=0.05,
        help="share of check-ins answering 'I do not feel safe'",
    )
    parser.add_argument("--client-processes", type=int, default=5)
    parser.add_argument(
        "--paced-shares",
        type=lambda text: [float(x) for x in text.split(",") if x],
        default=[0.5, 0.75],
        help="after the back-to-back run, paced runs at these shares of its rate",
    )
    parser.add_argument("--list-requests", type=int, default=30)
    parser.add_argument(
        "--post-requests", type=int, default=300, help="in-process check-in posts"
    )
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    if args.command == "staff-list":
        print(json.dumps(run_staff_list(args.database_url, args.list_requests)))
        return 0
    if args.command == "checkin-post":
        print(json.dumps(run_checkin_post(args.database_url, args.post_requests)))
        return 0
    if args.command == "profile":
        profile_checkin(args.database_url, args.requests)
        return 0
    return run_all(args)


if __name__ == "__main__":
    sys.exit(main())
