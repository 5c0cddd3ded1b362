"""Engine, scoped session, declarative base with a naming convention, and mixins."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, String, create_engine, event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    make_transient_to_detached,
    mapped_column,
    scoped_session,
    sessionmaker,
)
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC timestamps on both SQLite and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite drops the offset; we only ever store UTC
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def as_loaded(cls, values: dict, **relationships):
    """An instance of a mapped class holding these column values as the ORM holds a
    loaded object (committed values, no history, an identity), made without the ORM's
    loading machinery: for the few hot statements that read plain rows. Not attached
    to a session; columns not given are unloaded, and relationships not given raise
    or load as their mapping says."""
    instance = cls.__mapper__.class_manager.new_instance()
    for key, value in (values | relationships).items():
        set_committed_value(instance, key, value)
    make_transient_to_detached(instance)
    return instance


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class UUIDPk:
    """Random, non-guessable primary keys for anything a URL may name."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


session = scoped_session(sessionmaker(expire_on_commit=False))


# A pooled connection that sat unused this long is pinged before it is handed out;
# one used a moment ago is not (the server rarely drops a busy connection, and a
# ping on every checkout is a round trip on every request).
PING_AFTER_IDLE_SECONDS = 10.0


# psycopg converts each statement's text (placeholders to $n) and keeps the result in
# an LRU cache only for statements up to 4 KB; Today's one query is just over that,
# and converting it again on every request cost 73 us (3 % of the page). The app's
# statements are a fixed set built once, so caching the longer ones too is safe; the
# cache stays bounded (128 entries).
PSYCOPG_CACHED_STATEMENT_LENGTH = 16384


def cache_long_statements() -> None:
    """Let psycopg cache the conversion of statements up to 16 KB (a module setting
    of psycopg's; tests/unit/test_statement_cache.py fails if a release drops it)."""
    from psycopg import _queries

    if _queries.MAX_CACHED_STATEMENT_LENGTH < PSYCOPG_CACHED_STATEMENT_LENGTH:
        _queries.MAX_CACHED_STATEMENT_LENGTH = PSYCOPG_CACHED_STATEMENT_LENGTH


def make_engine(
    url: str, *, ping_after_idle: float = PING_AFTER_IDLE_SECONDS, **overrides
) -> Engine:
    """Create the engine; SQLite gets foreign keys and a busy timeout; PostgreSQL
    connections are checked before use when they have been idle a while."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    kwargs: dict = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 15, "check_same_thread": False}
    else:
        kwargs.update(pool_size=5, max_overflow=5)
    if overrides.get("poolclass") is not None:
        kwargs.pop("pool_size", None), kwargs.pop("max_overflow", None)
    kwargs.update(overrides)
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        cache_long_statements()
        if not kwargs.get("pool_pre_ping"):
            _ping_when_idle(engine, ping_after_idle)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """SQLAlchemy's "pessimistic disconnect handling" with a ping only for connections
    that sat in the pool for `idle_seconds`: a dead one is replaced before use."""

    @event.listens_for(engine, "checkin")
    def remember_checkin(_dbapi_connection, record) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection, record, _proxy) -> None:
        returned = record.info.get("checked_in_at")
        if returned is None or time.monotonic() - returned < idle_seconds:
            return
        try:
            if not engine.dialect.do_ping(dbapi_connection):
                raise exc.DisconnectionError("the connection did not answer a ping")
        except engine.dialect.loaded_dbapi.Error as error:
            # the pool discards this connection and checks out another
            raise exc.DisconnectionError(str(error)) from error


def _sqlite_begin(connection) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; we begin explicitly, and
    # IMMEDIATE so that concurrent writers queue on busy_timeout instead of failing.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
