"""Fault campaign: check-ins from 40 phones while workers die and the database stops.

One command, as root (PostgreSQL's own binaries run as the `postgres` user):

    .venv/bin/python bench/faults.py [--duration 60] [--outage-seconds 10] ...

It makes a throwaway PostgreSQL 15 cluster of its own (a temporary folder, a free port,
its own socket folder), seeds it with `portal seed`, starts gunicorn and `portal worker`
on it, and lets 40 simulated phones post check-ins for a fixed time. Each phone does
what the service worker (portal/static/sw-queue.js) does: a sending the server answered
with 5xx or 429, or did not answer at all, is kept and sent again later to
/queued/check-in with no cookie, in order, until it gets 2xx or 4xx. Meanwhile three
gunicorn workers are killed with SIGKILL (two of them caught in the middle of saving a
check-in), PostgreSQL is stopped (immediate) for 10 s, and for 8 s no check-in can be
stored while the rest of the database works (a full disk). Afterwards every phone's
queue is drained and the database is checked: no acknowledged check-in lost, none
stored twice, every risk answer of the faults flagged or still queued, and how long
the portal took to recover. Exits 1 when a target is missed. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from checkins import (  # the shared helpers of bench/checkins.py and bench/home.py
    SAVED_MARK,
    configure_risk_settings,
    patient_emails,
    sign_in_patient,
)
from home import (
    CSRF_RE,
    PYTHON,
    RESULTS,
    ROOT,
    free_port,
    machine_facts,
    merge_cookies,
    prepare_database,
    print_table,
    start_gunicorn,
    stop,
    worker_pids,
    write_results,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "faults"
KEY_RE = re.compile(r'name="idempotency_key"[^>]*value="([^"]+)"')
SENDER_RE = re.compile(r'name="sender"[^>]*value="([^"]+)"')
TEAM_TOLD = b"Your care team has been told that you do not feel safe."
TARGETS = {
    "lost": 0,
    "duplicated": 0,
    "refused": 0,
    "risk_neither": 0,
    "bare_errors": 0,
}


# ---- the throwaway PostgreSQL cluster ------------------------------------------------


class Cluster:
    """A PostgreSQL 15 cluster in a temporary folder owned by the `postgres` user, on
    a port and socket folder of its own; removed by `remove()`, whatever happened."""

    def __init__(self, port: int):
        self.port = port
        self.home = Path(tempfile.mkdtemp(prefix="portal-faults-"))
        shutil.chown(self.home, "postgres", "postgres")
        self.data, self.sockets = self.home / "data", self.home / "sockets"
        self.log = self.home / "postgres.log"

    def _as_postgres(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            cwd=self.home,
            check=True,
            capture_output=True,
            text=True,
        )

    def init(self) -> None:
        self._as_postgres("mkdir", "-p", str(self.sockets))
        self._as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",  # only this machine's loopback and socket reach it
            "-E",
            "UTF8",
            "--locale=C",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
            " -c max_connections=100"
        )
        self._as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"
        )

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        """Stop the server if it runs, keep its log beside the results, remove all."""
        if self.is_running():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.stop("immediate")
        with contextlib.suppress(OSError):
            shutil.copyfile(self.log, RESULTS / "faults-postgres.log")
        shutil.rmtree(self.home, ignore_errors=True)

    @property
    def base_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The portal's database in this cluster."""
        return f"{self.base_url}/{DATABASE}"


# ---- what each phone sends and hears -------------------------------------------------


@dataclass
class Sending:
    """One check-in sent by a phone under the key of the form it was typed into."""

    phone: int
    key: str
    body: str
    answers: dict
    risk: bool
    posted_at: float
    answers_heard: list = field(default_factory=list)  # (time, route, status)
    acknowledged_at: float | None = None
    ended_at: float | None = None  # acknowledged, or refused for good
    refused_status: int | None = None
    team_told_at: float | None = None  # a 503 page said the care team was told
    queued_at_end: bool = False


