"""Alembic environment: the portal's metadata; the URL from the config or the env."""

import os

from alembic import context
from sqlalchemy import pool

from portal.db import make_engine
from portal.models import Base

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or os.environ["PORTAL_DATABASE_URL"]


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = make_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite and not connection.in_transaction():
        # SQLite alters a table by rebuilding it (batch mode): with foreign keys on,
        # dropping the old `users` would delete every row that cascades from it
        # (message threads, passkeys...). The setting only changes outside a
        # transaction, so it goes to the driver's connection before Alembic's begins.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            _keys_still_hold(connection)


def _keys_still_hold(connection) -> None:
    """With the keys off nothing stops a rebuild from leaving a row pointing nowhere:
    check them all before the migrations commit."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"foreign keys broken by the migration: {broken[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
