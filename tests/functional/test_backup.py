"""`portal backup` and `portal restore-drill` against the local PostgreSQL, for real:
pg_dump from an exported snapshot, pg_restore into a fresh database, `portal audit
verify` run as its own command on it, every table's row count compared. A drill over
a sound backup passes; one whose audit log was altered before the backup, or whose
counts do not match what was dumped, fails and says where. (Two drills, about 25 s.)"""

from __future__ import annotations

import json
import secrets

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from portal import cli, db
from portal.audit import audit, seal_chain
from portal.migrate import upgrade
from tests.conftest import POSTGRES_ONLY


def postgres(test):
    for mark in POSTGRES_ONLY:
        test = mark(test)
    return test


@pytest.fixture
def scratch(database_url, transaction, app):
    """A database of its own, migrated, with 30 audit rows (20 sealed) and a user;
    dropped afterwards with any drill database left behind."""
    base = db.make_engine(database_url).url
    name = f"portal_backup_{secrets.token_hex(4)}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name)
    upgrade(url.render_as_string(hide_password=False))
    engine = db.make_engine(url.render_as_string(hide_password=False))
    db.session.remove()
    db.session.configure(bind=engine)
    try:
        with app.app_context():
            for n in range(20):
                audit("read", "checkin", patient_id=f"p{n}", detail="test")
            db.session.commit()
            seal_chain(db.session)
            for n in range(10):
                audit("read", "message", patient_id=f"q{n}")
            db.session.commit()
    finally:
        db.session.remove()
        db.session.configure(bind=transaction)
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        for (stale,) in connection.execute(
            text("SELECT datname FROM pg_database WHERE datname LIKE 'portal_drill_%'")
        ):
            connection.execute(text(f'DROP DATABASE "{stale}" WITH (FORCE)'))
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def _portal(engine, *args):
    from portal import create_app

    app = create_app({"ENGINE": engine, "SECRET_KEY": secrets.token_urlsafe(32)})
    return CliRunner().invoke(cli.main, list(args), obj=app)


@postgres
def test_a_sound_backup_restores_whole_and_the_drill_passes(scratch, tmp_path):
    made = _portal(scratch, "backup", "--to", str(tmp_path))
    assert made.exit_code == 0, made.output
    (manifest,) = tmp_path.glob("portal-*.json")
    facts = json.loads(manifest.read_text())
    assert facts["tables"]["audit_log"] == 30
    assert facts["revision"] is not None and len(facts["tables"]) > 40

    drill = _portal(scratch, "restore-drill", "--from", str(tmp_path))
    assert drill.exit_code == 0, drill.output
    assert "audit log intact: 30 rows checked" in drill.output
    assert "drill passed" in drill.output
    with scratch.connect() as connection:  # the drill's database is gone again
        left = connection.execute(
            text("SELECT count(*) FROM pg_database WHERE datname LIKE 'portal_drill_%'")
        ).scalar()
    assert left == 0


@postgres
def test_an_altered_audit_row_or_a_missing_row_fails_the_drill(scratch, tmp_path):
    with scratch.begin() as connection:  # what only a superuser could do
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(
            text("UPDATE audit_log SET detail = 'changed' WHERE chain_seq = 5")
        )
    assert _portal(scratch, "backup", "--to", str(tmp_path)).exit_code == 0
    (manifest,) = tmp_path.glob("portal-*.json")
    facts = json.loads(manifest.read_text())
    facts["tables"]["users"] += 1  # the dump lacks a row the database had
    manifest.write_text(json.dumps(facts))

    drill = _portal(scratch, "restore-drill", "--from", str(tmp_path))
    assert drill.exit_code == 1
    assert "BROKEN" in drill.output
    users = facts["tables"]["users"]
    assert f"DIFFERS: table users: {users - 1} rows, the backup had {users}" in (
        drill.output
    )
    assert "DRILL FAILED" in drill.output


@postgres
def test_a_dump_that_is_not_the_file_it_was_fails_at_once(scratch, tmp_path):
    assert _portal(scratch, "backup", "--to", str(tmp_path)).exit_code == 0
    (dump,) = tmp_path.glob("portal-*.dump")
    dump.write_bytes(dump.read_bytes()[:-10])
    drill = _portal(scratch, "restore-drill", "--from", str(tmp_path))
    assert drill.exit_code == 1
    assert "is missing or not the file it was" in drill.output


def test_backups_refuse_sqlite_plainly(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path}/p.db")
    result = _portal(engine, "backup", "--to", str(tmp_path / "dumps"))
    assert result.exit_code == 1
    assert "backups are for PostgreSQL" in result.output