@dataclass
class Tally:
    """Counts of everything the phones heard, kept under a lock (40 threads add)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: dict = field(default_factory=dict)

    def add(self, name: str, by: int = 1) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + by


def _http(port, method, path, timeout, cookie="", body=None):
    """One request on a new connection (gunicorn's sync workers close each one):
    (status, body, headers), or raises OSError / HTTPException when nothing came."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), response.getheaders()
    finally:
        conn.close()


class Phone:
    """A patient's phone: signs in once, loads the check-in form, posts it, and keeps
    what the server could not take, as the service worker does."""

    def __init__(self, number: int, email: str, port: int, args, tally: Tally):
        self.number, self.email, self.port = number, email, port
        self.args, self.tally = args, tally
        self.rng = random.Random(args.seed * 1000 + number)
        self.jar: dict[str, str] = {}
        self.queue: list[Sending] = []
        self.sent: list[Sending] = []

    # -- signing in and the form

    def sign_in(self) -> None:
        signed = sign_in_patient(self.port, self.email)
        self.jar = dict(part.split("=", 1) for part in signed["cookie"].split("; "))

    def _cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.jar.items())

    def load_form(self) -> dict | None:
        """GET /check-in: the key, sender token and CSRF token; None when the server
        could not give the page (the phone waits and tries again)."""
        self.tally.add("form_loads")
        try:
            status, page, headers = _http(
                self.port, "GET", "/check-in", self.args.timeout, self._cookie()
            )
        except (OSError, http.client.HTTPException):
            self.tally.add("form_no_answer")
            return None
        merge_cookies(self.jar, headers)
        self._note_bare_error(status, headers)
        if status in (301, 302, 303):  # signed out: sign in again, as a person would
            self.tally.add("form_signed_out")
            with contextlib.suppress(SystemExit, OSError, http.client.HTTPException):
                self.sign_in()
            return None
        if status != 200:
            self.tally.add(f"form_{status}")
            return None
        text = page.decode()
        found = [r.search(text) for r in (CSRF_RE, KEY_RE, SENDER_RE)]
        if not all(found):
            self.tally.add("form_unexpected")
            return None
        names = ("csrf_token", "idempotency_key", "sender")
        return {name: match.group(1) for name, match in zip(names, found, strict=True)}

    def fill(self, form: dict) -> Sending:
        rng = self.rng
        risk = rng.random() < self.args.unsafe_share
        answers = {
            "mood": rng.randint(0, 10),
            "craving": rng.randint(0, 10),
            "sleep_hours": rng.choice(["4", "5.5", "6", "7", "7.5", "8", "9"]),
            "medication": rng.choice(["yes", "yes", "yes", "no", "none"]),
            "feels_safe": "no" if risk else "yes",
            "note": rng.choice(["", "", "Slept badly.", "Group helped today."]),
        }
        body = urlencode({**form, **answers})
        return Sending(
            self.number, form["idempotency_key"], body, answers, risk, time.time()
        )

    # -- sending, as the service worker does

    def post(self, sending: Sending) -> None:
        """POST /check-in with the session: 200 is acknowledged; 5xx, 429 or no
        answer keeps the sending for later; another 4xx (or 3xx) ends it."""
        self.sent.append(sending)
        self.tally.add("posts")
        self.tally.add("risk_posts" if sending.risk else "safe_posts")
        heard = self._send(sending, "/check-in", self._cookie())
        if heard is None or heard >= 500 or heard == 429:
            self.queue.append(sending)
            self.tally.add("kept_on_phone")
        elif heard >= 300:  # a 3xx too: the browser follows it, nothing is kept
            self._refused(sending, heard)

    def flush(self) -> bool:
        """Send the kept sendings in order, to /queued/check-in with no cookie; stop
        at the first that must wait. True when the queue is empty."""
        while self.queue:
            sending = self.queue[0]
            self.tally.add("resends")
            heard = self._send(sending, "/queued/check-in", "")
            if heard is None or heard >= 500 or heard == 429 or 300 <= heard < 400:
                return False  # a redirect reaches the worker as status 0: wait
            self.queue.pop(0)
            if heard >= 400:
                self._refused(sending, heard)
        return True

    def _send(self, sending: Sending, path: str, cookie: str) -> int | None:
        """One sending of the form body; the status heard, None for no answer."""
        try:
            status, page, headers = _http(
                self.port, "POST", path, self.args.timeout, cookie, sending.body
            )
        except TimeoutError:
            self.tally.add("timeouts")
            sending.answers_heard.append((time.time(), path, "timeout"))
            return None
        except (OSError, http.client.HTTPException) as problem:
            self.tally.add("connection_errors")
            sending.answers_heard.append((time.time(), path, type(problem).__name__))
            return None
        now = time.time()
        sending.answers_heard.append((now, path, status))
        self.tally.add(f"status_{status}")
        self.tally.add(f"POST {path} {status}")
        self._note_bare_error(status, headers)
        if status == 503 and TEAM_TOLD in page and sending.team_told_at is None:
            sending.team_told_at = now
        if 200 <= status < 300:
            if path == "/check-in" and SAVED_MARK not in page:
                self.tally.add("acknowledged_without_saved_page")
            sending.acknowledged_at = sending.ended_at = now
            self.tally.add("acknowledged")
        return status

    def _note_bare_error(self, status: int, headers: list) -> None:
        """A 5xx that is not the portal's own page (no X-Request-Id): an error got
        past the app's handlers, and gunicorn answered with no crisis help."""
        if status >= 500 and not any(k.lower() == "x-request-id" for k, _v in headers):
            self.tally.add("bare_errors")

    def _refused(self, sending: Sending, status: int) -> None:
        sending.ended_at, sending.refused_status = time.time(), status
        self.tally.add("refused")

    # -- the phone's life

    def run(self, deadline: float) -> None:
        """Until the deadline: send what is kept (a page load is a sign of signal),
        load a form, fill it in, post it. No form: wait and try again."""
        while time.time() < deadline:
            self.flush()
            form = self.load_form()
            if form is None:
                time.sleep(self.args.retry_every)
                continue
            time.sleep(self.rng.uniform(0.5, 1.5) * self.args.think)
            self.post(self.fill(form))

    def drain(self, deadline: float) -> None:
        """After the run: keep sending what is kept until the queue is empty."""
        while not self.flush() and time.time() < deadline:
            time.sleep(self.args.retry_every)


# ---- watching readiness, and the faults ----------------------------------------------


