"""Benchmark of peer messaging.

Measures, on one machine in one run (PostgreSQL by default):
1. SQL statements per request for a peer's inbox with 3 and with 300 threads, and for a
   thread page with 10 and with 2,000 messages (must be equal: no N+1);
2. latency (wall time, in-process) of those pages;
3. the idle "anything new?" check through Flask: statements per 304, CPU per check
   in-process beside a signed-in request that does nothing, and under load from `wrk`
   against gunicorn (beside gunicorn answering 304 by itself): requests per second,
   latency, and the CPU that the app workers and the PostgreSQL backends spend per
   check; the peer's inbox check (3 and 300 threads) in-process too.

    .venv/bin/python bench/messages.py            # seeds bench_messages, runs it all
    .venv/bin/python bench/messages.py --reuse    # keep the seeded database

Background data: 5,000 more threads with 100,000 messages in 20 other programs, so
that the tables are not trivially small. Results go to bench/results/messages-*.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
PASSWORD = "demo-portal-2026"  # noqa: S105 - the published password of seeded people
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - the demo's secret
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
POLL_RE = re.compile(r'hx-get="([^"]+/updates[^"]*)"')
ETAG_RE = re.compile(r'"If-None-Match": "\\"([^\\]+)\\""')

# The check reads the session, then who may read and the version in one statement;
# its CPU is reported, not judged: if it matters, the client asks less often.
TARGETS = {"poll_queries_max": 2, "page_queries_max": 8}


# ---- seeding -------------------------------------------------------------------------


def seed(url: str, background_threads: int) -> dict:
    """A program with a peer of 300 threads (one of 2,000 messages), a peer of 3 threads
    (10 messages each), and background programs. Returns the sign-ins to use."""
    from argon2 import PasswordHasher
    from sqlalchemy import insert

    from portal import db
    from portal.blueprints.auth.models import User
    from portal.blueprints.messages.models import Message, MessageThread, ThreadRead
    from portal.blueprints.programs.models import (
        CareTeamAssignment,
        Enrollment,
        LevelOfCare,
        Program,
        StaffMembership,
        TeamRole,
    )
    from portal.db import make_engine, new_id
    from portal.security import Role

    engine = make_engine(url)
    session = db.session
    session.configure(bind=engine)
    hashed = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    now = datetime.now(UTC)
    rows: dict[type, list[dict]] = {
        k: []
        for k in (
            User,
            StaffMembership,
            Enrollment,
            CareTeamAssignment,
            MessageThread,
            Message,
            ThreadRead,
        )
    }

    def program(name: str) -> str:
        item = Program(
            id=new_id(),
            name=name,
            timezone="America/Chicago",
            on_call_phone="+1-555-010-0100",
            opening_hours={str(d): ["00:00", "23:59"] for d in range(7)},
        )
        session.add(item)
        session.flush()
        return item.id

    def person(email: str, role: Role) -> str:
        uid = new_id()
        rows[User].append(
            {
                "id": uid,
                "email": email,
                "display_name": email.split("@")[0],
                "role": role,
                "password_hash": hashed,
                "totp_secret": TOTP_SECRET if role is not Role.PATIENT else None,
                "totp_enabled": role is not Role.PATIENT,
                "is_active": True,
                "created_at": now,
            }
        )
        return uid

    def patient_with_thread(email, program_id, peer_id, messages: int, waiting: bool):
        pid = person(email, Role.PATIENT)
        rows[Enrollment].append(
            {
                "id": new_id(),
                "patient_id": pid,
                "program_id": program_id,
                "level_of_care": LevelOfCare.IOP,
                "admitted_on": date.today() - timedelta(days=10),
                "status": "active",
                "created_at": now,
            }
        )
        rows[CareTeamAssignment].append(
            {
                "id": new_id(),
                "patient_id": pid,
                "staff_id": peer_id,
                "team_role": TeamRole.PEER,
            }
        )
        tid = new_id()
        start = now - timedelta(minutes=messages + 5)
        rows[MessageThread].append(
            {
                "id": tid,
                "patient_id": pid,
                "last_seq": messages,
                "last_message_at": start + timedelta(minutes=messages),
                "waiting_since": start + timedelta(minutes=messages)
                if waiting
                else None,
                "created_at": start,
            }
        )
        for seq in range(1, messages + 1):
            from_patient = seq % 2 == 1 if not waiting or seq < messages else True
            rows[Message].append(
                {
                    "id": new_id(),
                    "thread_id": tid,
                    "seq": seq,
                    "author_id": pid if from_patient else peer_id,
                    "body": f"Message {seq}: how the day went, and a link "
                    f"https://example.org/page/{seq} to read.",
                    "created_at": start + timedelta(minutes=seq),
                }
            )
        last_peer = messages - 1 if waiting else messages
        for uid, seq in ((peer_id, last_peer), (pid, messages)):
            rows[ThreadRead].append(
                {"thread_id": tid, "user_id": uid, "last_read_seq": seq, "read_at": now}
            )
        return pid, tid

    main = program("Bench Messages Program")
    peers = {
        "large": person("bench-peer-large@bench.test", Role.PEER),
        "small": person("bench-peer-small@bench.test", Role.PEER),
    }
    for pid in peers.values():
        rows[StaffMembership].append({"user_id": pid, "program_id": main})
    big = patient_with_thread(
        "bench-patient-large@bench.test", main, peers["large"], 2000, False
    )
    for n in range(299):
        patient_with_thread(
            f"bench-p{n}@bench.test", main, peers["large"], 4 + n % 5, n % 3 == 0
        )
    small = patient_with_thread(
        "bench-patient-small@bench.test", main, peers["small"], 10, False
    )
    for n in range(2):
        patient_with_thread(f"bench-s{n}@bench.test", main, peers["small"], 10, True)
    per_program = background_threads // 20
    for p in range(20):
        other = program(f"Bench Background {p:02d}")
        peer = person(f"bench-bg-peer-{p}@bench.test", Role.PEER)
        rows[StaffMembership].append({"user_id": peer, "program_id": other})
        for n in range(per_program):
            patient_with_thread(
                f"bench-bg-{p}-{n}@bench.test", other, peer, 20, n % 4 == 0
            )
    for model, items in rows.items():
        for start in range(0, len(items), 5000):
            session.execute(insert(model), items[start : start + 5000])
    session.commit()
    session.remove()
    engine.dispose()
    return {
        "threads": len(rows[MessageThread]),
        "messages": len(rows[Message]),
        "big_thread": big[1],
        "small_thread": small[1],
    }


# ---- databases -----------------------------------------------------------------------


def prepare(base: str, name: str, reuse: bool, background: int) -> tuple[str, dict]:
    from sqlalchemy import create_engine, text

    from portal.migrate import upgrade

    url = base.rstrip("/") + "/" + name
    admin = create_engine(
        (base.rstrip("/") + "/postgres").replace(
            "postgresql://", "postgresql+psycopg://"
        ),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        exists = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        )
        if exists and not reuse:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        if not exists or not reuse:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    upgrade(url)
    info_file = RESULTS / f"{name}.seed.json"
    if exists and reuse and info_file.exists():
        vacuum_analyze(url)
        return url, json.loads(info_file.read_text())
    started = time.monotonic()
    info = seed(url, background)
    vacuum_analyze(url)
    info["seconds"] = round(time.monotonic() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    info_file.write_text(json.dumps(info))
    print(
        f"  seeded {info['threads']} threads, {info['messages']} messages "
        f"in {info['seconds']} s"
    )
    return url, info


def vacuum_analyze(url: str) -> None:
    """What autovacuum does after a bulk load (statistics, the visibility map); this
    machine's PostgreSQL runs with autovacuum off. Without statistics the planner
    guessed 13 users of a reading role instead of 5,000 and scanned them all for
    each check (about 3 ms of PostgreSQL CPU instead of 0.1)."""
    from sqlalchemy import create_engine

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")
    engine.dispose()


# ---- in-process ----------------------------------------------------------------------


def sign_in(client, email: str, staff: bool) -> None:
    import pyotp

    html = client.get("/sign-in").get_data(as_text=True)
    token = CSRF_RE.search(html).group(1)
    response = client.post(
        "/sign-in", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    if staff:
        code_page = client.get("/sign-in/code").get_data(as_text=True)
        for _attempt in range(2):
            response = client.post(
                "/sign-in/code",
                data={
                    "csrf_token": CSRF_RE.search(code_page).group(1),
                    "code": pyotp.TOTP(TOTP_SECRET).now(),
                },
            )
            if response.status_code == 302:
                break
            time.sleep(30 - time.time() % 30 + 0.5)  # a code works once per step
    if response.status_code != 302:
        raise SystemExit(f"sign-in of {email} failed: {response.status_code}")


def statements(engine, client, path: str, headers=None) -> tuple[int, int, list[str]]:
    from sqlalchemy import event

    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _executemany):
        seen.append(" ".join(statement.split())[:140])

    client.get(path, headers=headers)  # warm: last-seen and read marks settle
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(path, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(seen), response.status_code, seen


def timings(client, path: str, n: int, headers=None) -> dict:
    """Wall time (ms) per request: median and 95th percentile; CPU (ms) per request."""
    for _ in range(10):
        client.get(path, headers=headers)
    walls, cpu_start = [], time.process_time()
    for _ in range(n):
        started = time.perf_counter()
        client.get(path, headers=headers)
        walls.append((time.perf_counter() - started) * 1000)
    cpu = (time.process_time() - cpu_start) / n * 1000
    walls.sort()
    return {
        "median_ms": round(statistics.median(walls), 3),
        "p95_ms": round(walls[int(len(walls) * 0.95) - 1], 3),
        "cpu_ms": round(cpu, 3),
        "requests": n,
    }


def poll_url_and_etag(client, thread_path: str) -> tuple[str, str]:
    html = client.get(thread_path).get_data(as_text=True)
    return POLL_RE.search(html).group(1).replace("&amp;", "&"), ETAG_RE.search(html)[1]


def run_in_process(url: str, info: dict, requests: int) -> dict:
    os.environ["PORTAL_DATABASE_URL"] = url
    from portal import create_app

    app = create_app()
    add_noop_route(app)
    engine = app.extensions["engine"]
    people = {
        "patient_large": ("bench-patient-large@bench.test", False),
        "patient_small": ("bench-patient-small@bench.test", False),
        "peer_large": ("bench-peer-large@bench.test", True),
        "peer_small": ("bench-peer-small@bench.test", True),
    }
    clients = {}
    for key, (email, staff) in people.items():
        clients[key] = app.test_client()
        sign_in(clients[key], email, staff)
    big, small = f"/messages/{info['big_thread']}", f"/messages/{info['small_thread']}"
    pages = {
        "inbox, 3 threads (peer)": ("peer_small", "/messages"),
        "inbox, 300 threads (peer)": ("peer_large", "/messages"),
        "thread, 10 messages (patient)": ("patient_small", small),
        "thread, 2,000 messages (patient)": ("patient_large", big),
        "thread, 10 messages (peer)": ("peer_small", small),
        "thread, 2,000 messages (peer)": ("peer_large", big),
    }
    result: dict = {"pages": {}, "polls": {}}
    for name, (who, path) in pages.items():
        count, status, seen = statements(engine, clients[who], path)
        result["pages"][name] = {
            "queries": count,
            "status": status,
            "statements": seen,
            **timings(clients[who], path, max(50, requests // 20)),
        }
    runs = {"healthz": (app.test_client(), "/healthz", None)}
    runs["signed-in no-op (patient)"] = (clients["patient_large"], NOOP, None)
    checks = {}
    for who in ("patient_large", "peer_large"):
        poll, etag = poll_url_and_etag(clients[who], big)
        checks[who.split("_")[0]] = (clients[who], poll, {"If-None-Match": f'"{etag}"'})
    inbox = "/messages/inbox/updates"
    tag = clients["peer_large"].get(inbox).headers["ETag"]
    checks[INBOX] = (clients["peer_large"], inbox, {"If-None-Match": tag})
    tag = clients["peer_small"].get(inbox).headers["ETag"]
    checks[SMALL_INBOX] = (clients["peer_small"], inbox, {"If-None-Match": tag})
    for name, (client, path, headers) in checks.items():
        count, status, seen = statements(engine, client, path, headers)
        result["polls"][name] = {
            "queries": count,
            "status": status,
            "statements": seen,
            **timings(client, path, max(50, requests // 10), headers),
        }
        runs[name] = (client, path, headers)
        runs[f"{name}, WSGI call"] = (WsgiCall(app, client), path, headers)
    pg: dict = {}
    cpu = interleaved_cpu(runs, requests, url, pg)
    for name in checks:
        result["polls"][name]["cpu_ms"] = cpu[name]
        result["polls"][name]["wsgi_cpu_ms"] = cpu[f"{name}, WSGI call"]
        result["polls"][name]["pg_cpu_ms"] = pg[name]
    result["floor"] = {
        k: {"cpu_ms": v, "pg_cpu_ms": pg[k]}
        for k, v in cpu.items()
        if k not in checks and not k.endswith("WSGI call")
    }
    engine.dispose()
    return result


class WsgiCall:
    """The app called as a WSGI server calls it, without the test client's own work
    (building the request, reading the response): the server side of a check."""

    def __init__(self, app, client):
        self.app = app
        name = app.session_interface.cookie_name(app)
        self.cookie = f"{name}={client.get_cookie(name).value}"
        self.environs: dict = {}

    def get(self, path, headers=None):
        from werkzeug.test import EnvironBuilder

        key = (path, tuple((headers or {}).items()))
        if key not in self.environs:
            all_headers = {**(headers or {}), "Cookie": self.cookie}
            builder = EnvironBuilder(path=path, headers=all_headers)
            self.environs[key] = builder.get_environ()
        status = []
        body = self.app.wsgi_app(
            dict(self.environs[key]), lambda s, h, e=None: status.append(s)
        )
        b"".join(body)
        getattr(body, "close", lambda: None)()
        return status[0]


NOOP = "/__bench/signed-in-no-op"
APP = "portal:create_app()"
INBOX = "inbox, 300 threads (peer)"
SMALL_INBOX = "inbox, 3 threads (peer)"


def add_noop_route(app) -> None:
    """A signed-in request that does nothing: the floor every such request pays (the
    session lookup, the hooks, the commit). Added to this process's app only."""
    from portal.security import Permission, requires

    @requires(Permission.SIGNED_IN)
    def noop():
        return "", 204

    app.add_url_rule(NOOP, "bench_noop", noop)


