"""psycopg keeps the conversion of the app's long statements (Today's one query is over
psycopg's own 4 KB limit) instead of converting their text again on every request."""

from __future__ import annotations

from psycopg import _queries
from psycopg.adapt import Transformer
from sqlalchemy.dialects import postgresql

from portal import db
from portal.blueprints.schedule.services import _today_statement


def test_a_postgresql_engine_raises_psycopgs_limit(monkeypatch):
    monkeypatch.setattr(_queries, "MAX_CACHED_STATEMENT_LENGTH", 4096)  # psycopg's own
    engine = db.make_engine("postgresql://postgres@127.0.0.1:5432/unused")  # no connect
    try:
        assert (
            _queries.MAX_CACHED_STATEMENT_LENGTH >= db.PSYCOPG_CACHED_STATEMENT_LENGTH
        )
    finally:
        engine.dispose()


def test_todays_query_is_converted_once():
    db.cache_long_statements()
    sql = str(
        _today_statement("postgresql").compile(dialect=postgresql.psycopg.dialect())
    )
    assert len(sql.encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH
    query = _queries.PostgresQuery(Transformer())
    params = dict.fromkeys(_names(sql))
    query.convert(sql, params)
    hits = _queries._query2pg.cache_info().hits
    query.convert(sql, params)
    assert _queries._query2pg.cache_info().hits == hits + 1


def _names(sql: str) -> list[str]:
    import re

    return re.findall(r"%\((\w+)\)s", sql)
