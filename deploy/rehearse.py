"""The production set-up rehearsed on one Linux host, with a host killed on purpose.

Run by deploy/rehearse.sh (as root). It builds, all of its own and all removed at the
end whatever happens:

- a bridge (10.210.0.1 for nginx and the push service, 10.210.0.2 for PostgreSQL)
  and two network namespaces, the app hosts A (10.210.0.11) and B (10.210.0.12);
- a PostgreSQL 15 cluster in a temporary folder, seeded with `portal seed` (one
  program, 42 patients, its staff);
- on each app host, gunicorn with deploy/gunicorn.conf.py and `portal worker`, in
  production mode with the secrets a real installation has;
- nginx with deploy/nginx/portal.conf as deploy/install.sh fills it in, TLS from a
  certificate authority made for the run, on 127.0.0.1:18443;
- the fake push service (tests/fake_push_service.py) over TLS on 10.210.0.1, which
  checks each VAPID token, decrypts each message and notes who sent it.

Then 40 patients sign in through nginx, turn on notifications, and for a fixed time
post check-ins (each under its form's key, kept and sent again through
/queued/check-in when the server did not take it, as the phone's service worker
does) and messages, while a peer specialist answers them. Meanwhile:

1. host A is killed (SIGKILL to everything in its namespace) and later started
   again;
2. five wrong passwords are sent to one account, split across A and B directly,
   and the right one is then refused: the throttle is shared;
3. B's route to PostgreSQL is cut: B's /readyz must turn 503, and nginx must stop
   giving B the patients' requests, until the route is back.

Checked afterwards: every acknowledged check-in stored once and none lost, no
session lost, every push made during the run delivered (the fake service's distinct
(subscription, Topic) pairs equal the deliveries made; a second copy only with the
same Topic), by both workers, the throttle, the readiness, and the crisis page nginx
serves when no host answers. Figures go to stdout and deploy/rehearsal-results.json;
the exit status is 1 when a check fails.

Traffic stays on loopback, the bridge and the namespaces made here.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import ipaddress
import json
import multiprocessing
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyotp  # noqa: E402 - after the path, like the tests
import requests  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from py_vapid import Vapid  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from portal.blueprints.notifications.push import (  # noqa: E402
    private_key_text,
    public_key_of,
    topic_of,
)
from portal.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET  # noqa: E402
from tests.fake_push_service import run_in_process, subscription_info  # noqa: E402

BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
BRIDGE, NET = "prbr0", "10.210.0"
GATEWAY, DB_ADDRESS = f"{NET}.1", f"{NET}.2"
HOSTS = {"a": f"{NET}.11", "b": f"{NET}.12"}
PG_PORT, HTTPS_PORT, HTTP_PORT, PUSH_PORT = 55432, 18443, 18080, 18444
SERVER_NAME = "portal.rehearsal.test"
ON_CALL = "+1 555 010 0177"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
KEY_RE = re.compile(r'name="idempotency_key"[^>]*value="([^"]+)"')
SENDER_RE = re.compile(r'name="sender"[^>]*value="([^"]+)"')
THREAD_RE = re.compile(r'href="/messages/([0-9a-f-]{36})"')
SAVED = "Your check-in is saved"
RESULTS = ROOT / "deploy" / "rehearsal-results.json"


def sh(*command, check=True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(c) for c in command], check=False, capture_output=True, text=True, **kwargs
    )
    if check and result.returncode != 0:
        raise SystemExit(
            f"{' '.join(map(str, command))} failed ({result.returncode}):\n"
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return result


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---- the network ---------------------------------------------------------------------


class Network:
    """The bridge and the two namespaces; `cut_database` / `restore_database` take
    one host's route to PostgreSQL away and give it back."""

    def up(self) -> None:
        self.down()
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        sh("ip", "addr", "add", f"{DB_ADDRESS}/24", "dev", BRIDGE)
        sh("ip", "link", "set", BRIDGE, "up")
        for name, address in HOSTS.items():
            ns, outside, inside = f"portal-r{name}", f"prv{name}", f"prv{name}-ns"
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            sh("ip", "link", "set", outside, "master", BRIDGE, "up")
            sh("ip", "link", "set", inside, "netns", ns)
            sh(
                "ip",
                "netns",
                "exec",
                ns,
                "ip",
                "addr",
                "add",
                f"{address}/24",
                "dev",
                inside,
            )
            sh("ip", "netns", "exec", ns, "ip", "link", "set", inside, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

    def down(self) -> None:
        for name in HOSTS:
            sh("ip", "netns", "del", f"portal-r{name}", check=False)
            sh("ip", "link", "del", f"prv{name}", check=False)
        sh("ip", "link", "del", BRIDGE, check=False)

    @staticmethod
    def cut_database(name: str) -> None:
        sh(
            "ip",
            "netns",
            "exec",
            f"portal-r{name}",
            "ip",
            "route",
            "add",
            "prohibit",
            f"{DB_ADDRESS}/32",
        )

    @staticmethod
    def restore_database(name: str) -> None:
        sh(
            "ip",
            "netns",
            "exec",
            f"portal-r{name}",
            "ip",
            "route",
            "del",
            "prohibit",
            f"{DB_ADDRESS}/32",
        )


# ---- PostgreSQL ----------------------------------------------------------------------


class Cluster:
    """A PostgreSQL 15 cluster in a temporary folder, run by the `postgres` user,
    listening on loopback and on the bridge's database address."""

    def __init__(self, home: Path):
        self.home = home / "postgres"
        self.home.mkdir()
        shutil.chown(self.home, "postgres", "postgres")
        self.data = self.home / "data"

    def _as_postgres(self, *command) -> None:
        sh("runuser", "-u", "postgres", "--", *command, cwd=self.home)

    def start(self) -> None:
        self._as_postgres(
            PG_BIN / "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
        )
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {NET}.0/24 trust\n")
        options = (
            f"-p {PG_PORT} -k {self.home} -c listen_addresses=127.0.0.1,{DB_ADDRESS}"
            " -c max_connections=200 -c shared_buffers=128MB"
            # As docs/deployment.md asks of production: a client that vanished is
            # noticed in seconds, and its open transaction (and its row locks) ends.
            " -c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2"
            " -c tcp_keepalives_count=3 -c tcp_user_timeout=5000"
        )
        self._as_postgres(
            PG_BIN / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.home / "postgres.log",
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_postgres(
                PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"
            )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{PG_PORT}/portal"


# ---- certificates --------------------------------------------------------------------


def make_certificates(folder: Path) -> dict[str, Path]:
    """A certificate authority for the run, and certificates of nginx (127.0.0.1) and
    of the push service (10.210.0.1) signed by it."""
    now = dt.datetime.now(dt.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("portal rehearsal CA"))
        .issuer_name(name("portal rehearsal CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": folder / "ca.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for label, address, dns in (
        ("nginx", "127.0.0.1", SERVER_NAME),
        ("push", GATEWAY, None),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.IPAddress(ipaddress.ip_address(address))]
        if dns:
            names.append(x509.DNSName(dns))
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(dns or address))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        paths[f"{label}_cert"] = folder / f"{label}.pem"
        paths[f"{label}_key"] = folder / f"{label}.key"
        paths[f"{label}_cert"].write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
        )
        paths[f"{label}_key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return paths


# ---- the app hosts -------------------------------------------------------------------


class AppHost:
    """gunicorn and a worker in one namespace, as portal-web and portal-worker@1."""

    def __init__(self, name: str, home: Path, env: dict):
        self.name, self.address = name, HOSTS[name]
        self.ns = f"portal-r{name}"
        self.folder = home / f"host-{name}"
        self.folder.mkdir(exist_ok=True)
        self.env = {
            **env,
            "PORTAL_BIND": f"{self.address}:8000",
            "PORTAL_WORKER_NAME": f"host-{name}-1",
            "PROMETHEUS_MULTIPROC_DIR": str(self.folder / "metrics"),
        }
        self.processes: list[subprocess.Popen] = []
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        for role, command in (
            (
                "web",
                [
                    BIN / "gunicorn",
                    "-c",
                    ROOT / "deploy/gunicorn.conf.py",
                    "portal.wsgi:app",
                ],
            ),
            ("worker", [BIN / "portal", "worker"]),
        ):
            out = (self.folder / f"{role}-{self.starts}.log").open("w")
            self.processes.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", self.ns, *map(str, command)],
                    cwd=self.folder,
                    env=self.env,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                )
            )

    def kill(self) -> None:
        """The host dies: every process in its namespace gets SIGKILL at once."""
        pids = sh("ip", "netns", "pids", self.ns, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        self.processes = []

    def stop_web(self) -> None:
        for process in self.processes[::2]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def readyz(self, timeout: float = 5) -> int | None:
        try:
            connection = http.client.HTTPConnection(self.address, 8000, timeout=timeout)
            connection.request("GET", "/readyz")
            return connection.getresponse().status
        except (OSError, http.client.HTTPException):
            return None

    def wait_ready(self, limit: float = 90) -> float:
        started = time.monotonic()
        while time.monotonic() - started < limit:
            if self.readyz() == 200:
                return time.monotonic() - started
            time.sleep(0.3)
        raise SystemExit(f"host {self.name} was not ready in {limit} s")

    def direct(
        self,
        method: str,
        path: str,
        jar: dict,
        body: dict | None = None,
        client: str = "198.51.100.7",
    ):
        """A request straight to this host (not through nginx) as the proxy would send
        it for `client`; cookies kept by hand (they are Secure, the hop is plain)."""
        connection = http.client.HTTPConnection(self.address, 8000, timeout=15)
        headers = {
            "X-Forwarded-For": client,
            "X-Forwarded-Proto": "https",
            "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()),
        }
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                jar[key] = rest.split(";", 1)[0]
        return response.status, response.read().decode()


# ---- nginx ---------------------------------------------------------------------------


class Nginx:
    def __init__(self, home: Path, certs: dict):
        self.home = home / "nginx"
        self.home.mkdir()
        (self.home / "tmp").mkdir()
        sh(
            ROOT / "deploy/install.sh",
            "nginx",
            "--root",
            self.home / "root",
            "--server-name",
            SERVER_NAME,
            "--on-call",
            ON_CALL,
            "--app",
            f"{HOSTS['a']}:8000",
            "--app",
            f"{HOSTS['b']}:8000",
            "--tls-cert",
            certs["nginx_cert"],
            "--tls-key",
            certs["nginx_key"],
            "--http-listen",
            f"127.0.0.1:{HTTP_PORT}",
            "--https-listen",
            f"127.0.0.1:{HTTPS_PORT}",
            "--access-log",
            self.home / "access.log",
        )
        self.conf = self.home / "nginx.conf"
        self.conf.write_text(
            f"user root;\nworker_processes 1;\npid {self.home}/nginx.pid;\n"
            f"error_log {self.home}/error.log warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n  include /etc/nginx/mime.types;\n"
            "  default_type application/octet-stream;\n"
            f"  client_body_temp_path {self.home}/tmp/body;\n"
            f"  proxy_temp_path {self.home}/tmp/proxy;\n"
            f"  include {self.home}/root/etc/nginx/sites-enabled/*;\n}}\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        sh("nginx", "-t", "-c", self.conf, "-p", self.home)
        self.process = subprocess.Popen(
            ["nginx", "-c", str(self.conf), "-p", str(self.home), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)

    def log_lines(self) -> list[dict]:
        path = self.home / "access.log"
        return [json.loads(line) for line in path.read_text().splitlines() if line]


# ---- the phones ----------------------------------------------------------------------


@dataclass
class Sending:
    key: str
    body: dict
    acknowledged: bool = False
    heard: list = field(default_factory=list)


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: dict = field(default_factory=dict)

    def add(self, name: str, by: int = 1) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + by


BASE = f"https://127.0.0.1:{HTTPS_PORT}"


class Phone(threading.Thread):
    """One patient's phone: a session through nginx, notifications on, check-ins and
    messages, and the service worker's queue of check-ins the server did not take."""

    def __init__(
        self, number: int, email: str, ca: Path, push_base: str, tally: Tally, seed: int
    ):
        super().__init__(daemon=True, name=f"phone-{number}")
        self.number, self.email, self.tally = number, email, tally
        self.deadline = 0.0
        self.push_base, self.ca = push_base, str(ca)
        self.rng = random.Random(seed * 1000 + number)
        self.session = requests.Session()
        # This machine's REQUESTS_CA_BUNDLE would win over `verify`: trust only ours.
        self.session.trust_env = False
        self.session.verify = self.ca
        self.queue: list[Sending] = []
        self.sendings: list[Sending] = []
        self.messages: list[tuple[str, str]] = []  # (body, outcome)
        self.sequence = 0

    def get(self, path: str, **kwargs):
        return self.session.get(BASE + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs):
        return self.session.post(
            BASE + path, timeout=30, allow_redirects=False, **kwargs
        )

    def sign_in(self) -> None:
        page = self.get("/sign-in")
        token = CSRF_RE.search(page.text).group(1)
        answer = self.post(
            "/sign-in",
            data={"csrf_token": token, "email": self.email, "password": DEMO_PASSWORD},
        )
        if answer.status_code != 302:
            raise RuntimeError(
                f"sign-in of phone {self.number} answered {answer.status_code}"
            )

    def turn_on_notifications(self) -> None:
        page = self.get("/check-in")
        token = CSRF_RE.search(page.text).group(1)
        info = subscription_info(self.push_base, "rehearsal", f"phone{self.number}")
        answer = self.post(
            "/notifications/devices", json=info, headers={"X-CSRFToken": token}
        )
        if answer.status_code != 201:
            raise RuntimeError(
                f"subscription of phone {self.number}: {answer.status_code}"
            )

    def run(self) -> None:
        while time.time() < self.deadline:
            self.flush()
            self.check_in()
            time.sleep(self.rng.uniform(0.8, 2.0))
            if time.time() < self.deadline:
                self.write_message()
                time.sleep(self.rng.uniform(0.8, 2.0))

    # -- check-ins, as the page and the service worker send them

    def check_in(self) -> None:
        try:
            page = self.get("/check-in", allow_redirects=False)
        except requests.RequestException:
            self.tally.add("form_no_answer")
            return
        if page.status_code in (302, 303):
            self.tally.add("signed_out")  # a lost session: must not happen
            with contextlib.suppress(Exception):
                self.sign_in()
            return
        if page.status_code != 200:
            self.tally.add(f"form_{page.status_code}")
            return
        found = [r.search(page.text) for r in (CSRF_RE, KEY_RE, SENDER_RE)]
        if not all(found):
            self.tally.add("form_unexpected")
            return
        csrf, key, sender = (m.group(1) for m in found)
        risk = self.rng.random() < 0.03
        body = {
            "csrf_token": csrf,
            "idempotency_key": key,
            "sender": sender,
            "mood": self.rng.randint(0, 10),
            "craving": self.rng.randint(0, 10),
            "sleep_hours": self.rng.choice(["5", "6.5", "7", "8"]),
            "medication": self.rng.choice(["yes", "yes", "no", "none"]),
            "feels_safe": "no" if risk else "yes",
            "note": "",
        }
        sending = Sending(key, body)
        self.sendings.append(sending)
        self.tally.add("checkins_posted")
        self._send(sending, "/check-in", with_cookie=True)

    def _send(self, sending: Sending, path: str, with_cookie: bool) -> None:
        try:
            if with_cookie:
                answer = self.post(path, data=sending.body)
            else:
                answer = requests.post(
                    BASE + path,
                    data=sending.body,
                    timeout=30,
                    verify=self.ca,
                    allow_redirects=False,
                )
            status = answer.status_code
        except requests.RequestException:
            status = None
        sending.heard.append(status)
        self.tally.add(f"checkin_{status}")
        if (
            status is not None
            and 200 <= status < 300
            and (path != "/check-in" or SAVED in answer.text)
        ):
            sending.acknowledged = True
            if sending in self.queue:
                self.queue.remove(sending)
        elif status is None or status >= 500 or status == 429:
            if sending not in self.queue:
                self.queue.append(sending)
                self.tally.add("kept_on_phone")
        else:
            self.tally.add("checkin_refused")
            if sending in self.queue:
                self.queue.remove(sending)

    def flush(self) -> bool:
        """As the service worker: kept sendings, in order, to /queued/check-in."""
        while self.queue:
            sending = self.queue[0]
            self.tally.add("resends")
            self._send(sending, "/queued/check-in", with_cookie=False)
            if sending in self.queue:
                return False
        return True

    # -- messages

    def write_message(self) -> None:
        self.sequence += 1
        text_ = f"Rehearsal note {self.number}-{self.sequence}"
        try:
            page = self.get("/messages")
            if page.status_code != 200:
                self.messages.append((text_, f"page_{page.status_code}"))
                return
            token = CSRF_RE.search(page.text).group(1)
            target = page.url.removeprefix(BASE)
            answer = self.post(target, data={"csrf_token": token, "body": text_})
            outcome = (
                "sent" if answer.status_code == 303 else f"status_{answer.status_code}"
            )
        except requests.RequestException:
            outcome = "no_answer"
        self.messages.append((text_, outcome))
        self.tally.add(f"message_{outcome}")


class Staff(threading.Thread):
    """A staff member signed in with password and second factor, with notifications
    on; the peer specialist also answers a conversation every second or so (each
    answer pushes to that patient's phone)."""

    def __init__(self, email: str, ca: Path, push_base: str, tally: Tally):
        super().__init__(daemon=True, name=email.split("@")[0])
        self.email, self.tally, self.push_base = email, tally, push_base
        self.deadline = 0.0
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(ca)
        self.rng = random.Random(7)
        self.replies = 0

    def sign_in(self) -> None:
        page = self.session.get(BASE + "/sign-in", timeout=30)
        token = CSRF_RE.search(page.text).group(1)
        form = {"csrf_token": token, "email": self.email, "password": DEMO_PASSWORD}
        self.session.post(BASE + "/sign-in", data=form, timeout=30)
        page = self.session.get(BASE + "/sign-in/code", timeout=30)
        token = CSRF_RE.search(page.text).group(1)
        code = pyotp.TOTP(DEMO_TOTP_SECRET).now()
        answer = self.session.post(
            BASE + "/sign-in/code",
            data={"csrf_token": token, "code": code},
            timeout=30,
            allow_redirects=False,
        )
        if answer.status_code != 302:
            raise RuntimeError(f"{self.email}: second factor {answer.status_code}")
        page = self.session.get(BASE + "/notifications/settings", timeout=30)
        token = CSRF_RE.search(page.text).group(1)
        info = subscription_info(self.push_base, "rehearsal", self.name)
        answer = self.session.post(
            BASE + "/notifications/devices",
            json=info,
            headers={"X-CSRFToken": token},
            timeout=30,
        )
        if answer.status_code != 201:
            raise RuntimeError(f"{self.email}: subscription {answer.status_code}")

    def run(self) -> None:
        while time.time() < self.deadline:
            time.sleep(self.rng.uniform(0.7, 1.5))
            with contextlib.suppress(requests.RequestException, AttributeError):
                inbox = self.session.get(BASE + "/messages", timeout=30)
                threads = THREAD_RE.findall(inbox.text)
                if not threads:
                    continue
                target = f"/messages/{self.rng.choice(threads)}"
                page = self.session.get(BASE + target, timeout=30)
                token = CSRF_RE.search(page.text).group(1)
                answer = self.session.post(
                    BASE + target,
                    data={
                        "csrf_token": token,
                        "body": "Thanks for writing. I read it.",
                    },
                    timeout=30,
                    allow_redirects=False,
                )
                self.tally.add(f"peer_reply_{answer.status_code}")
                self.replies += answer.status_code == 303


# ---- the rehearsal -------------------------------------------------------------------


def environment(db_url: str, push_host: str, vapid: Vapid, certs: dict) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PORTAL_", "PROMETHEUS_"))
    }
    env.update(
        PORTAL_ENV="production",
        PORTAL_SECRET_KEY=secrets.token_urlsafe(48),
        PORTAL_DATABASE_URL=db_url,
        PORTAL_ON_CALL_PHONE=ON_CALL,
        PORTAL_PROXY_HOPS="1",
        PORTAL_PROXY_ADDRESSES=GATEWAY,
        PORTAL_WEB_WORKERS="3",
        PORTAL_VAPID_PRIVATE_KEY=private_key_text(vapid),
        PORTAL_VAPID_PUBLIC_KEY=public_key_of(vapid),
        PORTAL_VAPID_SUBJECT="mailto:it@rehearsal.test",
        PORTAL_PUSH_HOSTS=push_host,
        # A killed worker's leased deliveries come back after this (default 120 s).
        PORTAL_PUSH_LEASE_SECONDS="15",
        PORTAL_PUSH_BACKOFF_SECONDS="3",
        PORTAL_AUDIT_KEY=secrets.token_urlsafe(48),
        PORTAL_METRICS_TOKEN=secrets.token_urlsafe(32),
        PORTAL_LOG_LEVEL="info",
        # The workers trust the run's certificate authority (the push service's TLS).
        SSL_CERT_FILE=str(certs["ca"]),
    )
    return env


def seed(cluster: Cluster, env: dict) -> None:
    admin = create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/postgres",
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        connection.execute(text("CREATE DATABASE portal"))
        # docs/deployment.md: a transaction left open by a host that lost the
        # network must not hold its row locks for long.
        connection.execute(
            text(
                "ALTER DATABASE portal SET idle_in_transaction_session_timeout = '10s'"
            )
        )
    admin.dispose()
    local = {**env, "PORTAL_DATABASE_URL": cluster.url}
    for command in (["migrate"], ["seed", "--patients", "42", "--programs", "1"]):
        sh(BIN / "portal", *command, env=local, cwd=cluster.home.parent)
    engine = create_engine(
        cluster.url.replace("postgresql://", "postgresql+psycopg://")
    )
    with engine.begin() as connection:
        staff = dict(
            connection.execute(
                text(
                    "SELECT email, id FROM users"
                    " WHERE email LIKE 'scale-0-%@scale.test' AND role <> 'patient'"
                )
            ).all()
        )
        connection.execute(
            text(
                "INSERT INTO risk_settings (program_id, on_call_id, backup_id,"
                " after_hours_id, t1_minutes, t2_minutes, after_hours_repeat_minutes,"
                " screener_schedule) SELECT id, :nurse, :therapist, :nurse, 15, 30, 30,"
                " :schedule FROM programs"
            ),
            {
                "nurse": staff["scale-0-nurse@scale.test"],
                "therapist": staff["scale-0-therapist@scale.test"],
                "schedule": json.dumps(
                    {"admission": False, "every_days": 0, "discharge": False}
                ),
            },
        )
    engine.dispose()


def start_push_service(
    certs: dict, vapid: Vapid
) -> tuple[multiprocessing.Process, str]:
    ports: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(
        target=run_in_process,
        args=(ports,),
        kwargs={
            "host": GATEWAY,
            "port": PUSH_PORT,
            "tls": (str(certs["push_cert"]), str(certs["push_key"])),
            "vapid_public_key": public_key_of(vapid),
            "seed": "rehearsal",
        },
        daemon=True,
    )
    process.start()
    ports.get(timeout=30)
    return process, f"https://{GATEWAY}:{PUSH_PORT}"


def throttle_check(hosts: dict[str, AppHost], email: str, wrong: dict[str, int]) -> int:
    """Wrong passwords split across the hosts straight (as nginx would send them for
    one client), then the right one on host A: the status it gets."""
    for name, times in wrong.items():
        for _ in range(times):
            jar: dict = {}
            _s, page = hosts[name].direct("GET", "/sign-in", jar)
            token = CSRF_RE.search(page).group(1)
            status, _ = hosts[name].direct(
                "POST",
                "/sign-in",
                jar,
                {"csrf_token": token, "email": email, "password": "not-the-password"},
            )
            if status not in (200, 422, 401):
                raise SystemExit(f"a wrong password on host {name} answered {status}")
    jar = {}
    _s, page = hosts["a"].direct("GET", "/sign-in", jar)
    token = CSRF_RE.search(page).group(1)
    status, _ = hosts["a"].direct(
        "POST",
        "/sign-in",
        jar,
        {"csrf_token": token, "email": email, "password": DEMO_PASSWORD},
    )
    return status


class ReadinessWatch(threading.Thread):
    def __init__(self, host: AppHost):
        super().__init__(daemon=True, name=f"readyz-{host.name}")
        self.host, self.seen, self.done = host, [], threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.seen.append((time.time(), self.host.readyz(timeout=30)))
            self.done.wait(0.5)

    def first(self, after: float, wanted) -> float | None:
        return next((t for t, s in self.seen if t >= after and wanted(s)), None)


def rehearse(args) -> dict:
    home = Path(tempfile.mkdtemp(prefix="portal-rehearsal-"))
    home.chmod(0o755)  # PostgreSQL's own user works in a folder inside
    network, cluster, nginx, push, hosts = Network(), None, None, None, {}
    figures: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "checks": {}}
    t0 = time.monotonic()
    try:
        log(
            f"network: bridge {BRIDGE}, namespaces portal-ra ({HOSTS['a']}), "
            f"portal-rb ({HOSTS['b']})"
        )
        network.up()
        certs = make_certificates(home)
        cluster = Cluster(home)
        cluster.start()
        log(f"PostgreSQL 15 on {DB_ADDRESS}:{PG_PORT}")
        vapid = Vapid()
        vapid.generate_keys()
        push, push_base = start_push_service(certs, vapid)
        env = environment(
            f"postgresql://postgres@{DB_ADDRESS}:{PG_PORT}/portal",
            GATEWAY,
            vapid,
            certs,
        )
        seed(cluster, env)
        log("seeded: one program, 42 patients and its staff")
        hosts = {name: AppHost(name, home, env) for name in HOSTS}
        for host in hosts.values():
            host.start()
        for host in hosts.values():
            log(f"host {host.name} ready in {host.wait_ready():.1f} s")
        nginx = Nginx(home, certs)
        nginx.start()
        log(f"nginx on https://127.0.0.1:{HTTPS_PORT}")
        figures["set_up_seconds"] = round(time.monotonic() - t0, 1)

        tally = Tally()
        phones = [
            Phone(
                n, f"scale-0-{n}@scale.test", certs["ca"], push_base, tally, args.seed
            )
            for n in range(args.patients)
        ]
        for phone in phones:
            phone.sign_in()
            phone.turn_on_notifications()
        peer = Staff("scale-0-peer@scale.test", certs["ca"], push_base, tally)
        nurse = Staff("scale-0-nurse@scale.test", certs["ca"], push_base, tally)
        peer.sign_in()
        nurse.sign_in()  # on call: risk flags push to her phone
        figures["sign_in_seconds"] = (
            round(time.monotonic() - t0, 1) - figures["set_up_seconds"]
        )
        log(
            f"{len(phones)} patients signed in through nginx, notifications on; "
            "the peer specialist and the on-call nurse too"
        )
        start = time.time()  # the timeline starts once everyone is in
        for thread in (*phones, peer):
            thread.deadline = start + args.duration
            thread.start()

        watch_b = ReadinessWatch(hosts["b"])
        watch_b.start()
        timeline = {}

        def at(offset: float) -> None:
            time.sleep(max(0.0, start + offset - time.time()))

        at(args.kill_at)
        timeline["kill_a"] = time.time()
        hosts["a"].kill()
        log("host A killed (SIGKILL to every process in its namespace)")
        at(args.restart_at)
        hosts["a"].start()
        timeline["restart_a"] = time.time()
        back = hosts["a"].wait_ready()
        timeline["a_ready"] = time.time()
        log(f"host A started again, ready in {back:.1f} s")

        locked = throttle_check(hosts, "scale-0-40@scale.test", {"a": 3, "b": 2})
        allowed = throttle_check(hosts, "scale-0-41@scale.test", {"a": 2, "b": 2})
        figures["throttle"] = {
            "five_failures_split_3_a_2_b_then_right": locked,
            "four_failures_split_2_2_then_right": allowed,
        }
        log(
            f"throttle: after 3+2 failures the right password got {locked}; "
            f"after 2+2, {allowed}"
        )

        at(args.cut_at)
        timeline["cut_b"] = time.time()
        Network.cut_database("b")
        log("host B's route to PostgreSQL cut")
        at(args.restore_at)
        Network.restore_database("b")
        timeline["restore_b"] = time.time()
        log("host B's route to PostgreSQL back")
        for thread in (*phones, peer):
            thread.join(args.duration + 60)
        watch_b.done.set()
        log("load over; draining the phones' queues and the outbox")

        drain_end = time.time() + 90
        while time.time() < drain_end and not all(p.flush() for p in phones):
            time.sleep(1)
        figures["kept_at_end"] = sum(len(p.queue) for p in phones)
        outbox = wait_for_outbox(cluster.url, time.time() + 120)
        figures["outbox_wait_seconds"] = outbox

        figures.update(
            check_everything(
                args,
                cluster,
                phones,
                peer,
                tally,
                push_base,
                certs,
                nginx,
                watch_b,
                timeline,
                hosts,
                env,
            )
        )
        figures["metrics"] = scrape_metrics(hosts["a"], env)

        for host in hosts.values():
            host.stop_web()
        time.sleep(1)
        down = requests.get(BASE + "/", verify=str(certs["ca"]), timeout=30)
        figures["checks"]["crisis_page_when_no_host_answers"] = (
            down.status_code == 503
            and "tel:988" in down.text
            and ON_CALL in down.text
            and down.headers.get("Retry-After") == "30"
        )
        figures["tally"] = dict(sorted(tally.counts.items()))
        figures["timeline"] = {k: round(v - start, 1) for k, v in timeline.items()}
    finally:
        for host in hosts.values():
            with contextlib.suppress(Exception):
                host.kill()
        if nginx is not None:
            nginx.stop()
        if push is not None:
            push.terminate()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.stop()
        network.down()
        if args.keep:
            log(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    figures["total_seconds"] = round(time.monotonic() - t0, 1)
    return figures


def wait_for_outbox(url: str, until: float) -> float:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    began = time.time()
    try:
        while time.time() < until:
            with engine.connect() as connection:
                pending = connection.execute(
                    text(
                        "SELECT count(*) FROM push_deliveries WHERE status = 'pending'"
                    )
                ).scalar()
            if pending == 0:
                break
            time.sleep(1)
    finally:
        engine.dispose()
    return round(time.time() - began, 1)


def check_everything(
    args,
    cluster,
    phones,
    peer,
    tally,
    push_base,
    certs,
    nginx,
    watch_b,
    timeline,
    hosts,
    env,
) -> dict:
    engine = create_engine(
        cluster.url.replace("postgresql://", "postgresql+psycopg://")
    )
    with engine.connect() as connection:
        stored_keys = set(
            connection.execute(
                text("SELECT idempotency_key FROM checkin_submissions")
            ).scalars()
        )
        per_day = connection.execute(
            text(
                "SELECT max(n) FROM (SELECT count(*) AS n FROM checkins"
                " GROUP BY patient_id, local_date) AS days"
            )
        ).scalar()
        bodies = list(
            connection.execute(
                text("SELECT body FROM messages WHERE body LIKE 'Rehearsal note %'")
            ).scalars()
        )
        deliveries = connection.execute(
            text(
                "SELECT d.notification_id, s.endpoint, d.status FROM push_deliveries d"
                " JOIN push_subscriptions s ON s.id = d.subscription_id"
            )
        ).all()
        flags = connection.execute(text("SELECT count(*) FROM risk_flags")).scalar()
    engine.dispose()

    sendings = [s for p in phones for s in p.sendings]
    acknowledged = [s for s in sendings if s.acknowledged]
    lost = [s.key for s in acknowledged if s.key not in stored_keys]
    sent_keys = {s.key for s in sendings}
    phantom = stored_keys - sent_keys

    messages = [m for p in phones for m in p.messages]
    counts = {}
    for body in bodies:
        counts[body] = counts.get(body, 0) + 1
    acked_messages = [b for b, outcome in messages if outcome == "sent"]
    unanswered = [b for b, outcome in messages if outcome != "sent"]

    stats = requests.get(
        push_base + "/_stats", verify=str(certs["ca"]), timeout=30
    ).json()
    expected = {
        (endpoint.rsplit("/", 1)[1], topic_of(note))
        for note, endpoint, _status in deliveries
    }
    arrived = {tuple(pair) for pair in stats["topic_pairs"]}
    by_status: dict = {}
    for *_rest, status in deliveries:
        by_status[status] = by_status.get(status, 0) + 1
    sources = {HOSTS_BY_ADDRESS.get(k, k): v for k, v in stats["sources"].items()}

    lines = nginx.log_lines()
    detected = watch_b.first(timeline["cut_b"], lambda s: s == 503)
    back = watch_b.first(timeline["restore_b"], lambda s: s == 200)
    # While B's pooled connections still wait on TCP, it holds requests (the kernel
    # gives up after tcp_user_timeout); after `settle` seconds it answers 503 at once.
    # The steady part is judged: requests nginx began then (by their start).
    steady = timeline["cut_b"] + args.settle

    def began(line) -> float:
        return _epoch(line["time"]) - line["seconds"]

    b_address = f"{HOSTS['b']}:8000"
    settling = [
        line
        for line in lines
        if timeline["cut_b"] <= began(line) < steady and b_address in line["upstream"]
    ]
    window = [line for line in lines if steady <= began(line) <= timeline["restore_b"]]
    to_b = [line for line in window if b_address in line["upstream"]]
    answered_by_b = [
        line for line in window if line["upstream"].split(", ")[-1] == b_address
    ]
    # Passive checks: after max_fails (2) failures nginx leaves B alone for
    # fail_timeout (10 s), then lets one request try it again.
    allowance = 2 * (int((timeline["restore_b"] - steady) / 10) + 1)
    errors_in_window = [line for line in window if line["status"] >= 500]
    a_down = [
        line
        for line in lines
        if timeline["kill_a"] <= _epoch(line["time"]) <= timeline["a_ready"]
    ]

    figures = {
        "requests_through_nginx": len(lines),
        "requests_by_status": _count(line["status"] for line in lines),
        "checkins": {
            "posted": len(sendings),
            "acknowledged": len(acknowledged),
            "stored": len(stored_keys),
            "lost": len(lost),
            "stored_twice": int((per_day or 0) > 1),
            "not_acknowledged_at_end": len([s for s in sendings if not s.acknowledged]),
            "phantom": len(phantom),
        },
        "messages": {
            "posted": len(messages),
            "acknowledged": len(acked_messages),
            "acknowledged_stored_once": sum(
                1 for b in acked_messages if counts.get(b) == 1
            ),
            "unanswered": len(unanswered),
            "unanswered_but_stored": sum(1 for b in unanswered if counts.get(b)),
            "peer_replies": peer.replies,
        },
        "push": {
            "deliveries_made": len(deliveries),
            "deliveries_by_status": by_status,
            "accepted_by_service": stats["accepted"],
            "distinct_subscription_topic_pairs": len(arrived),
            "second_copies": stats["accepted"] - len(arrived),
            "without_matching_topic": stats["untagged"],
            "sent_by": sources,
            "risk_flags_opened": flags,
        },
        "host_a_down": {
            "seconds": round(timeline["a_ready"] - timeline["kill_a"], 1),
            "requests": len(a_down),
            "answered_5xx": sum(1 for line in a_down if line["status"] >= 500),
            "retried_on_b": sum(1 for line in a_down if "," in line["upstream"]),
        },
        "database_cut_on_b": {
            "readyz_503_after_seconds": round(detected - timeline["cut_b"], 1)
            if detected
            else None,
            "readyz_200_after_restore_seconds": round(back - timeline["restore_b"], 1)
            if back
            else None,
            "settling_seconds": args.settle,
            "settling_requests_to_b": len(settling),
            "settling_longest_seconds": max(
                (line["seconds"] for line in settling), default=0
            ),
            "settling_answered_5xx": sum(
                1 for line in settling if line["status"] >= 500
            ),
            "requests_while_cut": len(window),
            "tried_on_b": len(to_b),
            "answered_by_b": len(answered_by_b),
            "answered_5xx": len(errors_in_window),
            "passive_check_allowance": allowance,
        },
    }
    checks = {
        "no_acknowledged_checkin_lost": not lost,
        "no_checkin_stored_twice": (per_day or 0) <= 1 and not phantom,
        "every_checkin_acknowledged_in_the_end": figures["checkins"][
            "not_acknowledged_at_end"
        ]
        == 0,
        "sessions_kept": tally.counts.get("signed_out", 0) == 0,
        "acknowledged_messages_stored_once": figures["messages"][
            "acknowledged_stored_once"
        ]
        == len(acked_messages),
        "every_push_delivered": by_status.get("sent", 0) == len(deliveries)
        and expected == arrived,
        "second_copies_only_with_the_same_topic": stats["untagged"] == 0,
        "both_workers_delivered": len([k for k in sources if k in ("a", "b")]) == 2,
        "readyz_503_when_database_cut": detected is not None,
        "nginx_keeps_b_out_while_cut": bool(window)
        and not any(line["status"] < 500 for line in answered_by_b)
        and len(to_b) <= allowance,
    }
    return {**figures, "checks": checks}


HOSTS_BY_ADDRESS = {address: name for name, address in HOSTS.items()}


def _epoch(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp).timestamp()


def _count(values) -> dict:
    found: dict = {}
    for value in values:
        found[str(value)] = found.get(str(value), 0) + 1
    return dict(sorted(found.items()))


def scrape_metrics(host: AppHost, env: dict) -> dict:
    connection = http.client.HTTPConnection(host.address, 8000, timeout=15)
    connection.request(
        "GET",
        "/metrics",
        headers={"Authorization": f"Bearer {env['PORTAL_METRICS_TOKEN']}"},
    )
    body = connection.getresponse().read().decode()
    wanted = (
        "portal_worker_heartbeat_age_seconds",
        "portal_outbox_pending",
        "portal_push_deliveries_dead",
        "portal_risk_flags_open",
        "portal_sign_in_locks",
    )
    return {
        line.split(" ")[0]: float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith(wanted)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--duration", type=float, default=130, help="seconds of load")
    parser.add_argument("--kill-at", type=float, default=20)
    parser.add_argument("--restart-at", type=float, default=45)
    parser.add_argument("--cut-at", type=float, default=65)
    parser.add_argument("--restore-at", type=float, default=110)
    parser.add_argument(
        "--settle",
        type=float,
        default=20,
        help="seconds B may hold requests after the cut",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print(
            "rehearse: run as root (network namespaces, nginx, PostgreSQL's user)",
            file=sys.stderr,
        )
        return 2
    figures = rehearse(args)
    throttle = figures.get("throttle", {})
    figures["checks"]["throttle_shared_by_both_hosts"] = (
        throttle.get("five_failures_split_3_a_2_b_then_right") == 429
        and throttle.get("four_failures_split_2_2_then_right") == 302
    )
    RESULTS.write_text(json.dumps(figures, indent=2, sort_keys=True))
    print(json.dumps(figures, indent=2, sort_keys=True))
    failed = [name for name, ok in figures["checks"].items() if not ok]
    print("\nrehearsal " + ("PASSED" if not failed else f"FAILED: {', '.join(failed)}"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