def interleaved_cpu(runs: dict, requests: int, url=None, pg=None, rounds=10) -> dict:
    """CPU ms per request of each run, in alternating batches; the median batch of
    each (a busy machine inflates single batches, rarely the median). Given `url`
    and a dict `pg`, fills it with the CPU of the database's PostgreSQL backends per
    request, over all of a run's batches (/proc counts 10 ms ticks: one batch is too
    short)."""
    per_batch = max(20, requests // rounds)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    backend_seconds = dict.fromkeys(runs, 0.0)
    for client, path, headers in runs.values():
        for _ in range(20):
            client.get(path, headers=headers)
    backends = backend_pids(*url.rsplit("/", 1)) if pg is not None else []
    for _ in range(rounds):
        for name, (client, path, headers) in runs.items():
            started, db_started = time.process_time(), process_cpu(backends)
            for _ in range(per_batch):
                client.get(path, headers=headers)
            samples[name].append((time.process_time() - started) / per_batch * 1000)
            backend_seconds[name] += process_cpu(backends) - db_started
    if pg is not None:
        done = per_batch * rounds
        pg.update({k: round(v / done * 1000, 3) for k, v in backend_seconds.items()})
    return {
        name: round(statistics.median(values), 3) for name, values in samples.items()
    }


# ---- under load: gunicorn and wrk ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_call(port, method, path, cookie="", body=None, extra=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers.update(extra or {})
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), response.getheaders()
    finally:
        conn.close()