class ReadinessWatch(threading.Thread):
    """Polls /readyz every `every` seconds and records (time, status or None)."""

    def __init__(self, port: int, every: float):
        super().__init__(daemon=True, name="readyz-watch")
        self.port, self.every = port, every
        self.seen: list[tuple[float, int | None]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                status = _http(self.port, "GET", "/readyz", 5)[0]
            except (OSError, http.client.HTTPException):
                status = None
            self.seen.append((time.time(), status))
            self.done.wait(self.every)

    def first_ready_after(self, moment: float) -> float | None:
        return next((t for t, s in self.seen if t >= moment and s == 200), None)


def _tcp_connections() -> list[tuple[int, int, str]]:
    """(local port, remote port, socket inode) of every ESTABLISHED TCP connection
    over IPv4 on this machine, from /proc/net/tcp."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01":
            local, remote = (int(f.rsplit(":", 1)[1], 16) for f in fields[1:3])
            found.append((local, remote, fields[9]))
    return found


def _socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets a process holds open ("socket:[N]" links)."""
    with contextlib.suppress(OSError):  # the process ended meanwhile
        links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        return {link[8:-1] for link in links if link.startswith("socket:[")}
    return set()


IN_CHECKIN_TRANSACTION = (
    "SELECT client_port FROM pg_stat_activity WHERE datname = :name"
    " AND (state = 'idle in transaction' OR state = 'active')"
    " AND query LIKE 'INSERT INTO checkin%'"
)
STILL_OPEN = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = :name"
    " AND client_port = :port AND xact_start IS NOT NULL"
    " AND (state = 'idle in transaction'"
    " OR (state = 'active' AND query NOT LIKE 'COMMIT%'))"
)


def workers_saving_a_checkin(pids: list[int], cluster: Cluster, conn) -> dict:
    """{worker pid: its database connection's port} for the workers whose
    connection is, right now, in a transaction writing a check-in
    (pg_stat_activity's client port, matched to the worker holding it)."""
    from sqlalchemy import text

    ports = set(conn.scalars(text(IN_CHECKIN_TRANSACTION), {"name": DATABASE}))
    port_of = {
        inode: local
        for local, remote, inode in _tcp_connections()
        if remote == cluster.port and local in ports
    }
    return {
        pid: port_of[inode]
        for pid in pids
        for inode in port_of.keys() & _socket_inodes(pid)
    }


