"""/readyz against the database's migration, and the worker beside it: a database
older than the code is not ready (and the worker waits, saying so once); one newer
than the code is ready, so the old hosts keep serving while new ones start during a
rolling deploy; each answer is one plain line that names what to do."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from portal import db
from portal.migrate import newest_revision
from portal.worker import run_round


@pytest.fixture
def at_revision(transaction):
    def set_revision(revision: str | None) -> None:
        if revision is None:
            transaction.execute(text("DROP TABLE alembic_version"))
        else:
            transaction.execute(
                text("UPDATE alembic_version SET version_num = :v"), {"v": revision}
            )

    return set_revision


def test_the_newest_migration_is_ready(client):
    response = client.get("/readyz")
    assert (response.status_code, response.get_data(as_text=True)) == (200, "ready")


def test_an_older_migration_is_not_ready_and_says_what_to_run(client, at_revision):
    at_revision("0007")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_data(as_text=True) == (
        f"not ready: the database is at migration 0007, this code needs "
        f"{newest_revision()}: run `portal migrate`"
    )


def test_a_database_never_migrated_is_not_ready(client, at_revision):
    at_revision(None)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "at migration none" in response.get_data(as_text=True)


def test_a_newer_migration_keeps_the_old_code_ready(client, at_revision):
    at_revision("0099_from_newer_code")
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == (
        "ready (the database is at a newer migration, 0099_from_newer_code)"
    )


def test_the_worker_waits_on_an_older_database_and_says_so_once(
    app, app_ctx, at_revision, caplog
):
    at_revision("0007")
    caplog.set_level(logging.INFO, logger="portal.worker")
    app.extensions.pop("worker_schema_state", None)
    assert run_round(app) == {}
    assert run_round(app) == {}
    waiting = [r for r in caplog.records if "worker waiting" in r.getMessage()]
    assert len(waiting) == 1
    assert "run `portal migrate`" in waiting[0].getMessage()
    assert "Traceback" not in caplog.text
    db.session.remove()


def test_the_worker_runs_its_round_at_the_newest_migration(app, app_ctx):
    app.extensions.pop("worker_schema_state", None)
    done = run_round(app)
    assert done["heartbeat"] == 1 and done["seal_audit"] >= 0