def cookies_from(headers, jar: dict) -> None:
    from http.cookies import SimpleCookie

    for name, value in headers:
        if name.lower() == "set-cookie":
            for key, morsel in SimpleCookie(value).items():
                jar[key] = morsel.value


def sign_in_http(port: int, email: str) -> str:
    jar: dict = {}
    _s, body, headers = http_call(port, "GET", "/sign-in")
    cookies_from(headers, jar)
    form = urlencode(
        {
            "csrf_token": CSRF_RE.search(body.decode())[1],
            "email": email,
            "password": PASSWORD,
        }
    )
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    status, _b, headers = http_call(port, "POST", "/sign-in", cookie, form)
    cookies_from(headers, jar)
    if status != 302:
        raise SystemExit(f"sign-in over HTTP failed: {status}")
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def process_cpu(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def children(pid: int) -> list[int]:
    return [
        int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    ]


def wrk(port: int, path: str, env: dict, seconds: int, connections: int) -> str:
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s"]
    command += ["--timeout", "10s", "-s", str(ROOT / "bench" / "wrk_session.lua")]
    command.append(f"http://127.0.0.1:{port}{path}")
    return subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout


def backend_pids(base: str, database: str) -> list[int]:
    """The PostgreSQL backends serving the benchmark database (the app's pool)."""
    from sqlalchemy import create_engine, text

    admin = create_engine(
        base.rstrip("/").replace("postgresql://", "postgresql+psycopg://") + "/postgres"
    )
    with admin.connect() as conn:
        pids = conn.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = :name"),
            {"name": database},
        ).all()
    admin.dispose()
    return list(pids)