def stop_mid_checkin(master: int, cluster: Cluster, seconds: float) -> int | None:
    """Freeze (SIGSTOP) a worker caught writing a check-in, and keep it frozen only
    if its transaction is still open (its COMMIT not sent): the kill that follows
    then lands before the check-in is stored, as a crash mid-request would. None
    when no such worker was caught within `seconds` (or the database is down)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(
        cluster.url.replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    looked_from = time.time()
    try:
        with engine.connect() as conn:
            while time.time() - looked_from < seconds:
                caught = workers_saving_a_checkin(worker_pids(master), cluster, conn)
                for pid, port in caught.items():
                    os.kill(pid, signal.SIGSTOP)
                    still = {"name": DATABASE, "port": port}
                    if conn.scalar(text(STILL_OPEN), still):
                        return pid
                    os.kill(pid, signal.SIGCONT)
    except DBAPIError:
        pass  # the database is down: nobody is saving anything
    finally:
        engine.dispose()
    return None


def workers_serving(pids: list[int], port: int) -> list[int]:
    """The workers holding a client's connection to `port` open: serving a request
    (a sync worker takes one at a time)."""
    inodes = {inode for local, _r, inode in _tcp_connections() if local == port}
    return [pid for pid in pids if inodes & _socket_inodes(pid)]


def kill_worker(master: int, port: int, cluster: Cluster, args, rng) -> dict:
    """SIGKILL one gunicorn worker: one stopped in the middle of saving a check-in
    when one is caught within two seconds, else one serving a request, else any;
    and how long until the master had a full set again."""
    victim, doing = stop_mid_checkin(master, cluster, 2.0), "saving a check-in"
    if victim is None:
        serving = workers_serving(worker_pids(master), port)
        doing = "serving a request" if serving else "idle"
        victim = rng.choice(serving or worker_pids(master))
    killed_at = time.time()
    os.kill(victim, signal.SIGKILL)
    replaced_at = None
    while time.time() - killed_at < 30:
        now_pids = worker_pids(master)
        if victim not in now_pids and len(now_pids) >= args.workers:
            replaced_at = time.time()
            break
        time.sleep(0.05)
    return {
        "at": killed_at,
        "pid": victim,
        "doing": doing,
        "replaced_after_s": None if replaced_at is None else replaced_at - killed_at,
    }


def database_outage(cluster: Cluster, seconds: float, mode: str) -> dict:
    """Stop PostgreSQL, wait, start it again; when each step began and ended."""
    stop_at = time.time()
    cluster.stop(mode)
    stopped_at = time.time()
    time.sleep(max(0.0, stop_at + seconds - time.time()))
    start_at = time.time()
    cluster.start()
    return {
        "stop_at": stop_at,
        "stopped_at": stopped_at,
        "start_at": start_at,
        "started_at": time.time(),
        "mode": mode,
        "seconds": seconds,
    }


FAIL_WRITES = (
    "CREATE FUNCTION faults_disk_full() RETURNS trigger AS $$ BEGIN"
    " RAISE EXCEPTION 'could not extend file' USING ERRCODE = '53100'; END $$"
    " LANGUAGE plpgsql",
    "CREATE TRIGGER faults_disk_full BEFORE INSERT ON checkin_submissions"
    " FOR EACH ROW EXECUTE FUNCTION faults_disk_full()",
)
HEAL_WRITES = (
    "DROP TRIGGER faults_disk_full ON checkin_submissions",
    "DROP FUNCTION faults_disk_full()",
)


def failing_writes(url: str, seconds: float) -> dict:
    """For `seconds`, no check-in can be stored (its key's INSERT fails as on a full
    disk, SQLSTATE 53100) while the rest of the database works: the half-alive state
    in which a risk answer must still open the flag in a transaction of its own."""
    from sqlalchemy import text

    engine = _engine(url)
    try:
        with engine.begin() as conn:
            for statement in FAIL_WRITES:
                conn.execute(text(statement))
        failing_from = time.time()
        time.sleep(seconds)
        with engine.begin() as conn:
            for statement in HEAL_WRITES:
                conn.execute(text(statement))
    finally:
        engine.dispose()
    return {"start_at": failing_from, "end_at": time.time(), "seconds": seconds}


def run_faults(plan, server, port: int, cluster: Cluster, args, origin: float) -> dict:
    """Carry out the faults at their planned times (seconds after `origin`); the
    outage in a thread of its own, so a kill can fall inside it."""
    rng = random.Random(args.seed)
    done: dict = {"kills": [], "outage": None, "writes": None}

    def outage() -> None:
        print(f"  {time.time() - origin:5.1f} s  PostgreSQL stopped ({args.stop_mode})")
        done["outage"] = database_outage(cluster, args.outage_seconds, args.stop_mode)
        print(f"  {time.time() - origin:5.1f} s  PostgreSQL started again")

    def writes() -> None:
        if background["outage"].ident is not None:
            background["outage"].join()  # one database fault at a time
        print(
            f"  {time.time() - origin:5.1f} s  check-ins cannot be stored (full disk)"
        )
        done["writes"] = failing_writes(cluster.url, args.write_failure_seconds)
        print(f"  {time.time() - origin:5.1f} s  check-ins can be stored again")

    background = {
        "outage": threading.Thread(target=outage, name="outage"),
        "writes": threading.Thread(target=writes, name="writes"),
    }
    for at, kind in plan:
        time.sleep(max(0.0, origin + at - time.time()))
        if kind == "kill":
            kill = kill_worker(server.pid, port, cluster, args, rng)
            done["kills"].append(kill)
            print(f"  {time.time() - origin:5.1f} s  killed a worker, {kill['doing']}")
        else:
            background[kind].start()
    for thread in background.values():
        if thread.ident is not None:
            thread.join()
    return done


def fault_plan(args) -> list[tuple[float, str]]:
    """Kills, the outage and the failing writes, at shares of the run; by time."""
    plan = [(share * args.duration, "kill") for share in args.kill_at]
    plan.append((args.outage_at * args.duration, "outage"))
    if args.write_failure_seconds > 0:
        plan.append((args.write_failure_at * args.duration, "writes"))
    return sorted(plan)


# ---- the database afterwards ---------------------------------------------------------


def _engine(url: str):
    from sqlalchemy import create_engine

    return create_engine(url.replace("postgresql://", "postgresql+psycopg://"))


def read_outcome(url: str) -> dict:
    """Everything the checks need, read once the phones are done."""
    from sqlalchemy import text

    engine = _engine(url)
    with engine.connect() as conn:
        rows = {
            "patients": dict(
                conn.execute(
                    text("SELECT email, id FROM users WHERE role = 'patient'")
                ).all()
            ),
            "submissions": conn.execute(
                text(
                    "SELECT idempotency_key, patient_id, checkin_id, feels_safe,"
                    " extract(epoch FROM received_at) FROM checkin_submissions"
                )
            ).all(),
            "checkins": conn.execute(
                text(
                    "SELECT id, patient_id, local_date, idempotency_key, mood, craving,"
                    " sleep_hours, medication, feels_safe, coalesce(note, '')"
                    " FROM checkins"
                )
            ).all(),
            "flags": conn.execute(
                text(
                    "SELECT id, patient_id, open_key, positives,"
                    " extract(epoch FROM opened_at) FROM risk_flags"
                )
            ).all(),
            "flag_events": conn.execute(
                text(
                    "SELECT flag_id, kind, extract(epoch FROM at) FROM risk_flag_events"
                    " WHERE kind IN ('opened', 'positive_again')"
                )
            ).all(),
            "pages": conn.execute(
                text(
                    "SELECT flag_id, channel, status FROM outbound_pages"
                    " WHERE flag_id IS NOT NULL"
                )
            ).all(),
        }
    engine.dispose()
    return rows


def wait_for_pages(url: str, seconds: float) -> float | None:
    """Wait until the worker has sent every page of a risk flag; how long it took."""
    from sqlalchemy import text

    engine = _engine(url)
    started = time.time()
    try:
        while time.time() - started < seconds:
            with engine.connect() as conn:
                pending = conn.scalar(
                    text(
                        "SELECT count(*) FROM outbound_pages"
                        " WHERE flag_id IS NOT NULL AND status = 'pending'"
                    )
                )
            if not pending:
                return time.time() - started
            time.sleep(0.5)
    finally:
        engine.dispose()
    return None


def check_storage(sendings: list[Sending], phones: list[Phone], db: dict) -> dict:
    """Lost, duplicated, stored for the wrong patient, stored with other answers."""
    patient_of = {p.number: db["patients"][p.email] for p in phones}
    stored = {}
    for key, patient_id, checkin_id, feels_safe, received in db["submissions"]:
        stored.setdefault(key, []).append(
            (patient_id, checkin_id, feels_safe, received)
        )
    by_key = {s.key: s for s in sendings}
    acknowledged = [s for s in sendings if s.acknowledged_at is not None]
    lost = [s.key for s in acknowledged if s.key not in stored]
    days: dict = {}
    for row in db["checkins"]:
        days.setdefault((row[1], row[2]), []).append(row)
    checkin_keys = [row[3] for row in db["checkins"]]
    return {
        "acknowledged": len(acknowledged),
        "lost": lost,
        "keys_stored_twice": [k for k, rows in stored.items() if len(rows) > 1],
        "days_stored_twice": [str(d) for d, rows in days.items() if len(rows) > 1],
        "checkin_keys_twice": len(checkin_keys) - len(set(checkin_keys)),
        "stored_for_another_patient": [
            k
            for k, rows in stored.items()
            if k in by_key and rows[0][0] != patient_of[by_key[k].phone]
        ],
        "stored_unknown_keys": [k for k in stored if k not in by_key],
        "stored_risk_answer_differs": [
            k
            for k, rows in stored.items()
            if k in by_key and rows[0][2] == by_key[k].risk
        ],
        "stored_not_acknowledged": [
            s.key
            for s in sendings
            if s.key in stored and s.acknowledged_at is None and not s.queued_at_end
        ],
        "day_answers_differ_from_their_key": _answers_differ(db["checkins"], by_key),
        "day_not_the_last_sending": _not_last(db["checkins"], sendings, stored),
    }


def _answers_differ(checkins: list, by_key: dict) -> list[str]:
    """Days whose stored answers are not those sent under the key stored with them."""
    differ = []
    for _id, _p, _d, key, mood, craving, sleep, medication, safe, note in checkins:
        sent = by_key.get(key)
        if sent is None:
            continue
        a = sent.answers
        same = (
            (mood, craving, medication, note)
            == (a["mood"], a["craving"], a["medication"], a["note"])
            and float(sleep) == float(a["sleep_hours"])
            and safe == (a["feels_safe"] == "yes")
        )
        if not same:
            differ.append(key)
    return differ


def _not_last(checkins: list, sendings: list[Sending], stored: dict) -> list[str]:
    """Days whose stored answers are not the phone's last stored sending (a kept
    sending stored after a newer one was: last to arrive wins). Reported only."""
    last_of: dict = {}
    for s in sendings:
        if s.key in stored and s.posted_at > last_of.get(s.phone, (0, ""))[0]:
            last_of[s.phone] = (s.posted_at, s.key)
    phone_of = {s.key: s.phone for s in sendings}
    return [
        row[3]
        for row in checkins
        if row[3] in phone_of and last_of[phone_of[row[3]]][1] != row[3]
    ]


def check_risk(
    sendings: list[Sending], phones: list[Phone], db: dict, windows: dict
) -> dict:
    """Every risk answer: flagged, still queued on the phone, or neither. Flagged: by
    the time the phone heard its last answer, the patient's flag was open and this
    answer had reached it: stored as a risk answer (its transaction counts it on the
    flag), or counted on the flag on its own (an event between sending and answer).
    And each open flag counts at least the stored risk answers since it opened."""
    patient_of = {p.number: db["patients"][p.email] for p in phones}
    open_flag = {row[2]: row for row in db["flags"] if row[2] is not None}
    stored_risk = {row[0] for row in db["submissions"] if not row[3]}
    counted: dict = {}
    for flag_id, _kind, at in db["flag_events"]:
        counted.setdefault(flag_id, []).append(at)

    def flagged_by(sending: Sending, moment: float | None, stored=True) -> bool:
        flag = open_flag.get(patient_of[sending.phone])
        if flag is None or moment is None or flag[4] > moment:
            return False
        return (stored and sending.key in stored_risk) or any(
            sending.posted_at <= at <= moment for at in counted.get(flag[0], [])
        )

    def classify(group: list[Sending], at_end_of_run: bool) -> dict:
        out = {"answers": len(group), "flagged": 0, "queued": 0, "neither": []}
        for s in group:
            queued = s.queued_at_end if at_end_of_run else s.ended_at is None
            if queued:
                out["queued"] += 1
            elif flagged_by(s, s.ended_at):
                out["flagged"] += 1
            else:
                out["neither"].append(s.key)
        return out

    risky = [s for s in sendings if s.risk]
    told = [s for s in risky if s.team_told_at is not None]
    during = {
        kind: [s for s in risky if start <= s.posted_at <= end]
        for kind, (start, end) in windows.items()
    }
    return {
        **{
            f"{kind}_{when}": classify(group, at_end_of_run=when == "at_end_of_run")
            for kind, group in during.items()
            for when in ("at_end_of_run", "after_drain")
        },
        "kept_once_after_drain": classify(
            [s for s in risky if _kept_once(s)], at_end_of_run=False
        ),
        "all_after_drain": classify(risky, at_end_of_run=False),
        "told_on_503": len(told),
        "told_on_503_without_open_flag": [
            s.key for s in told if not flagged_by(s, s.team_told_at, stored=False)
        ],
        "flags_counting_fewer_positives_than_stored": _undercounted(db, open_flag),
    }


def _undercounted(db: dict, open_flag: dict) -> list[str]:
    """Open flags whose count of positives is below the risk answers stored for
    their patient since they opened."""
    stored: dict = {}
    for _key, patient_id, _c, feels_safe, received in db["submissions"]:
        if not feels_safe:
            stored.setdefault(patient_id, []).append(received)
    return [
        row[0]
        for row in open_flag.values()
        if row[3] < sum(1 for t in stored.get(row[1], []) if t >= row[4])
    ]


def _kept_once(sending: Sending) -> bool:
    """Whether the first answer to the sending left it kept on the phone."""
    first = sending.answers_heard[0][2] if sending.answers_heard else None
    return not isinstance(first, int) or first >= 500 or first == 429


def check_killed(sendings: list[Sending], kills: list[dict], db: dict) -> dict:
    """The sendings whose worker was killed while saving them (no answer heard within
    a second of the kill): each must be stored once all the same, after its resend."""
    stored = {row[0] for row in db["submissions"]}
    hit = [
        s
        for kill in kills
        if kill["doing"] == "saving a check-in"
        for s in sendings
        if any(
            not isinstance(status, int) and kill["at"] <= at <= kill["at"] + 1
            for at, _path, status in s.answers_heard
        )
    ]
    return {
        "sendings_cut_off": len(hit),
        "stored_after_resend": sum(1 for s in hit if s.key in stored),
    }


def check_pages(db: dict, since: float) -> dict:
    """Flags opened during the run, and whether each reached a person by SMS."""
    opened = {row[0] for row in db["flags"] if row[4] >= since}
    sent = {flag for flag, channel, status in db["pages"] if status == "sent"}
    sms = {flag for flag, channel, _s in db["pages"] if channel == "sms"}
    return {
        "flags_opened": len(opened),
        "flags_with_sms_sent": len(opened & sent & sms),
        "flags_without_sms_sent": sorted(opened - (sent & sms)),
    }


# ---- recovery ------------------------------------------------------------------------


def recovery(outage: dict, watch: ReadinessWatch, sendings: list[Sending]) -> dict:
    """From PostgreSQL's restart to the first 200 on /readyz and to the first check-in
    acknowledged; when every sending kept during the outage was stored."""
    start = outage["start_at"]
    ready = watch.first_ready_after(start)
    acks = sorted(
        s.acknowledged_at
        for s in sendings
        if s.acknowledged_at is not None and s.acknowledged_at >= start
    )
    not_ready = [
        t for t, status in watch.seen if status != 200 and t >= outage["stop_at"]
    ]
    ended = [
        s.ended_at
        for s in sendings
        if outage["stop_at"] <= s.posted_at <= outage["started_at"] and s.ended_at
    ]
    return {
        "pg_start_command_s": outage["started_at"] - start,
        "readyz_200_after_restart_s": None if ready is None else ready - start,
        "first_acknowledged_after_restart_s": acks[0] - start if acks else None,
        "outage_sendings_all_ended_after_restart_s": max(ended) - start
        if ended
        else None,
        "readyz_not_200_after_stop_s": (not_ready[0] - outage["stop_at"])
        if not_ready
        else None,
        "readyz_polls": len(watch.seen),
        "readyz_poll_every_s": watch.every,
    }


# ---- the run -------------------------------------------------------------------------


def start_portal_worker(url: str, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PORTAL_DATABASE_URL": url}
    log = log_path.open("w")
    return subprocess.Popen(
        [str(Path(PYTHON).parent / "portal"), "worker"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )


def campaign(url: str, cluster: Cluster, args, result: dict, stack) -> None:
    """Serve, sign the phones in, run them through the faults, drain, check."""
    port = free_port()
    server = start_gunicorn(url, port, args, RESULTS / "faults-gunicorn.log")
    stack.callback(stop, server)
    worker = start_portal_worker(url, RESULTS / "faults-worker.log")
    stack.callback(stop, worker)
    tally = Tally()
    phones = [
        Phone(n, email, port, args, tally)
        for n, email in enumerate(patient_emails(args.patients, args.programs))
    ]
    for phone in phones:
        phone.sign_in()
    watch = ReadinessWatch(port, args.readyz_every)
    watch.start()
    origin = time.time()
    print(f"{args.patients} phones posting for {args.duration} s; faults:")
    faults = _in_threads(
        phones,
        "run",
        origin + args.duration,
        lambda: run_faults(fault_plan(args), server, port, cluster, args, origin),
    )
    sendings = [s for p in phones for s in p.sent]
    for phone in phones:
        for sending in phone.queue:
            sending.queued_at_end = True
    result["queued_at_end_of_run"] = sum(len(p.queue) for p in phones)
    print(f"run over: {result['queued_at_end_of_run']} sendings kept; draining")
    drained_from = time.time()
    _in_threads(phones, "drain", drained_from + args.drain_seconds, lambda: None)
    watch.done.set()
    result.update(
        {
            "origin": origin,
            "faults": _relative(faults, origin),
            "totals": dict(sorted(tally.counts.items())),
            "queued_after_drain": sum(len(p.queue) for p in phones),
            "drain_seconds": time.time() - drained_from,
            "pages_sent_after_s": wait_for_pages(url, 30),
            "recovery": recovery(faults["outage"], watch, sendings),
            "worker_alive": worker.poll() is None,
            "gunicorn_alive": server.poll() is None,
        }
    )
    windows = fault_windows(faults)
    result["readyz_seen_s"] = [(round(t - origin, 2), st) for t, st in watch.seen]
    result["windows_s"] = {k: [t - origin for t in w] for k, w in windows.items()}
    outcome = read_outcome(url)
    result["storage"] = check_storage(sendings, phones, outcome)
    result["risk"] = check_risk(sendings, phones, outcome, windows)
    result["pages"] = check_pages(outcome, origin)
    result["killed"] = check_killed(sendings, faults["kills"], outcome)
    result["sendings"] = len(sendings)


def _in_threads(phones: list[Phone], method: str, deadline: float, meanwhile):
    """Each phone's `method` in a thread of its own until `deadline`; what
    `meanwhile` returns, once every phone is done."""
    threads = [
        threading.Thread(
            target=getattr(p, method),
            args=(deadline,),
            name=f"phone-{p.number}",
            daemon=True,  # Ctrl-C ends the run without waiting for them
        )
        for p in phones
    ]
    for thread in threads:
        thread.start()
    outcome = meanwhile()
    for thread in threads:
        thread.join()
    return outcome


def fault_windows(faults: dict) -> dict[str, tuple]:
    """When each database fault lasted: the outage from the stop command until the
    server was up again; the failing writes from the trigger's first to last
    moment."""
    outage = faults["outage"]
    windows = {"outage": (outage["stop_at"], outage["started_at"])}
    if faults["writes"]:
        windows["writes"] = (faults["writes"]["start_at"], faults["writes"]["end_at"])
    return windows


def _relative(faults: dict, origin: float) -> dict:
    """The faults' times as seconds after the run began."""
    kills = [
        {**{k: v for k, v in kill.items() if k != "at"}, "at_s": kill["at"] - origin}
        for kill in faults["kills"]
    ]
    windows = {
        kind: {
            name: (value - origin if name.endswith("_at") else value)
            for name, value in faults[kind].items()
        }
        for kind in ("outage", "writes")
        if faults[kind]
    }
    return {"kills": kills, **windows}


