"""Engine, scoped session, declarative base with a naming convention, and mixins."""

from __future__ import annotations

import functools
import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, Enum, MetaData, String, create_engine, event, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    scoped_session,
    sessionmaker,
)
from sqlalchemy.types import TypeDecorator

from portal.config import ConfigError

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


ID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_id(value: str | None) -> bool:
    """Whether a value from a URL or a form can be one of our ids (as `new_id` makes
    them): anything else names nothing and is never sent to the database."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


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


def str_enum(enum_cls: type[StrEnum], length: int = 20) -> Enum:
    """Store a StrEnum by value as a portable VARCHAR with a CHECK constraint."""
    return Enum(
        enum_cls,
        native_enum=False,
        length=length,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
        create_constraint=True,
        name=enum_cls.__name__.lower(),
    )


def upsert(model):
    """An INSERT of this dialect, with ``on_conflict_do_update`` / ``_do_nothing``."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class UUIDPk:
    """Random, non-guessable primary keys for anything a URL may name."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


session = scoped_session(sessionmaker(expire_on_commit=False))

# libpq settings, so that a database cut off by the network fails a request in seconds
# (a 503 with crisis help, /readyz 503) instead of hanging on TCP's own timeouts for
# many minutes. A URL's own query (`?connect_timeout=2`) wins.
POSTGRES_TIMEOUTS = {
    "connect_timeout": 5,  # seconds to open a connection
    # ms a sent packet may go unacknowledged; the kernel checks it when it would
    # retransmit, so a cut connection fails in 6 to 13 s (25 s at 10,000 ms: measured
    # in deploy/rehearse.py). Pre-ping then drops the pool's other connections.
    "tcp_user_timeout": 5_000,
    "keepalives": 1,  # idle pooled connections notice a dead peer too
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def forget_failed_transaction() -> None:
    """End a transaction the database failed in. Objects read in full are let go
    first: a rollback would expire them, and the page that says what happened (its
    header needs the signed-in user, its crisis help the patient's program) would
    read them again from a database that may be gone; detached, they keep what was
    read. Objects already expired (a failed flush rolls back at once) or changed
    stay, to be read again if the database still answers."""
    for instance in list(session.identity_map.values()):
        state = inspect(instance)
        if not state.expired_attributes and not state.modified:
            session.expunge(instance)
    try:
        session.rollback()
    except (DBAPIError, SQLAlchemyTimeoutError):
        session.close()


def make_engine(url: str, **overrides) -> Engine:
    """Create the engine; SQLite gets foreign keys and a busy timeout; PostgreSQL
    connections are pinged on checkout, so one the server dropped is replaced.

    Bound values never reach a log: they are a patient's answers and notes, and
    SQLAlchemy would print them in every error and echoed statement."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # the message would quote the URL
        raise ConfigError("PORTAL_DATABASE_URL is not a database URL") from None
    kwargs: dict = {"future": True, "hide_parameters": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 15, "check_same_thread": False}
    else:
        kwargs.update(pool_size=5, max_overflow=5, pool_pre_ping=True)
        kwargs["connect_args"] = {
            key: value
            for key, value in POSTGRES_TIMEOUTS.items()
            if key not in parsed.query
        }
    if overrides.get("poolclass") is not None:
        kwargs.pop("pool_size", None), kwargs.pop("max_overflow", None)
    kwargs.update(overrides)
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, ImportError):  # an unknown dialect or driver
        raise ConfigError(
            "PORTAL_DATABASE_URL must be postgresql://… or sqlite:///…"
        ) from None
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


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
    dbapi_connection.create_function(
        "portal_local_date", 2, _local_date, deterministic=True
    )


def _local_date(stored: str | None, zone: str | None) -> str | None:
    """SQLite's `local_date()` (portal/reporting.py): the date in a time zone of a UTC
    moment as SQLite stores it; PostgreSQL does this with AT TIME ZONE."""
    if stored is None or zone is None:
        return None
    moment = datetime.fromisoformat(stored).replace(tzinfo=UTC)
    return moment.astimezone(_zone(zone)).date().isoformat()


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
