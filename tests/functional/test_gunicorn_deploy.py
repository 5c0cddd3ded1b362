"""gunicorn run with deploy/gunicorn.conf.py, as portal-web.service runs it: every
line on stderr is JSON, each request is one line of the portal's (gunicorn writes no
access line of its own), and /metrics adds up the requests of all its workers
whichever worker answers the scrape."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from portal.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
TOKEN = secrets.token_urlsafe(32)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _healthz_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "portal_request_duration_seconds_count"
                and sample.labels.get("endpoint") == "shell.healthz"
            ):
                return sample.value
    return 0


def test_gunicorn_logs_json_lines_and_adds_up_its_workers_metrics(tmp_path):
    url = f"sqlite:///{tmp_path}/portal.db"
    upgrade(url)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        PORTAL_ENV="production",
        PORTAL_SECRET_KEY=secrets.token_urlsafe(32),
        PORTAL_DATABASE_URL=url,
        PORTAL_METRICS_TOKEN=TOKEN,
        PORTAL_BIND=f"127.0.0.1:{port}",
        PORTAL_WEB_WORKERS="2",
        PORTAL_PROXY_HOPS="1",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    log = (tmp_path / "stderr.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-c",
            str(ROOT / "deploy/gunicorn.conf.py"),
            "portal.wsgi:app",
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=log,
    )
    answered = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _get(port, "/healthz")[0] == 200:
                    answered += 1
                    break
            except OSError:
                time.sleep(0.2)
        assert answered == 1, "gunicorn did not start"
        for _ in range(12):
            assert _get(port, "/healthz", {"X-Forwarded-For": "203.0.113.7"})[0] == 200
            answered += 1
        assert _get(port, "/readyz")[0] == 200
        scrapes = [
            _get(port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})
            for _ in range(4)
        ]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
    for status, text in scrapes:
        assert status == 200
        assert _healthz_count(text) == answered  # every worker's, from any worker
    lines = (tmp_path / "stderr.log").read_text().splitlines()
    parsed = [json.loads(line) for line in lines if line.strip()]  # all JSON
    health = [p for p in parsed if p.get("endpoint") == "shell.healthz"]
    assert len(health) == answered
    assert all(p["status"] == 200 and p["request_id"] for p in health)
    assert not any("GET /healthz" in line for line in lines)  # no access line
    assert not any("203.0.113.7" in line for line in lines)
    assert any(p.get("logger") == "gunicorn.error" for p in parsed)