# ---- report --------------------------------------------------------------------------


def _faults_row(result: dict) -> tuple:
    """Whether every planned fault happened: a campaign that skipped one tested less
    than it says."""
    args, faults = result["args"], result["faults"]
    kills = len(faults["kills"])
    outage = "outage" in faults
    writes = "writes" in faults or not args["write_failure_seconds"]
    return (
        "faults carried out: workers killed / outage / failing writes",
        f"{kills} / {'yes' if outage else 'no'} / {'yes' if writes else 'no'}",
        f"{len(args['kill_at'])} / yes / yes",
        kills == len(args["kill_at"]) and outage and writes,
    )


def verdict_rows(result: dict) -> list[tuple[str, str, str, bool]]:
    totals, storage, risk = result["totals"], result["storage"], result["risk"]
    rec, kills = result["recovery"], result["faults"]["kills"]
    changed = (
        storage["stored_risk_answer_differs"]
        + storage["day_answers_differ_from_their_key"]
    )
    duplicated = len(storage["keys_stored_twice"]) + len(storage["days_stored_twice"])
    return [
        _faults_row(result),
        (
            "acknowledged check-ins lost",
            f"{len(storage['lost'])} of {storage['acknowledged']:,}",
            "0",
            not storage["lost"],
        ),
        (
            "check-ins duplicated (a key twice, a patient's day twice)",
            f"{len(storage['keys_stored_twice'])}, {len(storage['days_stored_twice'])}",
            "0 and 0",
            duplicated == 0 and not storage["checkin_keys_twice"],
        ),
        (
            "sendings refused for good (4xx; all were valid)",
            f"{totals.get('refused', 0)}",
            "0",
            not totals.get("refused"),
        ),
        (
            "stored for another patient / unknown key / answers not as sent",
            f"{len(storage['stored_for_another_patient'])} /"
            f" {len(storage['stored_unknown_keys'])} / {len(changed)}",
            "0 / 0 / 0",
            not (
                storage["stored_for_another_patient"]
                or storage["stored_unknown_keys"]
                or changed
            ),
        ),
        (
            "5xx answers that were not the portal's page (crisis help, Retry-After)",
            f"{totals.get('bare_errors', 0)}",
            "0",
            not totals.get("bare_errors"),
        ),
        *_window_rows(risk, "outage", "in the outage"),
        *_window_rows(risk, "writes", "while check-ins could not be stored"),
        (
            "risk answers kept on a phone by any fault: flagged / queued, drained",
            f"{risk['kept_once_after_drain']['flagged']} /"
            f" {risk['kept_once_after_drain']['queued']}"
            f" of {risk['kept_once_after_drain']['answers']}",
            "all",
            not risk["kept_once_after_drain"]["neither"],
        ),
        (
            "every risk answer of the run flagged or queued, after the drain",
            f"{risk['all_after_drain']['flagged'] + risk['all_after_drain']['queued']}"
            f" of {risk['all_after_drain']['answers']}",
            "all",
            not risk["all_after_drain"]["neither"],
        ),
        (
            "503 pages saying the team was told, with the flag open by then",
            f"{risk['told_on_503'] - len(risk['told_on_503_without_open_flag'])}"
            f" of {risk['told_on_503']}",
            "all",
            not risk["told_on_503_without_open_flag"],
        ),
        (
            "flags counting fewer positives than stored risk answers",
            f"{len(risk['flags_counting_fewer_positives_than_stored'])}",
            "0",
            not risk["flags_counting_fewer_positives_than_stored"],
        ),
        (
            "flags opened in the run with an SMS page sent",
            f"{result['pages']['flags_with_sms_sent']} of"
            f" {result['pages']['flags_opened']}",
            "all",
            not result["pages"]["flags_without_sms_sent"],
        ),
        (
            "recovery: restart to /readyz 200 / to first check-in saved",
            f"{_seconds(rec['readyz_200_after_restart_s'])} /"
            f" {_seconds(rec['first_acknowledged_after_restart_s'])}"
            f" (pg_ctl start {rec['pg_start_command_s']:.1f} s)",
            "(reported)",
            rec["readyz_200_after_restart_s"] is not None,
        ),
        (
            "  every sending kept in the outage stored, after restart",
            _seconds(rec["outage_sendings_all_ended_after_restart_s"]),
            "(reported)",
            True,
        ),
        (
            "workers killed (-9) while saving a check-in; replaced within",
            f"{sum(k['doing'] == 'saving a check-in' for k in kills)} of {len(kills)};"
            f" {_seconds(max(_replaced(k) for k in kills))}",
            "(reported)",
            all(k["replaced_after_s"] is not None for k in kills),
        ),
        (
            "  check-ins cut off by those kills, stored after their resend",
            f"{result['killed']['stored_after_resend']} of"
            f" {result['killed']['sendings_cut_off']}",
            "all",
            result["killed"]["stored_after_resend"]
            == result["killed"]["sendings_cut_off"],
        ),
        (
            "posts / acknowledged / resends",
            f"{totals.get('posts', 0):,} / {totals.get('acknowledged', 0):,} /"
            f" {totals.get('resends', 0):,}",
            "(reported)",
            True,
        ),
        (
            "503s / 500s / connection errors / timeouts",
            f"{totals.get('status_503', 0)} / {totals.get('status_500', 0)} /"
            f" {totals.get('connection_errors', 0)} / {totals.get('timeouts', 0)}",
            "(reported)",
            True,
        ),
        (
            "sendings kept on phones: end of run / after the drain",
            f"{result['queued_at_end_of_run']} / {result['queued_after_drain']}",
            "(reported) / 0",
            result["queued_after_drain"] == 0,
        ),
        (
            "days whose answers are not the phone's last stored sending",
            f"{len(storage['day_not_the_last_sending'])}",
            "(reported)",
            True,
        ),
        (
            "worker and gunicorn still running",
            f"{result['worker_alive']} and {result['gunicorn_alive']}",
            "True and True",
            result["worker_alive"] and result["gunicorn_alive"],
        ),
    ]


