"""A configuration the portal cannot run with stops it with one plain line that names
the setting, and never a traceback or the value (a secret, a password in a URL):
through the `portal` command (exit 2) and through gunicorn (exit 3, its "worker failed
to boot", which halts the master instead of restarting workers forever)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from py_vapid import Vapid

from portal.blueprints.notifications.push import private_key_text, public_key_of

BIN = Path(sys.executable).parent
GOOD = {
    "PORTAL_ENV": "production",
    "PORTAL_SECRET_KEY": secrets.token_urlsafe(32),
    "PORTAL_DATABASE_URL": "sqlite:////nonexistent-folder-of-the-portal/p.db",
}


def _key() -> Vapid:
    vapid = Vapid()
    vapid.generate_keys()
    return vapid


def _run(command: list[str], env: dict, tmp_path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    return subprocess.run(
        command,
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _refused(result, *named: str, hidden: tuple[str, ...] = ()) -> str:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    line = next(x for x in output.splitlines() if "refusing to start" in x)
    for setting in named:
        assert setting in line, line
    for value in hidden:
        assert value not in output
    return line


def test_production_without_a_secret_key_refuses_by_name(tmp_path):
    env = {**GOOD, "PORTAL_SECRET_KEY": ""}
    result = _run([str(BIN / "portal"), "worker", "--once"], env, tmp_path)
    assert result.returncode == 2
    _refused(result, "PORTAL_SECRET_KEY")


def test_a_vapid_key_that_does_not_match_its_public_key_refuses(tmp_path):
    private, other = _key(), _key()
    env = {
        **GOOD,
        "PORTAL_VAPID_PRIVATE_KEY": private_key_text(private),
        "PORTAL_VAPID_PUBLIC_KEY": public_key_of(other),
    }
    result = _run([str(BIN / "portal"), "worker", "--once"], env, tmp_path)
    assert result.returncode == 2
    _refused(
        result,
        "PORTAL_VAPID_PUBLIC_KEY",
        "PORTAL_VAPID_PRIVATE_KEY",
        hidden=(private_key_text(private),),
    )


def test_a_vapid_private_key_that_is_not_one_refuses_without_quoting_it(tmp_path):
    junk = "not-a-key-" + secrets.token_hex(8)
    env = {**GOOD, "PORTAL_VAPID_PRIVATE_KEY": junk}
    result = _run([str(BIN / "portal"), "worker", "--once"], env, tmp_path)
    assert result.returncode == 2
    _refused(result, "PORTAL_VAPID_PRIVATE_KEY", hidden=(junk,))


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://portal:S3cret-pass@db.internal:notaport/portal",
        "mysql://portal:S3cret-pass@db.internal/portal",
        "S3cret-pass",
    ],
)
def test_a_database_url_that_is_not_one_refuses_without_its_password(tmp_path, url):
    env = {**GOOD, "PORTAL_DATABASE_URL": url}
    result = _run([str(BIN / "portal"), "worker", "--once"], env, tmp_path)
    assert result.returncode == 2
    _refused(result, "PORTAL_DATABASE_URL", hidden=("S3cret-pass",))


def test_a_number_setting_that_is_not_a_number_refuses_by_name(tmp_path):
    env = {**GOOD, "PORTAL_PUSH_MAX_ATTEMPTS": "six"}
    result = _run([str(BIN / "portal"), "worker", "--once"], env, tmp_path)
    assert result.returncode == 2
    _refused(result, "PORTAL_PUSH_MAX_ATTEMPTS")


def test_gunicorn_stops_with_the_plain_line_when_the_secret_is_missing(tmp_path):
    env = {**GOOD, "PORTAL_SECRET_KEY": "short"}
    command = [
        str(BIN / "gunicorn"),
        "--preload",
        "--no-control-socket",
        "-w",
        "1",
        "-b",
        "127.0.0.1:0",
        "portal.wsgi:app",
    ]
    result = _run(command, env, tmp_path)
    assert result.returncode == 3
    _refused(result, "PORTAL_SECRET_KEY", hidden=("short",))
