"""The demo and the benchmarks' seed, run as their users run them (the CLI, in a
database of their own), on whichever database the suite runs on: on PostgreSQL the
history's rows go in by COPY, which fills no Python default, so a column added
without a server default must be named by the seeder."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from portal import db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_url(tmp_path):
    given = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
    if not given.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'seeded.db'}"
        return
    base = db.make_engine(given).url
    name = f"portal_seeded_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _portal(url: str, *args: str) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "portal"), *args],
        cwd=ROOT,
        env={**os.environ, "PORTAL_DATABASE_URL": url, "PORTAL_ENV": "development"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_demo_and_a_seeded_history_load(fresh_url):
    assert "Demo data created." in _portal(fresh_url, "demo", "--no-serve")
    out = _portal(
        fresh_url,
        "seed",
        "--history",
        "--patients",
        "60",
        "--programs",
        "2",
        "--weeks",
        "8",
    )
    assert "seeded 60 patients across 2 programs with 8 weeks of history" in out
    engine = create_engine(db.make_engine(fresh_url).url)
    with engine.connect() as conn:
        by_language = "SELECT language, count(*) FROM screener_responses GROUP BY 1"
        languages = dict(conn.execute(text(by_language)).all())
        attended = conn.scalar(text("SELECT count(*) FROM attendance"))
    engine.dispose()
    assert set(languages) == {"en"} and languages["en"] > 100
    assert attended > 1000