def bare_304_app():
    """The portal for signing in, and a WSGI app that answers every check 304 at
    once (no session, no statement): what gunicorn itself costs per check."""
    from portal import create_app

    app = create_app()
    portal = app.wsgi_app

    def answer(environ, start_response):
        if not environ["PATH_INFO"].endswith("/updates"):
            return portal(environ, start_response)
        start_response("304 Not Modified", [("ETag", environ["HTTP_IF_NONE_MATCH"])])
        return []

    return answer


def under_load(url: str, database: str, info: dict, args, app_spec: str) -> dict:
    port = free_port()
    log = (RESULTS / "messages-gunicorn.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(PYTHON).parent / "gunicorn"),
            "--no-control-socket",
            "--workers",
            str(args.workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--pythonpath",
            str(ROOT / "bench"),
            app_spec,
        ],
        cwd=ROOT,
        env={**os.environ, "PORTAL_DATABASE_URL": url},
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if http_call(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        cookie = sign_in_http(port, "bench-patient-large@bench.test")
        _s, body, _h = http_call(port, "GET", f"/messages/{info['big_thread']}", cookie)
        html = body.decode()
        poll = POLL_RE.search(html)[1].replace("&amp;", "&")
        etag = ETAG_RE.search(html)[1]
        status = http_call(
            port, "GET", poll, cookie, extra={"If-None-Match": f'"{etag}"'}
        )[0]
        if status != 304:
            raise SystemExit(f"the idle check answered {status}, not 304")
        env = {
            **os.environ,
            "BENCH_COOKIE": cookie,
            "BENCH_ETAG": f'"{etag}"',
            "BENCH_EXPECT": "304",
        }
        wrk(port, poll, env, 2, args.connections)  # warm: every worker connects
        workers = children(server.pid)
        backends = backend_pids(args.base_url, database)
        app_before, db_before = process_cpu(workers), process_cpu(backends)
        out = wrk(port, poll, env, args.seconds, args.connections)
        app_cpu = process_cpu(workers) - app_before
        db_cpu = process_cpu(backends) - db_before
        fields = dict(
            pair.split("=") for pair in re.search(r"BENCH (.*)", out)[1].split()
        )
        done = int(fields["requests"])
        return {
            "connections": args.connections,
            "workers": args.workers,
            "seconds": float(fields["seconds"]),
            "requests": done,
            "rps": round(done / float(fields["seconds"]), 1),
            "not_304": int(fields["not_ok"]) + int(fields["errors"]),
            "p50_ms": float(fields["p50_ms"]),
            "p99_ms": float(fields["p99_ms"]),
            "app_cpu_ms_per_check": round(app_cpu / done * 1000, 3),
            "db_cpu_ms_per_check": round(db_cpu / done * 1000, 3) if backends else None,
        }
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


# ---- report --------------------------------------------------------------------------


def report(result: dict) -> bool:
    pages, polls = result["pages"], result["polls"]
    ok = True
    print(f"\n{'page':36} {'queries':>7} {'median ms':>10} {'p95 ms':>8} {'CPU ms':>7}")
    for name, row in pages.items():
        print(
            f"{name:36} {row['queries']:>7} {row['median_ms']:>10} "
            f"{row['p95_ms']:>8} {row['cpu_ms']:>7}"
        )
    pairs = [
        ("inbox, 3 threads (peer)", "inbox, 300 threads (peer)"),
        ("thread, 10 messages (patient)", "thread, 2,000 messages (patient)"),
        ("thread, 10 messages (peer)", "thread, 2,000 messages (peer)"),
    ]
    for small, large in pairs:
        same = pages[small]["queries"] == pages[large]["queries"]
        ok &= same
        print(f"  constant queries, {large}: {'PASS' if same else 'FAIL'}")
    patient_pages = pages["thread, 2,000 messages (patient)"]["queries"]
    ok &= patient_pages <= TARGETS["page_queries_max"]
    print(
        f"\n{'idle check (304), in process':36} {'queries':>7} {'median ms':>10} "
        f"{'p95 ms':>8} {'CPU ms':>7} {'PG CPU ms':>9} {'WSGI call':>9}"
    )
    for who, row in polls.items():
        print(
            f"{who:36} {row['queries']:>7} {row['median_ms']:>10} {row['p95_ms']:>8} "
            f"{row['cpu_ms']:>7} {row['pg_cpu_ms']:>9} {row['wsgi_cpu_ms']:>9}"
        )
        ok &= row["status"] == 304 and row["queries"] <= TARGETS["poll_queries_max"]
    for name, row in result["floor"].items():
        print(
            f"{name:36} {'':>7} {'':>10} {'':>8} {row['cpu_ms']:>7} "
            f"{row['pg_cpu_ms']:>9}"
        )
    for label, key in (
        ("the check", "load"),
        ("gunicorn alone (304 at once)", "load_gunicorn_alone"),
    ):
        load = result.get(key)
        if not load:
            continue
        print(
            f"\nunder load, {label}: {load['connections']} connections, "
            f"{load['workers']} gunicorn workers, {load['seconds']:.0f} s: "
            f"{load['rps']} checks/s, p50 {load['p50_ms']} ms, p99 {load['p99_ms']} "
            f"ms, {load['not_304']} not 304;\n  CPU per check: app "
            f"{load['app_cpu_ms_per_check']} ms, PostgreSQL "
            f"{load['db_cpu_ms_per_check']} ms"
        )
        ok &= load["not_304"] == 0
    print(
        f"\nverdict (queries constant; check: <= {TARGETS['poll_queries_max']} "
        "statements, all 304):",
        "PASS" if ok else "FAIL",
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="bench_messages")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--background-threads", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-load", action="store_true")
    args = parser.parse_args()
    url, info = prepare(
        args.base_url, args.database, args.reuse, args.background_threads
    )
    result = run_in_process(url, info, args.requests)
    if not args.no_load:
        result["load"] = under_load(url, args.database, info, args, APP)
        result["load_gunicorn_alone"] = under_load(
            url, args.database, info, args, "messages:bare_304_app()"
        )
    result["seed"] = info
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    ok = report(result)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"messages-{stamp}.json").write_text(json.dumps(result, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