def _window_rows(risk: dict, kind: str, label: str) -> list[tuple]:
    """Risk answers posted during one fault: each flagged or still on the phone at
    the end of the run, and again once the phones' queues were drained. A fault
    during which no risk answer was posted tested nothing: a miss."""
    if f"{kind}_at_end_of_run" not in risk:
        return []
    rows = []
    for when, name in (("at_end_of_run", "end of run"), ("after_drain", "drained")):
        seen = risk[f"{kind}_{when}"]
        rows.append(
            (
                f"risk answers posted {label}: flagged / queued, {name}",
                f"{seen['flagged']} / {seen['queued']} of {seen['answers']}",
                "all",
                not seen["neither"] and seen["answers"] > 0,
            )
        )
    return rows


def _replaced(kill: dict) -> float:
    return kill["replaced_after_s"] if kill["replaced_after_s"] is not None else 99.0


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def end_own_children() -> None:
    """Stop what this process started and still runs (a gunicorn interrupted while
    it booted, before its own clean-up was registered): SIGTERM by process id, then
    SIGKILL after 20 s."""
    tasks = Path(f"/proc/{os.getpid()}/task").iterdir()
    pids = {
        int(pid) for task in tasks for pid in (task / "children").read_text().split()
    }
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 20
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(pid, os.WNOHANG) == (0, 0):
                if time.time() > deadline:
                    os.kill(pid, signal.SIGKILL)
                time.sleep(0.1)


