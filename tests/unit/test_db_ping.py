"""A pooled PostgreSQL connection that the server dropped is replaced before use
(SQLAlchemy's pool_pre_ping), so a restart or an idle timeout costs no request."""

from __future__ import annotations

import pytest
from sqlalchemy import exc, text

from portal import db


@pytest.fixture
def postgres_url(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("connection pinging is for PostgreSQL (SQLite has no server)")
    return database_url


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar()


def _kill(engine, pid: int) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.commit()


def test_a_pooled_connection_that_died_is_replaced(postgres_url):
    engine = db.make_engine(postgres_url, pool_size=1)
    killer = db.make_engine(postgres_url)
    try:
        dead = _backend_pid(engine)
        _kill(killer, dead)
        assert _backend_pid(engine) != dead  # pinged, found dead, replaced
    finally:
        engine.dispose(), killer.dispose()


def test_without_the_ping_the_dead_connection_reaches_the_statement(postgres_url):
    """Proof that the ping above is what saved the request."""
    engine = db.make_engine(postgres_url, pool_size=1, pool_pre_ping=False)
    killer = db.make_engine(postgres_url)
    try:
        _kill(killer, _backend_pid(engine))
        with pytest.raises(exc.OperationalError):
            _backend_pid(engine)
    finally:
        engine.dispose(), killer.dispose()
