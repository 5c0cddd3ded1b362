"""Benchmark of the patient home page (GET / signed in as a patient).

Measures, on one machine in one run:
1. SQL statements per request with a small and a large data set (must be equal, <= 8);
2. CPU time per request, in-process;
3. requests per second of the home page beside /healthz under gunicorn, as a ratio;
4. the compressed size of the first load (HTML + every stylesheet and script);
5. a gunicorn worker's resident memory after the load.

`bash bench/run.sh` does the set-up, then runs this file; see bench/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from multiprocessing import Pool
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
PASSWORD = "demo-portal-2026"  # noqa: S105 - the published password of seeded patients
PATIENT_EMAIL = "scale-0-0@scale.test"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

TARGETS = {
    "queries_max": 8,
    "cpu_ms_max": 10.0,
    "first_load_kb_max": 30.0,
    "worker_rss_mb_max": 100.0,
}


# ---- in-process: query count and CPU time (once per database, in a subprocess) ----


def sign_in_test_client(client) -> None:
    """Sign in through the real form, reading the CSRF token from the page."""
    html = client.get("/sign-in").get_data(as_text=True)
    token = CSRF_RE.search(html).group(1)
    response = client.post(
        "/sign-in",
        data={"csrf_token": token, "email": PATIENT_EMAIL, "password": PASSWORD},
    )
    if response.status_code != 302:
        raise SystemExit(f"sign-in failed: {response.status_code}")


def statements_of(engine, client, path: str) -> tuple[int, list[str]]:
    """Every statement the request sends to the database, via before_cursor_execute."""
    from sqlalchemy import event

    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _executemany):
        seen.append(" ".join(statement.split())[:160])

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code}, not 200")
    return len(seen), seen


def cpu_ms_per_request(client, path: str, requests: int, batches: int = 5) -> dict:
    """CPU time of this process per request: the whole run, and its median batch (other
    work on a shared machine inflates single batches, rarely the median)."""
    for _ in range(20):
        client.get(path)
    per_batch = []
    for _ in range(batches):
        started = time.process_time()
        for _ in range(requests // batches):
            client.get(path)
        per_batch.append((time.process_time() - started) / (requests // batches) * 1000)
    return {
        "mean": statistics.fmean(per_batch),
        "median_batch": statistics.median(per_batch),
        "batches": per_batch,
    }


def run_in_process(database_url: str, cpu_requests: int) -> dict:
    os.environ["PORTAL_DATABASE_URL"] = database_url
    from portal import create_app

    app = create_app()
    engine = app.extensions["engine"]
    client = app.test_client()
    sign_in_test_client(client)
    first, _ = statements_of(engine, client, "/")  # writes the CSRF token once
    count, statements = statements_of(engine, client, "/")
    result = {
        "queries": count,
        "queries_first_after_sign_in": first,
        "statements": statements,
        "cpu_ms": cpu_ms_per_request(client, "/", cpu_requests),
        "healthz_cpu_ms": cpu_ms_per_request(app.test_client(), "/healthz", 1000),
        # the same trivial route with the session cookie: the per-request price of
        # the server-side session (look-up, transaction, commit) on its own
        "healthz_signed_in_cpu_ms": cpu_ms_per_request(client, "/healthz", 500),
        "patient": PATIENT_EMAIL,
        "cpu_requests": cpu_requests,
    }
    engine.dispose()
    return result


def profile_in_process(database_url: str, requests: int) -> None:
    """Where GET / spends CPU: cProfile on process time, the portal's own functions."""
    import cProfile
    import pstats

    os.environ["PORTAL_DATABASE_URL"] = database_url
    from portal import create_app
    from portal.migrate import upgrade

    upgrade(database_url)  # the schema may have moved on since the last seeding
    client = create_app().test_client()
    sign_in_test_client(client)
    for _ in range(20):
        client.get("/")
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(requests):
        client.get("/")
    profiler.disable()
    stats = pstats.Stats(profiler).sort_stats("cumulative")
    stats.print_stats(r"portal/|flask/templating|orm/session.py:.*\(commit", 40)


# ---- databases ---------------------------------------------------------------------


