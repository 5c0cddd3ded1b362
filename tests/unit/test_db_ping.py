"""A pooled PostgreSQL connection that died while idle is replaced before use; one
used a moment ago is handed out without a ping (no extra round trip per request)."""

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


def test_an_idle_connection_that_died_is_replaced(postgres_url):
    engine = db.make_engine(postgres_url, ping_after_idle=0.0, pool_size=1)
    killer = db.make_engine(postgres_url)
    try:
        dead = _backend_pid(engine)
        _kill(killer, dead)
        assert _backend_pid(engine) != dead  # pinged, found dead, replaced
    finally:
        engine.dispose(), killer.dispose()


def test_a_recently_used_connection_is_not_pinged(postgres_url):
    """The same death within the idle window reaches the statement: proof that the
    ping above is what saved it, and that busy connections skip it."""
    engine = db.make_engine(postgres_url, ping_after_idle=3600.0, pool_size=1)
    killer = db.make_engine(postgres_url)
    try:
        _kill(killer, _backend_pid(engine))
        with pytest.raises(exc.OperationalError):
            _backend_pid(engine)
        assert _backend_pid(engine)  # the pool dropped it; the next one works
    finally:
        engine.dispose(), killer.dispose()