def run(args) -> int:
    if os.geteuid() != 0:
        raise SystemExit("run as root: initdb and pg_ctl run as the postgres user")
    os.environ.setdefault("PORTAL_SECRET_KEY", secrets.token_urlsafe(48))
    os.environ.setdefault("PORTAL_ENV", "development")
    RESULTS.mkdir(parents=True, exist_ok=True)
    result: dict = {"machine": machine_facts(), "targets": TARGETS, "args": vars(args)}
    result["load_average_before"] = os.getloadavg()
    with contextlib.ExitStack() as stack:
        cluster = Cluster(free_port())
        stack.callback(cluster.remove)
        stack.callback(end_own_children)
        print(f"PostgreSQL 15 cluster in {cluster.home}, port {cluster.port}")
        cluster.init()
        cluster.start()
        prepare_database(
            cluster.base_url, DATABASE, args.patients, args.programs, reuse=False
        )
        url = cluster.url
        configure_risk_settings(url, args.programs)
        campaign(url, cluster, args, result, stack)
    result["load_average_after"] = os.getloadavg()
    rows = verdict_rows(result)
    print_table(rows)
    result["rows"] = [
        {"measure": m, "measured": v, "target": t, "pass": ok} for m, v, t, ok in rows
    ]
    write_results(result, "faults", "faults-latest.json")
    return 0 if all(row[3] for row in rows) else 1