def database_url(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name


def prepare_database(base: str, name: str, patients: int, programs: int, reuse: bool):
    """Create (or reuse) a PostgreSQL database and seed it with `portal seed`."""
    from sqlalchemy import create_engine, text

    admin = create_engine(
        database_url(base, "postgres").replace(
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
    env = {**os.environ, "PORTAL_DATABASE_URL": database_url(base, name)}
    started = time.monotonic()
    out = subprocess.run(
        [
            str(Path(PYTHON).parent / "portal"),
            "seed",
            "--patients",
            str(patients),
            "--programs",
            str(programs),
        ],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    print(f"  {name}: {out.stdout.strip()} in {time.monotonic() - started:.1f} s")
    return time.monotonic() - started


def in_process_figures(url: str, cpu_requests: int) -> dict:
    return run_in_fresh_process(
        __file__, "in-process", url, "--cpu-requests", cpu_requests
    )


def run_in_fresh_process(script: str, command: str, url: str, *options) -> dict:
    """Run a benchmark script's internal sub-command in a fresh Python process (its
    own imports, caches and pool) and return the JSON its last output line holds."""
    out = subprocess.run(
        [PYTHON, script, command, "--database-url", url, *map(str, options)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if out.returncode != 0:
        raise SystemExit(f"in-process run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- gunicorn ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(url: str, port: int, args, log_path: Path) -> subprocess.Popen:
    command = [
        str(Path(PYTHON).parent / "gunicorn"),
        "--no-control-socket",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--threads",
        str(args.threads),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "portal:create_app()",
    ]
    env = {**os.environ, "PORTAL_DATABASE_URL": url}
    log = log_path.open("w")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if http_get(port, "/healthz")[0] == 200:
                return server
        except OSError:
            time.sleep(0.2)
    stop(server)
    raise SystemExit(f"gunicorn did not start; see {log_path}")


def stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def http_get(port: int, path: str, cookie: str = "") -> tuple[int, bytes, list]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        return response.status, response.read(), response.getheaders()
    finally:
        conn.close()


def merge_cookies(jar: dict, headers: list) -> None:
    for name, value in headers:
        if name.lower() == "set-cookie":
            for key, morsel in SimpleCookie(value).items():
                jar[key] = morsel.value


def sign_in_over_http(port: int) -> str:
    """Sign in to the running server through its form; returns the Cookie header."""
    jar: dict[str, str] = {}
    _status, body, headers = http_get(port, "/sign-in")
    merge_cookies(jar, headers)
    token = CSRF_RE.search(body.decode()).group(1)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    form = {"csrf_token": token, "email": PATIENT_EMAIL, "password": PASSWORD}
    conn.request(
        "POST",
        "/sign-in",
        body=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()),
        },
    )
    response = conn.getresponse()
    response.read()
    merge_cookies(jar, response.getheaders())
    conn.close()
    if response.status != 302:
        raise SystemExit(f"sign-in over HTTP failed: {response.status}")
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    if http_get(port, "/", cookie)[0] != 200:
        raise SystemExit("the signed-in home page did not answer 200")
    return cookie


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# ---- load generators ---------------------------------------------------------------

WRK_LINE = re.compile(r"BENCH (.*)")


def wrk_load(port: int, path: str, cookie: str, seconds: float, args) -> dict:
    command = [
        "wrk",
        "-t",
        str(args.load_threads),
        "-c",
        str(args.connections),
        "-d",
        f"{int(seconds)}s",
        "--timeout",
        "10s",
        "-s",
        str(ROOT / "bench" / "wrk_session.lua"),
        f"http://127.0.0.1:{port}{path}",
    ]
    env = {**os.environ, "BENCH_COOKIE": cookie}
    out = subprocess.run(
        command,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    )
    fields = dict(pair.split("=") for pair in WRK_LINE.search(out.stdout)[1].split())
    requests = int(fields["requests"])
    return {
        "requests": requests,
        "rps": requests / float(fields["seconds"]),
        "not_ok": int(fields["not_ok"]) + int(fields["errors"]),
        "p50_ms": float(fields["p50_ms"]),
        "p99_ms": float(fields["p99_ms"]),
    }


def _client_thread(port, path, cookie, deadline, tally, lock) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ok = bad = 0
    while time.monotonic() < deadline:
        try:
            conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
            response = conn.getresponse()
            response.read()
            ok, bad = (ok + 1, bad) if response.status == 200 else (ok, bad + 1)
            if response.will_close:
                conn.close()
        except (OSError, http.client.HTTPException):
            bad += 1
            conn.close()
    with lock:
        tally[0] += ok
        tally[1] += bad


def _client_process(job) -> tuple[int, int]:
    port, path, cookie, seconds, threads = job
    deadline = time.monotonic() + seconds
    tally, lock = [0, 0], threading.Lock()
    workers = [
        threading.Thread(
            target=_client_thread, args=(port, path, cookie, deadline, tally, lock)
        )
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return tally[0], tally[1]


def python_load(port: int, path: str, cookie: str, seconds: float, args) -> dict:
    """Fallback when wrk is missing: keep-alive http.client threads in 2 processes."""
    processes = args.load_threads
    threads = max(1, args.connections // processes)
    started = time.monotonic()
    with Pool(processes) as pool:
        results = pool.map(
            _client_process, [(port, path, cookie, seconds, threads)] * processes
        )
    elapsed = time.monotonic() - started
    ok, bad = (sum(column) for column in zip(*results, strict=True))
    return {"requests": ok + bad, "rps": ok / elapsed, "not_ok": bad}


def process_cpu_seconds(pids: list[int]) -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def backend_pids(database: str) -> list[int]:
    """PostgreSQL backends serving the bench database (not other databases' work)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres: ") and f" {database} " in title:
                pids.append(int(entry.name))
    return pids


def cpu_snapshot(master: int, database: str) -> dict:
    return {
        "gunicorn": process_cpu_seconds(worker_pids(master)),
        "postgres": process_cpu_seconds(backend_pids(database)),
        "client": sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]),
    }


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    used = {"client": after["client"] - before["client"]}
    for group in ("gunicorn", "postgres"):
        used[group] = sum(
            seconds - before[group].get(pid, 0.0)
            for pid, seconds in after[group].items()
        )
    return used


def measured_load(load, server, path: str, cookie: str, args) -> dict:
    """One bounded load run, with the CPU that server, database and client spent."""
    before = cpu_snapshot(server.master, server.database)
    figures = load(server.port, path, cookie, args.duration, args)
    used = cpu_used(before, cpu_snapshot(server.master, server.database))
    figures["cpu_ms_per_request"] = {
        group: seconds / max(figures["requests"], 1) * 1000
        for group, seconds in used.items()
    }
    return figures


def measure_throughput(server, cookie: str, args) -> dict:
    """Alternate /healthz and / on the same server; medians of the rounds."""
    load = wrk_load if shutil.which("wrk") and not args.python_client else python_load
    load(server.port, "/healthz", "", 2, args)  # warm-up
    load(server.port, "/", cookie, 2, args)
    # /healthz with the session cookie: the same trivial route, plus what every
    # signed-in request pays (the session look-up, the transaction, its end)
    runs = {"healthz": ("/healthz", ""), "signed_in": ("/healthz", cookie)}
    runs["home"] = ("/", cookie)
    rounds: dict[str, list] = {route: [] for route in runs}
    for _ in range(args.rounds):
        for route, (path, with_cookie) in runs.items():
            rounds[route].append(measured_load(load, server, path, with_cookie, args))
    bad = sum(r["not_ok"] for runs in rounds.values() for r in runs)
    if bad:
        raise SystemExit(f"{bad} load-test answers were not 200: figures invalid")
    healthz = statistics.median(r["rps"] for r in rounds["healthz"])
    home = statistics.median(r["rps"] for r in rounds["home"])
    signed_in = statistics.median(r["rps"] for r in rounds["signed_in"])
    cost = {route: _median_cost(runs) for route, runs in rounds.items()}
    return {
        "load_generator": "wrk" if load is wrk_load else "python http.client",
        "healthz_rps": healthz,
        "home_rps": home,
        "ratio": home / healthz,
        "signed_in_rps": signed_in,
        "signed_in_ratio": signed_in / healthz,
        "cpu_ms_per_request": cost,
        "cpu_cost_ratio": sum(cost["healthz"].values()) / sum(cost["home"].values()),
        "rounds": rounds,
    }


def _median_cost(runs: list[dict]) -> dict[str, float]:
    groups = runs[0]["cpu_ms_per_request"]
    return {
        group: statistics.median(r["cpu_ms_per_request"][group] for r in runs)
        for group in groups
    }


# ---- page weight -------------------------------------------------------------------


class AssetFinder(HTMLParser):
    def __init__(self):
        super().__init__()
        self.assets: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "link" and "stylesheet" in (attributes.get("rel") or "").split():
            self.assets.append(attributes["href"])
        elif tag == "script" and attributes.get("src"):
            self.assets.append(attributes["src"])


def brotli_size(data: bytes) -> int | None:
    try:
        import brotli
    except ImportError:
        return None
    return len(brotli.compress(data, quality=11))


def page_weight(port: int, cookie: str) -> dict:
    status, html, _ = http_get(port, "/", cookie)
    if status != 200:
        raise SystemExit(f"the home page answered {status}")
    finder = AssetFinder()
    finder.feed(html.decode())
    parts = [("/", html)]
    for asset in finder.assets:
        asset_status, body, _ = http_get(port, asset, cookie)
        if asset_status != 200:
            raise SystemExit(f"{asset} answered {asset_status}")
        parts.append((asset, body))
    files = [
        {
            "path": path.split("?")[0],
            "raw": len(body),
            "gzip9": len(gzip.compress(body, compresslevel=9)),
            "brotli11": brotli_size(body),
        }
        for path, body in parts
    ]
    has_brotli = all(f["brotli11"] is not None for f in files)
    return {
        "files": files,
        "raw_kb": sum(f["raw"] for f in files) / 1024,
        "gzip9_kb": sum(f["gzip9"] for f in files) / 1024,
        "brotli11_kb": sum(f["brotli11"] for f in files) / 1024 if has_brotli else None,
    }


# ---- report ------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def build_rows(result: dict) -> list[tuple[str, str, str, bool]]:
    small, large = result["small"], result["large"]
    load, weight, memory = result["throughput"], result["weight"], result["memory"]
    equal = small["queries"] == large["queries"]
    brotli = weight["brotli11_kb"]
    return [
        (
            f"SQL queries, GET / ({result['sizes'][0]:,} / {result['sizes'][1]:,}"
            " patients)",
            f"{small['queries']} / {large['queries']}",
            f"equal, <= {TARGETS['queries_max']}",
            equal and large["queries"] <= TARGETS["queries_max"],
        ),
        (
            "CPU per request in-process: GET / (healthz; signed in)",
            f"{large['cpu_ms']['median_batch']:.2f} ms"
            f" ({large['healthz_cpu_ms']['median_batch']:.2f};"
            f" {large['healthz_signed_in_cpu_ms']['median_batch']:.2f} ms)",
            f"<= {TARGETS['cpu_ms_max']:.0f} ms",
            large["cpu_ms"]["median_batch"] <= TARGETS["cpu_ms_max"],
        ),
        (
            "req/s GET / vs /healthz under gunicorn",
            f"{load['home_rps']:.0f} / {load['healthz_rps']:.0f} = {load['ratio']:.2f}",
            "(reported)",
            True,
        ),
        (
            "  same, as CPU cost per request (all processes)",
            f"{_cost(load, 'home'):.2f} / {_cost(load, 'healthz'):.2f} ms"
            f" = {load['cpu_cost_ratio']:.2f}",
            "(reported)",
            True,
        ),
        (
            "  /healthz with the session cookie vs without",
            f"{load['signed_in_rps']:.0f} / {load['healthz_rps']:.0f}"
            f" = {load['signed_in_ratio']:.2f}; {_cost(load, 'signed_in'):.2f} ms",
            "(reported)",
            True,
        ),
        (
            "first load, HTML+CSS+JS compressed (raw)",
            f"gzip {weight['gzip9_kb']:.1f} KB"
            + (f", brotli {brotli:.1f} KB" if brotli is not None else "")
            + f" ({weight['raw_kb']:.1f} KB)",
            f"<= {TARGETS['first_load_kb_max']:.0f} KB",
            weight["gzip9_kb"] <= TARGETS["first_load_kb_max"],
        ),
        (
            "gunicorn worker RSS after load (largest)",
            f"{memory['max_rss_mb']:.1f} MB",
            f"< {TARGETS['worker_rss_mb_max']:.0f} MB",
            memory["max_rss_mb"] < TARGETS["worker_rss_mb_max"],
        ),
    ]


def _cost(load: dict, route: str) -> float:
    return sum(load["cpu_ms_per_request"][route].values())


def print_table(rows) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(3)]
    header = ("measure", "measured", "target")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print("\n" + line + "  result\n" + "-" * (len(line) + 8))
    for *cells, ok in rows:
        text = "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))
        print(f"{text}  {verdict(ok)}")


def machine_facts() -> dict:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip(),
    }


def run_all(args) -> int:
    os.environ.setdefault("PORTAL_SECRET_KEY", secrets.token_urlsafe(48))
    RESULTS.mkdir(parents=True, exist_ok=True)
    sizes = (args.small, args.large)
    result: dict = {"sizes": sizes, "machine": machine_facts(), "targets": TARGETS}
    print("seeding PostgreSQL databases with `portal seed`")
    urls = {}
    for size in sizes:
        name = f"{args.database_prefix}_{size}"
        result.setdefault("seed_seconds", {})[size] = prepare_database(
            args.database_base, name, size, args.programs, args.reuse
        )
        urls[size] = database_url(args.database_base, name)
    print("in-process: query count and CPU time")
    result["small"] = in_process_figures(urls[args.small], args.cpu_requests)
    result["large"] = in_process_figures(urls[args.large], args.cpu_requests)
    print(
        f"gunicorn: {args.workers} {args.worker_class} workers x {args.threads}"
        f" threads, {args.rounds} rounds of {args.duration} s per route"
    )
    result.update(serve_and_load(urls[args.large], args))
    rows = build_rows(result)
    print_table(rows)
    result["rows"] = [
        {"measure": m, "measured": v, "target": t, "pass": ok} for m, v, t, ok in rows
    ]
    write_results(result, "home", "latest.json")
    return 0 if all(row[3] for row in rows) else 1


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    database: str

    @property
    def master(self) -> int:
        return self.process.pid


def serve_and_load(url: str, args) -> dict:
    port = free_port()
    server = Server(
        start_gunicorn(url, port, args, RESULTS / "gunicorn.log"),
        port,
        url.rsplit("/", 1)[1],
    )
    try:
        cookie = sign_in_over_http(port)
        throughput = measure_throughput(server, cookie, args)
        memory = worker_memory(server.master)
        weight = page_weight(port, cookie)
    finally:
        stop(server.process)
    server_config = {
        "workers": args.workers,
        "worker_class": args.worker_class,
        "threads": args.threads,
        "connections": args.connections,
        "duration_s": args.duration,
        "rounds": args.rounds,
    }
    return {
        "throughput": throughput,
        "memory": memory,
        "weight": weight,
        "server": server_config,
    }


def worker_memory(master: int) -> dict:
    workers = [
        {
            "pid": pid,
            "rss_mb": status_kb(pid, "VmRSS") / 1024,
            "peak_rss_mb": status_kb(pid, "VmHWM") / 1024,
        }
        for pid in worker_pids(master)
    ]
    return {"workers": workers, "max_rss_mb": max(w["rss_mb"] for w in workers)}


def add_database_options(parser, prefix: str) -> None:
    """The seeded databases: sizes, server, names, reuse (shared by the benchmarks)."""
    parser.add_argument("--small", type=int, default=100, help="patients, small set")
    parser.add_argument("--large", type=int, default=50_000, help="patients, large set")
    parser.add_argument("--programs", type=int, default=20)
    parser.add_argument(
        "--database-base",
        default=os.environ.get(
            "PORTAL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432"
        ),
        help="server URL without a database name",
    )
    parser.add_argument("--database-prefix", default=prefix)
    parser.add_argument("--reuse", action="store_true", help="keep seeded databases")


def add_server_options(parser) -> None:
    """The gunicorn under load (shared by the benchmarks)."""
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--threads", type=int, default=4)


def write_results(result: dict, name: str, latest: str) -> None:
    """bench/results/<name>-<UTC time>.json and <latest>, then say where."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for file in (f"{name}-{stamp}.json", latest):
        (RESULTS / file).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nJSON: bench/results/{name}-{stamp}.json (and {latest})")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    inner = sub.add_parser("in-process", help="(internal) one database, one process")
    inner.add_argument("--database-url", required=True)
    inner.add_argument("--cpu-requests", type=int, default=300)
    prof = sub.add_parser("profile", help="cProfile of GET / on one database")
    prof.add_argument("--database-url", required=True)
    prof.add_argument("--requests", type=int, default=300)
    add_database_options(parser, "portal_bench")
    parser.add_argument("--cpu-requests", type=int, default=300)
    add_server_options(parser)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--load-threads", type=int, default=2)
    parser.add_argument("--duration", type=int, default=5, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--python-client", action="store_true", help="skip wrk")
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    if args.command == "profile":
        profile_in_process(args.database_url, args.requests)
        return 0
    if args.command == "in-process":
        figures = run_in_process(args.database_url, args.cpu_requests)
        print(json.dumps(figures))
        return 0
    return run_all(args)


if __name__ == "__main__":
    sys.exit(main())
