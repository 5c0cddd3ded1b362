"""Migrations run from empty to head, back to empty, and to head again, and match the
models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from portal.db import make_engine
from portal.migrate import downgrade, upgrade
from portal.models import Base
from tests.conftest import _make_database_url


@pytest.fixture
def empty_database():
    url, drop = _make_database_url()
    yield url
    drop()


def test_migrations_round_trip_and_match_the_models(empty_database):
    upgrade(empty_database)
    engine = make_engine(empty_database)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(
                MigrationContext.configure(connection), Base.metadata
            )
            assert diff == [], diff
        downgrade(empty_database, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(empty_database)
        assert "audit_log" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_rebuilding_users_keeps_the_rows_that_point_at_them(empty_database):
    """SQLite alters `users` by rebuilding it (0018 lets the language be empty): the
    rows that cascade from a user (a patient's message thread) are all still there,
    up and down, and the language a patient had is kept."""
    from sqlalchemy import text

    upgrade(empty_database, "0017")
    engine = make_engine(empty_database)
    at = "2026-12-01 10:00:00+00:00"
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, display_name, role, totp_enabled, "
                    "is_active, created_at, preferred_language) VALUES "
                    "('u1', 'Ana Ortiz', 'patient', false, true, :at, 'es')"
                ),
                {"at": at},
            )
            connection.execute(
                text(
                    "INSERT INTO message_threads (id, patient_id, last_seq, created_at)"
                    " VALUES ('t1', 'u1', 0, :at)"
                ),
                {"at": at},
            )
        for step in (
            lambda: upgrade(empty_database),
            lambda: downgrade(empty_database, "0017"),
            lambda: upgrade(empty_database),
        ):
            step()
            with engine.connect() as connection:
                assert (
                    connection.scalar(text("SELECT count(*) FROM message_threads")) == 1
                )
                assert (
                    connection.scalar(
                        text("SELECT preferred_language FROM users WHERE id = 'u1'")
                    )
                    == "es"
                )
    finally:
        engine.dispose()
