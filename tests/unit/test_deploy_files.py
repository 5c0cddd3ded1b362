"""The files of deploy/ are what the code needs: the environment file lists every
setting the code reads, systemd accepts every unit, nginx accepts the site as
install.sh fills it in, and every alert rule names a metric /metrics serves."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NOT_IN_THE_ENV_FILE = {
    "PORTAL_DEMO",  # the demo refuses production
    "PORTAL_ARGON2_PROFILE",  # tests only
    "PORTAL_PUSH_ALLOW_HTTP",  # tests only; refused in production
    "PORTAL_TEST_DATABASE_URL",
}


def _settings_the_code_reads() -> set[str]:
    names = set()
    for path in (ROOT / "portal").rglob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r'"(PORTAL_[A-Z0-9_]+)"', text))
        names |= {
            f"PORTAL_{n}" for n in re.findall(r'ENV_PREFIX \+ "([A-Z0-9_]+)"', text)
        }
        names |= {f"PORTAL_{n}" for n in re.findall(r'_int\("([A-Z0-9_]+)"', text)}
        names |= {
            f"PORTAL_{n}"
            for n in re.findall(
                r'(?:_setting|reminder_setting)\(\s*app,\s*"([A-Z0-9_]+)"', text
            )
        }
    names |= set(
        re.findall(r'"(PORTAL_[A-Z0-9_]+)"', (DEPLOY / "gunicorn.conf.py").read_text())
    )
    return names - NOT_IN_THE_ENV_FILE


def test_the_environment_file_lists_every_setting_the_code_reads():
    listed = set(
        re.findall(
            r"^#?(PORTAL_[A-Z0-9_]+)=", (DEPLOY / "portal.env").read_text(), re.M
        )
    )
    read = _settings_the_code_reads()
    assert len(read) > 30  # the search found the settings, not nothing
    assert read - listed == set()


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="no systemd-analyze"
)
def test_systemd_accepts_every_unit(tmp_path):
    # The units name /opt/portal/venv/bin; systemd checks that those exist, so here
    # they point at stand-ins (the units are otherwise as shipped).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("gunicorn", "portal"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    units = []
    for unit in sorted((DEPLOY / "systemd").iterdir()):
        text = unit.read_text().replace("/opt/portal/venv/bin", str(bin_dir))
        (tmp_path / unit.name).write_text(text)
        units.append(unit.name)
    assert len(units) == 7
    result = subprocess.run(
        ["systemd-analyze", "verify", *units],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr


def _install_nginx_site(tmp_path: Path) -> Path:
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=portal.test",
            "-keyout",
            tmp_path / "key.pem",
            "-out",
            tmp_path / "cert.pem",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    subprocess.run(
        [
            DEPLOY / "install.sh",
            "nginx",
            "--root",
            tmp_path / "root",
            "--server-name",
            "portal.test",
            "--on-call",
            "+1 555 010 0100",
            "--app",
            "10.0.0.11:8000",
            "--app",
            "10.0.0.12:8000",
            "--tls-cert",
            tmp_path / "cert.pem",
            "--tls-key",
            tmp_path / "key.pem",
            "--access-log",
            tmp_path / "access.log",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  include /etc/nginx/mime.types;\n"
        f"  include {tmp_path}/root/etc/nginx/sites-enabled/*;\n}}\n"
    )
    return conf


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_accepts_the_site_as_install_sh_fills_it_in(tmp_path):
    conf = _install_nginx_site(tmp_path)
    result = subprocess.run(
        ["nginx", "-t", "-c", str(conf), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr
    site = (tmp_path / "root/etc/nginx/sites-available/portal").read_text()
    assert "server 10.0.0.12:8000 max_fails=2 fail_timeout=10s;" in site
    crisis = tmp_path / "root/var/www/portal-crisis"
    assert (crisis / "on-call.txt").read_text() == "+1 555 010 0100"
    assert "tel:988" in (crisis / "_portal_down.html").read_text()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--on-call", "<script>", "--on-call must be a phone number"),
        ("--server-name", 'x" ; evil', "--server-name must be a host name"),
        ("--app", "10.0.0.1:80; evil", "--app must be HOST:PORT"),
    ],
)
def test_install_sh_refuses_values_nginx_would_read_as_configuration(
    tmp_path, option, value, message
):
    good = {"--server-name": "x", "--on-call": "+1 555 010 0100", "--app": "a:1"}
    args = [a for k, v in {**good, option: value}.items() for a in (k, v)]
    result = subprocess.run(
        [
            DEPLOY / "install.sh",
            "nginx",
            "--root",
            tmp_path,
            *args,
            "--tls-cert",
            "c",
            "--tls-key",
            "k",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "var").exists() and not (tmp_path / "etc").exists()


def test_every_alert_names_a_metric_the_portal_serves(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "t" * 32)
    served = client.get("/metrics", headers={"Authorization": "Bearer " + "t" * 32})
    names = set(re.findall(r"^# TYPE (\S+) (\S+)", served.get_data(as_text=True), re.M))
    families = {name for name, _ in names}
    series = families | {f"{n}_total" for n, kind in names if kind == "counter"}
    series |= {
        f"{n}_{s}"
        for n, kind in names
        if kind == "histogram"
        for s in ("bucket", "count", "sum")
    }
    rules = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert len(exprs) >= 8
    for expr in exprs:
        used = set(re.findall(r"\b(portal_[a-z0-9_]+)", expr))
        assert used <= series, (expr, used - series)
    assert os.access(DEPLOY / "install.sh", os.X_OK)