def _shares(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--programs", type=int, default=2)
    parser.add_argument("--duration", type=float, default=60, help="seconds of load")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument(
        "--kill-at",
        type=_shares,
        default=[0.2, 0.45, 0.85],
        help="when to SIGKILL a worker, as shares of the duration",
    )
    parser.add_argument(
        "--outage-at", type=float, default=0.35, help="share of the duration"
    )
    parser.add_argument("--outage-seconds", type=float, default=10)
    parser.add_argument(
        "--stop-mode", choices=("immediate", "fast"), default="immediate"
    )
    parser.add_argument(
        "--write-failure-at", type=float, default=0.7, help="share of the duration"
    )
    parser.add_argument(
        "--write-failure-seconds",
        type=float,
        default=8,
        help="how long check-ins cannot be stored while the database answers (0: no)",
    )
    parser.add_argument(
        "--unsafe-share", type=float, default=0.2, help="'I do not feel safe' share"
    )
    parser.add_argument(
        "--think", type=float, default=2.0, help="mean seconds filling in a form"
    )
    parser.add_argument("--retry-every", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=15, help="a phone's patience")
    parser.add_argument("--drain-seconds", type=float, default=120)
    parser.add_argument("--readyz-every", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.worker_class, args.threads = "sync", 1
    return args


def main() -> int:
    # SIGTERM ends the run as Ctrl-C does: through the clean-up (the cluster removed)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    return run(parse_args())


if __name__ == "__main__":
    sys.exit(main())
