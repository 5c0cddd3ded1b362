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
